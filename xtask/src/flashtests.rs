//! In-QEMU tests of the real boot chain (dpuboot from flash0 -> a bank in flash1).
//!
//! Scripts are `qemu/tests/boot-bank-*.test` and `qemu/tests/dpuboot-*.test`. They use the
//! steps of `qemu/README.md` (`expect`, `reject`, `send`, `send-bytes`, `timeout`, `exit`) plus
//! steps that act on the machine and its flash, the way a power supply or a technician would:
//!
//! | step | meaning |
//! |---|---|
//! | `machine: OPTIONS` | extra `-machine` options, e.g. `virtualization=on` (dpuboot at EL2) |
//! | `window: MS` / `tries: N` / `health: MS` | settings of the freshly provisioned flash1 (default window 0, health window as the record's default) |
//! | `semihosting: off` | boot without `-semihosting`, as in the field: faults reset instead of exiting; such a test ends with `power-off` after an `expect` (no guest status to check) |
//! | `boot` | power on (QEMU with flash0 = dpuboot, flash1 = this test's copy) |
//! | `power-cycle` | kill QEMU (a power cut) and start it again on the same flash files |
//! | `power-off` | kill QEMU |
//! | `stage: VARIANT` | (powered off) stage an image into the inactive bank as the kernel would |
//! | `corrupt: BANK payload\|signature` | (powered off) flip a byte of a bank's image in flash1 |
//! | `plant: VARIANT` | (powered off) write an image into bank B and record it as a trial without verifying it (flash tampered with behind the updater's back): dpuboot must reject it |
//! | `snapshot` / `flash-unchanged` | (powered off) remember flash1 / require it unchanged since |
//! | `update: VARIANT` | push an image through the kernel's `update` command (serial frames) |
//! | `update-cut: VARIANT PERCENT` | push part of it, then cut power |
//!
//! Variants: `good` (version 0.2.0+2, counter 2), `good-same-counter` (0.2.0+2, counter 1),
//! `corrupt` (payload byte flipped after
//! signing), `bad-signature`, `unknown-key`, `truncated`, `low-counter` (counter 0, below the
//! floor of 1), `health-fail`, `hang` and `panic` (kernels built with the test features of the same name),
//! `imgtool` (signed by MCUboot's `imgtool` with our key, after `imgtool verify` accepted ours).
//! Each test gets a fresh flash1 under `target/test-flash/` (its console transcript is kept there
//! as `<name>.log`); a test passes only on the status the guest set (semihosting) plus its
//! expected lines.

use crate::build::{self, KernelArtifacts};
use crate::image::{self, SignOptions};
use crate::qemu::Machine;
use crate::tests::Session;
use crate::{BuildOptions, workspace_root};
use anyhow::{Context, Result, bail};
use bootstate::sim::NorSim;
use bootstate::store::Records;
use bootstate::{Bank, BankState, BootControl, Flash as _, Version, layout};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Whether `path` is a flash-boot test (run here, not by the `-kernel` runner).
pub fn is_flash_test(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| name.starts_with("boot-bank-") || name.starts_with("dpuboot-"))
}

#[derive(Clone, Debug)]
enum Step {
    Timeout(u64),
    Expect(String),
    Reject(String),
    Send(String),
    SendBytes(Vec<u8>),
    Exit(i32),
    Boot,
    PowerCycle,
    PowerOff,
    Stage(String),
    Plant(String),
    Corrupt(Bank, String),
    Snapshot,
    FlashUnchanged,
    Update(String),
    UpdateCut(String, u32),
}

struct Script {
    name: String,
    title: String,
    machine: Machine,
    window_ms: u16,
    tries: u8,
    health_ms: Option<u32>,
    semihosting: bool,
    steps: Vec<Step>,
}

fn parse_bank(text: &str) -> Result<Bank> {
    match text {
        "A" | "a" => Ok(Bank::A),
        "B" | "b" => Ok(Bank::B),
        other => bail!("bank '{other}' is not A or B"),
    }
}

