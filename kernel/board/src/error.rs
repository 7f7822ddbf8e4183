//! Why a device tree could not be used: typed errors that read as words.

use core::fmt;

/// Why the device tree could not be used.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[must_use]
pub enum DeviceTreeError<'a> {
    /// x0 was 0: booted as an ELF, or by a loader that passes no DTB.
    Missing,
    /// The blob is shorter than its header says.
    Truncated {
        /// Bytes the header declares (or the header's own size).
        declared: usize,
        /// Bytes there are.
        available: usize,
    },
    /// No FDT magic at the start: the value found.
    BadMagic(u32),
    /// The header's total size is implausible.
    BadSize(usize),
    /// A header version this reader does not handle.
    UnsupportedVersion(usize),
    /// The structure is broken (the `fdt` crate would misread or panic on it).
    Malformed {
        /// Byte offset in the blob.
        offset: usize,
        /// What is wrong there.
        problem: StructureProblem,
    },
    /// A node the kernel needs is absent.
    MissingNode(&'static str),
    /// No RAM is described.
    NoMemory,
    /// A property the kernel needs has a value it cannot use.
    BadProperty {
        /// Node name (with unit address).
        node: &'a str,
        /// Property name.
        property: &'static str,
        /// What is wrong with it.
        problem: PropertyProblem,
    },
    /// More of something than the kernel has room for.
    TooMany {
        /// What.
        what: &'static str,
        /// Room.
        limit: usize,
    },
}

impl fmt::Display for DeviceTreeError<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::Missing => f.write_str("no device tree passed (x0 was 0)"),
            Self::Truncated {
                declared,
                available,
            } => write!(
                f,
                "truncated: the header says {declared} bytes, only {available} are there"
            ),
            Self::BadMagic(magic) => write!(f, "bad magic {magic:#010x} (want 0xd00dfeed)"),
            Self::BadSize(size) => write!(f, "implausible size of {size} bytes"),
            Self::UnsupportedVersion(version) => {
                write!(f, "unsupported format version {version} (need 17)")
            }
            Self::Malformed { offset, problem } => {
                write!(f, "malformed at byte {offset:#x}: {problem}")
            }
            Self::MissingNode(path) => write!(f, "no {path} node"),
            Self::NoMemory => f.write_str("no memory node with a usable range"),
            Self::BadProperty {
                node,
                property,
                problem,
            } => write!(f, "{node}: {property}: {problem}"),
            Self::TooMany { what, limit } => write!(f, "more than {limit} {what}"),
        }
    }
}

/// What is wrong with the blob's structure (header blocks and tokens).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum StructureProblem {
    /// A block's offset and size reach past the blob's total size.
    BlockOutOfBounds,
    /// The structure block or the memory reservation block is misaligned.
    MisalignedBlock,
    /// The memory reservation list has no all-zero terminating entry.
    UnterminatedReservations,
    /// The structure block ends before its END token.
    NoEndToken,
    /// A second root node after the first closed.
    SecondRoot,
    /// Nodes nested deeper than [`crate::validate::MAX_DEPTH`].
    TooDeep,
    /// A node name is not a NUL-terminated UTF-8 string.
    BadNodeName,
    /// END_NODE with no node open.
    UnbalancedEnd,
    /// A property after a child node, or outside any node.
    MisplacedProperty,
    /// A property header is cut off.
    TruncatedProperty,
    /// A property's value runs past the structure block.
    PropertyOverrun,
    /// A property name offset does not point at a string in the strings block.
    BadPropertyName,
    /// `#address-cells` or `#size-cells` is not one cell.
    BadCellCount,
    /// A string property (compatible, model, status...) is not NUL-terminated UTF-8.
    BadString,
    /// A NOP token: legal, but the `fdt` crate skips NOPs only in some places.
    Nop,
    /// END inside a node, or before any root.
    EarlyEnd,
    /// A token the format does not define.
    UnknownToken(u32),
    /// The `fdt` crate refused the header after the checks passed.
    ReaderRefused,
}

