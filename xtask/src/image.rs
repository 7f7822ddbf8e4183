//! `cargo xtask image`: signed kernel images and the two QEMU flash files.
//!
//! - Keys: a development Ed25519 key is generated on first use into `target/keys/`
//!   (`dev-signing.pem` PKCS#8, `dev-signing.pub.pem` SPKI for `imgtool verify -k`, and
//!   `trusted-keys.bin`, the raw public keys dpuboot and the kernel compile in). Never
//!   committed (`target/` is ignored). `--production --key K.pem` refuses the development key
//!   and builds dpuboot and the kernel trusting only K's public key.
//! - `target/dpu/dpu-runtime.signed.bin`: the kernel Image signed as an MCUboot image
//!   (`bootstate::sign`, byte-identical to `imgtool sign`), with `--version` and
//!   `--security-counter`.
//! - `target/dpu/flash0.img`: dpuboot's raw binary (by load address) padded to 64 MiB.
//! - `target/dpu/flash1.img`: 64 MiB, erased, bank A provisioned with the signed image through
//!   `BootControl::provision` on the NOR simulator. Only created when missing, so updates
//!   written by the guest persist between runs; `--reset` provisions it again.
//!
//! The QEMU arguments for a flash boot are `qemu/virt.args` without its `-kernel` pair, plus
//! `qemu/flash.args` (the two pflash drives).

use crate::build::{self, TARGET};
use crate::qemu::{self, Machine};
use crate::{BuildOptions, workspace_root};
use anyhow::{Context, Result, bail};
use bootstate::sign::{self, SigningKey};
use bootstate::sim::NorSim;
use bootstate::{Bank, BootControl, TrustedKey, Version};
use object::read::elf::{ElfFile64, ProgramHeader};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Size of each QEMU virt flash device.
pub const FLASH_SIZE: usize = 64 * 1024 * 1024;

/// Where keys live.
pub fn keys_dir() -> PathBuf {
    workspace_root().join("target").join("keys")
}

/// The raw public keys file dpuboot's and the kernel's build scripts read.
pub fn trusted_keys_file() -> PathBuf {
    keys_dir().join("trusted-keys.bin")
}

fn random_seed() -> Result<[u8; 32]> {
    use std::io::Read;
    let mut seed = [0u8; 32];
    std::fs::File::open("/dev/urandom")
        .context("opening /dev/urandom")?
        .read_exact(&mut seed)?;
    Ok(seed)
}

/// A fresh random signing key (for the development key and for test "unknown key" images).
pub fn random_key() -> Result<SigningKey> {
    Ok(SigningKey::from_bytes(&random_seed()?))
}

/// The development key, generated on first use.
pub fn dev_key() -> Result<SigningKey> {
    let dir = keys_dir();
    let private = dir.join("dev-signing.pem");
    if let Ok(pem) = std::fs::read_to_string(&private) {
        let key = sign::signing_key_from_pem(&pem)
            .map_err(|error| anyhow::anyhow!("{}: {error}", private.display()))?;
        ensure_trusted(&key)?;
        return Ok(key);
    }
    std::fs::create_dir_all(&dir)?;
    let key = random_key()?;
    std::fs::write(&private, sign::signing_key_to_pem(&key))?;
    std::fs::write(
        dir.join("dev-signing.pub.pem"),
        sign::public_key_to_pem(&key.verifying_key()),
    )?;
    println!(
        "generated the development signing key {} (never commit it; release images refuse it)",
        private.display()
    );
    ensure_trusted(&key)?;
    Ok(key)
}

/// Makes sure `trusted-keys.bin` holds exactly the development public key.
fn ensure_trusted(key: &SigningKey) -> Result<()> {
    let public = key.verifying_key().to_bytes();
    if std::fs::read(trusted_keys_file()).ok().as_deref() != Some(&public[..]) {
        std::fs::write(trusted_keys_file(), public)?;
    }
    Ok(())
}

/// The file the firmware's build scripts read the trusted keys from: `DPUBOOT_TRUSTED_KEYS`
/// when set (production builds), else the development key's file.
pub fn active_trusted_keys_file() -> PathBuf {
    std::env::var_os("DPUBOOT_TRUSTED_KEYS").map_or_else(trusted_keys_file, PathBuf::from)
}

/// The trusted-key list the firmware is built with (the development key unless
/// `DPUBOOT_TRUSTED_KEYS` names another file).
pub fn trusted_keys() -> Result<Vec<TrustedKey>> {
    dev_key()?;
    let bytes = std::fs::read(active_trusted_keys_file())?;
    if bytes.is_empty() || bytes.len() % 32 != 0 {
        bail!(
            "{}: not a list of 32-byte public keys",
            active_trusted_keys_file().display()
        );
    }
    Ok(bytes
        .chunks_exact(32)
        .map(|key| {
            let mut raw = [0u8; 32];
            raw.copy_from_slice(key);
            TrustedKey::new(raw)
        })
        .collect())
}

