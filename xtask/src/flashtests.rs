//! In-QEMU tests of the real boot chain (dpuboot, then a bank in flash1).
//!
//! Scripts are `qemu/tests/boot-bank-*.test` and `qemu/tests/dpuboot-*.test`. They use the
//! console steps of `script` (`expect`, `absent`, `reject`, `send`, `send-bytes`, `timeout`,
//! `exit`, ...) plus steps that act on the machine and its flash, the way a power supply or a
//! technician would:
//!
//! | step | meaning |
//! |---|---|
//! | `machine: OPTIONS` | extra `-machine` options, e.g. `virtualization=on` (dpuboot at EL2) |
//! | `window: MS` / `tries: N` / `health: MS` | settings of the freshly provisioned flash1 (default window 0; health window as the record's default, 10 s) |
//! | `semihosting: off` | boot without `-semihosting`, as in the field: faults reset instead of exiting; such a test ends with an `expect` then `power-off` (no guest status to check) |
//! | `boot` | power on (QEMU with flash0 = dpuboot, flash1 = this test's copy) |
//! | `power-cycle` | kill QEMU (a power cut) and start it again on the same flash files |
//! | `power-off` | kill QEMU |
//!
//! A power cut (`power-cycle`, `power-off`, `update-cut`) fails if QEMU exited on its own
//! before it (a panic or fault after the boot's last `expect`).
//!
//! | step | meaning |
//! |---|---|
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
//! floor of 1), `health-fail`, `hang` and `panic` (kernels built with the test features of the
//! same name),
//! `imgtool` (signed by MCUboot's `imgtool` with our key, after `imgtool verify` accepted ours).
//! Each test gets a fresh flash1 under `target/test-flash/`; its transcript (every boot, with
//! the QEMU command) goes to `target/test-logs/<name>.log`. A test passes only on the status
//! the guest set (semihosting) plus its expected lines, and then the whole-test checks
//! (`reject`, no Debug output) over the console output of all its boots.

use crate::build::{self, KernelArtifacts};
use crate::image::{self, SignOptions};
use crate::qemu::Machine;
use crate::report::{self, Outcome};
use crate::script::{self, Key, Line, Run};
use crate::session::Session;
use crate::{BuildOptions, workspace_root};
use anyhow::{Context, Result, bail};
use bootstate::sim::NorSim;
use bootstate::store::Records;
use bootstate::{Bank, BankState, BootControl, Flash as _, Version, layout};
use std::collections::HashMap;
use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

/// Whether `path` is a flash-boot test (run here, not by the `-kernel` runner). `config-direct-*`
/// scripts boot with `-kernel` (they need `append:`, which only a direct boot has).
pub fn is_flash_test(path: &Path) -> bool {
    path.file_name()
        .and_then(|name| name.to_str())
        .is_some_and(|name| {
            name.starts_with("boot-bank-")
                || name.starts_with("dpuboot-")
                || (name.starts_with("config-") && !name.starts_with("config-direct-"))
        })
}

/// The steps only flash tests have: power and flash, as a power supply or a technician would.
#[derive(Clone)]
enum FlashStep {
    Boot,
    PowerCycle,
    PowerOff,
    Stage(String),
    Plant(String),
    Corrupt(Bank, String),
    /// Clear one bit in the newest stored config copy's payload (its CRC then fails).
    CorruptConfig,
    Snapshot,
    FlashUnchanged,
    Update(String),
    UpdateCut(String, u32),
}

impl FlashStep {
    /// Whether it runs with the power off (may follow the last `exit`).
    fn is_offline(&self) -> bool {
        matches!(
            self,
            Self::Stage(_)
                | Self::Plant(_)
                | Self::Corrupt(..)
                | Self::CorruptConfig
                | Self::Snapshot
                | Self::FlashUnchanged
        )
    }
}

type Step = script::Step<FlashStep>;

/// Settings of the test: the freshly provisioned flash1, and how QEMU runs.
struct FlashSettings {
    window_ms: u16,
    tries: u8,
    /// The jumpstart health window (`None`: the record's default).
    health_ms: Option<u32>,
    /// `semihosting: off` boots as in the field: faults reset instead of exiting QEMU.
    semihosting: bool,
    /// `qemu:` lines: extra QEMU arguments for every boot (data ports, a management NIC).
    extra_arguments: Vec<String>,
}

