//! Building the kernel and turning its ELF into a raw arm64 Image.

use crate::{BuildOptions, workspace_root};
use anyhow::{Context, Result, bail};
use object::{Object, ObjectSection, ObjectSegment};
use std::path::PathBuf;
use std::process::Command;

/// The aarch64 bare-metal target.
pub const TARGET: &str = "aarch64-unknown-none";

/// What a kernel build produced.
pub struct KernelArtifacts {
    /// The raw arm64 Image (booti header at offset 0).
    pub image: PathBuf,
    /// The ELF with symbols, for gdb and the defmt decoder.
    pub elf: PathBuf,
}

/// Output directory for firmware artifacts.
pub fn output_dir() -> PathBuf {
    workspace_root().join("target").join("dpu")
}

fn git_hash() -> String {
    Command::new("git")
        .args(["rev-parse", "--short=12", "HEAD"])
        .current_dir(workspace_root())
        .output()
        .ok()
        .filter(|out| out.status.success())
        .map(|out| String::from_utf8_lossy(&out.stdout).trim().to_string())
        .unwrap_or_else(|| "unknown".into())
}

/// Builds a target-only binary package and returns its ELF path.
pub fn cargo_build_target(package: &str, options: &BuildOptions) -> Result<PathBuf> {
    crate::toolchain::ensure_targets()?;
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    // No rustflags of ours: the target's `+strict-align` stays. Unaligned accesses would be
    // legal on Normal memory once the MMU is on, but the kernel runs Rust (the device-tree
    // parser, the page-table builder) before that, where every access is Device memory and an
    // unaligned one faults (docs/memory.md, "Alignment").
    command
        .current_dir(workspace_root())
        .args(["build", "--package", package, "--target", TARGET])
        .env("DEFMT_LOG", &options.log_level)
        .env("DPU_GIT_HASH", git_hash());
    if options.release {
        command.arg("--release");
    }
    let status = command.status().context("running cargo build")?;
    if !status.success() {
        bail!("building {package} failed");
    }
    let profile = if options.release { "release" } else { "debug" };
    Ok(workspace_root()
        .join("target")
        .join(TARGET)
        .join(profile)
        .join(package))
}

/// Builds the kernel: ELF plus the raw Image made from its loadable segments.
pub fn build_kernel(options: &BuildOptions) -> Result<KernelArtifacts> {
    let built = cargo_build_target("dpu-runtime", options)?;
    let out = output_dir();
    std::fs::create_dir_all(&out)?;
    let elf = out.join("dpu-runtime.elf");
    std::fs::copy(&built, &elf).with_context(|| format!("copying {}", built.display()))?;
    let image = out.join("Image");
    let bytes = raw_image(&std::fs::read(&elf)?)?;
    if bytes.get(56..60) != Some(b"ARM\x64") {
        bail!("the kernel image has no arm64 header magic at offset 56");
    }
    std::fs::write(&image, bytes)?;
    let artifacts = KernelArtifacts { image, elf };
    let (_, data, _, _) = sizes(&artifacts)?;
    check_data_size(data)?;
    Ok(artifacts)
}

/// Most `.data` the kernel may have. It is about 56 KiB; the big statics (the MAC table, the
/// packet pool, the TCP buffers, the page tables) are built by const constructors that are all
/// zero bytes, so they are `.bss` and cost the Image nothing. One non-zero field (an enum
/// whose default is not discriminant 0) moves its whole static into `.data`: the switch's
/// half MiB did once. This catches that at every build, tests and benches included.
pub const DATA_LIMIT: u64 = 256 << 10;

/// Refuses a kernel whose `.data` is above [`DATA_LIMIT`], saying why.
pub fn check_data_size(data: u64) -> Result<()> {
    if data > DATA_LIMIT {
        bail!(
            "the kernel's .data is {data} bytes, above its limit of {DATA_LIMIT}: a large static got an initializer that is not all zero bytes, so it is stored in the Image instead of .bss (docs/memory.md, \"Zero-initialized statics\")"
        );
    }
    Ok(())
}

/// Lays the ELF's loadable segments out as they sit in memory, from the lowest load address to
/// the end of the last initialised byte (what `objcopy -O binary` does).
pub fn raw_image(elf_bytes: &[u8]) -> Result<Vec<u8>> {
    let file = object::File::parse(elf_bytes).context("parsing the kernel ELF")?;
    let segments: Vec<_> = file
        .segments()
        .filter_map(|segment| {
            let data = segment.data().ok()?;
            (!data.is_empty()).then(|| (segment.address(), data))
        })
        .collect();
    let start = segments
        .iter()
        .map(|(address, _)| *address)
        .min()
        .context("no loadable segment")?;
    let end = segments
        .iter()
        .map(|(address, data)| address + data.len() as u64)
        .max()
        .context("no loadable segment")?;
    let mut image = vec![0u8; (end - start) as usize];
    for (address, data) in segments {
        let offset = (address - start) as usize;
        image[offset..offset + data.len()].copy_from_slice(data);
    }
    Ok(image)
}

/// Image size, and static RAM (data + bss) and stack from the ELF's sections.
pub fn sizes(artifacts: &KernelArtifacts) -> Result<(u64, u64, u64, u64)> {
    let image = std::fs::metadata(&artifacts.image)?.len();
    let elf_bytes = std::fs::read(&artifacts.elf)?;
    let file = object::File::parse(&*elf_bytes)?;
    let size_of = |name: &str| {
        file.section_by_name(name)
            .map_or(0, |section| section.size())
    };
    Ok((image, size_of(".data"), size_of(".bss"), size_of(".stack")))
}

/// Prints the sizes after a build.
pub fn print_sizes(artifacts: &KernelArtifacts) -> Result<()> {
    let (image, data, bss, stack) = sizes(artifacts)?;
    println!(
        "kernel Image: {} ({image} bytes)",
        artifacts.image.display()
    );
    println!("kernel ELF:   {}", artifacts.elf.display());
    println!(
        "static RAM:   {} bytes (data {data} + bss {bss}); boot stack {stack} bytes",
        data + bss
    );
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_kernel_with_a_big_data_section_is_refused() {
        assert!(check_data_size(57_256).is_ok());
        assert!(check_data_size(DATA_LIMIT).is_ok());
        let error = check_data_size(587_096).unwrap_err().to_string();
        assert!(error.contains("587096 bytes"), "{error}");
        assert!(error.contains("not all zero bytes"), "{error}");
    }
}
