//! Build script: kernel.ld and defmt.x, the git hash, the trusted keys.

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
    // The updater accepts images signed with these (the same file dpuboot uses).
    build_support::embed_trusted_keys(std::path::Path::new(&manifest_dir), "the kernel's update");
}
