//! Interrupt layer: the GIC chosen from the device tree, and the IRQ dispatch table.
//!
//! Handlers run with IRQs masked and only acknowledge their device and record work (a flag, a
//! counter, bytes into a ring); the poll loop does the rest. They run after the controller
//! lock is dropped (the handler is copied out), so a handler may print or take the console
//! locks without breaking the lock order (`sync.rs`).

use crate::board::{Board, GicInfo};
use crate::sync::{IrqSafeMutex, Rank};
use core::sync::atomic::{AtomicU32, Ordering};
use gic::{Gic, GicError, GicV2, GicV3, IntId, InterruptController, Trigger};
use heapless::Vec;

/// A registered handler.
#[derive(Clone, Copy)]
struct Handler {
    id: IntId,
    run: fn(),
}

struct Controller {
    gic: Option<Gic>,
    handlers: Vec<Handler, 16>,
}

static CONTROLLER: IrqSafeMutex<Controller> = IrqSafeMutex::ranked(
    "interrupt controller",
    Rank::InterruptController,
    Controller {
        gic: None,
        handlers: Vec::new(),
    },
);
static SPURIOUS: AtomicU32 = AtomicU32::new(0);
static UNHANDLED: AtomicU32 = AtomicU32::new(0);

/// Why interrupts could not be set up.
#[derive(Clone, Copy, Debug)]
pub enum InterruptError {
    /// The device tree describes no supported GIC.
    NoController,
    /// The GIC driver refused.
    Gic(GicError),
    /// The interrupt ID is not a valid SGI/PPI/SPI.
    BadId(u32),
    /// The handler table is full.
    TooManyHandlers,
}

impl core::fmt::Display for InterruptError {
    fn fmt(&self, f: &mut core::fmt::Formatter<'_>) -> core::fmt::Result {
        match self {
            Self::NoController => f.write_str("the device tree describes no supported GIC"),
            Self::Gic(error) => write!(f, "GIC: {error}"),
            Self::BadId(id) => write!(f, "{id} is not a valid interrupt ID"),
            Self::TooManyHandlers => f.write_str("the handler table is full"),
        }
    }
}

impl From<GicError> for InterruptError {
    fn from(error: GicError) -> Self {
        Self::Gic(error)
    }
}

/// Brings up the GIC the device tree describes.
///
/// # Safety
/// The GIC's register frames (from `board`) must be mapped as device memory, and this must run
/// once, on the boot core, before IRQs are unmasked.
pub unsafe fn init(board: &Board) -> Result<u8, InterruptError> {
    let info: GicInfo = board.gic.ok_or(InterruptError::NoController)?;
    let mut gic = match info.version {
        // SAFETY: frames from the DTB, mapped by the caller; used by no one else.
        2 => Gic::V2(unsafe {
            GicV2::new(
                info.distributor.base as usize,
                info.cpu_or_redistributor.base as usize,
            )
        }),
        // SAFETY: as above.
        _ => Gic::V3(unsafe {
            GicV3::new(
                info.distributor.base as usize,
                info.cpu_or_redistributor.base as usize,
                info.cpu_or_redistributor.size as usize,
            )
        }),
    };
    gic.init()?;
    CONTROLLER.lock().gic = Some(gic);
    Ok(info.version)
}

/// Routes interrupt `raw_id` to `run` and enables it.
pub fn register(raw_id: u32, trigger: Trigger, run: fn()) -> Result<(), InterruptError> {
    let id = IntId::new(raw_id).ok_or(InterruptError::BadId(raw_id))?;
    let mut controller = CONTROLLER.lock();
    controller
        .handlers
        .push(Handler { id, run })
        .map_err(|_| InterruptError::TooManyHandlers)?;
    let gic = controller
        .gic
        .as_mut()
        .ok_or(InterruptError::NoController)?;
    gic.enable(id, trigger)?;
    Ok(())
}

/// Called by the exception vector for every IRQ.
pub fn handle_irq() {
    // Acknowledge and look the handler up under the lock; run it without the lock.
    let (id, run) = {
        let controller = CONTROLLER.lock();
        let Some(gic) = controller.gic.as_ref() else {
            return;
        };
        let Some(id) = gic.acknowledge() else {
            SPURIOUS.fetch_add(1, Ordering::Relaxed);
            return;
        };
        let run = controller
            .handlers
            .iter()
            .find(|handler| handler.id == id)
            .map(|handler| handler.run);
        (id, run)
    };
    match run {
        Some(run) => run(),
        None => {
            UNHANDLED.fetch_add(1, Ordering::Relaxed);
        }
    }
    if let Some(gic) = CONTROLLER.lock().gic.as_ref() {
        gic.end_of_interrupt(id);
    }
}

/// Spurious and unhandled interrupt counts.
pub fn counters() -> (u32, u32) {
    (
        SPURIOUS.load(Ordering::Relaxed),
        UNHANDLED.load(Ordering::Relaxed),
    )
}
