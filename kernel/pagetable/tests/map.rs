//! The identity-map builder: block choice by alignment, conflicts, exhaustion, attributes.

use dpu_pagetable::{Attributes, MapError, PAGE_SIZE, Tables, Translation};

const KIB: u64 = 1 << 10;
const MIB: u64 = 1 << 20;
const GIB: u64 = 1 << 30;

fn pool<const N: usize>() -> Box<Tables<N>> {
    Box::new(Tables::new())
}

fn block_size(tables: &Tables<16>, address: u64) -> u64 {
    match tables.translate(address) {
        Some(Translation {
            block_size, output, ..
        }) => {
            assert_eq!(output, address, "identity map");
            block_size
        }
        None => panic!("{address:#x} is not mapped"),
    }
}

#[test]
fn an_aligned_gib_is_one_level_1_block() {
    let mut tables = pool::<16>();
    tables.map(GIB, GIB, Attributes::Data).unwrap();
    assert_eq!(tables.used(), 1, "no table below the root");
    assert_eq!(block_size(&tables, GIB), GIB);
    assert_eq!(block_size(&tables, 2 * GIB - 1), GIB);
    assert_eq!(tables.translate(GIB - 1), None);
    assert_eq!(tables.translate(2 * GIB), None);
}

#[test]
fn unaligned_ranges_use_the_largest_blocks_their_alignment_allows() {
    let mut tables = pool::<16>();
    // 0x4020_0000 .. 0x8000_0000 + 4 KiB: 2 MiB blocks up to the GiB, then one 4 KiB page.
    tables
        .map(
            0x4020_0000,
            0x4000_0000 - 0x20_0000 + PAGE_SIZE,
            Attributes::Data,
        )
        .unwrap();
    assert_eq!(block_size(&tables, 0x4020_0000), 2 * MIB);
    assert_eq!(block_size(&tables, 0x7fff_ffff), 2 * MIB);
    assert_eq!(block_size(&tables, 0x8000_0000), 4 * KIB);
    assert_eq!(tables.translate(0x8000_1000), None);
    assert_eq!(tables.translate(0x401f_ffff), None);
    // Root, one level-2 table per GiB touched, one level-3 table for the last page.
    assert_eq!(tables.used(), 4);
}

#[test]
fn sizes_widen_to_whole_pages() {
    let mut tables = pool::<16>();
    tables.map(0x900_0010, 0x20, Attributes::Device).unwrap();
    assert_eq!(block_size(&tables, 0x900_0000), 4 * KIB);
    assert_eq!(block_size(&tables, 0x900_0fff), 4 * KIB);
    assert_eq!(tables.translate(0x900_1000), None);
    // Crossing a page boundary maps both pages.
    tables.map(0x900_1ff0, 0x20, Attributes::Device).unwrap();
    assert!(tables.translate(0x900_2000).is_some());
}

#[test]
fn attributes_are_encoded_and_read_back() {
    let mut tables = pool::<16>();
    tables.map(0x4020_0000, 0x1000, Attributes::Code).unwrap();
    tables
        .map(0x4020_1000, 0x1000, Attributes::ReadOnlyData)
        .unwrap();
    tables.map(0x4020_2000, 0x1000, Attributes::Data).unwrap();
    tables
        .map(0x800_0000, 0x1_0000, Attributes::Device)
        .unwrap();
    let attributes = |address| tables.translate(address).map(|t| t.attributes);
    assert_eq!(attributes(0x4020_0000), Some(Attributes::Code));
    assert_eq!(attributes(0x4020_1000), Some(Attributes::ReadOnlyData));
    assert_eq!(attributes(0x4020_2000), Some(Attributes::Data));
    assert_eq!(attributes(0x800_f000), Some(Attributes::Device));
    // The permission each kind means.
    assert!(Attributes::Code.is_executable() && !Attributes::Code.is_writable());
    assert!(!Attributes::ReadOnlyData.is_executable() && !Attributes::ReadOnlyData.is_writable());
    assert!(!Attributes::Data.is_executable() && Attributes::Data.is_writable());
    assert!(Attributes::Device.is_device() && !Attributes::Device.is_executable());
    assert!(!Attributes::Data.is_device());
    // Access flag set, unprivileged execute-never everywhere, inner shareable normal memory.
    for kind in [
        Attributes::Code,
        Attributes::ReadOnlyData,
        Attributes::Data,
        Attributes::Device,
    ] {
        let bits = kind.descriptor_bits();
        assert_ne!(bits & (1 << 10), 0, "{kind}: access flag");
        assert_ne!(bits & (1 << 54), 0, "{kind}: UXN");
        assert_eq!(
            Attributes::from_descriptor(bits | 0x4020_0000 | 2),
            Some(kind)
        );
    }
}

#[test]
fn mapping_the_same_range_twice_with_the_same_attributes_is_fine() {
    let mut tables = pool::<16>();
    tables.map(0xa00_0000, 0x200, Attributes::Device).unwrap();
    tables.map(0xa00_0200, 0x200, Attributes::Device).unwrap();
    tables.map(GIB, GIB, Attributes::Data).unwrap();
    tables.map(GIB, GIB, Attributes::Data).unwrap();
}

