//! Decoding the device trees QEMU `virt` really hands the kernel (tests/fixtures/*.dtb).

mod support;

use dpu_board::{Board, PsciMethod, Region, Trigger, decode};
use support::fixture;

const LOAD_ADDRESS: u64 = 0x4000_0000;
const MIB: u64 = 1 << 20;

fn region(base: u64, size: u64) -> Region {
    Region { base, size }
}

/// What every QEMU 7.2 `virt` machine has in common, whatever the CPU, GIC or RAM.
fn check_common(board: &Board<'_>) {
    assert_eq!(board.model, "linux,dummy-virt");
    assert_eq!(board.dtb, region(LOAD_ADDRESS, MIB));
    let Some(uart) = board.uart else {
        panic!("no PL011")
    };
    assert_eq!(uart.registers, region(0x900_0000, 0x1000));
    assert_eq!(uart.interrupt, Some(33));
    assert_eq!(uart.clock_hz, Some(24_000_000));
    assert_eq!(board.trigger(33), Some(Trigger::Level));
    // The virtual timer is PPI 11: ID 27, level.
    assert_eq!(board.timer_interrupt, Some(27));
    assert_eq!(board.trigger(27), Some(Trigger::Level));
    // 32 virtio-mmio slots of 0x200 bytes from 0xa000000, SPIs 16..47 (IDs 48..79), edge.
    assert_eq!(board.virtio_slots.len(), 32);
    for (index, slot) in board.virtio_slots.iter().enumerate() {
        let index = index as u64;
        assert_eq!(slot.registers, region(0xa00_0000 + 0x200 * index, 0x200));
        let id = 48 + index as u32;
        assert_eq!(slot.interrupt, Some(id));
        assert_eq!(board.trigger(id), Some(Trigger::Edge));
    }
    // Two 64 MiB CFI flash banks at 0.
    assert_eq!(
        board.flash.as_slice(),
        &[region(0, 64 * MIB), region(64 * MIB, 64 * MIB)]
    );
    assert_eq!(board.trigger(1000), None);
}

#[test]
fn default_test_machine_gicv2_a72() {
    let blob = fixture("virt-gicv2-a72");
    let board = decode(&blob, LOAD_ADDRESS).unwrap();
    check_common(&board);
    assert_eq!(board.memory.as_slice(), &[region(LOAD_ADDRESS, 256 * MIB)]);
    let gic = board.gic.unwrap();
    assert_eq!(gic.version, 2);
    assert_eq!(gic.distributor, region(0x800_0000, 0x1_0000));
    assert_eq!(gic.cpu_or_redistributor, region(0x801_0000, 0x1_0000));
    // At EL1 without virtualization QEMU says PSCI goes through hvc.
    assert_eq!(board.psci, Some(PsciMethod::Hvc));
    assert_eq!(board.bootargs, "mgmt.ip=10.0.2.300/24");
    assert_eq!(board.fdt.cpus().count(), 1);
}

#[test]
fn el2_gicv3_a72_four_gib_four_cores() {
    let blob = fixture("virt-gicv3-el2-a72");
    let board = decode(&blob, LOAD_ADDRESS).unwrap();
    check_common(&board);
    assert_eq!(board.memory.as_slice(), &[region(LOAD_ADDRESS, 4096 * MIB)]);
    let gic = board.gic.unwrap();
    assert_eq!(gic.version, 3);
    assert_eq!(gic.distributor, region(0x800_0000, 0x1_0000));
    // One 128 KiB redistributor frame per possible core (123 on virt).
    assert_eq!(gic.cpu_or_redistributor, region(0x80a_0000, 0xf6_0000));
    assert_eq!(board.psci, Some(PsciMethod::Smc));
    assert_eq!(board.bootargs, "");
    assert_eq!(board.fdt.cpus().count(), 4);
}

#[test]
fn el2_gicv2_max_cpu() {
    let blob = fixture("virt-gicv2-el2-max");
    let board = decode(&blob, LOAD_ADDRESS).unwrap();
    check_common(&board);
    assert_eq!(board.gic.unwrap().version, 2);
    assert_eq!(board.psci, Some(PsciMethod::Smc));
}

#[test]
fn el1_gicv2_a53_two_cores() {
    let blob = fixture("virt-gicv2-a53");
    let board = decode(&blob, LOAD_ADDRESS).unwrap();
    check_common(&board);
    assert_eq!(board.memory.as_slice(), &[region(LOAD_ADDRESS, 512 * MIB)]);
    assert_eq!(board.psci, Some(PsciMethod::Hvc));
    assert_eq!(board.fdt.cpus().count(), 2);
}

#[test]
fn nine_nics_use_the_same_32_slots() {
    // QEMU fills slots from the top; the DTB always lists all 32 (the kernel probes them).
    let blob = fixture("virt-nine-nics");
    let board = decode(&blob, LOAD_ADDRESS).unwrap();
    check_common(&board);
    assert_eq!(
        board.virtio_slots.last().unwrap().registers,
        region(0xa00_3e00, 0x200)
    );
}

#[test]
fn flash_boot_machine() {
    let blob = fixture("virt-flash");
    let board = decode(&blob, LOAD_ADDRESS).unwrap();
    check_common(&board);
    assert_eq!(board.flash[1], region(0x400_0000, 0x400_0000));
}

#[test]
fn the_display_helpers_read_the_same_values() {
    let blob = fixture("virt-gicv2-a72");
    let board = decode(&blob, LOAD_ADDRESS).unwrap();
    let uart = board
        .fdt
        .all_nodes()
        .find(|node| dpu_board::is_compatible(node, &["arm,pl011"]))
        .unwrap();
    assert_eq!(
        dpu_board::regions(&uart).collect::<Vec<_>>(),
        vec![region(0x900_0000, 0x1000)]
    );
    assert_eq!(dpu_board::interrupts(&uart).collect::<Vec<_>>(), vec![33]);
}

#[test]
fn cpu_nodes_have_no_address_ranges() {
    // A CPU's `reg` is its MPIDR under #size-cells = 0: not an address range to show or map.
    let blob = fixture("virt-gicv3-el2-a72");
    let board = decode(&blob, LOAD_ADDRESS).unwrap();
    let cpus: Vec<_> = board
        .fdt
        .all_nodes()
        .filter(|node| node.name.starts_with("cpu@"))
        .collect();
    assert_eq!(cpus.len(), 4);
    for cpu in cpus {
        assert_eq!(dpu_board::regions(&cpu).count(), 0, "{}", cpu.name);
    }
}