fn parse(path: &Path) -> Result<Script> {
    let text = std::fs::read_to_string(path)?;
    let mut script = Script {
        name: path
            .file_stem()
            .and_then(|s| s.to_str())
            .unwrap_or("?")
            .to_string(),
        title: String::new(),
        machine: Machine::default(),
        window_ms: 0,
        tries: layout::DEFAULT_TRIAL_TRIES,
        health_ms: None,
        semihosting: true,
        steps: Vec::new(),
    };
    for (number, line) in text.lines().enumerate() {
        let where_ = || format!("{}:{}", path.display(), number + 1);
        if line.trim().is_empty() || line.trim_start().starts_with('#') {
            continue;
        }
        let (key, value) = line.split_once(':').unwrap_or((line.trim(), ""));
        let value = value.strip_prefix(' ').unwrap_or(value).to_string();
        let words: Vec<&str> = value.split_whitespace().collect();
        let step = match key.trim() {
            "title" => {
                script.title = value;
                continue;
            }
            "machine" => {
                script
                    .machine
                    .options
                    .extend(value.split(',').map(str::to_string));
                continue;
            }
            "window" => {
                script.window_ms = value.trim().parse().with_context(where_)?;
                continue;
            }
            "tries" => {
                script.tries = value.trim().parse().with_context(where_)?;
                continue;
            }
            "health" => {
                script.health_ms = Some(value.trim().parse().with_context(where_)?);
                continue;
            }
            "semihosting" => {
                script.semihosting = match value.trim() {
                    "on" => true,
                    "off" => false,
                    _ => bail!("{}: semihosting: on|off", where_()),
                };
                continue;
            }
            "timeout" => Step::Timeout(value.trim().parse().with_context(where_)?),
            "expect" => Step::Expect(value),
            "reject" => Step::Reject(value),
            "send" => Step::Send(value),
            "send-bytes" => Step::SendBytes(
                words
                    .iter()
                    .map(|pair| u8::from_str_radix(pair, 16))
                    .collect::<Result<_, _>>()
                    .with_context(where_)?,
            ),
            "exit" => Step::Exit(value.trim().parse().with_context(where_)?),
            "boot" => Step::Boot,
            "power-cycle" => Step::PowerCycle,
            "power-off" => Step::PowerOff,
            "stage" => Step::Stage(value.trim().to_string()),
            "plant" => Step::Plant(value.trim().to_string()),
            "corrupt" => match words.as_slice() {
                [bank, what] => Step::Corrupt(parse_bank(bank)?, (*what).to_string()),
                _ => bail!("{}: corrupt: BANK payload|signature", where_()),
            },
            "snapshot" => Step::Snapshot,
            "flash-unchanged" => Step::FlashUnchanged,
            "update" => Step::Update(value.trim().to_string()),
            "update-cut" => match words.as_slice() {
                [variant, percent] => Step::UpdateCut(
                    (*variant).to_string(),
                    percent.parse().with_context(where_)?,
                ),
                _ => bail!("{}: update-cut: VARIANT PERCENT", where_()),
            },
            other => bail!("{}: unknown key '{other}'", where_()),
        };
        script.steps.push(step);
    }
    if !script.semihosting {
        // No guest status without semihosting: the lines before the cut are the verdict.
        let ends = script.steps.len();
        if ends < 2
            || !matches!(script.steps[ends - 1], Step::PowerOff)
            || !matches!(script.steps[ends - 2], Step::Expect(_))
        {
            bail!(
                "{}: a 'semihosting: off' test must end with an 'expect' then 'power-off'",
                path.display()
            );
        }
    } else if !script.steps.iter().any(|s| matches!(s, Step::Exit(_))) {
        bail!("{}: a test must end with 'exit: <status>'", path.display());
    }
    Ok(script)
}

