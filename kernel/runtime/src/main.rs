//! dpu-runtime kernel: ordered bring-up, then the console shell in a run-to-completion loop.
//!
//! `kernel_init` (unsafe, ordered) installs the vectors, reads the device tree, builds the
//! identity map and turns the MMU on, starts the console, the GIC and the timer. Then the safe
//! `kernel_main` prints the banner and runs the poll loop. See `docs/architecture.md`.

#![no_std]
#![no_main]
#![deny(unsafe_op_in_unsafe_fn, clippy::undocumented_unsafe_blocks)]

mod api;
mod arch;
mod board;
mod bootbank;
mod commands;
mod config;
mod console;
mod flashbus;
mod ha;
mod interrupts;
mod lastboot;
mod layout;
mod log;
mod loopstats;
mod net;
mod ping;
mod pmu;
mod switching;
mod sync;
mod version;
mod watchdog;

use arch::aarch64 as cpu_arch;
use board::Board;
use core::fmt::Write;
use cpu_arch::{mmu, psci, semihosting, timer};

/// Statuses the kernel reports through semihosting (QEMU's exit status in tests).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u32)]
pub enum ExitCode {
    /// Orderly power-off.
    Success = 0,
    /// An unexpected exception (the fault report precedes it).
    Exception = 3,
    /// A Rust panic.
    Panic = 4,
    /// No usable device tree.
    NoDeviceTree = 5,
    /// The device tree names no usable console UART.
    NoConsole = 6,
    /// Memory map or interrupt controller could not be set up.
    PlatformError = 7,
    /// The software watchdog fired: the poll loop stopped checking in.
    Watchdog = 8,
}

impl ExitCode {
    /// Why the boot ended, in words.
    pub fn reason(self) -> &'static str {
        match self {
            Self::Success => "orderly power-off",
            Self::Exception => "unexpected exception",
            Self::Panic => "panic",
            Self::NoDeviceTree => "no usable device tree",
            Self::NoConsole => "no console UART",
            Self::PlatformError => "platform setup failed",
            Self::Watchdog => "watchdog",
        }
    }
}

/// Facts gathered during bring-up, for the banner and the shell.
pub struct System {
    /// The board description.
    pub board: Board,
    /// Exception level the kernel was entered at (1 or 2); it runs at EL1.
    pub entry_level: u64,
    /// GIC version in use.
    pub gic_version: u8,
    /// Whether QEMU semihosting is present (tests).
    pub semihosting: bool,
}

static SYSTEM: spin::Once<System> = spin::Once::new();

/// The system description; available once bring-up is done.
pub fn system() -> Option<&'static System> {
    SYSTEM.get()
}

/// Ordered bring-up on the boot core.
///
/// # Safety
/// Called once from the entry code, at EL1, with a valid stack, BSS cleared, FP enabled, and
/// `dtb` either 0 or the address of the device tree blob the loader passed.
pub unsafe fn kernel_init(dtb: usize, entry_level: u64) -> ! {
    timer::mark_boot();
    cpu_arch::exception::install();
    // Before anything can fail: read how the last boot ended, mark this one running.
    lastboot::init();
    log::init();
    let semihosting = semihosting::probe();
    // SAFETY: `dtb` comes from the loader per the booti protocol (or is 0).
    let board = match unsafe { board::parse(dtb) } {
        Ok(board) => board,
        Err(error) => {
            let _ = writeln!(
                console::EmergencyWriter,
                "no usable device tree at {dtb:#x}: {error}"
            );
            fail_boot(ExitCode::NoDeviceTree);
        }
    };
    psci::set_conduit(board.psci);
    if let Err(error) = layout::map_everything(&board) {
        let _ = writeln!(
            console::EmergencyWriter,
            "cannot build the memory map: {error}"
        );
        fail_boot(ExitCode::PlatformError);
    }
    // SAFETY: `map_everything` mapped the image, stack, RAM, the DTB and every device we use.
    unsafe { mmu::enable() };
    let Some(uart) = board.uart else {
        fail_boot(ExitCode::NoConsole)
    };
    // SAFETY: the UART region came from the DTB and is mapped as device memory; only the
    // console module drives it.
    unsafe { console::init(uart.registers.base as usize, uart.clock_hz) };
    // SAFETY: GIC frames are mapped; we are the boot core and IRQs are still masked.
    let gic_version = match unsafe { interrupts::init(&board) } {
        Ok(version) => version,
        Err(error) => {
            println!("interrupt controller: {}", error);
            fail_boot(ExitCode::PlatformError);
        }
    };
    let system = SYSTEM.call_once(|| System {
        board,
        entry_level,
        gic_version,
        semihosting,
    });
    start_interrupt_sources(system);
    // Armed from here: bring-up after this point and the poll loop must keep checking in.
    watchdog::check_in();
    cpu_arch::cpu::enable_interrupts();
    kernel_main(system)
}

fn start_interrupt_sources(system: &System) {
    match system.board.timer_interrupt {
        Some(id) => {
            if let Err(error) = interrupts::register(id, system.board.trigger(id), on_timer_tick) {
                println!("timer interrupt {}: {}", id, error);
            }
            timer::start_ticks();
        }
        None => println!(
            "warning: the device tree describes no timer interrupt; uptime stays 0 and the watchdog is off"
        ),
    }
    if let Some(id) = system.board.uart.and_then(|uart| uart.interrupt) {
        match interrupts::register(id, system.board.trigger(id), on_console_interrupt) {
            Ok(()) => console::set_interrupt_driven(),
            Err(error) => println!(
                "console interrupt {}: {} (falling back to polling)",
                id, error
            ),
        }
    }
}