#[test]
fn different_attributes_over_a_mapping_are_a_conflict() {
    let mut tables = pool::<16>();
    tables.map(0x4020_0000, 0x1000, Attributes::Code).unwrap();
    assert_eq!(
        tables.map(0x4020_0000, 0x1000, Attributes::Data),
        Err(MapError::Conflict {
            address: 0x4020_0000,
            existing: Some(Attributes::Code),
            wanted: Attributes::Data,
        })
    );
    // A device region laid over RAM that is a whole block.
    tables.map(2 * GIB, GIB, Attributes::Data).unwrap();
    let error = tables
        .map(2 * GIB + 0x1000, 0x1000, Attributes::Device)
        .unwrap_err();
    assert_eq!(
        error.to_string(),
        "0x80001000 is already mapped as read-write data, not device memory"
    );
    // The earlier mappings are untouched.
    assert_eq!(
        tables.translate(0x4020_0000).map(|t| t.attributes),
        Some(Attributes::Code)
    );
}

#[test]
fn a_coarse_range_over_finer_pages_keeps_them_and_fills_around() {
    // The kernel maps its image first with pages, then RAM around it: no block is split.
    let mut tables = pool::<16>();
    tables.map(0x4020_0000, 0x3000, Attributes::Code).unwrap();
    tables
        .map(0x4000_0000, 0x20_0000, Attributes::Data)
        .unwrap();
    tables
        .map(0x4020_3000, 0x1000_0000 - 0x20_3000, Attributes::Data)
        .unwrap();
    assert_eq!(block_size(&tables, 0x4000_0000), 2 * MIB);
    assert_eq!(block_size(&tables, 0x4020_0000), 4 * KIB);
    assert_eq!(block_size(&tables, 0x4020_3000), 4 * KIB);
    assert_eq!(block_size(&tables, 0x4040_0000), 2 * MIB);
    assert_eq!(
        tables.translate(0x4020_2fff).map(|t| t.attributes),
        Some(Attributes::Code)
    );
    assert_eq!(tables.translate(0x5000_0000), None);
}

#[test]
fn running_out_of_tables_is_an_error_not_a_panic() {
    // Each scattered page needs its own level-2 and level-3 table.
    let mut tables = pool::<4>();
    tables.map(0, 0x1000, Attributes::Device).unwrap();
    assert_eq!(tables.used(), 3);
    assert_eq!(
        tables.map(GIB, 0x1000, Attributes::Device),
        Err(MapError::OutOfTables { capacity: 4 })
    );
    assert_eq!(tables.used(), 4);
    assert_eq!(
        MapError::OutOfTables { capacity: 4 }.to_string(),
        "all 4 translation tables are used"
    );
}

#[test]
fn addresses_beyond_39_bits_are_out_of_range() {
    let mut tables = pool::<16>();
    assert_eq!(
        tables.map(1 << 39, 0x1000, Attributes::Device),
        Err(MapError::OutOfRange {
            start: 1 << 39,
            size: 0x1000
        })
    );
    assert!(matches!(
        tables.map(u64::MAX - 10, 100, Attributes::Data),
        Err(MapError::OutOfRange { .. })
    ));
    // The last page below the limit is fine.
    tables
        .map((1 << 39) - 0x1000, 0x1000, Attributes::Data)
        .unwrap();
    assert_eq!(tables.translate(1 << 39), None);
}

#[test]
fn the_qemu_virt_map_fits_the_kernels_pool() {
    // What layout.rs maps on a 4 GiB machine, with the kernel's 48 tables.
    let mut tables = Box::new(Tables::<48>::new());
    let image = 0x4020_0000u64;
    tables.map(image, 0x8_0000, Attributes::Code).unwrap();
    tables
        .map(image + 0x8_0000, 0x2_0000, Attributes::ReadOnlyData)
        .unwrap();
    tables
        .map(image + 0xa_0000, 0x6_0000, Attributes::Data)
        .unwrap();
    tables.map(GIB, 0x20_0000, Attributes::Data).unwrap();
    tables
        .map(image + 0x10_0000, 4 * GIB - 0x30_0000, Attributes::Data)
        .unwrap();
    tables.map(0x900_0000, 0x1000, Attributes::Device).unwrap();
    tables
        .map(0x800_0000, 0x1_0000, Attributes::Device)
        .unwrap();
    tables
        .map(0x80a_0000, 0xf6_0000, Attributes::Device)
        .unwrap();
    for slot in 0..32 {
        tables
            .map(0xa00_0000 + slot * 0x200, 0x200, Attributes::Device)
            .unwrap();
    }
    tables.map(0, 128 * MIB, Attributes::Device).unwrap();
    assert!(tables.used() < 16, "{} tables", tables.used());
    assert_eq!(block_size_48(&tables, 2 * GIB), GIB);
}

fn block_size_48(tables: &Tables<48>, address: u64) -> u64 {
    tables.translate(address).map_or(0, |t| t.block_size)
}
