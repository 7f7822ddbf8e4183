//! Malformed device trees decode into typed errors, never panics.

mod support;

use dpu_board::{DeviceTreeError, PropertyProblem, StructureProblem, decode, validate};
use support::{Writer, fixture, minimal};

fn error(blob: &[u8]) -> DeviceTreeError<'_> {
    match decode(blob, 0) {
        Ok(_) => panic!("decoded a malformed blob"),
        Err(error) => error,
    }
}

fn bad_property(blob: &[u8]) -> (&str, &'static str, PropertyProblem) {
    match error(blob) {
        DeviceTreeError::BadProperty {
            node,
            property,
            problem,
        } => (node, property, problem),
        other => panic!("wanted a bad property, got {other}"),
    }
}

#[test]
fn the_minimal_hand_made_tree_decodes() {
    let blob = minimal(|_| {});
    let board = decode(&blob, 0x1000).unwrap();
    assert_eq!(board.model, "test board");
    assert_eq!(board.bootargs, "console=ttyAMA0");
    assert_eq!(board.memory.len(), 1);
    assert!(board.uart.is_none() && board.gic.is_none() && board.psci.is_none());
}

#[test]
fn empty_and_short_blobs_are_truncated() {
    assert_eq!(
        error(&[]),
        DeviceTreeError::Truncated {
            declared: 40,
            available: 0
        }
    );
    let blob = fixture("virt-gicv2-a72");
    assert_eq!(
        error(&blob[..20]),
        DeviceTreeError::Truncated {
            declared: 1 << 20,
            available: 20
        }
    );
    assert_eq!(
        error(&blob[..4096]),
        DeviceTreeError::Truncated {
            declared: 1 << 20,
            available: 4096
        }
    );
    assert_eq!(
        error(&blob[..4096]).to_string(),
        "truncated: the header says 1048576 bytes, only 4096 are there"
    );
}

#[test]
fn bad_magic_names_the_value() {
    let mut blob = fixture("virt-gicv2-a72");
    blob[0] = 0x12;
    assert_eq!(error(&blob), DeviceTreeError::BadMagic(0x120d_feed));
    assert_eq!(
        error(&blob).to_string(),
        "bad magic 0x120dfeed (want 0xd00dfeed)"
    );
}

#[test]
fn declared_size_bounds() {
    let blob = fixture("virt-gicv2-a72");
    assert_eq!(validate::declared_size(&blob[..40], 2 << 20), Ok(1 << 20));
    assert_eq!(
        validate::declared_size(&blob[..40], 1 << 19),
        Err(DeviceTreeError::BadSize(1 << 20))
    );
    let mut tiny = blob[..40].to_vec();
    tiny[4..8].copy_from_slice(&8u32.to_be_bytes());
    assert_eq!(
        validate::declared_size(&tiny, 2 << 20),
        Err(DeviceTreeError::BadSize(8))
    );
}

#[test]
fn old_format_versions_are_refused() {
    let mut blob = minimal(|_| {});
    blob[20..24].copy_from_slice(&16u32.to_be_bytes());
    assert_eq!(error(&blob), DeviceTreeError::UnsupportedVersion(16));
}

#[test]
fn blocks_outside_the_blob_are_malformed() {
    let mut blob = minimal(|_| {});
    blob[36..40].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    assert!(matches!(error(&blob), DeviceTreeError::Malformed { .. }));
    let mut blob = minimal(|_| {});
    blob[12..16].copy_from_slice(&0xffff_fff0u32.to_be_bytes());
    assert!(matches!(error(&blob), DeviceTreeError::Malformed { .. }));
}

#[test]
fn missing_cpus_and_memory() {
    let blob = Writer::default()
        .begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .end()
        .finish();
    assert_eq!(error(&blob), DeviceTreeError::MissingNode("/cpus"));
    assert_eq!(error(&blob).to_string(), "no /cpus node");
    let blob = Writer::default()
        .begin("")
        .begin("cpus")
        .end()
        .end()
        .finish();
    assert_eq!(error(&blob), DeviceTreeError::NoMemory);
}

