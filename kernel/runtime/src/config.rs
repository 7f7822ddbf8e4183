//! The running config: loaded from flash1 at boot, saved on request; `config`, `token`.
//!
//! The formats, the two-copy store and the token table are the pure `dpu-config` crate; this
//! module owns flash1's config area and the running copy. Boot (`init`, before the network):
//! the stored config is loaded; one that does not decode or validate is reported, counted and
//! left in flash (the defaults run; the next save writes the other copy). Precedence for the
//! switch (docs/config.md): `switch.*` words on the kernel command line, when there are any,
//! replace the stored switch config for this boot; otherwise the stored one runs; otherwise
//! the default learning switch. `api.token=ROLE:SECRET` words add tokens for this boot only.
//!
//! Saves are synchronous: one sector erase and two programs in the pass that asked, 4 to 11 ms
//! under QEMU (`stats`), so forwarding pauses that long; saves are rare (console, API). flash1 is
//! also driven by `bootbank` (its own driver); see `Flash1Region::open` for why they coexist.
//!
//! Nothing prints under STATE (rank leaf): each function copies out what it needs first.

use crate::arch::aarch64::timer;
use crate::board::Board;
use crate::flashbus::NotingBus;
use crate::println;
use crate::sync::{Rank, ThreadMutex};
use bootstate::{Flash, FlashError};
use cfi_flash::CfiFlash;
use cfi_flash::boot::BootFlash;
use dpu_config::store::{CopyState, MAX_COPY_LEN};
use dpu_config::tokens::{self, EntropyPool, Origin};
use dpu_config::{ConfigStore, LoadOutcome, Role, RunningConfig, StoreError, TokenError};
use dpu_switch::SwitchConfig;

type Flash1 = BootFlash<NotingBus>;

/// Where the running config came from.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Source {
    /// No flash1 in the device tree: nothing can be stored.
    NoFlash,
    /// Nothing stored.
    Empty,
    /// Loaded from a copy.
    Loaded { copy: usize, sequence: u64 },
    /// A stored config was refused; the defaults run.
    Refused,
}

struct State {
    /// Where flash1 is; a driver is made for each load, save or clear (`Flash1Region::open`).
    flash: Option<Flash1Region>,
    store: Option<ConfigStore>,
    running: RunningConfig,
    /// The stored switch config, for the switch to start with (taken once).
    stored_switch: Option<SwitchConfig>,
    source: Source,
    /// Stored configs refused at boot (0 or 1 per boot; shown by `config`).
    refused: u32,
    saves: u32,
    /// Test hook (`config save-cut N`, semihosting only): stop the next save after N flash
    /// operations, as a power cut would.
    cut_after: Option<u32>,
    buffer: [u8; MAX_COPY_LEN],
}

static STATE: ThreadMutex<State> = ThreadMutex::ranked(
    "config",
    Rank::Leaf,
    State {
        flash: None,
        store: None,
        running: RunningConfig::new(0),
        stored_switch: None,
        source: Source::NoFlash,
        refused: 0,
        saves: 0,
        cut_after: None,
        buffer: [0; MAX_COPY_LEN],
    },
);

/// flash1's registers, from the device tree.
#[derive(Clone, Copy)]
struct Flash1Region {
    base: usize,
    size: usize,
}

impl Flash1Region {
    /// A driver for one load, save or clear. bootbank keeps its own driver over the same chip
    /// and leaves it in status mode after its writes (lazy read-array); a new driver knows
    /// nothing of the chip's mode, so its first read enters read-array mode, and it leaves the
    /// chip in read-array mode after each write. Both run only from the poll loop, one driver
    /// call at a time, so their commands never interleave.
    fn open(self) -> Result<Flash1, FlashError> {
        // SAFETY: the second CFI bank from the DTB, mapped as device memory by layout.rs; its
        // only other user is bootbank, never during one of this driver's calls (above).
        let bus = unsafe { NotingBus::new(self.base, self.size) };
        BootFlash::new(CfiFlash::new(bus, bootstate::layout::SECTOR_SIZE))
    }
}

