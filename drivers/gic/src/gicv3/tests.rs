//! Host tests of the GICv3 driver against ordinary memory standing in for its registers.

use super::cpu_interface::registers as icc;
use super::*;
use core::sync::atomic::Ordering;
use std::vec;
use std::vec::Vec;

/// Two redistributor frames: CPU affinity 0.0.0.1 first, then the boot CPU (0.0.0.0), last.
struct FakeGic {
    distributor: Vec<u64>,
    redistributors: Vec<u64>,
}

const FRAME_WORDS: usize = REDISTRIBUTOR_FRAME_SIZE / 8;

impl FakeGic {
    fn new() -> Self {
        let mut fake = Self {
            distributor: vec![0; DISTRIBUTOR_SIZE / 8],
            redistributors: vec![0; 2 * FRAME_WORDS],
        };
        fake.set_gicd(0x0004, 2); // ITLinesNumber 2: 96 lines
        fake.set_gicd(0xffe8, 0x3b); // PIDR2: ArchRev 3
        fake.redistributors[1] = 1 << 32; // frame 0 GICR_TYPER (0x008): affinity 1
        fake.redistributors[FRAME_WORDS + 1] = 1 << 4; // frame 1: affinity 0, Last
        fake.set_gicr(1, 0x0014, 0b110); // WAKER: ProcessorSleep and ChildrenAsleep set
        fake
    }

    fn driver(&mut self) -> GicV3 {
        let distributor = self.distributor.as_mut_ptr().expose_provenance();
        let redistributors = self.redistributors.as_mut_ptr().expose_provenance();
        // SAFETY: both vectors are large enough and outlive the driver in every test.
        unsafe { GicV3::new(distributor, redistributors, 2 * REDISTRIBUTOR_FRAME_SIZE) }
    }

    fn word(memory: &[u64], offset: usize) -> u32 {
        let bytes = memory[offset / 8].to_ne_bytes();
        let half = if offset.is_multiple_of(8) {
            &bytes[..4]
        } else {
            &bytes[4..]
        };
        u32::from_ne_bytes(half.try_into().unwrap())
    }

    fn set_word(memory: &mut [u64], offset: usize, value: u32) {
        let mut bytes = memory[offset / 8].to_ne_bytes();
        let start = offset % 8;
        bytes[start..start + 4].copy_from_slice(&value.to_ne_bytes());
        memory[offset / 8] = u64::from_ne_bytes(bytes);
    }

    fn gicd(&self, offset: usize) -> u32 {
        Self::word(&self.distributor, offset)
    }

    fn set_gicd(&mut self, offset: usize, value: u32) {
        Self::set_word(&mut self.distributor, offset, value);
    }

    fn gicr(&self, frame: usize, offset: usize) -> u32 {
        Self::word(
            &self.redistributors,
            frame * REDISTRIBUTOR_FRAME_SIZE + offset,
        )
    }

    fn set_gicr(&mut self, frame: usize, offset: usize, value: u32) {
        Self::set_word(
            &mut self.redistributors,
            frame * REDISTRIBUTOR_FRAME_SIZE + offset,
            value,
        );
    }

    fn awake(mut self) -> Self {
        self.set_gicr(1, 0x0014, 0b010); // ChildrenAsleep already clear
        self
    }
}

fn id(raw: u32) -> IntId {
    IntId::new(raw).unwrap()
}

#[test]
fn affinity_conversion() {
    assert_eq!(redistributor_affinity(0), 0);
    assert_eq!(redistributor_affinity(0x0000_0001_0203), 0x0001_0203);
    assert_eq!(redistributor_affinity(0x00ab_0001_0203), 0xab01_0203);
}

#[test]
fn init_programs_everything_for_the_boot_cpu() {
    let mut fake = FakeGic::new().awake();
    let mut gic = fake.driver();
    gic.init().unwrap();
    assert_eq!(gic.version(), GicVersion::V3);
    let frame_1 = fake.redistributors.as_ptr().expose_provenance() + REDISTRIBUTOR_FRAME_SIZE;
    assert_eq!(
        gic.redistributor_address(),
        Some(frame_1),
        "found the affinity-0 frame"
    );

    assert_eq!(fake.gicd(0x0000), 0b1_0011, "ARE + both group enables");
    assert_eq!(fake.gicd(0x0080 + 4), u32::MAX, "SPIs in group 1");
    assert_eq!(fake.gicd(0x0180 + 8), u32::MAX, "SPIs disabled");
    assert_eq!(fake.gicd(0x0180 + 12), 0, "nothing beyond 96 lines");
    assert_eq!(fake.gicd(0x0400 + 4 * 8), 0xa0a0_a0a0, "SPI priorities");
    assert_eq!(fake.gicd(0x0400 + 4 * 24), 0, "beyond the lines");
    // Host MPIDR model: 0x8000_0000 (RES1 bit) => affinity 0, routing mode 0.
    assert_eq!(
        fake.distributor[0x6000 / 8 + 32],
        0,
        "SPI 32 routed to 0.0.0.0"
    );
    assert_eq!(fake.distributor[0x6000 / 8 + 31], 0, "no IROUTER for PPIs");

    assert_eq!(fake.gicr(1, 0x0014) & 0b10, 0, "ProcessorSleep cleared");
    assert_eq!(fake.gicr(1, 0x1_0080), u32::MAX, "SGIs/PPIs in group 1");
    assert_eq!(fake.gicr(1, 0x1_0180), 0xffff_0000, "PPIs disabled");
    assert_eq!(
        fake.gicr(1, 0x1_0400 + 4 * 7),
        0xa0a0_a0a0,
        "PPI priorities"
    );
    assert_eq!(fake.gicr(0, 0x1_0180), 0, "the other CPU's frame untouched");

    assert_eq!(
        icc::SRE.load(Ordering::SeqCst) & 1,
        1,
        "system registers on"
    );
    assert_eq!(icc::PMR.load(Ordering::SeqCst), 0xff);
    assert_eq!(icc::IGRPEN1.load(Ordering::SeqCst), 1);
    assert_eq!(
        icc::CTLR.load(Ordering::SeqCst) & 0b11,
        0,
        "EOImode 0, CBPR 0"
    );
}