#[test]
fn a_reg_without_size_is_an_error() {
    let blob = minimal(|writer| {
        writer
            .begin("bus")
            .cells("#address-cells", &[1])
            .cells("#size-cells", &[0])
            .begin("virtio_mmio@a000000")
            .string("compatible", "virtio,mmio")
            .cells("reg", &[0xa00_0000])
            .end()
            .end();
    });
    assert_eq!(
        bad_property(&blob),
        ("virtio_mmio@a000000", "reg", PropertyProblem::NoSize)
    );
}

#[test]
fn a_virtio_slot_smaller_than_its_register_block_is_an_error() {
    let blob = minimal(|writer| {
        writer
            .begin("virtio_mmio@a000000")
            .string("compatible", "virtio,mmio")
            .cells("reg", &[0, 0xa00_0000, 0, 0x100])
            .cells("interrupts", &[0, 16, 1])
            .end();
    });
    let (node, property, problem) = bad_property(&blob);
    assert_eq!((node, property), ("virtio_mmio@a000000", "reg"));
    assert_eq!(problem, PropertyProblem::SmallerThanVirtioBlock);
    assert!(problem.to_string().contains("0x200"));
}

#[test]
fn a_clock_above_32_bits_is_an_error_not_truncated() {
    let blob = minimal(|writer| {
        writer
            .begin("apb-pclk")
            .cells("phandle", &[7])
            .cells("clock-frequency", &[1, 0x6e3_6000])
            .end()
            .begin("pl011@9000000")
            .string("compatible", "arm,pl011")
            .cells("reg", &[0, 0x900_0000, 0, 0x1000])
            .cells("clocks", &[7, 7])
            .end();
    });
    assert_eq!(
        bad_property(&blob),
        (
            "apb-pclk",
            "clock-frequency",
            PropertyProblem::AboveFourGigahertz
        )
    );
}

#[test]
fn a_64_bit_clock_cell_that_fits_is_accepted() {
    let blob = minimal(|writer| {
        writer
            .begin("apb-pclk")
            .cells("phandle", &[7])
            .cells("clock-frequency", &[0, 24_000_000])
            .end()
            .begin("pl011@9000000")
            .string("compatible", "arm,pl011")
            .cells("reg", &[0, 0x900_0000, 0, 0x1000])
            .cells("clocks", &[7])
            .end();
    });
    let board = decode(&blob, 0).unwrap();
    assert_eq!(board.uart.unwrap().clock_hz, Some(24_000_000));
}

#[test]
fn psci_without_a_known_method_is_an_error() {
    let blob = minimal(|writer| {
        writer
            .begin("psci")
            .string("compatible", "arm,psci-1.0")
            .string("method", "svc")
            .end();
    });
    assert_eq!(
        bad_property(&blob),
        ("psci", "method", PropertyProblem::UnknownPsciMethod)
    );
    assert_eq!(
        error(&blob).to_string(),
        "psci: method: neither hvc nor smc"
    );
}

#[test]
fn interrupt_specifiers_are_checked() {
    let node = |cells: &'static [u32]| {
        minimal(move |writer| {
            writer
                .begin("pl011@9000000")
                .string("compatible", "arm,pl011")
                .cells("reg", &[0, 0x900_0000, 0, 0x1000])
                .cells("interrupts", cells)
                .end();
        })
    };
    let blob = node(&[0, 1]);
    assert_eq!(bad_property(&blob).2, PropertyProblem::NotGicSpecifiers);
    let blob = node(&[0, 988, 4]);
    assert_eq!(bad_property(&blob).2, PropertyProblem::InterruptOutOfRange);
    let blob = node(&[1, 16, 4]);
    assert_eq!(bad_property(&blob).2, PropertyProblem::InterruptOutOfRange);
    let blob = node(&[2, 1, 4]);
    assert_eq!(bad_property(&blob).2, PropertyProblem::NotSpiOrPpi);
    let blob = node(&[0, 1, 5]);
    assert_eq!(bad_property(&blob).2, PropertyProblem::ConflictingTrigger);
    for flags in [2, 8] {
        let cells: &'static [u32] = Box::leak(Box::new([0, 1, flags]));
        assert_eq!(
            bad_property(&node(cells)).2,
            PropertyProblem::UnsupportedTrigger
        );
    }
    // Flags 0 keeps the GIC's reset default, level; the GICv2 PPI CPU mask is ignored.
    for (flags, trigger) in [
        (1, dpu_board::Trigger::Edge),
        (0x104, dpu_board::Trigger::Level),
        (0, dpu_board::Trigger::Level),
        (0xf04, dpu_board::Trigger::Level),
    ] {
        let cells: &'static [u32] = Box::leak(Box::new([0, 1, flags]));
        let blob = node(cells);
        let board = decode(&blob, 0).unwrap();
        assert_eq!(board.uart.unwrap().interrupt, Some(33));
        assert_eq!(board.trigger(33), Some(trigger), "flags {flags:#x}");
    }
}

