//! The console shell: banner, prompt, and what each command does here.
//!
//! Line editing and parsing are in the host-tested `dpu-shell` crate; this module only runs
//! commands against the live system.

use crate::arch::aarch64::{cpu, mmu, psci, semihosting, timer};
use crate::board::{self, Board};
use crate::bootbank::Setting;
use crate::bootbank::console_update::{self, Progress};
use crate::bootbank::update;
use crate::net::Network;
use crate::switching::FdbListing;
use crate::version::{GIT_HASH, PROFILE, VERSION};
use crate::{System, console, layout, log, print, println};
use dpu_shell::{COMMANDS, Command, CrashKind, Feed, LineEditor, LineError};
use heapless::Deque;

/// Longest console line.
const LINE_CAPACITY: usize = 256;
/// The prompt; tests wait for it as the readiness line.
pub const PROMPT: &str = "dpu> ";

/// Bytes typed during an `fdb` listing that are kept for the line after it.
const TYPE_AHEAD_CAPACITY: usize = 256;

/// The shell's state: the line being typed, and an `update` that owns the console while it runs.
pub struct Shell {
    editor: LineEditor<LINE_CAPACITY>,
    update: Option<console_update::Session>,
    /// A `ping` runs (the network feeds it); the prompt comes back when it ends.
    pinging: bool,
    /// An `fdb` listing prints a few lines per pass; the prompt comes back when it ends.
    listing: Option<FdbListing>,
    /// What was typed during a listing, read as input once it ends (as a terminal keeps
    /// type-ahead); Ctrl-C ends the listing and discards it.
    typed_ahead: Deque<u8, TYPE_AHEAD_CAPACITY>,
    /// Typed-ahead bytes that did not fit, reported when the listing ends.
    typed_ahead_dropped: usize,
}

impl Shell {
    /// A shell with an empty line.
    pub fn new() -> Self {
        Self {
            editor: LineEditor::new(),
            update: None,
            pinging: false,
            listing: None,
            typed_ahead: Deque::new(),
            typed_ahead_dropped: 0,
        }
    }

    /// Prints the prompt.
    pub fn prompt(&self) {
        print!("{}", PROMPT);
    }

    /// Takes this pass's console input; returns whether there was any. While an update runs
    /// it gets the bytes (bounded work per pass, `bootbank::console_update`) and the shell none; the
    /// prompt comes back when it ends.
    pub fn poll(&mut self, system: &System, network: &mut Network) -> bool {
        // An upload with flash work pending (fed by the console or the API) keeps the loop
        // awake: its next step runs in the next pass.
        let mut busy = update::has_work();
        if self.pinging {
            return busy | self.poll_ping(network);
        }
        if self.listing.is_some() {
            self.poll_listing(network);
            return true;
        }
        loop {
            if let Some(session) = &mut self.update {
                return match session.poll() {
                    Progress::Waiting => busy,
                    Progress::Working => true,
                    Progress::Ended => {
                        self.update = None;
                        self.prompt();
                        true
                    }
                };
            }
            let Some(byte) = self.typed_ahead.pop_front().or_else(console::read_byte) else {
                return busy;
            };
            busy = true;
            self.feed(system, network, byte);
            if self.listing.is_some() {
                // The rest of the input waits for the listing (it keeps the loop awake).
                return true;
            }
        }
    }

    /// One pass of an `fdb` listing. Ctrl-C stops it (and drops what was typed meanwhile);
    /// other bytes wait in [`Shell::typed_ahead`].
    fn poll_listing(&mut self, network: &mut Network) {
        while let Some(byte) = console::read_byte() {
            if byte == 0x03 {
                self.listing = None;
                self.typed_ahead.clear();
                self.typed_ahead_dropped = 0;
                println!("^C");
                self.prompt();
                return;
            }
            if self.typed_ahead.push_back(byte).is_err() {
                self.typed_ahead_dropped += 1;
            }
        }
        let ended = match (network.switch(), &mut self.listing) {
            (Some((ports, _)), Some(listing)) => ports.continue_fdb(listing),
            _ => true,
        };
        if !ended {
            return;
        }
        self.listing = None;
        if self.typed_ahead_dropped > 0 {
            println!(
                "error: {} byte(s) typed during the listing did not fit in its {}-byte type-ahead; dropped",
                self.typed_ahead_dropped, TYPE_AHEAD_CAPACITY
            );
            self.typed_ahead_dropped = 0;
        }
        self.prompt();
    }