#[test]
fn enable_ppi_and_spi() {
    let mut fake = FakeGic::new().awake();
    let mut gic = fake.driver();
    assert_eq!(
        gic.enable(id(27), Trigger::Level),
        Err(GicError::NotInitialized)
    );
    gic.init().unwrap();
    gic.enable(id(27), Trigger::Level).unwrap();
    assert_eq!(
        fake.gicr(1, 0x1_0100),
        1 << 27,
        "timer PPI enabled in the SGI frame"
    );
    assert_eq!(fake.gicr(1, 0x1_0c04) & (0b10 << 22), 0, "level");
    gic.enable(id(48), Trigger::Edge).unwrap();
    assert_eq!(fake.gicd(0x0100 + 4), 1 << 16);
    assert_eq!(fake.gicd(0x0c00 + 12), 0b10, "INTID 48 edge");
    gic.disable(id(48)).unwrap();
    assert_eq!(fake.gicd(0x0180 + 4), 1 << 16);
    gic.set_priority(id(27), 0x20).unwrap();
    assert_eq!(
        fake.gicr(1, 0x1_0400 + 4 * 6),
        0x20a0_a0a0,
        "PPI priority in the SGI frame"
    );
    gic.set_priority(id(49), 0x30).unwrap();
    assert_eq!(
        fake.gicd(0x0400 + 4 * 12),
        0xa0a0_30a0,
        "SPI priority in the distributor"
    );
    gic.disable(id(27)).unwrap();
    assert_eq!(fake.gicr(1, 0x1_0180), 1 << 27);
    assert_eq!(
        gic.enable(id(96), Trigger::Level),
        Err(GicError::NotImplemented(id(96)))
    );
    assert_eq!(
        gic.enable(id(1), Trigger::Level),
        Err(GicError::SgiIsEdgeOnly(id(1)))
    );
}

#[test]
fn acknowledge_and_end() {
    let mut fake = FakeGic::new().awake();
    let gic = fake.driver();
    assert_eq!(gic.acknowledge(), None, "1023: nothing pending");
    icc::IAR1.store(27, Ordering::SeqCst);
    assert_eq!(gic.acknowledge(), Some(id(27)));
    gic.end_of_interrupt(id(27));
    assert_eq!(icc::EOIR1.load(Ordering::SeqCst), 27);
    icc::IAR1.store(1022, Ordering::SeqCst);
    assert_eq!(gic.acknowledge(), None);
}

#[test]
fn redistributor_that_stays_asleep_is_an_error() {
    let mut fake = FakeGic::new(); // ChildrenAsleep stays 1 in memory
    assert_eq!(fake.driver().init(), Err(GicError::RedistributorAsleep));
}

#[test]
fn stuck_register_write_is_an_error() {
    let mut fake = FakeGic::new().awake();
    // The driver never writes GICR_CTLR, so in memory its RWP bit stays set: the wait after
    // disabling PPIs must give up instead of hanging.
    fake.set_gicr(1, 0x0000, 1 << 3);
    assert_eq!(fake.driver().init(), Err(GicError::RegisterWriteTimeout));
}

#[test]
fn missing_redistributor_is_an_error() {
    let mut fake = FakeGic::new().awake();
    fake.redistributors[FRAME_WORDS + 1] = (7 << 32) | (1 << 4); // GICR_TYPER
    assert_eq!(
        fake.driver().init(),
        Err(GicError::RedistributorNotFound { affinity: 0 })
    );
    // A too-small region is searched no further than its end.
    let mut small = FakeGic::new().awake();
    let base = small.redistributors.as_mut_ptr().expose_provenance();
    let distributor = small.distributor.as_mut_ptr().expose_provenance();
    // SAFETY: both regions are inside the vectors, which outlive the driver.
    let mut gic = unsafe { GicV3::new(distributor, base, REDISTRIBUTOR_FRAME_SIZE) };
    assert_eq!(
        gic.init(),
        Err(GicError::RedistributorNotFound { affinity: 0 })
    );
}

#[test]
fn wrong_architecture_revision_is_an_error() {
    let mut fake = FakeGic::new().awake();
    fake.set_gicd(0xffe8, 0x2b);
    assert_eq!(
        fake.driver().init(),
        Err(GicError::UnexpectedArchitectureRevision(2))
    );
}
