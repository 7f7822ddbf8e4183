//! Build script: links with our kernel.ld plus defmt.x, and records the git hash for the banner.

use std::process::Command;

fn main() {
    let manifest_dir = std::env::var("CARGO_MANIFEST_DIR").unwrap_or_default();
    let target = std::env::var("TARGET").unwrap_or_default();
    if target.starts_with("aarch64") && target.ends_with("-none") {
        // One kernel script only (a second -T breaks the ELF); defmt.x adds the defmt sections.
        println!("cargo:rustc-link-arg-bins=-T{manifest_dir}/kernel.ld");
        println!("cargo:rustc-link-arg-bins=-Tdefmt.x");
    }
    println!("cargo:rerun-if-changed=kernel.ld");
    println!("cargo:rerun-if-env-changed=DPU_GIT_HASH");
    let hash = std::env::var("DPU_GIT_HASH").ok().unwrap_or_else(|| {
        Command::new("git")
            .args(["rev-parse", "--short=12", "HEAD"])
            .output()
            .ok()
            .filter(|out| out.status.success())
            .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
            .unwrap_or_else(|| "unknown".to_string())
    });
    println!("cargo:rustc-env=DPU_GIT_HASH={hash}");
    trusted_keys(&manifest_dir);
}

/// Compiles in the public keys the updater accepts (the same file dpuboot uses: raw 32-byte
/// Ed25519 keys back to back, written by `cargo xtask image`; `DPUBOOT_TRUSTED_KEYS` overrides).
fn trusted_keys(manifest_dir: &str) {
    use std::fmt::Write as _;
    println!("cargo:rerun-if-env-changed=DPUBOOT_TRUSTED_KEYS");
    let path = std::env::var("DPUBOOT_TRUSTED_KEYS")
        .unwrap_or_else(|_| format!("{manifest_dir}/../../target/keys/trusted-keys.bin"));
    println!("cargo:rerun-if-changed={path}");
    let bytes = std::fs::read(&path).unwrap_or_default();
    let mut source = String::from(
        "/// Public keys images may be signed with (from the build).\n\
         pub const TRUSTED_KEYS: &[bootstate::TrustedKey] = &[\n",
    );
    for key in bytes.chunks_exact(32) {
        let _ = writeln!(source, "    bootstate::TrustedKey::new({key:?}),");
    }
    source.push_str("];\n");
    let out = std::env::var("OUT_DIR").unwrap_or_default();
    if let Err(error) = std::fs::write(format!("{out}/trusted_keys.rs"), source) {
        panic!("writing trusted_keys.rs: {error}");
    }
}
