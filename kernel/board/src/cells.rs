//! Cell decoding: `reg` ranges and 3-cell GIC interrupt specifiers, with checked conversions.

use crate::{DeviceTreeError, Interrupt, PropertyProblem, Region, Trigger};
use fdt::node::FdtNode;
use heapless::Vec;

/// GIC specifier type cell: shared peripheral interrupt.
const SPI: u32 = 0;
/// GIC specifier type cell: private peripheral interrupt.
const PPI: u32 = 1;
/// SPI numbers 0..=987 are interrupt IDs 32..=1019.
const LAST_SPI: u32 = 987;
/// PPI numbers 0..=15 are interrupt IDs 16..=31.
const LAST_PPI: u32 = 15;
/// Flags cell, bits 0-3 (IRQ_TYPE_*): 1 rising edge, 2 falling edge, 4 level high, 8 level low.
/// Bits 8-15 are the GICv2 PPI CPU mask, which the kernel does not need.
const TRIGGER_MASK: u32 = 0xf;
const RISING_EDGE: u32 = 1;
const LEVEL_HIGH: u32 = 4;

/// A big-endian 32-bit cell at byte `offset`.
pub fn be32(bytes: &[u8], offset: usize) -> Option<u32> {
    let cell = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes([cell[0], cell[1], cell[2], cell[3]]))
}

/// A one- or two-cell number, exactly.
pub fn number(bytes: &[u8]) -> Option<u64> {
    match bytes.len() {
        4 => be32(bytes, 0).map(u64::from),
        8 => Some((u64::from(be32(bytes, 0)?) << 32) | u64::from(be32(bytes, 4)?)),
        _ => None,
    }
}

/// Whether `node` is compatible with any of `names`.
pub fn is_compatible(node: &FdtNode<'_, '_>, names: &[&str]) -> bool {
    node.compatible()
        .is_some_and(|compatible| compatible.all().any(|c| names.contains(&c)))
}

fn bad<'a>(
    node: &FdtNode<'_, 'a>,
    property: &'static str,
    problem: PropertyProblem,
) -> DeviceTreeError<'a> {
    DeviceTreeError::BadProperty {
        node: node.name,
        property,
        problem,
    }
}

/// The widths (in bytes) of one `reg` entry's address and size, and the entry count.
fn reg_shape<'a>(
    node: &FdtNode<'_, 'a>,
) -> Result<Option<(usize, usize, usize)>, DeviceTreeError<'a>> {
    let Some(value) = node.property("reg").map(|p| p.value) else {
        return Ok(None);
    };
    // `raw_reg` slices by the parent's #address-cells/#size-cells; its first entry tells us both.
    let first = node.raw_reg().and_then(|mut entries| entries.next());
    let Some(first) = first else {
        return Err(bad(node, "reg", PropertyProblem::RegTooShort));
    };
    let (address, size) = (first.address.len(), first.size.len());
    if address == 0 {
        return Err(bad(node, "reg", PropertyProblem::NoAddressCells));
    }
    if size == 0 {
        return Err(bad(node, "reg", PropertyProblem::NoSize));
    }
    let entry = address + size;
    if !value.len().is_multiple_of(entry) {
        return Err(bad(node, "reg", PropertyProblem::PartialEntry));
    }
    Ok(Some((address, size, value.len() / entry)))
}

fn decode_entries<'a, const N: usize>(
    node: &FdtNode<'_, 'a>,
    all: bool,
) -> Result<Vec<Region, N>, DeviceTreeError<'a>> {
    let mut regions = Vec::new();
    let Some((address_width, size_width, count)) = reg_shape(node)? else {
        return Ok(regions);
    };
    if all && count > N {
        return Err(DeviceTreeError::TooMany {
            what: "reg entries",
            limit: N,
        });
    }
    let value = node.property("reg").map_or(&[][..], |p| p.value);
    for entry in value.chunks_exact(address_width + size_width).take(N) {
        let (address, size) = entry.split_at(address_width);
        let base = number(address).ok_or(bad(node, "reg", PropertyProblem::WiderThan64Bits))?;
        let size = number(size).ok_or(bad(node, "reg", PropertyProblem::WiderThan64Bits))?;
        if base.checked_add(size).is_none() {
            return Err(bad(node, "reg", PropertyProblem::RangeWraps));
        }
        // Capacity N and `take(N)` agree, so the push cannot fail.
        let _ = regions.push(Region { base, size });
    }
    Ok(regions)
}