    /// While a ping runs the console takes only Ctrl-C (other bytes are dropped, as a terminal
    /// discards typing during `ping`); when the ping ends, the prompt comes back.
    fn poll_ping(&mut self, network: &mut Network) -> bool {
        if !network.ping_running() {
            self.pinging = false;
            self.prompt();
            return true;
        }
        let mut busy = false;
        while let Some(byte) = console::read_byte() {
            busy = true;
            if byte == 0x03 {
                network.cancel_ping();
                println!("^C");
                self.pinging = false;
                self.prompt();
                break;
            }
        }
        busy
    }

    /// Handles one received byte.
    fn feed(&mut self, system: &System, network: &mut Network, byte: u8) {
        let result = self.editor.feed(byte, console::write_bytes);
        match result {
            Feed::Pending => {}
            Feed::Cancelled => self.prompt(),
            Feed::Rejected(LineError::TooLong { length }) => {
                println!(
                    "error: line too long ({} bytes, at most {}); ignored",
                    length, LINE_CAPACITY
                );
                self.prompt();
            }
            Feed::Rejected(LineError::Garbage { bytes }) => {
                println!("error: {} unprintable byte(s) in the line; ignored", bytes);
                self.prompt();
            }
            Feed::Line => {
                crate::loopstats::note(crate::loopstats::Activity::Command);
                match Command::parse(self.editor.line()) {
                    Ok(command) => execute(
                        system,
                        network,
                        command,
                        &self.editor,
                        &mut self.update,
                        &mut self.listing,
                    ),
                    Err(error) => println!("error: {}", error),
                }
                self.editor.clear();
                // An update, a ping or a listing that started prompts when it ends.
                self.pinging = network.ping_running();
                if self.update.is_none() && !self.pinging && self.listing.is_none() {
                    self.prompt();
                }
            }
        }
    }
}

/// The boot banner.
pub fn print_banner(system: &System) {
    let ram: u64 = system.board.memory.iter().map(|bank| bank.size).sum();
    let cores = system.board.fdt.cpus().count();
    println!();
    println!(
        "dpu-runtime {} (git {}, {} build)",
        VERSION, GIT_HASH, PROFILE
    );
    println!(
        "  EL1 (entered at EL{}), {} (MIDR {:#010x}), 1 of {} core(s) running",
        system.entry_level,
        cpu::core_name(),
        cpu::midr(),
        cores
    );
    println!(
        "  RAM {} MiB at {:#x}, GICv{}, timer {} kHz, board '{}'",
        ram >> 20,
        system.board.memory.first().map_or(0, |bank| bank.base),
        system.gic_version,
        timer::frequency() / 1000,
        system.board.model
    );
    if let Some(conduit) = system.board.psci {
        let (major, minor) = psci::version(conduit);
        println!("  PSCI {}.{} via {}", major, minor, conduit.instruction());
    }
    if system.semihosting {
        println!("  semihosting present: test statuses exit QEMU");
    }
    println!("Type 'help' for commands.");
}