struct Script {
    script: script::Script<FlashStep>,
    settings: FlashSettings,
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
    let mut settings = FlashSettings {
        window_ms: 0,
        tries: layout::DEFAULT_TRIAL_TRIES,
        health_ms: None,
        semihosting: true,
        extra_arguments: Vec::new(),
    };
    let parsed = script::parse(path, &text, |key, value| {
        let words: Vec<&str> = value.split_whitespace().collect();
        Ok(Key::Step(match key {
            "window" => {
                settings.window_ms = value.trim().parse()?;
                return Ok(Key::Setting);
            }
            "tries" => {
                settings.tries = value.trim().parse()?;
                return Ok(Key::Setting);
            }
            "health" => {
                settings.health_ms = Some(value.trim().parse()?);
                return Ok(Key::Setting);
            }
            "semihosting" => {
                settings.semihosting = match value.trim() {
                    "on" => true,
                    "off" => false,
                    _ => bail!("semihosting: on|off"),
                };
                return Ok(Key::Setting);
            }
            "qemu" => {
                let words = value.split_whitespace().map(str::to_string);
                settings.extra_arguments.extend(words);
                return Ok(Key::Setting);
            }
            "boot" => FlashStep::Boot,
            "power-cycle" => FlashStep::PowerCycle,
            "power-off" => FlashStep::PowerOff,
            "stage" => FlashStep::Stage(value.trim().to_string()),
            "plant" => FlashStep::Plant(value.trim().to_string()),
            "corrupt" => match words.as_slice() {
                [bank, what] => FlashStep::Corrupt(parse_bank(bank)?, (*what).to_string()),
                _ => bail!("corrupt: BANK payload|signature"),
            },
            "corrupt-config" => FlashStep::CorruptConfig,
            "snapshot" => FlashStep::Snapshot,
            "flash-unchanged" => FlashStep::FlashUnchanged,
            "update" => FlashStep::Update(value.trim().to_string()),
            "update-cut" => match words.as_slice() {
                [variant, percent] => {
                    FlashStep::UpdateCut((*variant).to_string(), percent.parse()?)
                }
                _ => bail!("update-cut: VARIANT PERCENT"),
            },
            _ => return Ok(Key::Unknown),
        }))
    })?;
    check_ending(&parsed, settings.semihosting)?;
    Ok(Script {
        script: parsed,
        settings,
    })
}

