//! A typed view of a memory-mapped register block at a fixed address.

use core::marker::PhantomData;
use core::ops::Deref;

/// Register block `T` at a physical (identity-mapped) address. Dereferences to `&T`, whose
/// tock-registers fields do volatile accesses.
pub(crate) struct Mmio<T> {
    address: usize,
    phantom: PhantomData<fn() -> T>,
}

impl<T> Mmio<T> {
    /// A view of the register block at `address`.
    ///
    /// # Safety
    ///
    /// `address` must be the start of a mapped, device-memory (or, in host tests, ordinary
    /// memory) region at least `size_of::<T>()` long, suitably aligned for `T`, that stays valid
    /// and is accessed only through `T`'s register types for as long as the view is used.
    pub(crate) const unsafe fn new(address: usize) -> Self {
        Self {
            address,
            phantom: PhantomData,
        }
    }

    /// The address this view starts at.
    pub(crate) const fn address(&self) -> usize {
        self.address
    }
}

impl<T> Deref for Mmio<T> {
    type Target = T;

    fn deref(&self) -> &T {
        // SAFETY: `new`'s contract makes `address` a valid, aligned `T` for the view's lifetime;
        // the register types inside `T` are interior-mutable cells accessed volatilely.
        unsafe { &*core::ptr::with_exposed_provenance::<T>(self.address) }
    }
}