fn execute(
    system: &System,
    network: &mut Network,
    command: Command<'_>,
    editor: &LineEditor<LINE_CAPACITY>,
    update: &mut Option<console_update::Session>,
    listing: &mut Option<FdbListing>,
) {
    match command {
        Command::Ifconfig { verbose } => network.print_ifconfig(verbose),
        Command::Ping { address, count } => network.ping(
            dpu_net::smoltcp::wire::Ipv4Address::from_octets(address),
            count,
        ),
        Command::Nothing => {}
        Command::Help => {
            for (name, arguments, description) in COMMANDS {
                let mut usage: heapless::String<96> = heapless::String::new();
                let _ = core::fmt::write(&mut usage, format_args!("{} {}", name, arguments));
                println!("  {:<40} {}", usage.as_str(), description);
            }
        }
        Command::Version => {
            println!(
                "dpu-runtime {} (git {}, {} build, log level {})",
                VERSION,
                GIT_HASH,
                PROFILE,
                log::build_level()
            );
        }
        Command::Uptime => {
            let milliseconds = timer::uptime_milliseconds();
            let (spurious, unhandled) = crate::interrupts::counters();
            println!(
                "up {}.{:03} s ({} timer ticks at {} Hz; {} spurious, {} unhandled interrupts)",
                milliseconds / 1000,
                milliseconds % 1000,
                timer::ticks(),
                timer::TICK_HZ,
                spurious,
                unhandled
            );
        }
        Command::Memory => show_memory(&system.board),
        Command::Stats => {
            let (since_boot, since_read) = crate::loopstats::take();
            println!(
                "poll loop: {} {}, longest {} us ({}) since boot; {} {}, longest {} us ({}) since the last 'stats'",
                since_boot.passes,
                passes(since_boot.passes),
                since_boot.longest_microseconds,
                since_boot.longest_activity,
                since_read.passes,
                passes(since_read.passes),
                since_read.longest_microseconds,
                since_read.longest_activity
            );
            println!("{}", crate::loopstats::Wakeups);
        }
        Command::Pmu { reset } => crate::pmu::command(reset),
        Command::Devices { verbose } => show_devices(system, network, verbose),
        Command::LogShow => {
            println!(
                "recent log frames (decoded by 'cargo xtask run'; raw defmt on a bare terminal):"
            );
            let frames = log::replay();
            println!(
                "{} frame(s) replayed; runtime level {}",
                frames,
                log::level().name()
            );
        }
        Command::LogLevelShow => {
            println!(
                "log level {} (build compiled up to {})",
                log::level().name(),
                log::build_level()
            );
        }
        Command::LogLevelSet(level) => {
            log::set_level(level);
            println!("log level set to {}", level.name());
            crate::log_info!("log level changed");
        }
        Command::Reboot => {
            println!("rebooting");
            crate::lastboot::record(bootstate::lastboot::Ending::Reboot);
            match system.board.psci {
                Some(conduit) => psci::system_reset(conduit),
                None => println!("error: no PSCI in the device tree; cannot reset"),
            }
            println!("error: the firmware refused to reset");
        }
        Command::Boot => crate::bootbank::show(),
        Command::BootTries(tries) => crate::bootbank::configure(Setting::Tries(tries)),
        Command::BootWindow(window) => crate::bootbank::configure(Setting::RollbackWindow(window)),
        Command::BootHealth(window) => crate::bootbank::configure(Setting::HealthWindow(window)),
        Command::Watchdog(timeout) => crate::watchdog::command(timeout),
        Command::Rollback => crate::bootbank::request_rollback(),
        Command::Unstage => crate::bootbank::unstage(),
        Command::Update { length } => *update = console_update::start(length),
        Command::PowerOff => {
            let counters = editor.counters();
            let (overruns, line_errors) = console::input_errors();
            println!(
                "console: {} garbage byte(s), {} escape sequence(s), {} overlong line(s), {} input overrun(s), {} line error(s), {} late receive(s)",
                counters.garbage_bytes,
                counters.escape_sequences,
                counters.overlong_lines,
                overruns,
                line_errors,
                console::backstop_finds()
            );
            if system.semihosting {
                println!("power off (semihosting status 0)");
                semihosting::exit(crate::ExitCode::Success as u32);
            }
            println!("power off");
            match system.board.psci {
                Some(conduit) => psci::system_off(conduit),
                None => println!("error: no PSCI in the device tree; cannot power off"),
            }
            println!("error: the firmware refused to power off");
        }
        Command::Crash(kind) => crash(kind),
        Command::Switch => match network.switch() {
            Some((ports, _)) => ports.show(),
            None => println!("{}", NO_SWITCH),
        },
        Command::SwitchSet { key, value } => match network.switch() {
            Some((ports, nics)) => ports.set(nics, key, value),
            None => println!("{}", NO_SWITCH),
        },
        // The shell feeds the listing pass by pass (`Shell::poll_listing`).
        Command::Fdb { vlan, port } => match network.switch() {
            Some((ports, _)) => *listing = Some(ports.start_fdb(vlan, port)),
            None => println!("{}", NO_SWITCH),
        },
        Command::FdbAdd { mac, vlan, port } => match network.switch() {
            Some((ports, _)) => ports.fdb_add(mac, vlan, port),
            None => println!("{}", NO_SWITCH),
        },
        Command::FdbDel { mac, vlan } => match network.switch() {
            Some((ports, _)) => ports.fdb_del(mac, vlan),
            None => println!("{}", NO_SWITCH),
        },
        Command::Api {
            method,
            target,
            body,
        } => crate::api::console_request(network, method, target, body),
        Command::Ha => match network.ha() {
            Some(ha) => ha.show(),
            None => crate::ha::show_off(),
        },
        Command::HaFailover => match network.ha_mut() {
            Some(ha) => ha.command_failover(),
            None => crate::ha::show_off(),
        },
        Command::FdbFlush => match network.switch() {
            Some((ports, _)) => ports.fdb_flush(),
            None => println!("{}", NO_SWITCH),
        },
        Command::Config => crate::config::command_show(),
        Command::ConfigSave => crate::config::command_save(),
        Command::ConfigJson => crate::config::command_json(),
        Command::ConfigSaveCut(operations) => {
            crate::config::command_save_cut(operations, system.semihosting)
        }
        Command::ConfigClear => crate::config::command_clear(),
        Command::TokenList => crate::config::command_token_list(),
        Command::TokenAdd { name, role } => crate::config::command_token_add(name, role),
        Command::TokenDel { name } => crate::config::command_token_del(name),
    }
}

