//! Build script: links with loader.ld and compiles in the trusted public keys.
//!
//! Keys come from `DPUBOOT_TRUSTED_KEYS` (a file of raw 32-byte Ed25519 public keys, back to
//! back) or, by default, `target/keys/trusted-keys.bin`, which `cargo xtask image` writes (the
//! development key, generated on first use); `build-support` embeds them, as for the kernel.
//! Without a key file dpuboot trusts nothing and rejects every image as "unknown key".

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
    build_support::embed_trusted_keys(&manifest_dir, "dpuboot");
}