/// What the parser cannot see line by line: how the boots of a test end.
///
/// With semihosting a test has an `exit` step, and after the last one only powered-off steps
/// may run (a boot there would go unchecked). Without semihosting (`semihosting: off`) there is
/// no guest status: the test ends with an `expect` and then `power-off`, and those lines before
/// the cut are the verdict.
fn check_ending(script: &script::Script<FlashStep>, semihosting: bool) -> Result<()> {
    if !semihosting {
        let steps: Vec<&Step> = script
            .steps
            .iter()
            .map(|line| &line.step)
            .filter(|step| !matches!(step, Step::Timeout(_) | Step::Reject(_)))
            .collect();
        let ends_right = matches!(
            steps.as_slice(),
            [.., Step::Expect(_), Step::Runner(FlashStep::PowerOff)]
        );
        if !ends_right {
            bail!(
                "{}: a 'semihosting: off' test must end with an 'expect' then 'power-off'",
                script.name
            );
        }
        return Ok(());
    }
    script.require_exit()?;
    let last_exit = script
        .steps
        .iter()
        .rposition(|line| matches!(line.step, Step::Exit(_)))
        .unwrap_or(0);
    let after = script.steps[last_exit + 1..]
        .iter()
        .find(|line| match &line.step {
            Step::Runner(step) => !step.is_offline(),
            Step::Timeout(_) | Step::Reject(_) => false,
            _ => true,
        });
    if let Some(line) = after {
        bail!(
            "{line}: only powered-off steps may follow the last 'exit' (each boot ends by exit, power-off, power-cycle or update-cut)"
        );
    }
    Ok(())
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
        let good = SignOptions::next_trial();
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
                    .map_err(|error| anyhow::anyhow!("{error}"))?
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
            .context("imgtool is not on PATH (cargo xtask test installs it: python3 -m pip install imgtool==2.5.0)")?;
        let text = format!(
            "{}{}",
            String::from_utf8_lossy(&output.stdout),
            String::from_utf8_lossy(&output.stderr)
        );
        if !output.status.success() {
            bail!("imgtool {} failed: {text}", arguments.join(" "));
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

/// How long a power cut lets QEMU finish an exit already under way (a panic printed just before
/// the cut exits within milliseconds); a guest still running then is cut.
const CUT_GRACE: Duration = Duration::from_millis(100);

/// One running test: its flash files and the current QEMU session, if powered.
struct Bench<'a> {
    fixture: &'a mut Fixture,
    machine: Machine,
    /// Whether QEMU gets `-semihosting` (tests) or boots as in the field.
    semihosting: bool,
    /// The script's `qemu:` arguments.
    extra_arguments: Vec<String>,
    flash1: PathBuf,
    session: Option<Session>,
    /// The console steps' state, shared by every boot of the test.
    run: Run,
    /// Every boot's console output, for the whole-test checks.
    console: String,
    /// Every boot's command, console output and QEMU stderr, with power markers.
    log: String,
    commands: Vec<String>,
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
        arguments.extend(self.extra_arguments.iter().cloned());
        let session = Session::start_arguments(&arguments, &self.fixture.kernel.elf)?;
        self.run.acted_at(session.started);
        self.commands.push(session.command().to_string());
        self.session = Some(session);
        Ok(())
    }

    /// Ends the boot: keeps its transcript and QEMU's stderr, then stops QEMU.
    fn power_off(&mut self, how: &str) {
        if let Some(mut session) = self.session.take() {
            let errors = session.stderr();
            self.console.push_str(&session.transcript);
            self.console.push('\n');
            self.log.push_str(&report::boot_log(
                session.command(),
                &session.transcript,
                &errors,
            ));
            self.log.push_str(&format!("=== {how} ===\n"));
        }
    }

    /// A power cut (power-off, power-cycle, update-cut): the guest must still be running. A
    /// QEMU that already exited ended the boot itself (with semihosting a panic or fault exits
    /// non-zero), which the lines expected before the cut cannot show.
    fn power_cut(&mut self, how: &str) -> Result<()> {
        let status = match self.session.as_mut() {
            Some(session) => session.exit_within(CUT_GRACE)?,
            None => None,
        };
        self.power_off(how);
        match status {
            None => Ok(()),
            Some(status) => match status.code() {
                Some(0) => bail!("QEMU had already exited (status 0) before the {how}"),
                Some(code) => bail!(
                    "QEMU had already exited with status {code} before the {how} (a panic or fault in the guest?)"
                ),
                None => bail!("QEMU had been killed by a signal before the {how}"),
            },
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
        let sim = NorSim::from_image(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
        BootControl::load(sim).map_err(|e| anyhow::anyhow!("{e:?}"))
    }

    fn save(&self, control: BootControl<NorSim>) -> Result<()> {
        std::fs::write(&self.flash1, control.into_flash().to_image())?;
        Ok(())
    }

    fn step(&mut self, line: &Line<FlashStep>) -> Result<()> {
        if self.run.offline_step(line) {
            return Ok(());
        }
        let step = match &line.step {
            Step::Runner(step) => step,
            Step::Exit(_) => {
                self.power_on()?;
                let session = self.session.as_mut().context("not powered")?;
                let result = self.run.console_step(session, line);
                self.power_off("exit");
                return result;
            }
            _ => {
                self.power_on()?;
                let session = self.session.as_mut().context("not powered")?;
                return self.run.console_step(session, line);
            }
        };
        let timeout = self.run.timeout();
        let result = self.flash_step(step, timeout);
        if !step.is_offline() {
            self.run.acted_at(Instant::now());
        }
        result
    }

    fn flash_step(&mut self, step: &FlashStep, timeout: Duration) -> Result<()> {
        use FlashStep as Step;
        match step {
            Step::Boot => self.power_on(),
            Step::PowerCycle => {
                self.power_cut("power cycle")?;
                self.power_on()
            }
            Step::PowerOff => self.power_cut("power off"),
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
                let mut sim = NorSim::from_image(&image).map_err(|e| anyhow::anyhow!("{e}"))?;
                let base = layout::bank_offset(Bank::B);
                let sectors = (bytes.len() as u32).div_ceil(layout::SECTOR_SIZE);
                let flash_error = |e: bootstate::FlashError| anyhow::anyhow!("{e}");
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
            Step::CorruptConfig => {
                if self.session.is_some() {
                    bail!("corrupt-config needs the power off");
                }
                let mut bytes = std::fs::read(&self.flash1)?;
                let mut sim = NorSim::from_image(&bytes).map_err(|e| anyhow::anyhow!("{e}"))?;
                let mut buffer = vec![0u8; dpu_config::store::MAX_COPY_LEN];
                let buffer: &mut [u8; dpu_config::store::MAX_COPY_LEN] =
                    buffer.as_mut_slice().try_into()?;
                let (store, _) = dpu_config::ConfigStore::load(&mut sim, buffer)
                    .map_err(|e| anyhow::anyhow!("{e}"))?;
                let copy = store.newest().context("corrupt-config: no stored config")?;
                let at = dpu_config::store::copy_offset(copy) as usize
                    + dpu_config::store::HEADER_LEN
                    + 4;
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
                self.power_cut("power cut during the update")
            }
        }
    }
}

fn run_one(fixture: &mut Fixture, script: &Script) -> Outcome {
    let directory = workspace_root().join("target").join("test-flash");
    let settings = &script.settings;
    let prepare = || -> Result<PathBuf> {
        std::fs::create_dir_all(&directory)?;
        let flash1 = directory.join(format!("{}.flash1.img", script.script.name));
        let sim = NorSim::from_image(&image::provisioned_flash1(&fixture.base_image)?)
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        let mut control = BootControl::load(sim).map_err(|e| anyhow::anyhow!("{e:?}"))?;
        control
            .set_rollback_window_ms(settings.window_ms)
            .and_then(|()| control.set_trial_tries(settings.tries))
            .and_then(|()| match settings.health_ms {
                Some(health) => control.set_health_window_ms(health),
                None => Ok(()),
            })
            .map_err(|e| anyhow::anyhow!("{e}"))?;
        std::fs::write(&flash1, control.into_flash().to_image())?;
        Ok(flash1)
    };
    let flash1 = match prepare() {
        Ok(flash1) => flash1,
        Err(error) => {
            return Outcome {
                result: Err(error),
                commands: Vec::new(),
                log: String::new(),
            };
        }
    };
    let mut bench = Bench {
        fixture,
        machine: script.script.machine.clone(),
        semihosting: settings.semihosting,
        extra_arguments: settings.extra_arguments.clone(),
        flash1,
        session: None,
        run: Run::new(),
        console: String::new(),
        log: String::new(),
        commands: Vec::new(),
        snapshot: None,
    };
    let mut result = Ok(());
    for line in &script.script.steps {
        bench.run.trace(line);
        if let Err(error) = bench.step(line) {
            result = Err(error.context(line.to_string()));
            break;
        }
    }
    bench.power_off("end of test");
    // Notes first, so the log (and a failure's tail) ends with the console.
    bench.log.insert_str(0, &bench.run.notes());
    let result = result
        .and_then(|()| bench.run.finish(&bench.console))
        .and_then(|()| report::check_words(&bench.console));
    Outcome {
        result,
        commands: bench.commands,
        log: bench.log,
    }
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
        let (name, title) = (&script.script.name, &script.script.title);
        if report::print(name, title, elapsed, &outcome, logs) {
            passed += 1;
        } else {
            failed += 1;
        }
    }
    Ok((passed, failed))
}

/// Parses a flash test script (for the host test that parses every script in the tree).
#[cfg(test)]
pub fn parse_for_test(path: &Path) -> Result<()> {
    parse(path).map(|_| ())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse_text(name: &str, text: &str) -> Result<Script> {
        let path =
            std::env::temp_dir().join(format!("xtask-flash-{}-{name}.test", std::process::id()));
        std::fs::write(&path, text).unwrap();
        let parsed = parse(&path);
        let _ = std::fs::remove_file(&path);
        parsed
    }

    #[test]
    fn only_powered_off_steps_follow_the_last_exit() {
        let good = "boot\nexpect: dpu> \nsend: poweroff\nexit: 0\nflash-unchanged\n";
        assert!(parse_text("good", good).is_ok());
        let late_boot = "boot\nexit: 0\nboot\nexpect: dpu> \n";
        let error = parse_text("late", late_boot).err().unwrap();
        assert!(format!("{error:#}").contains("only powered-off steps may follow"));
        assert!(parse_text("no-exit", "boot\nexpect: x\npower-off\n").is_err());
    }

    #[test]
    fn a_field_test_ends_with_an_expect_then_power_off() {
        let good = "semihosting: off\nboot\nexpect: dpu> \npower-off\n";
        let script = parse_text("field", good).unwrap();
        assert!(!script.settings.semihosting);
        let error = parse_text("field-bad", "semihosting: off\nboot\nsend: x\npower-off\n")
            .err()
            .unwrap();
        assert!(format!("{error:#}").contains("must end with an 'expect' then 'power-off'"));
        assert!(parse_text("field-maybe", "semihosting: maybe\nexit: 0\n").is_err());
    }
}