/// Builds what the scripts need, once per run.
struct Fixture {
    options: BuildOptions,
    kernel: KernelArtifacts,
    flash0: PathBuf,
    /// Provisioned flash1 with bank A = the kernel at version 0.1.0+1, counter 1.
    base_image: Vec<u8>,
    variants: HashMap<String, Vec<u8>>,
}

impl Fixture {
    fn new(options: &BuildOptions) -> Result<Self> {
        let files = image::prepare(options, &SignOptions::default(), false)?;
        let base = std::fs::read(&files.signed)?;
        Ok(Self {
            options: options.clone(),
            kernel: build::build_kernel(options)?,
            flash0: files.flash0,
            base_image: base,
            variants: HashMap::new(),
        })
    }

    fn variant(&mut self, name: &str) -> Result<Vec<u8>> {
        if let Some(bytes) = self.variants.get(name) {
            return Ok(bytes.clone());
        }
        let good = SignOptions {
            version: Version {
                major: 0,
                minor: 2,
                revision: 0,
                build: 2,
            },
            security_counter: 2,
            ..SignOptions::default()
        };
        let signed = image::sign_image(&self.kernel.image, &good)?;
        let bytes = match name {
            "good" => signed,
            "good-same-counter" => image::sign_image(
                &self.kernel.image,
                &SignOptions {
                    security_counter: 1,
                    ..good.clone()
                },
            )?,
            "corrupt" => {
                let mut bytes = signed;
                let at = layout::IMAGE_HEADER_SIZE as usize + 0x100;
                bytes[at] ^= 0x01;
                bytes
            }
            "bad-signature" => {
                let mut bytes = signed;
                let last = bytes.len() - 1;
                bytes[last] ^= 0x80;
                bytes
            }
            "unknown-key" => {
                let payload = std::fs::read(&self.kernel.image)?;
                bootstate::sign::sign(&payload, good.version, 2, &image::random_key()?)
                    .map_err(|error| anyhow::anyhow!("{error:?}"))?
            }
            "truncated" => {
                let mut bytes = signed;
                bytes.truncate(bytes.len() - 200);
                bytes
            }
            "low-counter" => image::sign_image(
                &self.kernel.image,
                &SignOptions {
                    security_counter: 0,
                    ..good
                },
            )?,
            "imgtool" => imgtool_signed(&self.kernel.image, &self.base_image)?,
            "health-fail" | "hang" | "panic" => {
                let kernel =
                    image::build_kernel_variant(&self.options, &[&format!("test-{name}")])?;
                image::sign_image(&kernel, &good)?
            }
            other => bail!("unknown image variant '{other}'"),
        };
        self.variants.insert(name.to_string(), bytes.clone());
        Ok(bytes)
    }
}

/// Signs the kernel with MCUboot's own `imgtool` and our development key (version 0.2.0+2,
/// counter 2), after checking that `imgtool verify` accepts our own signed image `ours`.
fn imgtool_signed(kernel: &Path, ours: &[u8]) -> Result<Vec<u8>> {
    let run = |arguments: &[&str]| -> Result<String> {
        let output = std::process::Command::new("imgtool")
            .args(arguments)
            .output()
            .context("imgtool is not on PATH (pip install imgtool; .ci/run installs it)")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() {
            bail!("imgtool {arguments:?} failed: {text}");
        }
        Ok(text)
    };
    image::dev_key()?;
    let keys = image::keys_dir();
    let scratch = workspace_root().join("target").join("test-flash");
    std::fs::create_dir_all(&scratch)?;
    let ours_path = scratch.join("ours.signed.bin");
    std::fs::write(&ours_path, ours)?;
    let public = keys.join("dev-signing.pub.pem");
    let verdict = run(&[
        "verify",
        "-k",
        &public.to_string_lossy(),
        &ours_path.to_string_lossy(),
    ])?;
    if !verdict.contains("Image was correctly validated") {
        bail!("imgtool verify did not validate our image: {verdict}");
    }
    let out = scratch.join("imgtool.signed.bin");
    run(&[
        "sign",
        "--key",
        &keys.join("dev-signing.pem").to_string_lossy(),
        "--header-size",
        "0x1000",
        "--pad-header",
        "--align",
        "4",
        "--version",
        "0.2.0+2",
        "--security-counter",
        "2",
        "--slot-size",
        "0x1000000",
        &kernel.to_string_lossy(),
        &out.to_string_lossy(),
    ])?;
    Ok(std::fs::read(out)?)
}