/// A flash that stops after a budget of erases and programs (the `save-cut` test hook).
struct Budgeted {
    flash: Flash1,
    left: Option<u32>,
}

impl Budgeted {
    fn spend(&mut self) -> Result<(), FlashError> {
        match &mut self.left {
            Some(0) => Err(FlashError::PowerLost),
            Some(left) => {
                *left -= 1;
                Ok(())
            }
            None => Ok(()),
        }
    }
}

impl Flash for Budgeted {
    const SECTOR_SIZE: u32 = Flash1::SECTOR_SIZE;
    const PROGRAM_GRANULARITY: u32 = Flash1::PROGRAM_GRANULARITY;

    fn capacity(&self) -> u32 {
        self.flash.capacity()
    }

    fn read(&mut self, offset: u32, buf: &mut [u8]) -> Result<(), FlashError> {
        self.flash.read(offset, buf)
    }

    fn erase(&mut self, sector_offset: u32) -> Result<(), FlashError> {
        self.spend()?;
        self.flash.erase(sector_offset)
    }

    fn program(&mut self, offset: u32, data: &[u8]) -> Result<(), FlashError> {
        self.spend()?;
        self.flash.program(offset, data)
    }
}

/// Loads the stored config and adds the command line's tokens. Before the network starts.
pub fn init(board: &Board) {
    let mut cmdline_tokens = dpu_config::TokenTable::new();
    let added = tokens::add_cmdline_tokens(board.bootargs, &mut cmdline_tokens, |word, problem| {
        println!("config: bootargs: {}: {}; token ignored", word, problem);
    });
    let Some(region) = board.flash.get(1).copied() else {
        println!("config: no flash1 in the device tree; the config cannot be saved");
        merge_cmdline_tokens(&cmdline_tokens, added);
        return;
    };
    let flash1 = Flash1Region {
        base: region.base as usize,
        size: region.size as usize,
    };
    let mut flash = match flash1.open() {
        Ok(flash) => flash,
        Err(error) => {
            println!("config: flash1: {}; the config cannot be saved", error);
            merge_cmdline_tokens(&cmdline_tokens, added);
            return;
        }
    };
    let loaded = {
        let mut state = STATE.lock();
        let state = &mut *state;
        let result = ConfigStore::load(&mut flash, &mut state.buffer);
        state.flash = Some(flash1);
        match result {
            Ok((store, outcome)) => {
                state.store = Some(store);
                Ok(adopt(state, outcome))
            }
            Err(error) => Err(error),
        }
    };
    match loaded {
        Ok(report) => report.print(),
        Err(error) => println!(
            "config: cannot read the config area: {}; running the defaults",
            error
        ),
    }
    merge_cmdline_tokens(&cmdline_tokens, added);
}

/// What `adopt` found, printed after the lock is dropped.
enum LoadReport {
    Empty,
    Loaded {
        copy: usize,
        sequence: u64,
        tokens: usize,
        unknown_sections: u16,
    },
    Refused {
        copy: usize,
        sequence: u64,
        refusal: dpu_config::store::Refusal,
    },
}

impl LoadReport {
    fn print(&self) {
        match self {
            LoadReport::Empty => println!("config: nothing stored; running the defaults"),
            LoadReport::Loaded {
                copy,
                sequence,
                tokens,
                unknown_sections,
            } => {
                println!(
                    "config: loaded save {} from copy {} ({} token(s))",
                    sequence, copy, tokens
                );
                if *unknown_sections > 0 {
                    println!(
                        "config: {} section(s) this firmware does not know were skipped (kept only until the next save)",
                        unknown_sections
                    );
                }
            }
            LoadReport::Refused {
                copy,
                sequence,
                refusal,
            } => {
                if *sequence == 0 {
                    println!("config: stored config refused: copy {} {}", copy, refusal);
                } else {
                    println!(
                        "config: stored config refused: save {} in copy {}: {}",
                        sequence, copy, refusal
                    );
                }
                println!(
                    "config: running the defaults; the stored bytes are kept for inspection until the next 'config save'"
                );
            }
        }
    }
}

