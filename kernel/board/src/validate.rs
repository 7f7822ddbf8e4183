//! Structure check of a flattened device tree before the `fdt` crate reads it.
//!
//! The `fdt` crate trusts the blob: a property that runs past the structure block, a name
//! offset outside the strings block, a node nested too deep or a misplaced token makes it panic.
//! This walk checks every token once, with checked arithmetic, so that after it succeeds the
//! crate's readers only ever see a well-formed tree (FDT specification v0.4, chapter 5).

use crate::{DeviceTreeError, StructureProblem};

const BEGIN_NODE: u32 = 1;
const END_NODE: u32 = 2;
const PROP: u32 = 3;
const NOP: u32 = 4;
const END: u32 = 9;

/// Size of the version 17 header.
pub const HEADER_SIZE: usize = 40;
/// The FDT magic number.
pub const MAGIC: u32 = 0xd00d_feed;
/// Deepest node nesting accepted (the `fdt` crate tracks at most 63 levels).
pub const MAX_DEPTH: usize = 32;

/// The header fields the checks use.
#[derive(Clone, Copy)]
struct Header {
    total_size: usize,
    struct_offset: usize,
    strings_offset: usize,
    reservations_offset: usize,
    strings_size: usize,
    struct_size: usize,
}

fn be32(bytes: &[u8], offset: usize) -> Option<u32> {
    let word = bytes.get(offset..offset.checked_add(4)?)?;
    Some(u32::from_be_bytes([word[0], word[1], word[2], word[3]]))
}

fn to_usize(value: u32) -> usize {
    // usize is at least 32 bits on every target this crate builds for.
    usize::try_from(value).unwrap_or(usize::MAX)
}

/// The blob's size as its header declares it, after checking magic and size.
///
/// `header` needs only the first [`HEADER_SIZE`] bytes: this is what the kernel reads before it
/// knows how much memory the blob covers.
pub fn declared_size(header: &[u8], max_size: usize) -> Result<usize, DeviceTreeError<'static>> {
    let magic = be32(header, 0).ok_or(DeviceTreeError::Truncated {
        declared: HEADER_SIZE,
        available: header.len(),
    })?;
    if magic != MAGIC {
        return Err(DeviceTreeError::BadMagic(magic));
    }
    let size = be32(header, 4).ok_or(DeviceTreeError::Truncated {
        declared: HEADER_SIZE,
        available: header.len(),
    })?;
    let size = to_usize(size);
    if size < HEADER_SIZE || size > max_size {
        return Err(DeviceTreeError::BadSize(size));
    }
    Ok(size)
}

fn read_header(blob: &[u8]) -> Result<Header, DeviceTreeError<'static>> {
    let total_size = declared_size(blob, usize::MAX)?;
    if blob.len() < HEADER_SIZE || blob.len() < total_size {
        return Err(DeviceTreeError::Truncated {
            declared: total_size.max(HEADER_SIZE),
            available: blob.len(),
        });
    }
    let field = |index: usize| be32(blob, index * 4).map_or(0, to_usize);
    let version = field(5);
    let last_compatible = field(6);
    // Version 17 added size_dt_struct; every current producer (dtc, QEMU, U-Boot) writes 17.
    if version < 17 || last_compatible > 17 {
        return Err(DeviceTreeError::UnsupportedVersion(version));
    }
    Ok(Header {
        total_size,
        struct_offset: field(2),
        strings_offset: field(3),
        reservations_offset: field(4),
        strings_size: field(8),
        struct_size: field(9),
    })
}

fn block(
    header: &Header,
    offset: usize,
    size: usize,
) -> Result<(usize, usize), DeviceTreeError<'static>> {
    let end = offset
        .checked_add(size)
        .filter(|end| *end <= header.total_size)
        .ok_or(DeviceTreeError::Malformed {
            offset,
            problem: StructureProblem::BlockOutOfBounds,
        })?;
    Ok((offset, end))
}

/// Checks the header, the memory reservation block and every token of the structure block.
pub fn check(blob: &[u8]) -> Result<(), DeviceTreeError<'static>> {
    let header = read_header(blob)?;
    let (struct_start, struct_end) = block(&header, header.struct_offset, header.struct_size)?;
    let (strings_start, strings_end) = block(&header, header.strings_offset, header.strings_size)?;
    if !struct_start.is_multiple_of(4) || !header.reservations_offset.is_multiple_of(8) {
        return Err(DeviceTreeError::Malformed {
            offset: struct_start,
            problem: StructureProblem::MisalignedBlock,
        });
    }
    check_reservations(blob, &header)?;
    let strings = &blob[strings_start..strings_end];
    let structure = &blob[struct_start..struct_end];
    check_structure(structure, strings).map_err(|(offset, problem)| DeviceTreeError::Malformed {
        offset: struct_start + offset,
        problem,
    })
}