/// Every `reg` range of `node` (none when it has no `reg`); more than `N` is an error.
pub fn reg<'a, const N: usize>(
    node: &FdtNode<'_, 'a>,
) -> Result<Vec<Region, N>, DeviceTreeError<'a>> {
    decode_entries(node, true)
}

/// The first `N` `reg` ranges of `node`; later ones are ignored.
pub fn reg_first<'a, const N: usize>(
    node: &FdtNode<'_, 'a>,
) -> Result<Vec<Region, N>, DeviceTreeError<'a>> {
    decode_entries(node, false)
}

/// The node's `reg` ranges, for display: a `reg` that does not decode as address/size pairs
/// (a CPU's MPIDR, `#size-cells = 0`) yields nothing. Use [`reg`] for ranges the kernel maps.
pub fn regions<'a>(node: &FdtNode<'_, 'a>) -> impl Iterator<Item = Region> + 'a {
    let shape = reg_shape(node).ok().flatten();
    let value = node.property("reg").map_or(&[][..], |p| p.value);
    let (address_width, entry_width) =
        shape.map_or((1, 1), |(address, size, _)| (address, address + size));
    value
        .chunks_exact(entry_width)
        .filter(move |_| shape.is_some())
        .filter_map(move |entry| {
            let (address, size) = entry.split_at(address_width);
            Some(Region {
                base: number(address)?,
                size: number(size)?,
            })
        })
}

fn decode_specifier(cells: &[u8]) -> Result<Interrupt, PropertyProblem> {
    let kind = be32(cells, 0).ok_or(PropertyProblem::NotGicSpecifiers)?;
    let number = be32(cells, 4).ok_or(PropertyProblem::NotGicSpecifiers)?;
    let flags = be32(cells, 8).ok_or(PropertyProblem::NotGicSpecifiers)?;
    let id = match kind {
        SPI if number <= LAST_SPI => number + 32,
        PPI if number <= LAST_PPI => number + 16,
        SPI | PPI => return Err(PropertyProblem::InterruptOutOfRange),
        _ => return Err(PropertyProblem::NotSpiOrPpi),
    };
    let trigger = match flags & TRIGGER_MASK {
        RISING_EDGE => Trigger::Edge,
        LEVEL_HIGH => Trigger::Level,
        // IRQ_TYPE_NONE: "leave it as it is", and a GIC resets every line to level.
        0 => Trigger::Level,
        // A GIC senses only rising edges and active-high levels (GIC binding, flags cell).
        2 | 8 => return Err(PropertyProblem::UnsupportedTrigger),
        _ => return Err(PropertyProblem::ConflictingTrigger),
    };
    Ok(Interrupt { id, trigger })
}

/// The node's GIC interrupt specifiers (3 cells: type, number, flags), in order.
///
/// Decoded here because the `fdt` crate reads only one- and two-cell specifiers.
pub fn interrupt_specifiers<'a>(
    node: &FdtNode<'_, 'a>,
) -> Result<Vec<Interrupt, 8>, DeviceTreeError<'a>> {
    let value = node.property("interrupts").map_or(&[][..], |p| p.value);
    if !value.len().is_multiple_of(12) {
        return Err(bad(node, "interrupts", PropertyProblem::NotGicSpecifiers));
    }
    let mut interrupts = Vec::new();
    for cells in value.chunks_exact(12) {
        let interrupt =
            decode_specifier(cells).map_err(|problem| bad(node, "interrupts", problem))?;
        interrupts
            .push(interrupt)
            .map_err(|_| DeviceTreeError::TooMany {
                what: "interrupts on one node",
                limit: 8,
            })?;
    }
    Ok(interrupts)
}

/// The node's interrupt IDs, for display: specifiers that do not decode are skipped.
pub fn interrupts<'a>(node: &FdtNode<'_, 'a>) -> impl Iterator<Item = u32> + 'a {
    let value = node.property("interrupts").map_or(&[][..], |p| p.value);
    value
        .chunks_exact(12)
        .filter_map(|cells| decode_specifier(cells).ok().map(|interrupt| interrupt.id))
}