/// One running test: its flash files and the current QEMU session, if powered.
struct Bench<'a> {
    fixture: &'a mut Fixture,
    machine: Machine,
    semihosting: bool,
    flash1: PathBuf,
    session: Option<Session>,
    transcript: String,
    snapshot: Option<Vec<u8>>,
}

impl Bench<'_> {
    fn power_on(&mut self) -> Result<()> {
        if self.session.is_some() {
            return Ok(());
        }
        let mut arguments = image::flash_arguments(
            &self.machine,
            &self.fixture.flash0,
            &self.flash1,
            "test.args",
        )?;
        if !self.semihosting {
            arguments.retain(|argument| argument != "-semihosting");
        }
        self.session = Some(Session::start_arguments(
            &arguments,
            &self.fixture.kernel.elf,
        )?);
        Ok(())
    }

    fn power_off(&mut self) {
        if let Some(mut session) = self.session.take() {
            let errors = session.stderr();
            self.transcript.push_str(&session.transcript);
            self.transcript.push_str("\n=== power off ===\n");
            if !errors.trim().is_empty() {
                self.transcript
                    .push_str(&format!("--- QEMU stderr ---\n{errors}\n"));
            }
        }
    }

    fn session(&mut self) -> Result<&mut Session> {
        self.power_on()?;
        self.session.as_mut().context("not powered")
    }

    fn offline_flash(&mut self) -> Result<BootControl<NorSim>> {
        if self.session.is_some() {
            bail!("flash1 can only be changed with the power off");
        }
        let bytes = std::fs::read(&self.flash1)?;
        let sim = NorSim::from_image(&bytes).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        BootControl::load(sim).map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    fn save(&self, control: BootControl<NorSim>) -> Result<()> {
        std::fs::write(&self.flash1, control.into_flash().to_image())?;
        Ok(())
    }

    fn step(&mut self, step: &Step, timeout: Duration) -> Result<()> {
        match step {
            Step::Timeout(_) => Ok(()),
            Step::Expect(text) => self.session()?.expect(text, timeout),
            Step::Reject(text) => {
                let seen = self
                    .session
                    .as_ref()
                    .is_some_and(|s| s.transcript.contains(text.as_str()))
                    || self.transcript.contains(text.as_str());
                if seen {
                    bail!("'{text}' appeared in the output");
                }
                Ok(())
            }
            Step::Send(line) => self.session()?.send_bytes(format!("{line}\r").as_bytes()),
            Step::SendBytes(bytes) => self.session()?.send_bytes(bytes),
            Step::Exit(expected) => {
                let status = self.session()?.wait_exit(timeout)?;
                self.power_off();
                if status != *expected {
                    bail!("QEMU exited with status {status}, expected {expected}");
                }
                Ok(())
            }
            Step::Boot => self.power_on(),
            Step::PowerCycle => {
                self.power_off();
                self.power_on()
            }
            Step::PowerOff => {
                self.power_off();
                Ok(())
            }
            Step::Stage(variant) => {
                let bytes = self.fixture.variant(variant)?;
                let mut control = self.offline_flash()?;
                let running = control.record().active;
                let keys = image::trusted_keys()?;
                let mut writer = control
                    .stage_begin(running)
                    .map_err(|e| anyhow::anyhow!("stage_begin: {e:?}"))?;
                control
                    .stage_write(&mut writer, &bytes)
                    .map_err(|e| anyhow::anyhow!("stage_write: {e:?}"))?;
                let result = control.stage_finish(writer, &keys);
                self.save(control)?;
                result
                    .map(|_| ())
                    .map_err(|e| anyhow::anyhow!("staging refused: {e:?}"))
            }
            Step::Plant(variant) => {
                let bytes = self.fixture.variant(variant)?;
                if self.session.is_some() {
                    bail!("plant needs the power off");
                }
                let image = std::fs::read(&self.flash1)?;
                let mut sim = NorSim::from_image(&image).map_err(|e| anyhow::anyhow!("{e:?}"))?;
                let base = layout::bank_offset(Bank::B);
                let sectors = (bytes.len() as u32).div_ceil(layout::SECTOR_SIZE);
                let flash_error = |e: bootstate::FlashError| anyhow::anyhow!("{e:?}");
                for sector in 0..sectors {
                    sim.erase(base + sector * layout::SECTOR_SIZE)
                        .map_err(flash_error)?;
                }
                let mut padded = bytes.clone();
                padded.resize(bytes.len().div_ceil(4) * 4, 0xFF);
                sim.program(base, &padded).map_err(flash_error)?;
                let mut records = Records::load(&mut sim).map_err(flash_error)?;
                let mut next = records.current;
                let tries = next.trial_tries;
                let info = next.bank_mut(Bank::B);
                info.state = BankState::Trial;
                info.tries_left = tries;
                info.version = Version {
                    major: 0,
                    minor: 2,
                    revision: 0,
                    build: 2,
                };
                info.image_len = bytes.len() as u32;
                next.active = Bank::B;
                records.write(&mut sim, &next).map_err(flash_error)?;
                std::fs::write(&self.flash1, sim.to_image())?;
                Ok(())
            }
            Step::Corrupt(bank, what) => {
                let mut bytes = std::fs::read(&self.flash1)?;
                let control = self.offline_flash()?;
                let info = *control.record().bank(*bank);
                let base = layout::bank_offset(*bank) as usize;
                let at = match what.as_str() {
                    "payload" => base + layout::IMAGE_HEADER_SIZE as usize + 0x200,
                    "signature" => base + info.image_len as usize - 1,
                    other => bail!("corrupt what? '{other}'"),
                };
                // NOR can only clear bits: what a bit rot or a bad program looks like.
                bytes[at] = if bytes[at] == 0 {
                    0x01
                } else {
                    bytes[at] & (bytes[at] - 1)
                };
                std::fs::write(&self.flash1, bytes)?;
                Ok(())
            }
            Step::Snapshot => {
                if self.session.is_some() {
                    bail!("snapshot needs the power off");
                }
                self.snapshot = Some(std::fs::read(&self.flash1)?);
                Ok(())
            }
            Step::FlashUnchanged => {
                if self.session.is_some() {
                    bail!("flash-unchanged needs the power off");
                }
                let now = std::fs::read(&self.flash1)?;
                match &self.snapshot {
                    Some(before) if *before == now => Ok(()),
                    Some(before) => {
                        let changed = before
                            .chunks(layout::SECTOR_SIZE as usize)
                            .zip(now.chunks(layout::SECTOR_SIZE as usize))
                            .filter(|(a, b)| a != b)
                            .count();
                        bail!("flash1 changed since the snapshot ({changed} sector(s))")
                    }
                    None => bail!("flash-unchanged without a snapshot"),
                }
            }
            Step::Update(variant) => {
                let bytes = self.fixture.variant(variant)?;
                crate::update::send_over_console(self.session()?, &bytes, None, timeout)
            }
            Step::UpdateCut(variant, percent) => {
                let bytes = self.fixture.variant(variant)?;
                let stop_at = bytes.len() * (*percent as usize) / 100;
                crate::update::send_over_console(self.session()?, &bytes, Some(stop_at), timeout)?;
                self.power_off();
                Ok(())
            }
        }
    }
}