/// Builds a test variant of the kernel with `features` (e.g. `test-hang`) and returns its raw
/// Image under `target/dpu/variants/`. Variants exist only as test images, never shipped.
pub fn build_kernel_variant(options: &BuildOptions, features: &[&str]) -> Result<PathBuf> {
    crate::toolchain::ensure_targets()?;
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(workspace_root())
        .args(["build", "--package", "dpu-runtime", "--target", TARGET])
        .args(["--features", &features.join(",")])
        .env("DEFMT_LOG", &options.log_level);
    if options.release {
        command.arg("--release");
    }
    if !command.status().context("running cargo build")?.success() {
        bail!(
            "building the kernel with features {} failed",
            features.join(",")
        );
    }
    let profile = if options.release { "release" } else { "debug" };
    let built = workspace_root()
        .join("target")
        .join(TARGET)
        .join(profile)
        .join("dpu-runtime");
    let out = build::output_dir().join("variants");
    std::fs::create_dir_all(&out)?;
    let image = out.join(format!("Image-{}", features.join("-")));
    std::fs::write(&image, build::raw_image(&std::fs::read(built)?)?)?;
    // Put the normal kernel back in place for everything that reads the default build.
    build::build_kernel(options)?;
    Ok(image)
}

/// Parses `MAJOR.MINOR.REVISION[+BUILD]`.
pub fn parse_version(text: &str) -> Result<Version> {
    let (numbers, build) = text.split_once('+').unwrap_or((text, "0"));
    let parts: Vec<&str> = numbers.split('.').collect();
    if parts.len() != 3 {
        bail!("version '{text}' is not MAJOR.MINOR.REVISION[+BUILD]");
    }
    Ok(Version {
        major: parts[0].parse().context("major")?,
        minor: parts[1].parse().context("minor")?,
        revision: parts[2].parse().context("revision")?,
        build: build.parse().context("build")?,
    })
}

/// Signing choices.
#[derive(Clone, Debug)]
pub struct SignOptions {
    /// Image version.
    pub version: Version,
    /// Security counter (anti-rollback).
    pub security_counter: u32,
    /// A PEM private key other than the development key.
    pub key: Option<PathBuf>,
    /// Release signing: refuses the development key.
    pub production: bool,
}

impl Default for SignOptions {
    fn default() -> Self {
        Self {
            version: Version {
                major: 0,
                minor: 1,
                revision: 0,
                build: 1,
            },
            security_counter: 1,
            key: None,
            production: false,
        }
    }
}

/// The key to sign with, enforcing the production rule.
pub fn signing_key(options: &SignOptions) -> Result<SigningKey> {
    let dev = dev_key()?;
    let key = match &options.key {
        Some(path) => {
            let pem = std::fs::read_to_string(path)
                .with_context(|| format!("reading {}", path.display()))?;
            sign::signing_key_from_pem(&pem)
                .map_err(|error| anyhow::anyhow!("{}: {error}", path.display()))?
        }
        None => dev.clone(),
    };
    if options.production && key.verifying_key() == dev.verifying_key() {
        bail!(
            "--production refuses the development key ({}); pass --key with the release key",
            keys_dir().join("dev-signing.pem").display()
        );
    }
    Ok(key)
}

/// Signs a kernel Image file.
pub fn sign_image(image: &Path, options: &SignOptions) -> Result<Vec<u8>> {
    let payload = std::fs::read(image).with_context(|| format!("reading {}", image.display()))?;
    let key = signing_key(options)?;
    sign::sign(&payload, options.version, options.security_counter, &key)
        .map_err(|error| anyhow::anyhow!("signing: {error}"))
}

/// Lays out an ELF by physical (load) address: dpuboot's .data is stored in flash after
/// .rodata and copied to RAM at reset, so virtual addresses would not do.
pub fn raw_by_load_address(elf_bytes: &[u8]) -> Result<Vec<u8>> {
    let file = ElfFile64::<object::Endianness>::parse(elf_bytes).context("parsing dpuboot")?;
    let endian = file.endian();
    let mut pieces = Vec::new();
    for header in file.elf_program_headers() {
        if header.p_type(endian) != object::elf::PT_LOAD || header.p_filesz(endian) == 0 {
            continue;
        }
        let data = header
            .data(endian, elf_bytes)
            .map_err(|()| anyhow::anyhow!("bad segment"))?;
        pieces.push((header.p_paddr(endian), data));
    }
    let end = pieces
        .iter()
        .map(|(address, data)| address + data.len() as u64)
        .max()
        .context("no loadable segment")?;
    if pieces
        .iter()
        .any(|(address, _)| *address >= FLASH_SIZE as u64)
        || end > FLASH_SIZE as u64
    {
        bail!("dpuboot has a segment outside flash0");
    }
    let mut raw = vec![0u8; end as usize];
    for (address, data) in pieces {
        raw[address as usize..address as usize + data.len()].copy_from_slice(data);
    }
    Ok(raw)
}