#[test]
fn nop_tokens_and_deep_nesting_are_refused() {
    let mut blob = minimal(|_| {});
    // The first token of the structure block (offset 56) becomes a NOP.
    blob[56..60].copy_from_slice(&4u32.to_be_bytes());
    assert_eq!(
        error(&blob),
        DeviceTreeError::Malformed {
            offset: 56,
            problem: StructureProblem::Nop
        }
    );
    let blob = minimal(|writer| {
        for _ in 0..40 {
            writer.begin("deep");
        }
        for _ in 0..40 {
            writer.end();
        }
    });
    assert!(matches!(
        error(&blob),
        DeviceTreeError::Malformed {
            problem: StructureProblem::TooDeep,
            ..
        }
    ));
}

#[test]
fn a_property_after_a_child_node_is_refused() {
    let blob = Writer::default()
        .begin("")
        .begin("cpus")
        .end()
        .cells("late", &[1])
        .end()
        .finish();
    assert!(matches!(
        error(&blob),
        DeviceTreeError::Malformed {
            problem: StructureProblem::MisplacedProperty,
            ..
        }
    ));
}

/// A small deterministic generator (xorshift), so the sweep is the same on every run.
struct Random(u64);

impl Random {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0
    }
}

/// Bytes that carry meaning: the header and both blocks (the rest of QEMU's 1 MiB is padding).
fn meaningful_length(blob: &[u8]) -> usize {
    let word = |offset: usize| {
        u32::from_be_bytes([
            blob[offset],
            blob[offset + 1],
            blob[offset + 2],
            blob[offset + 3],
        ])
    };
    (word(12) + word(32)) as usize
}

#[test]
fn corrupted_qemu_blobs_never_panic() {
    let mut random = Random(0x2545_f491_4f6c_dd1d);
    let mut decoded = 0;
    for name in ["virt-gicv2-a72", "virt-gicv3-el2-a72"] {
        let original = fixture(name);
        let length = meaningful_length(&original);
        for _ in 0..3000 {
            let mut blob = original[..length].to_vec();
            // Keep the header's size honest for most cases so the structure walk is exercised.
            blob[4..8].copy_from_slice(&(length as u32).to_be_bytes());
            for _ in 0..1 + random.next() % 4 {
                let at = (random.next() as usize) % length;
                blob[at] = random.next() as u8;
            }
            if random.next().is_multiple_of(8) {
                blob.truncate((random.next() as usize) % length);
            }
            if let Ok(board) = decode(&blob, 0) {
                // Exercise the readers `devices` uses on whatever survived.
                decoded += 1;
                for node in board.fdt.all_nodes() {
                    let _ = dpu_board::regions(&node).count();
                    let _ = dpu_board::interrupts(&node).count();
                    let _ = node.compatible().map(|c| (c.first(), c.all().count()));
                    let _ = node.properties().count();
                }
                let _ = board.fdt.cpus().count();
            }
        }
    }
    // Most single-byte changes land in values, which still decode.
    assert!(decoded > 500, "only {decoded} decoded");
}

#[test]
fn string_properties_must_be_terminated_strings() {
    for value in [&b""[..], b"arm,pl011", b"\xff\xfe\0"] {
        let blob = minimal(|writer| {
            writer
                .begin("pl011@9000000")
                .property("compatible", value)
                .end();
        });
        assert!(
            matches!(
                error(&blob),
                DeviceTreeError::Malformed {
                    problem: StructureProblem::BadString,
                    ..
                }
            ),
            "{value:?}"
        );
    }
}