/// "pass" or "passes".
fn passes(count: u64) -> &'static str {
    if count == 1 { "pass" } else { "passes" }
}

/// What the switch commands say when there are no data ports.
const NO_SWITCH: &str =
    "error: no data ports, so no switch (QEMU: add a second -device virtio-net-device)";

fn show_memory(board: &Board) {
    let image = layout::image();
    for bank in &board.memory {
        println!(
            "  RAM      {:#012x}..{:#012x}  {} MiB",
            bank.base,
            bank.end(),
            bank.size >> 20
        );
    }
    println!(
        "  image    {:#012x}..{:#012x}  {} KiB in RAM",
        image.start,
        image.end,
        (image.end - image.start) >> 10
    );
    println!(
        "    text   {:#012x}..{:#012x}  {} KiB (read-only, executable)",
        image.start,
        image.text_end,
        (image.text_end - image.start) >> 10
    );
    println!(
        "    data   {:#012x}..{:#012x}  {} KiB (rodata + data)",
        image.text_end,
        image.data_end,
        (image.data_end - image.text_end) >> 10
    );
    println!(
        "    bss    {:#012x}..{:#012x}  {} KiB",
        image.bss.base,
        image.bss.end(),
        image.bss.size >> 10
    );
    println!(
        "    stack  {:#012x}..{:#012x}  {} KiB",
        image.stack.base,
        image.stack.end(),
        image.stack.size >> 10
    );
    println!(
        "  dtb      {:#012x}..{:#012x}  {} KiB",
        board.dtb.base,
        board.dtb.end(),
        board.dtb.size >> 10
    );
    let (used, total) = mmu::tables_used();
    println!("  page tables: {} of {} used", used, total);
}