/// Builds dpuboot (with the trusted keys) and writes `flash0.img`; returns (ELF, raw size).
pub fn build_flash0(options: &BuildOptions) -> Result<(PathBuf, usize)> {
    dev_key()?;
    crate::toolchain::ensure_targets()?;
    let mut command = Command::new(std::env::var("CARGO").unwrap_or_else(|_| "cargo".into()));
    command
        .current_dir(workspace_root())
        .args(["build", "--package", "dpuboot", "--target", TARGET])
        .env("DPUBOOT_TRUSTED_KEYS", active_trusted_keys_file());
    if options.release {
        command.arg("--release");
    }
    if !command.status().context("running cargo build")?.success() {
        bail!("building dpuboot failed");
    }
    let profile = if options.release { "release" } else { "debug" };
    let built = workspace_root()
        .join("target")
        .join(TARGET)
        .join(profile)
        .join("dpuboot");
    let out = build::output_dir();
    std::fs::create_dir_all(&out)?;
    let elf = out.join("dpuboot.elf");
    std::fs::copy(&built, &elf)?;
    let mut raw = raw_by_load_address(&std::fs::read(&elf)?)?;
    let size = raw.len();
    raw.resize(FLASH_SIZE, 0xFF);
    std::fs::write(out.join("flash0.img"), raw)?;
    Ok((elf, size))
}

/// A freshly provisioned flash1: bank A = `signed`, committed.
pub fn provisioned_flash1(signed: &[u8]) -> Result<Vec<u8>> {
    let mut control = BootControl::load(NorSim::flash1())
        .map_err(|error| anyhow::anyhow!("loading blank flash1: {error:?}"))?;
    control
        .provision(Bank::A, signed, &trusted_keys()?)
        .map_err(|error| anyhow::anyhow!("provisioning bank A: {error:?}"))?;
    Ok(control.into_flash().to_image())
}

/// Paths of everything a flash boot needs.
#[derive(Clone, Debug)]
pub struct FlashFiles {
    /// dpuboot, padded to 64 MiB.
    pub flash0: PathBuf,
    /// Boot state and banks.
    pub flash1: PathBuf,
    /// The signed kernel image.
    pub signed: PathBuf,
    /// dpuboot's ELF.
    pub dpuboot_elf: PathBuf,
    /// dpuboot's raw size in bytes.
    pub dpuboot_size: usize,
}

/// Builds the kernel and dpuboot, signs, and makes flash0; the files, with `flash1` the path
/// of the kept flash1 (not touched: for callers that provision flash1 files of their own, such
/// as the pair's DPUs).
pub fn prepare_signed(options: &BuildOptions, sign: &SignOptions) -> Result<FlashFiles> {
    // The key first: the kernel's and dpuboot's build scripts compile in its public half.
    dev_key()?;
    let kernel = build::build_kernel(options)?;
    let (dpuboot_elf, dpuboot_size) = build_flash0(options)?;
    let out = build::output_dir();
    let signed_bytes = sign_image(&kernel.image, sign)?;
    let signed = out.join("dpu-runtime.signed.bin");
    std::fs::write(&signed, &signed_bytes)?;
    Ok(FlashFiles {
        flash0: out.join("flash0.img"),
        flash1: out.join("flash1.img"),
        signed,
        dpuboot_elf,
        dpuboot_size,
    })
}

/// Builds the kernel and dpuboot, signs, and makes the flash files (flash1 only if missing or
/// `reset`).
pub fn prepare(options: &BuildOptions, sign: &SignOptions, reset: bool) -> Result<FlashFiles> {
    let files = prepare_signed(options, sign)?;
    let (flash1, signed) = (&files.flash1, &files.signed);
    let signed_bytes = std::fs::read(signed)?;
    let fresh = std::fs::metadata(flash1).map_or(true, |meta| meta.len() != FLASH_SIZE as u64);
    if reset || fresh {
        std::fs::write(flash1, provisioned_flash1(&signed_bytes)?)?;
        println!(
            "flash1: provisioned bank A with {} ({} bytes)",
            signed.display(),
            signed_bytes.len()
        );
    } else if !flash1_holds(flash1, &signed_bytes)? {
        // Banks persist like a real DPU's flash: say so, or a developer wonders why a change
        // does not show.
        println!(
            "note: {} is kept from an earlier run and neither bank holds this build's kernel.\n      \
             It boots what was staged there. For this build: `cargo xtask flash --serial` (update \
             as a trial), `cargo xtask image --reset` (fresh flash), or `cargo xtask run --direct`.",
            flash1.display()
        );
    }
    Ok(files)
}