fn adopt(state: &mut State, outcome: LoadOutcome) -> LoadReport {
    match outcome {
        LoadOutcome::Empty => {
            state.source = Source::Empty;
            LoadReport::Empty
        }
        LoadOutcome::Loaded {
            config,
            copy,
            sequence,
            notes,
        } => {
            state.source = Source::Loaded { copy, sequence };
            let tokens = config.tokens.len();
            state.stored_switch = Some(config.switch.clone());
            state.running = config;
            LoadReport::Loaded {
                copy,
                sequence,
                tokens,
                unknown_sections: notes.unknown_sections,
            }
        }
        LoadOutcome::Refused {
            copy,
            sequence,
            refusal,
        } => {
            state.source = Source::Refused;
            state.refused = state.refused.saturating_add(1);
            LoadReport::Refused {
                copy,
                sequence,
                refusal,
            }
        }
    }
}

fn merge_cmdline_tokens(cmdline: &dpu_config::TokenTable, added: usize) {
    let mut refused = 0usize;
    {
        let mut state = STATE.lock();
        for token in cmdline.iter() {
            if state.running.tokens.insert_token(token).is_err() {
                refused += 1;
            }
        }
    }
    if added > 0 {
        println!(
            "config: {} API token(s) from the kernel command line (this boot only)",
            added - refused.min(added)
        );
    }
    if refused > 0 {
        println!(
            "config: {} command-line token(s) refused: the table is full or the name is taken",
            refused
        );
    }
}

/// The switch config to start with: the stored one made to fit `port_count` ports, if there is
/// one and it is still valid for them. Taken once (by the switch at start).
pub fn stored_switch(port_count: u8) -> Option<SwitchConfig> {
    let stored = STATE.lock().stored_switch.take()?;
    let fitted = dpu_config::fit_ports(&stored, port_count);
    match fitted.validate() {
        Ok(()) => Some(fitted),
        Err(error) => {
            println!(
                "config: the stored switch config does not fit {} data port(s): {}; using the default learning switch",
                port_count, error
            );
            None
        }
    }
}

/// The switch now runs `config`: it is what the next save stores.
pub fn switch_applied(config: &SwitchConfig) {
    STATE.lock().running.switch = config.clone();
}

/// The role of the API token `presented`, if any (constant time over the table).
#[allow(
    dead_code,
    reason = "for the management API (kernel/runtime/src/api.rs)"
)]
pub fn verify_token(presented: &[u8]) -> Option<Role> {
    STATE.lock().running.tokens.verify(presented)
}

/// Runs `f` on the token table (the API server's `Authorization: Bearer` check).
#[allow(
    dead_code,
    reason = "for the management API (kernel/runtime/src/api.rs)"
)]
pub fn with_tokens<R>(f: impl FnOnce(&dpu_config::TokenTable) -> R) -> R {
    f(&STATE.lock().running.tokens)
}

/// A copy of the running config (for the API's `GET /v1/config`).
#[allow(
    dead_code,
    reason = "for the management API (kernel/runtime/src/api.rs)"
)]
pub fn running() -> RunningConfig {
    STATE.lock().running.clone()
}

/// Why a save did not happen.
pub enum SaveError {
    /// No flash1.
    NoFlash,
    /// The store refused (flash error, or the config is too large).
    Store(StoreError),
}

impl core::fmt::Display for SaveError {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            SaveError::NoFlash => formatter.write_str("no flash1, nothing can be saved"),
            SaveError::Store(error) => write!(formatter, "{error}"),
        }
    }
}

