//! Operations on the GIC's banked register arrays, shared by the GICv2/v3 distributors and the
//! GICv3 redistributor's SGI frame (same layouts, IHI 0069 §12.9 / §12.11).

use tock_registers::interfaces::{Readable, Writeable};
use tock_registers::registers::ReadWrite;

use crate::{GicError, IntId, Trigger};

/// `Int_config[1]` in a two-bit ICFGR field: 1 = edge-triggered, 0 = level-sensitive.
const CONFIG_EDGE: u32 = 0b10;

/// Writes `id`'s bit into a set/clear register array (`ISENABLER`, `ICENABLER`, ...): writing 1
/// acts on that interrupt only, zeros are ignored, so no read-modify-write is needed.
pub(crate) fn write_bit(registers: &[ReadWrite<u32>], id: IntId) -> Result<(), GicError> {
    let (index, mask) = id.bit_position();
    registers
        .get(index)
        .ok_or(GicError::NotImplemented(id))?
        .set(mask);
    Ok(())
}

/// Whether `id`'s bit is set in a one-bit-per-interrupt array (reads of `ISENABLER` = enabled).
pub(crate) fn read_bit(registers: &[ReadWrite<u32>], id: IntId) -> Result<bool, GicError> {
    let (index, mask) = id.bit_position();
    Ok(registers
        .get(index)
        .ok_or(GicError::NotImplemented(id))?
        .get()
        & mask
        != 0)
}

/// Sets `id`'s trigger in an `ICFGR` array (read-modify-write of one 16-interrupt register).
pub(crate) fn write_trigger(
    registers: &[ReadWrite<u32>],
    id: IntId,
    trigger: Trigger,
) -> Result<(), GicError> {
    let (index, shift) = id.config_position();
    let register = registers.get(index).ok_or(GicError::NotImplemented(id))?;
    let edge = CONFIG_EDGE << shift;
    let value = match trigger {
        Trigger::Edge => register.get() | edge,
        Trigger::Level => register.get() & !edge,
    };
    register.set(value);
    Ok(())
}

/// Sets `id`'s byte in an `IPRIORITYR`/`ITARGETSR` array (read-modify-write of one register,
/// since byte accesses are not guaranteed on every implementation's bus).
pub(crate) fn write_byte(
    registers: &[ReadWrite<u32>],
    id: IntId,
    value: u8,
) -> Result<(), GicError> {
    let (index, shift) = id.byte_position();
    let register = registers.get(index).ok_or(GicError::NotImplemented(id))?;
    let cleared = register.get() & !(0xff << shift);
    register.set(cleared | (u32::from(value) << shift));
    Ok(())
}

/// `value` in all four byte lanes of a 32-bit register, for whole-register priority writes.
pub(crate) const fn replicate_byte(value: u8) -> u32 {
    u32::from_ne_bytes([value; 4])
}

/// Writes `value` to registers `range` of `registers`, skipping indices the array lacks.
pub(crate) fn fill(registers: &[ReadWrite<u32>], range: core::ops::Range<usize>, value: u32) {
    for register in registers.iter().take(range.end).skip(range.start) {
        register.set(value);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn registers<const N: usize>() -> [ReadWrite<u32>; N] {
        // SAFETY: `ReadWrite<u32>` is a transparent `UnsafeCell<u32>`; all-zero bits are a
        // valid `u32`.
        unsafe { core::mem::zeroed() }
    }

    fn id(raw: u32) -> IntId {
        IntId::new(raw).unwrap()
    }

    #[test]
    fn bits() {
        let array = registers::<2>();
        write_bit(&array, id(33)).unwrap();
        assert_eq!(array[1].get(), 0b10);
        assert!(read_bit(&array, id(33)).unwrap());
        assert!(!read_bit(&array, id(32)).unwrap());
        assert_eq!(
            write_bit(&array, id(64)),
            Err(GicError::NotImplemented(id(64)))
        );
        assert_eq!(
            read_bit(&array, id(64)),
            Err(GicError::NotImplemented(id(64)))
        );
    }

    #[test]
    fn triggers_keep_neighbours() {
        let array = registers::<4>();
        array[2].set(0xffff_ffff);
        write_trigger(&array, id(33), Trigger::Level).unwrap();
        assert_eq!(array[2].get(), 0xffff_fff7);
        write_trigger(&array, id(33), Trigger::Edge).unwrap();
        assert_eq!(array[2].get(), 0xffff_ffff);
        write_trigger(&array, id(63), Trigger::Edge).unwrap();
        assert_eq!(array[3].get(), 0x8000_0000);
        assert_eq!(
            write_trigger(&array, id(64), Trigger::Edge),
            Err(GicError::NotImplemented(id(64)))
        );
    }

    #[test]
    fn bytes_keep_neighbours() {
        let array = registers::<9>();
        array[8].set(0x1122_3344);
        write_byte(&array, id(33), 0xa0).unwrap();
        assert_eq!(array[8].get(), 0x1122_a044);
        write_byte(&array, id(35), 0x01).unwrap();
        assert_eq!(array[8].get(), 0x0122_a044);
        assert_eq!(replicate_byte(0xa0), 0xa0a0_a0a0);
        fill(&array, 7..20, 5);
        assert_eq!(array[6].get(), 0);
        assert_eq!(array[7].get(), 5);
        assert_eq!(array[8].get(), 5);
    }
}