/// The timer interrupt, noted as a wake cause for `stats`.
fn on_timer_tick() {
    loopstats::woken_by(loopstats::Wake::Timer);
    timer::on_tick();
}

/// The console interrupt, noted as a wake cause for `stats`.
fn on_console_interrupt() {
    loopstats::woken_by(loopstats::Wake::Console);
    console::on_interrupt();
}

fn kernel_main(system: &'static System) -> ! {
    commands::print_banner(system);
    println!("{}", lastboot::Report);
    log_info!(
        "kernel up: EL{=u64} entry, GICv{=u8}",
        system.entry_level,
        system.gic_version
    );
    // Before the network: the switch starts with the stored config.
    config::init(&system.board);
    let mut network = net::init(&system.board);
    network.register_fatal_paths();
    bootbank::init(&system.board);
    if let Some(version) = bootbank::running_version() {
        network.set_firmware_version(&version);
    }
    let mut shell = commands::Shell::new();
    shell.prompt();
    loop {
        let pass_started = timer::counter_microseconds();
        watchdog::check_in();
        // Health window (jumpstart): console up, loop checking in, management stack up, the
        // switch running when there are data ports.
        bootbank::poll(
            network.management_health(),
            network.forwarding_health(),
            system.board.psci,
        );
        // Console input: the shell's, or an update's while one runs (one frame per pass).
        let idle = !shell.poll(system, &mut network);
        // A reboot the management API scheduled, once its answer had time to go out.
        api::poll(system.board.psci);
        let events = network.poll();
        let network_busy = network.busy();
        if !events.is_empty() || network_busy {
            loopstats::note(loopstats::Activity::Network);
        }
        // The pass's work ends here; the sleep below is not part of it.
        loopstats::end_pass(pass_started, timer::counter_microseconds());
        if idle && !network_busy {
            sleep_until_interrupt(&mut network);
        }
    }
}

/// Sleeps until an interrupt: a received frame (every NIC's receive interrupt is armed first),
/// console input, a link change or the timer tick. Check-then-sleep with IRQs masked: a pending
/// interrupt still ends `wfi`, and the handlers run once the mask is dropped. A frame that
/// raced in while the interrupts were armed means no sleep at all. On wake the NICs go back to
/// polling with their receive interrupts suppressed.
fn sleep_until_interrupt(network: &mut net::Network) {
    let mask = sync::InterruptMask::new();
    loopstats::before_sleep();
    let frame_waiting = network.arm_receive_interrupts();
    let sleep = !frame_waiting && !console::input_pending();
    if sleep && flashbus::take_written() {
        // A flash write can leave QEMU's main loop without the tick's deadline (flashbus.rs).
        timer::renotify();
    }
    if sleep {
        cpu_arch::cpu::wait_for_interrupt();
    }
    drop(mask);
    network.suppress_receive_interrupts();
    if sleep {
        loopstats::after_wake();
    } else if frame_waiting {
        loopstats::sleep_skipped();
    }
}

/// Ends a boot that cannot continue. Under semihosting (tests) QEMU exits with `code`. In the
/// field the machine resets through PSCI, so dpuboot counts a trial's try and A/B rollback can
/// act; the caller has already written the last-boot record the next boot prints. Without
/// PSCI the core parks. Never powers off (PSCI SYSTEM_OFF would look like success).
pub fn fail_boot(code: ExitCode) -> ! {
    // Nothing may interrupt the ending (the watchdog tick, a console interrupt).
    core::mem::forget(sync::InterruptMask::new());
    // HA: the active DPU's last words, a resign (reason crash) to the peer and the host, so
    // the standby takes over at once rather than after the missed heartbeats (`ha.rs`).
    if matches!(
        code,
        ExitCode::Panic | ExitCode::Exception | ExitCode::Watchdog
    ) {
        ha::on_fatal();
    }
    let mut out = console::EmergencyWriter;
    let _ = write!(
        out,
        "\r\n*** boot failed: status {} ({})\r\n",
        code as u32,
        code.reason()
    );
    semihosting::exit(code as u32);
    lastboot::record_unless_ended(bootstate::lastboot::Ending::BootFailed { status: code as u8 });
    match psci::conduit() {
        Some(conduit) => {
            let _ = write!(out, "*** resetting (the next boot reports why)\r\n");
            psci::system_reset(conduit);
            let _ = write!(out, "*** the firmware refused to reset\r\n");
        }
        None => {
            let _ = write!(out, "*** no PSCI in the device tree: cannot reset\r\n");
        }
    }
    let _ = write!(out, "*** system halted; power-cycle to recover\r\n");
    cpu_arch::cpu::park()
}

#[panic_handler]
fn panic(info: &core::panic::PanicInfo<'_>) -> ! {
    core::mem::forget(sync::InterruptMask::new());
    let mut out = console::EmergencyWriter;
    let _ = write!(out, "\r\n*** KERNEL PANIC: {}\r\n", info.message());
    match info.location() {
        Some(location) => {
            let _ = write!(
                out,
                "    at {}:{}:{}\r\n",
                location.file(),
                location.line(),
                location.column()
            );
            lastboot::record(bootstate::lastboot::Ending::Panic {
                file: bootstate::lastboot::FileName::new(location.file()),
                line: location.line(),
            });
        }
        None => lastboot::record(bootstate::lastboot::Ending::Panic {
            file: bootstate::lastboot::FileName::new("?"),
            line: 0,
        }),
    }
    fail_boot(ExitCode::Panic)
}
