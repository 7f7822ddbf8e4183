//! Build script: links with loader.ld and compiles in the trusted public keys.
//!
//! Keys come from `DPUBOOT_TRUSTED_KEYS` (a file of raw 32-byte Ed25519 public keys, back to
//! back) or, by default, `target/keys/trusted-keys.bin`, which `cargo xtask image` writes (the
//! development key, generated on first use). Without a key file dpuboot trusts nothing and
//! rejects every image as "unknown key".

use std::fmt::Write as _;
use std::path::PathBuf;

fn main() {
    let manifest_dir = PathBuf::from(std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default());
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("aarch64") && target.ends_with("-none") {
        println!(
            "cargo:rustc-link-arg-bins=-T{}",
            manifest_dir.join("loader.ld").display()
        );
    }
    println!("cargo:rerun-if-changed=loader.ld");
    println!("cargo:rerun-if-env-changed=DPUBOOT_TRUSTED_KEYS");
    let keys_path = std::env::var("DPUBOOT_TRUSTED_KEYS")
        .map(PathBuf::from)
        .unwrap_or_else(|_| manifest_dir.join("../../target/keys/trusted-keys.bin"));
    println!("cargo:rerun-if-changed={}", keys_path.display());
    let bytes = std::fs::read(&keys_path).unwrap_or_default();
    if bytes.is_empty() || !bytes.len().is_multiple_of(32) {
        println!(
            "cargo:warning=no trusted keys at {} (run `cargo xtask image`): dpuboot will refuse every image",
            keys_path.display()
        );
    }
    let mut source = String::from(
        "/// Public keys images may be signed with (from the build).\n\
         pub const TRUSTED_KEYS: &[bootstate::TrustedKey] = &[\n",
    );
    for key in bytes.chunks_exact(32) {
        let _ = writeln!(source, "    bootstate::TrustedKey::new({key:?}),");
    }
    source.push_str("];\n");
    let out = PathBuf::from(std::env::var("OUT_DIR").unwrap_or_default());
    if let Err(error) = std::fs::write(out.join("trusted_keys.rs"), source) {
        panic!("writing trusted_keys.rs: {error}");
    }
}