fn run_one(fixture: &mut Fixture, script: &Script) -> Result<(), (anyhow::Error, String)> {
    let directory = workspace_root().join("target").join("test-flash");
    let prepare = || -> Result<PathBuf> {
        std::fs::create_dir_all(&directory)?;
        let flash1 = directory.join(format!("{}.flash1.img", script.name));
        let sim = NorSim::from_image(&image::provisioned_flash1(&fixture.base_image)?)
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        let mut control = BootControl::load(sim).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        control
            .set_rollback_window_ms(script.window_ms)
            .and_then(|()| control.set_trial_tries(script.tries))
            .and_then(|()| match script.health_ms {
                Some(health) => control.set_health_window_ms(health),
                None => Ok(()),
            })
            .map_err(|e| anyhow::anyhow!("{e:?}"))?;
        std::fs::write(&flash1, control.into_flash().to_image())?;
        Ok(flash1)
    };
    let flash1 = prepare().map_err(|e| (e, String::new()))?;
    let mut bench = Bench {
        fixture,
        machine: script.machine.clone(),
        semihosting: script.semihosting,
        flash1,
        session: None,
        transcript: String::new(),
        snapshot: None,
    };
    let mut timeout = Duration::from_secs(20);
    let mut result = Ok(());
    for step in &script.steps {
        if std::env::var_os("XTASK_TRACE").is_some() {
            eprintln!("  step {step:?}");
        }
        if let Step::Timeout(seconds) = step {
            timeout = Duration::from_secs(*seconds);
        }
        if let Err(error) = bench.step(step, timeout) {
            result = Err(error.context(format!("step {step:?}")));
            break;
        }
    }
    bench.power_off();
    // Every transcript is kept (flash-write counts per boot are read from them for reports).
    let _ = std::fs::write(
        directory.join(format!("{}.log", script.name)),
        &bench.transcript,
    );
    result.map_err(|error| (error, bench.transcript.clone()))
}

