//! Kernel locks: interrupt-masking and thread-only spin locks, with a checked lock order.
//!
//! Single core for now: masking IRQs on this core is what makes a critical section with an
//! interrupt handler. The spin lock underneath keeps it correct once secondary cores join.
//!
//! Two kinds of lock:
//! - [`IrqSafeMutex`]: any lock an interrupt handler can take. It masks IRQs while held,
//!   everywhere, so a handler never spins on a lock the code it interrupted holds.
//! - [`ThreadMutex`]: a lock interrupt handlers never take (the boot state: flash work that
//!   may take seconds must not hold off the timer and the watchdog). It does not mask IRQs;
//!   debug builds panic if it is taken in interrupt context.
//!
//! Lock order. Every lock has a [`Rank`]; a lock may be taken only while every lock this
//! context holds has a lower rank. The order, outermost first, is the real nesting:
//!
//! | rank | lock | nested inside it |
//! |---|---|---|
//! | 1 `LogEncoder` | `log.rs` ENCODER (defmt frame) | console output (a frame is written) |
//! | 2 `ConsoleOutput` | `console.rs` OUTPUT | console input (the UART handler drains the FIFO) |
//! | 3 `ConsoleInput` | `console.rs` INPUT | nothing |
//! | 4 `LogReplay` | `log.rs` REPLAY | nothing |
//! | 5 `BootState` | `bootbank.rs` STATE (thread only) | nothing: in particular no printing |
//! | 6 `InterruptController` | `interrupts.rs` CONTROLLER | nothing: handlers run after it is dropped |
//! | 7 `Leaf` | any other lock (NIC interrupt flags, MMU tables) | nothing |
//!
//! So nothing prints while holding the boot-state or interrupt-controller lock (printing
//! takes `ConsoleOutput`, a lower rank). Debug builds check the order: each core keeps a word
//! of the ranks it holds, and taking a lock whose rank is not above the highest held panics
//! naming both locks. An interrupt starts with an empty word (the interrupted code's locks
//! are its own; IRQ-safe ones cannot be held there, since they mask IRQs) and the old word is
//! restored on return. `try_lock` cannot deadlock and is not checked (the fault paths use it).
//! The panic names the line that took the lock out of order, e.g. `lock order: 'console output'
//! (rank 2) taken while holding 'boot state' (rank 5)` at the `println!` under the boot state.

use aarch64_cpu::registers::DAIF;
use tock_registers::interfaces::{Readable, Writeable};

/// A lock's place in the lock order; see the module documentation.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord)]
#[repr(u8)]
pub enum Rank {
    /// The defmt encoder (helper of `log.rs`).
    LogEncoder = 1,
    /// Console output.
    ConsoleOutput = 2,
    /// The console's receive ring.
    ConsoleInput = 3,
    /// The log replay ring.
    LogReplay = 4,
    /// The boot-state record and flash1.
    BootState = 5,
    /// The interrupt controller and its handler table.
    InterruptController = 6,
    /// Locks nothing else is taken under.
    Leaf = 7,
}

impl Rank {
    /// The lock (or kind of lock) of a rank number, for lock-order reports.
    #[cfg_attr(
        not(debug_assertions),
        allow(dead_code, reason = "only the debug-build check reports")
    )]
    pub fn name_of(rank: u32) -> &'static str {
        match rank {
            1 => "log encoder",
            2 => "console output",
            3 => "console input",
            4 => "log replay",
            5 => "boot state",
            6 => "interrupt controller",
            7 => "a leaf lock",
            _ => "?",
        }
    }
}

/// A `spin::Mutex` whose guard also masks IRQs on this core while held.
pub struct IrqSafeMutex<T> {
    inner: spin::Mutex<T>,
    name: &'static str,
    rank: Rank,
}

/// Guard of an [`IrqSafeMutex`]: restores the interrupt mask when dropped.
pub struct IrqSafeGuard<'a, T> {
    // Field order matters: the lock is released, then its rank, then interrupts unmasked.
    guard: spin::MutexGuard<'a, T>,
    _held: Held,
    _mask: InterruptMask,
}

/// Masks IRQs until dropped, then restores the previous DAIF.
pub struct InterruptMask {
    saved: u64,
}

impl InterruptMask {
    /// Masks every exception this core can mask (debug, SError, IRQ, FIQ).
    pub fn new() -> Self {
        let saved = DAIF.get();
        DAIF.write(DAIF::I::Masked + DAIF::F::Masked + DAIF::A::Masked + DAIF::D::Masked);
        Self { saved }
    }
}

impl Drop for InterruptMask {
    fn drop(&mut self) {
        DAIF.set(self.saved);
    }
}

impl<T> IrqSafeMutex<T> {
    /// A new unlocked mutex of rank [`Rank::Leaf`] (nothing may be taken while it is held).
    pub const fn new(value: T) -> Self {
        Self::ranked("leaf lock", Rank::Leaf, value)
    }

    /// A new unlocked mutex called `name` (for lock-order reports) with `rank`.
    pub const fn ranked(name: &'static str, rank: Rank, value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
            name,
            rank,
        }
    }

    /// Masks IRQs, then takes the lock (a lock-order panic names the caller's line).
    #[track_caller]
    pub fn lock(&self) -> IrqSafeGuard<'_, T> {
        let mask = InterruptMask::new();
        let held = Held::acquire(self.name, self.rank);
        IrqSafeGuard {
            guard: self.inner.lock(),
            _held: held,
            _mask: mask,
        }
    }

    /// Takes the lock if it is free (fault and panic paths must not wait on a lock they
    /// interrupted). Not order-checked: it cannot deadlock.
    pub fn try_lock(&self) -> Option<IrqSafeGuard<'_, T>> {
        let mask = InterruptMask::new();
        let guard = self.inner.try_lock()?;
        Some(IrqSafeGuard {
            guard,
            _held: Held::unchecked(),
            _mask: mask,
        })
    }
}