impl fmt::Display for StructureProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match *self {
            Self::BlockOutOfBounds => f.write_str("a block runs past the end of the blob"),
            Self::MisalignedBlock => f.write_str("misaligned block"),
            Self::UnterminatedReservations => {
                f.write_str("the memory reservation list has no end entry")
            }
            Self::NoEndToken => f.write_str("the structure block ends without END"),
            Self::SecondRoot => f.write_str("a second root node"),
            Self::TooDeep => f.write_str("nodes nested too deep"),
            Self::BadNodeName => f.write_str("a node name is not a string"),
            Self::UnbalancedEnd => f.write_str("END_NODE without a node"),
            Self::MisplacedProperty => f.write_str("a property outside a node's property list"),
            Self::TruncatedProperty => f.write_str("a truncated property"),
            Self::PropertyOverrun => f.write_str("a property value runs past the structure block"),
            Self::BadPropertyName => {
                f.write_str("a property name is not a string in the strings block")
            }
            Self::BadCellCount => f.write_str("#address-cells/#size-cells must be one cell"),
            Self::BadString => f.write_str("a string property is not NUL-terminated UTF-8"),
            Self::Nop => f.write_str("NOP tokens are not supported"),
            Self::EarlyEnd => f.write_str("END inside a node or before the root"),
            Self::UnknownToken(token) => write!(f, "unknown token {token:#x}"),
            Self::ReaderRefused => f.write_str("the fdt reader refused the header"),
        }
    }
}

/// What is wrong with a property's value.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PropertyProblem {
    /// Absent, and the kernel needs it.
    Missing,
    /// Not a UTF-8 string.
    NotUtf8,
    /// `reg` is shorter than one address/size entry.
    RegTooShort,
    /// The parent's `#address-cells` is 0.
    NoAddressCells,
    /// The parent's `#size-cells` is 0: a `reg` with no size.
    NoSize,
    /// `reg` is not a whole number of entries.
    PartialEntry,
    /// An address or size of more than two cells.
    WiderThan64Bits,
    /// base + size runs past the end of the address space.
    RangeWraps,
    /// A virtio-mmio window smaller than its register block.
    SmallerThanVirtioBlock,
    /// A GIC with fewer than two register frames.
    MissingGicFrames,
    /// A PSCI method other than `hvc` or `smc`.
    UnknownPsciMethod,
    /// `clocks` is empty.
    EmptyClocks,
    /// No node has the phandle `clocks` names.
    DanglingPhandle,
    /// A number of neither one nor two cells.
    NotOneOrTwoCells,
    /// A frequency that does not fit 32 bits.
    AboveFourGigahertz,
    /// `interrupts` is not whole 3-cell GIC specifiers.
    NotGicSpecifiers,
    /// An SPI above 987 or a PPI above 15.
    InterruptOutOfRange,
    /// A specifier type other than SPI (0) or PPI (1).
    NotSpiOrPpi,
    /// Falling edge or active-low, which a GIC cannot sense.
    UnsupportedTrigger,
    /// Flags naming more than one trigger.
    ConflictingTrigger,
    /// A timer without the virtual timer interrupt (the third).
    NoVirtualTimer,
}

impl fmt::Display for PropertyProblem {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Self::Missing => "missing",
            Self::NotUtf8 => "not a UTF-8 string",
            Self::RegTooShort => "shorter than one entry",
            Self::NoAddressCells => "the parent's #address-cells is 0",
            Self::NoSize => "no size (the parent's #size-cells is 0)",
            Self::PartialEntry => "not a whole number of entries",
            Self::WiderThan64Bits => "a value wider than 64 bits",
            Self::RangeWraps => "the range runs past the end of the address space",
            Self::SmallerThanVirtioBlock => {
                "smaller than the 0x200-byte virtio-mmio register block"
            }
            Self::MissingGicFrames => {
                "needs the distributor and the CPU interface or redistributor frames"
            }
            Self::UnknownPsciMethod => "neither hvc nor smc",
            Self::EmptyClocks => "empty",
            Self::DanglingPhandle => "no node has that phandle",
            Self::NotOneOrTwoCells => "not one or two cells",
            Self::AboveFourGigahertz => "above 4 GHz (does not fit 32 bits)",
            Self::NotGicSpecifiers => "not whole 3-cell GIC specifiers",
            Self::InterruptOutOfRange => "interrupt number out of range",
            Self::NotSpiOrPpi => "not an SPI or PPI specifier",
            Self::UnsupportedTrigger => {
                "falling edge and active-low cannot be programmed into a GIC"
            }
            Self::ConflictingTrigger => "flags name more than one trigger",
            Self::NoVirtualTimer => "no virtual timer interrupt (the third)",
        })
    }
}