/// Runs every flash test matching `filter`; returns (passed, failed).
pub fn run_all(
    options: &BuildOptions,
    filter: Option<&str>,
    logs: &Path,
) -> Result<(usize, usize)> {
    let directory = workspace_root().join("qemu").join("tests");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&directory)?
        .filter_map(|entry| entry.ok().map(|e| e.path()))
        .filter(|path| path.extension().is_some_and(|e| e == "test") && is_flash_test(path))
        .filter(|path| filter.is_none_or(|f| path.to_string_lossy().contains(f)))
        .collect();
    paths.sort();
    if paths.is_empty() {
        return Ok((0, 0));
    }
    println!("== flash-boot tests (dpuboot -> bank) ==");
    let mut fixture = Fixture::new(options)?;
    let (mut passed, mut failed) = (0, 0);
    for path in paths {
        let script = parse(&path)?;
        let started = Instant::now();
        let outcome = run_one(&mut fixture, &script);
        let elapsed = started.elapsed().as_secs_f64();
        match outcome {
            Ok(()) => {
                passed += 1;
                println!(
                    "PASS {:<28} {:>6.2}s  {}",
                    script.name, elapsed, script.title
                );
            }
            Err((error, transcript)) => {
                failed += 1;
                let log = logs.join(format!("{}.log", script.name));
                std::fs::write(&log, &transcript)?;
                println!(
                    "FAIL {:<28} {:>6.2}s  {}",
                    script.name, elapsed, script.title
                );
                println!("     {error:#}");
                println!("     console transcript: {}", log.display());
                for line in transcript
                    .lines()
                    .rev()
                    .take(15)
                    .collect::<Vec<_>>()
                    .iter()
                    .rev()
                {
                    println!("     | {line}");
                }
            }
        }
    }
    Ok((passed, failed))
}