/// Whether bank A or B of the flash file starts with exactly `signed` (this build, signed).
fn flash1_holds(flash1: &Path, signed: &[u8]) -> Result<bool> {
    let bytes = std::fs::read(flash1)?;
    Ok([Bank::A, Bank::B].into_iter().any(|bank| {
        let start = bootstate::layout::bank_offset(bank) as usize;
        bytes.get(start..start + signed.len()) == Some(signed)
    }))
}

/// QEMU arguments for a flash boot: the machine of `virt.args` without `-kernel`, the pflash
/// drives of `flash.args`, then `extra_profile`.
pub fn flash_arguments(
    machine: &Machine,
    flash0: &Path,
    flash1: &Path,
    extra_profile: &str,
) -> Result<Vec<String>> {
    // The -kernel pair is dropped below, so its value does not matter.
    let direct = qemu::arguments(machine, Path::new("unused"), extra_profile)?;
    let mut arguments = Vec::with_capacity(direct.len());
    let mut iterator = direct.into_iter();
    while let Some(argument) = iterator.next() {
        if argument == "-kernel" {
            iterator.next();
            continue;
        }
        arguments.push(argument);
    }
    let fill = [
        ("flash0", flash0.display().to_string()),
        ("flash1", flash1.display().to_string()),
    ];
    arguments.extend(qemu::profile("flash.args", &fill)?);
    Ok(arguments)
}

impl SignOptions {
    /// What tests and benches stage as the next image over the provisioned bank A (0.1.0+1,
    /// counter 1): version 0.2.0+2, counter 2, the development key.
    pub fn next_trial() -> Self {
        Self {
            version: Version {
                major: 0,
                minor: 2,
                revision: 0,
                build: 2,
            },
            security_counter: 2,
            ..Self::default()
        }
    }

    /// Takes `--version`, `--security-counter` or `--key` (with its value) if `flag` is one;
    /// false for any other flag.
    pub fn parse_option(
        &mut self,
        flag: &str,
        options: &mut crate::OptionWalker<'_>,
    ) -> Result<bool> {
        match flag {
            "--version" => self.version = parse_version(&options.value(flag)?)?,
            "--security-counter" => self.security_counter = options.value(flag)?.parse()?,
            "--key" => self.key = Some(PathBuf::from(options.value(flag)?)),
            _ => return Ok(false),
        }
        Ok(true)
    }
}

/// `cargo xtask image [--version V] [--security-counter N] [--key PEM] [--production] [--reset]`.
pub fn command(options: &BuildOptions, arguments: &[String]) -> Result<()> {
    let mut sign = SignOptions::default();
    let mut reset = false;
    let mut words = crate::OptionWalker::new(arguments);
    while let Some(argument) = words.next_option() {
        if sign.parse_option(argument, &mut words)? {
            continue;
        }
        match argument {
            "--production" => sign.production = true,
            "--reset" => reset = true,
            other => bail!("unknown image option '{other}'"),
        }
    }
    if sign.production {
        // Check the key before building anything, then make the firmware trust it (and only
        // it): dpuboot's and the kernel's build scripts read DPUBOOT_TRUSTED_KEYS.
        let key = signing_key(&sign)?;
        let file = keys_dir().join("production-trusted-keys.bin");
        std::fs::write(&file, key.verifying_key().to_bytes())?;
        // SAFETY: xtask is single-threaded here (no thread has been spawned yet), so nothing
        // reads the environment concurrently; child cargo processes inherit the variable.
        unsafe { std::env::set_var("DPUBOOT_TRUSTED_KEYS", &file) };
        if !reset {
            println!("note: flash1.img is kept as is; add --reset to provision it with this image");
        }
    }
    let files = prepare(options, &sign, reset)?;
    println!("signed image: {}", files.signed.display());
    println!(
        "flash0:       {} (dpuboot {} bytes)",
        files.flash0.display(),
        files.dpuboot_size
    );
    println!("flash1:       {}", files.flash1.display());
    println!("dpuboot ELF:  {} (for gdb)", files.dpuboot_elf.display());
    println!(
        "trusted keys: {} (development public key for imgtool verify -k: {})",
        active_trusted_keys_file().display(),
        keys_dir().join("dev-signing.pub.pem").display()
    );
    Ok(())
}