fn check_reservations(blob: &[u8], header: &Header) -> Result<(), DeviceTreeError<'static>> {
    let mut offset = header.reservations_offset;
    loop {
        let entry_end = offset
            .checked_add(16)
            .filter(|end| *end <= header.total_size);
        let Some(entry_end) = entry_end else {
            return Err(DeviceTreeError::Malformed {
                offset,
                problem: StructureProblem::UnterminatedReservations,
            });
        };
        if blob[offset..entry_end].iter().all(|byte| *byte == 0) {
            return Ok(());
        }
        offset = entry_end;
    }
}

/// A NUL-terminated UTF-8 string starting at `offset`; returns its length without the NUL.
fn c_string(bytes: &[u8], offset: usize) -> Option<usize> {
    let rest = bytes.get(offset..)?;
    let length = rest.iter().position(|byte| *byte == 0)?;
    core::str::from_utf8(&rest[..length]).ok()?;
    Some(length)
}

fn padded(length: usize) -> Option<usize> {
    length.checked_add(3).map(|value| value & !3)
}

/// Where a node is in its body: properties come first, then child nodes.
#[derive(Clone, Copy, PartialEq)]
enum Position {
    Properties,
    Children,
}

fn check_structure(structure: &[u8], strings: &[u8]) -> Result<(), (usize, StructureProblem)> {
    let mut offset = 0;
    let mut depth = 0usize;
    let mut position = Position::Children;
    let mut root_seen = false;
    loop {
        let token = be32(structure, offset).ok_or((offset, StructureProblem::NoEndToken))?;
        let at = offset;
        offset += 4;
        match token {
            BEGIN_NODE => {
                if depth == 0 && root_seen {
                    return Err((at, StructureProblem::SecondRoot));
                }
                root_seen = true;
                depth += 1;
                if depth > MAX_DEPTH {
                    return Err((at, StructureProblem::TooDeep));
                }
                let name =
                    c_string(structure, offset).ok_or((at, StructureProblem::BadNodeName))?;
                offset += padded(name + 1).ok_or((at, StructureProblem::BadNodeName))?;
                position = Position::Properties;
            }
            END_NODE => {
                if depth == 0 {
                    return Err((at, StructureProblem::UnbalancedEnd));
                }
                depth -= 1;
                position = Position::Children;
            }
            PROP => {
                if depth == 0 || position != Position::Properties {
                    return Err((at, StructureProblem::MisplacedProperty));
                }
                let length =
                    be32(structure, offset).ok_or((at, StructureProblem::TruncatedProperty))?;
                let name_offset =
                    be32(structure, offset + 4).ok_or((at, StructureProblem::TruncatedProperty))?;
                offset += 8;
                let length = to_usize(length);
                let end = offset
                    .checked_add(length)
                    .filter(|end| *end <= structure.len())
                    .ok_or((at, StructureProblem::PropertyOverrun))?;
                c_string(strings, to_usize(name_offset))
                    .ok_or((at, StructureProblem::BadPropertyName))?;
                let name = &strings[to_usize(name_offset)..];
                let value = &structure[offset..end];
                check_property(name, value).map_err(|problem| (at, problem))?;
                offset += padded(length).ok_or((at, StructureProblem::PropertyOverrun))?;
            }
            NOP => {
                // Legal in the format, but the `fdt` crate skips NOPs only in some places.
                return Err((at, StructureProblem::Nop));
            }
            END => {
                if depth != 0 || !root_seen {
                    return Err((at, StructureProblem::EarlyEnd));
                }
                return Ok(());
            }
            _ => return Err((at, StructureProblem::UnknownToken(token))),
        }
        if offset > structure.len() {
            return Err((at, StructureProblem::PropertyOverrun));
        }
    }
}

/// Property values the `fdt` crate reads with fixed expectations.
fn check_property(name: &[u8], value: &[u8]) -> Result<(), StructureProblem> {
    let name_is = |wanted: &str| {
        name.len() > wanted.len()
            && &name[..wanted.len()] == wanted.as_bytes()
            && name[wanted.len()] == 0
    };
    if (name_is("#address-cells") || name_is("#size-cells")) && value.len() != 4 {
        return Err(StructureProblem::BadCellCount);
    }
    // String properties the kernel or the `fdt` crate read as strings (`Compatible::first`
    // panics on a value without a NUL or with bad UTF-8).
    let is_string = STRING_PROPERTIES.iter().any(|wanted| name_is(wanted));
    if is_string && !is_string_list(value) {
        return Err(StructureProblem::BadString);
    }
    Ok(())
}

/// Properties whose values must be NUL-terminated strings (or lists of them).
const STRING_PROPERTIES: &[&str] = &[
    "compatible",
    "model",
    "status",
    "device_type",
    "method",
    "stdout-path",
    "bootargs",
];

fn is_string_list(value: &[u8]) -> bool {
    value.last() == Some(&0) && core::str::from_utf8(value).is_ok()
}