fn show_devices(system: &System, network: &Network, verbose: bool) {
    let board = &system.board;
    let mut virtio_slots = 0;
    for node in board.fdt.all_nodes() {
        let Some(compatible) = node.compatible().map(|c| c.first()) else {
            continue;
        };
        let base = board::regions(&node).next();
        let interrupt = board::interrupts(&node).next();
        if board::is_compatible(&node, &["virtio,mmio"]) {
            virtio_slots += 1;
            if !verbose {
                continue;
            }
        }
        print!("  {:<28} {:<26}", node.name, compatible);
        match base {
            Some(region) => print!(" {:#012x}", region.base),
            None => print!(" {:>12}", "-"),
        }
        match interrupt {
            Some(id) => print!(" irq {:<4}", id),
            None => print!(" {:<8}", "irq -"),
        }
        let bound = base
            .filter(|_| board::is_compatible(&node, &["virtio,mmio"]))
            .map(|region| network.nic_at(region.base));
        match bound {
            Some(Some(name)) => println!(" virtio-net: {}", name),
            Some(None) => println!(" virtio-mmio: empty or not a NIC"),
            None => println!(" {}", binding(system, &node)),
        }
    }
    if virtio_slots > 0 && !verbose {
        println!(
            "  {} virtio-mmio slot(s): mapped; {} virtio-net NIC(s) bound ('ifconfig'; 'devices -v' lists the slots)",
            virtio_slots,
            network.nic_count()
        );
    }
}

fn binding(system: &System, node: &fdt::node::FdtNode<'_, '_>) -> &'static str {
    let board = &system.board;
    let base = board::regions(node).next().map(|region| region.base);
    if board::is_compatible(node, &["arm,pl011"]) && base == board.uart.map(|u| u.registers.base) {
        "pl011 (console)"
    } else if base.is_some() && base == board.gic.map(|gic| gic.distributor.base) {
        if system.gic_version == 3 {
            "gicv3"
        } else {
            "gicv2"
        }
    } else if board::is_compatible(node, &["arm,armv8-timer"]) {
        "generic timer (virtual timer tick)"
    } else if board::is_compatible(node, &["arm,psci-1.0", "arm,psci-0.2", "arm,psci"]) {
        match board.psci {
            Some(psci::Conduit::Hypervisor) => "psci (hvc)",
            Some(psci::Conduit::SecureMonitor) => "psci (smc)",
            None => "psci (no conduit)",
        }
    } else if board::is_compatible(node, &["cfi-flash"]) {
        if board.flash.len() > 1 {
            "cfi-flash (flash0: dpuboot; flash1: boot state, banks A/B)"
        } else {
            "cfi-flash (no flash1: direct boot, no boot state)"
        }
    } else if layout::is_mapped_device(node, board) {
        "mapped"
    } else {
        "-"
    }
}

fn crash(kind: CrashKind) {
    match kind {
        CrashKind::DataAbort => {
            println!("reading from an unmapped address (expect a data abort report)");
            // An address no map covers: the top of the 39-bit space.
            let address = (1u64 << 39) - 8;
            // SAFETY: deliberately unsound read to trigger a translation fault; the fault
            // handler reports it and ends the boot, so the value is never used.
            let value = unsafe { core::ptr::read_volatile(address as *const u64) };
            println!("unexpectedly read {:#x}", value);
        }
        CrashKind::Panic => {
            println!("panicking on purpose");
            panic!("deliberate panic from the console");
        }
        CrashKind::Undefined => {
            println!("executing an undefined instruction");
            // SAFETY: `udf` traps immediately; the fault handler ends the boot.
            unsafe { core::arch::asm!("udf #0") };
        }
        CrashKind::StackOverflow => {
            println!("recursing until the stack hits its guard page");
            println!("unexpectedly returned {}", crate::layout::overflow_stack(0));
        }
        CrashKind::Hang => crate::watchdog::hang(),
    }
}