impl<T> core::ops::Deref for IrqSafeGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> core::ops::DerefMut for IrqSafeGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// A lock interrupt handlers never take: it leaves IRQs as they are.
pub struct ThreadMutex<T> {
    inner: spin::Mutex<T>,
    name: &'static str,
    rank: Rank,
}

/// Guard of a [`ThreadMutex`].
pub struct ThreadGuard<'a, T> {
    guard: spin::MutexGuard<'a, T>,
    _held: Held,
}

impl<T> ThreadMutex<T> {
    /// A new unlocked thread-only mutex called `name` with `rank`.
    pub const fn ranked(name: &'static str, rank: Rank, value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
            name,
            rank,
        }
    }

    /// Takes the lock (debug builds: panics in interrupt context or out of order).
    #[track_caller]
    pub fn lock(&self) -> ThreadGuard<'_, T> {
        order::forbid_in_interrupt(self.name);
        let held = Held::acquire(self.name, self.rank);
        ThreadGuard {
            guard: self.inner.lock(),
            _held: held,
        }
    }
}

impl<T> core::ops::Deref for ThreadGuard<'_, T> {
    type Target = T;
    fn deref(&self) -> &T {
        &self.guard
    }
}

impl<T> core::ops::DerefMut for ThreadGuard<'_, T> {
    fn deref_mut(&mut self) -> &mut T {
        &mut self.guard
    }
}

/// A rank held by this core; released when dropped.
struct Held {
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    rank: Option<Rank>,
}

impl Held {
    #[track_caller]
    fn acquire(name: &'static str, rank: Rank) -> Self {
        order::acquire(name, rank);
        Self { rank: Some(rank) }
    }

    fn unchecked() -> Self {
        Self { rank: None }
    }
}

impl Drop for Held {
    fn drop(&mut self) {
        if let Some(rank) = self.rank {
            order::release(rank);
        }
    }
}

/// Saved lock-order state of the interrupted context (see [`enter_interrupt`]).
pub struct InterruptContext {
    #[cfg_attr(not(debug_assertions), allow(dead_code))]
    saved: u32,
}

/// Called by the exception vector before an interrupt handler runs.
pub fn enter_interrupt() -> InterruptContext {
    InterruptContext {
        saved: order::enter_interrupt(),
    }
}

/// Called by the exception vector after the interrupt handler returned.
pub fn leave_interrupt(context: InterruptContext) {
    order::leave_interrupt(context.saved);
}

#[cfg(debug_assertions)]
mod order {
    //! The debug-build lock-order check: per core, a word of held ranks.

    use super::Rank;
    use core::sync::atomic::{AtomicU32, Ordering};

    const CORES: usize = 8;

    #[allow(clippy::declare_interior_mutable_const)]
    const ZERO: AtomicU32 = AtomicU32::new(0);
    /// Bit `rank` set: this core holds a lock of that rank.
    static HELD: [AtomicU32; CORES] = [ZERO; CORES];
    /// Interrupt nesting depth per core.
    static IN_INTERRUPT: [AtomicU32; CORES] = [ZERO; CORES];

    fn core() -> usize {
        crate::arch::aarch64::cpu::core_index() % CORES
    }

    #[track_caller]
    pub(super) fn acquire(name: &'static str, rank: Rank) {
        let core = core();
        let held = HELD[core].load(Ordering::Relaxed);
        let bit = rank as u32;
        if held >> bit != 0 {
            let highest = 31 - held.leading_zeros();
            panic!(
                "lock order: '{name}' (rank {bit}) taken while holding '{}' (rank {highest})",
                Rank::name_of(highest)
            );
        }
        HELD[core].fetch_or(1 << bit, Ordering::Relaxed);
    }

    pub(super) fn release(rank: Rank) {
        HELD[core()].fetch_and(!(1 << rank as u32), Ordering::Relaxed);
    }

    #[track_caller]
    pub(super) fn forbid_in_interrupt(name: &'static str) {
        if IN_INTERRUPT[core()].load(Ordering::Relaxed) > 0 {
            panic!("lock '{name}' is thread-only but was taken in an interrupt handler");
        }
    }

    pub(super) fn enter_interrupt() -> u32 {
        let core = core();
        IN_INTERRUPT[core].fetch_add(1, Ordering::Relaxed);
        HELD[core].swap(0, Ordering::Relaxed)
    }

    pub(super) fn leave_interrupt(saved: u32) {
        let core = core();
        HELD[core].store(saved, Ordering::Relaxed);
        IN_INTERRUPT[core].fetch_sub(1, Ordering::Relaxed);
    }
}

#[cfg(not(debug_assertions))]
mod order {
    //! Release builds: no lock-order bookkeeping.

    use super::Rank;

    pub(super) fn acquire(_name: &'static str, _rank: Rank) {}
    pub(super) fn release(_rank: Rank) {}
    pub(super) fn forbid_in_interrupt(_name: &'static str) {}
    pub(super) fn enter_interrupt() -> u32 {
        0
    }
    pub(super) fn leave_interrupt(_saved: u32) {}
}
