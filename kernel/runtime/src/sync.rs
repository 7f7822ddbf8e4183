//! Interrupt-masking spin lock: the one way kernel code shares state with interrupt handlers.
//!
//! Single core for now: masking IRQs on this core is what makes a critical section. The spin
//! lock underneath keeps it correct once secondary cores join. Lock order, outermost first:
//! console -> log ring -> devices. Never print while holding a device lock.

use aarch64_cpu::registers::DAIF;
use tock_registers::interfaces::{Readable, Writeable};

/// A `spin::Mutex` whose guard also masks IRQs on this core while held.
pub struct IrqSafeMutex<T> {
    inner: spin::Mutex<T>,
}

/// Guard of an [`IrqSafeMutex`]: restores the interrupt mask when dropped.
pub struct IrqSafeGuard<'a, T> {
    // Field order matters: the lock is released before interrupts are unmasked.
    guard: spin::MutexGuard<'a, T>,
    _mask: InterruptMask,
}

/// Masks IRQs until dropped, then restores the previous DAIF.
pub struct InterruptMask {
    saved: u64,
}

impl InterruptMask {
    /// Masks IRQs and FIQs on this core.
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
    /// A new unlocked mutex.
    pub const fn new(value: T) -> Self {
        Self {
            inner: spin::Mutex::new(value),
        }
    }

    /// Masks IRQs, then takes the lock.
    pub fn lock(&self) -> IrqSafeGuard<'_, T> {
        let mask = InterruptMask::new();
        IrqSafeGuard {
            guard: self.inner.lock(),
            _mask: mask,
        }
    }

    /// Takes the lock if it is free (fault and panic paths must not wait on a lock they interrupted).
    pub fn try_lock(&self) -> Option<IrqSafeGuard<'_, T>> {
        let mask = InterruptMask::new();
        self.inner
            .try_lock()
            .map(|guard| IrqSafeGuard { guard, _mask: mask })
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