/// Saves the running config; the new save's sequence number.
pub fn save() -> Result<u64, SaveError> {
    let mut state = STATE.lock();
    let state = &mut *state;
    let (Some(flash1), Some(store)) = (state.flash, state.store.as_mut()) else {
        return Err(SaveError::NoFlash);
    };
    let flash = flash1
        .open()
        .map_err(|error| SaveError::Store(StoreError::Flash(error)))?;
    let mut budgeted = Budgeted {
        flash,
        left: state.cut_after.take(),
    };
    let sequence = store
        .save(&mut budgeted, &state.running, &mut state.buffer)
        .map_err(SaveError::Store)?;
    state.saves = state.saves.saturating_add(1);
    Ok(sequence)
}

/// Saves and says so (console commands).
pub fn save_and_report(what: &str) {
    match save() {
        Ok(sequence) => println!("config: {} saved (save {})", what, sequence),
        Err(error) => println!("error: config not saved: {}", error),
    }
}

/// `config save`.
pub fn command_save() {
    save_and_report("running config");
}

/// `config save-cut N` (tests, semihosting only): arms the next save to stop after N flash
/// operations as if the power were cut there (the test then power-cycles).
pub fn command_save_cut(operations: u32, semihosting: bool) {
    if !semihosting {
        println!("error: config save-cut is a test hook (semihosting only)");
        return;
    }
    STATE.lock().cut_after = Some(operations);
    println!(
        "config: test: the next save stops after {} flash operation(s)",
        operations
    );
}

/// `config json`: the running config as `GET /v1/config` writes it, on one line.
pub fn command_json() {
    struct Console;
    impl core::fmt::Write for Console {
        fn write_str(&mut self, text: &str) -> core::fmt::Result {
            crate::print!("{}", text);
            Ok(())
        }
    }
    let config = STATE.lock().running.clone();
    if dpu_config::json::write(&config, &mut Console).is_err() {
        println!();
        println!("error: the console refused the output");
        return;
    }
    println!();
}

/// `config clear`.
pub fn command_clear() {
    let result = {
        let mut state = STATE.lock();
        let state = &mut *state;
        match (state.flash, state.store.as_mut()) {
            (Some(flash1), Some(store)) => flash1
                .open()
                .map_err(StoreError::Flash)
                .and_then(|mut flash| store.clear(&mut flash))
                .map_err(SaveError::Store),
            _ => Err(SaveError::NoFlash),
        }
    };
    match result {
        Ok(()) => println!(
            "config: stored config erased; the next boot runs the defaults (the running config is unchanged)"
        ),
        Err(error) => println!("error: config not erased: {}", error),
    }
}

/// `config`: where the running config came from, what it holds, the stored copies.
pub fn command_show() {
    let (source, refused, saves, copies, config) = {
        let state = STATE.lock();
        (
            state.source,
            state.refused,
            state.saves,
            state.store.map(|store| store.copies()),
            state.running.clone(),
        )
    };
    match source {
        Source::NoFlash => println!("config: defaults (no flash1: nothing can be stored)"),
        Source::Empty => println!("config: defaults (nothing stored at boot)"),
        Source::Loaded { copy, sequence } => {
            println!(
                "config: loaded at boot from save {} in copy {}",
                sequence, copy
            )
        }
        Source::Refused => println!(
            "config: defaults (the stored config was refused at boot and is kept until the next save)"
        ),
    }
    println!(
        "  {} save(s) this boot, {} stored config(s) refused at boot",
        saves, refused
    );
    if let Some(copies) = copies {
        for (copy, state) in copies.iter().enumerate() {
            println!("  copy {}: {}", copy, CopyWords(*state));
        }
    }
    let switch = &config.switch;
    println!(
        "  switch: {} data port(s), aging {} s",
        switch.port_count, switch.aging_seconds
    );
    for port in switch.port_ids() {
        let settings = switch.port(port);
        println!("    {} {} {}", port, settings.role, settings.vlan);
    }
    println!("  tokens: {}", config.tokens.len());
}

struct CopyWords(CopyState);

impl core::fmt::Display for CopyWords {
    fn fmt(&self, formatter: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        write!(formatter, "{}", self.0)
    }
}

