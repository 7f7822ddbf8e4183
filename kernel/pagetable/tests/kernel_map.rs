//! The kernel's whole map on QEMU `virt`, from a real device tree: permissions per section, the
//! stack guard left out, devices and RAM, and conflicts from a bad device tree.

use core::ops::Range;
use dpu_board::decode;
use dpu_pagetable::{Attributes, KernelImage, MapError, Tables, map_kernel};

const MIB: u64 = 1 << 20;

/// The image as the kernel really links it (numbers from a release build's symbols).
fn image() -> KernelImage {
    KernelImage {
        start: 0x4020_0000,
        text_end: 0x4024_3000,
        rodata_end: 0x4024_d000,
        stack_guard: 0x406a_4000..0x406a_5000,
        end: 0x406e_5000,
    }
}

fn fixture(name: &str) -> Vec<u8> {
    let path = format!(
        "{}/../board/tests/fixtures/{name}.dtb",
        env!("CARGO_MANIFEST_DIR")
    );
    std::fs::read(&path).unwrap_or_else(|error| panic!("{path}: {error}"))
}

/// Builds the map the way `layout.rs` does, for the fixture `name` with the DTB at `dtb_base`.
fn build(
    name: &str,
    dtb_base: u64,
    extra_device: Option<Range<u64>>,
) -> (Box<Tables<48>>, Result<(), MapError>) {
    let blob = fixture(name);
    let board = match decode(&blob, dtb_base) {
        Ok(board) => board,
        Err(error) => panic!("{name}: {error}"),
    };
    let ram: Vec<Range<u64>> = board
        .memory
        .iter()
        .map(|bank| bank.base..bank.end())
        .collect();
    let mut devices: Vec<Range<u64>> = Vec::new();
    devices.extend(
        board
            .uart
            .map(|uart| uart.registers.base..uart.registers.end()),
    );
    if let Some(gic) = board.gic {
        devices.push(gic.distributor.base..gic.distributor.end());
        devices.push(gic.cpu_or_redistributor.base..gic.cpu_or_redistributor.end());
    }
    devices.extend(
        board
            .virtio_slots
            .iter()
            .map(|slot| slot.registers.base..slot.registers.end()),
    );
    devices.extend(board.flash.iter().map(|bank| bank.base..bank.end()));
    devices.extend(extra_device);
    let mut tables = Box::new(Tables::<48>::new());
    let result = map_kernel(
        &mut tables,
        &image(),
        &ram,
        board.dtb.base..board.dtb.end(),
        devices,
    );
    (tables, result)
}

fn attributes(tables: &Tables<48>, address: u64) -> Option<Attributes> {
    tables
        .translate(address)
        .map(|translation| translation.attributes)
}

#[test]
fn each_section_gets_its_permissions_and_the_guard_is_unmapped() {
    let (tables, result) = build("virt-gicv2-a72", 0x4800_0000, None);
    result.unwrap();
    let image = image();
    assert_eq!(attributes(&tables, image.start), Some(Attributes::Code));
    assert_eq!(
        attributes(&tables, image.text_end - 1),
        Some(Attributes::Code)
    );
    assert_eq!(
        attributes(&tables, image.text_end),
        Some(Attributes::ReadOnlyData)
    );
    assert_eq!(
        attributes(&tables, image.rodata_end - 1),
        Some(Attributes::ReadOnlyData)
    );
    assert_eq!(
        attributes(&tables, image.rodata_end),
        Some(Attributes::Data)
    );
    assert_eq!(
        attributes(&tables, image.stack_guard.start - 1),
        Some(Attributes::Data)
    );
    assert_eq!(attributes(&tables, image.stack_guard.start), None);
    assert_eq!(attributes(&tables, image.stack_guard.end - 1), None);
    assert_eq!(
        attributes(&tables, image.stack_guard.end),
        Some(Attributes::Data)
    );
    assert_eq!(attributes(&tables, image.end - 1), Some(Attributes::Data));
    // Nothing is writable and executable.
    let mut address = 0x4000_0000;
    while address < 0x5000_0000 {
        if let Some(kind) = attributes(&tables, address) {
            assert!(
                !(kind.is_writable() && kind.is_executable()),
                "{address:#x}"
            );
        }
        address += 0x1000;
    }
}

#[test]
fn ram_around_the_image_devices_and_the_dtb() {
    let (tables, result) = build("virt-gicv3-el2-a72", 0x4800_0000, None);
    result.unwrap();
    // RAM below the image and up to 4 GiB above it: data, in large blocks after the image.
    assert_eq!(attributes(&tables, 0x4000_0000), Some(Attributes::Data));
    assert_eq!(
        tables.translate(0x4080_0000).map(|t| t.block_size),
        Some(2 * MIB)
    );
    assert_eq!(
        tables.translate(0x8000_0000).map(|t| t.block_size),
        Some(1 << 30)
    );
    assert_eq!(attributes(&tables, 0x1_3fff_ffff), Some(Attributes::Data));
    assert_eq!(attributes(&tables, 0x1_4000_0000), None);
    // The DTB is inside RAM, so it is plain data there.
    assert_eq!(attributes(&tables, 0x4800_0000), Some(Attributes::Data));
    // Devices the kernel drives.
    for device in [
        0x900_0000, 0x800_0000, 0x80a_0000, 0xa00_3e00, 0x0, 0x400_0000,
    ] {
        assert_eq!(
            attributes(&tables, device),
            Some(Attributes::Device),
            "{device:#x}"
        );
    }
    // Anything else faults: the RTC, fw_cfg, PCIe.
    for other in [0x901_0000, 0x902_0000, 0x1000_0000] {
        assert_eq!(attributes(&tables, other), None, "{other:#x}");
    }
    assert!(tables.used() <= 16, "{} tables", tables.used());
}

#[test]
fn a_dtb_outside_ram_is_mapped_read_only() {
    let (tables, result) = build("virt-gicv2-a72", 0x2000_0000, None);
    result.unwrap();
    assert_eq!(
        attributes(&tables, 0x2000_0000),
        Some(Attributes::ReadOnlyData)
    );
    assert_eq!(
        attributes(&tables, 0x2000_0000 + MIB - 1),
        Some(Attributes::ReadOnlyData)
    );
}

#[test]
fn a_device_over_the_kernel_or_ram_fails_the_map() {
    let (_, result) = build(
        "virt-gicv2-a72",
        0x4800_0000,
        Some(0x4020_0000..0x4020_1000),
    );
    assert_eq!(
        result,
        Err(MapError::Conflict {
            address: 0x4020_0000,
            existing: Some(Attributes::Code),
            wanted: Attributes::Device,
        })
    );
    let (_, result) = build(
        "virt-gicv2-a72",
        0x4800_0000,
        Some(0x4900_0000..0x4900_1000),
    );
    assert!(matches!(result, Err(MapError::Conflict { .. })));
}