/// `token list`.
pub fn command_token_list() {
    let tokens = STATE.lock().running.tokens.clone();
    if tokens.is_empty() {
        println!("no API tokens (token add NAME ROLE makes one)");
        return;
    }
    println!("name                             role           origin");
    for token in tokens.iter() {
        println!(
            "{:<32} {:<14} {}",
            token.name(),
            token.role().name(),
            token.origin().name()
        );
    }
}

/// `token add NAME ROLE`: makes a secret, prints it once, stores its digest, saves.
pub fn command_token_add(name: &str, role: &str) {
    let Some(role) = Role::parse(role) else {
        println!("error: the role is administrator, operator or read-only");
        return;
    };
    let (entropy, source) = gather_entropy();
    let secret = tokens::secret_from_entropy(&entropy);
    let added = STATE
        .lock()
        .running
        .tokens
        .add(name, role, secret.as_bytes());
    if let Err(error) = added {
        println!("error: token {}: {}", name, error);
        return;
    }
    println!("token {} ({}): {}", name, role, secret.as_str());
    println!(
        "  shown once: only its SHA-256 is kept (entropy: {})",
        source
    );
    save_and_report("token");
}

/// `token del NAME`.
pub fn command_token_del(name: &str) {
    let removed = {
        let mut state = STATE.lock();
        match state.running.tokens.get(name).map(|token| token.origin()) {
            Some(Origin::Cmdline) => Err(None),
            _ => state.running.tokens.remove(name).map_err(Some),
        }
    };
    match removed {
        Ok(role) => {
            println!("token {} ({}) removed", name, role);
            save_and_report("token removal");
        }
        Err(None) => {
            println!(
                "error: token {} is from the kernel command line; it ends with this boot",
                name
            );
        }
        Err(Some(TokenError::NotFound)) | Err(Some(_)) => {
            println!("error: token {}: no token of that name", name)
        }
    }
}

/// 32 bytes for a secret: RNDR when the CPU has FEAT_RNG, mixed with the counter's jitter
/// over many samples, all through SHA-256. Returns what was used, in words.
fn gather_entropy() -> ([u8; 32], &'static str) {
    const SAMPLES: u32 = 4096;
    let mut pool = EntropyPool::new();
    let mut hardware = 0u32;
    for _ in 0..32 {
        if let Some(word) = rndr() {
            pool.mix(word);
            hardware += 1;
        }
    }
    // The low bits of the time each round of work takes vary (cache, TLB, interrupts, the
    // host under QEMU); many samples through SHA-256 make up for little entropy in each.
    let mut previous = timer::counter();
    for round in 0..SAMPLES {
        let mut spin = EntropyPool::new();
        spin.mix(u64::from(round));
        let now = timer::counter();
        pool.mix(now.wrapping_sub(previous) ^ (now << 32));
        previous = now;
        core::hint::black_box(spin.finish());
    }
    let source = if hardware > 0 {
        "RNDR (FEAT_RNG) and counter jitter"
    } else {
        "counter jitter (no FEAT_RNG on this CPU)"
    };
    (pool.finish(), source)
}

/// One RNDR read, when the CPU implements FEAT_RNG and the read succeeded.
fn rndr() -> Option<u64> {
    let features: u64;
    // SAFETY: reading an ID register has no side effects and is allowed at EL1.
    unsafe {
        core::arch::asm!("mrs {}, ID_AA64ISAR0_EL1", out(reg) features, options(nomem, nostack))
    };
    // ID_AA64ISAR0_EL1.RNDR, bits 63:60: 0 means no RNDR register.
    if features >> 60 == 0 {
        return None;
    }
    let value: u64;
    let ok: u64;
    // SAFETY: RNDR exists (checked above); reading it only sets the flags (Z on failure).
    unsafe {
        core::arch::asm!(
            "mrs {value}, s3_3_c2_c4_0",
            "cset {ok}, ne",
            value = out(reg) value,
            ok = out(reg) ok,
            options(nomem, nostack)
        )
    };
    (ok != 0).then_some(value)
}
