//! Every virtio error a person may see prints words and numbers, not Debug output.

use readable::assert_words as assert_readable;
use virtio::{DeviceErrors, InitError, ProbeError, QueueError};

#[test]
fn probe_errors_read_as_words() {
    for error in [
        ProbeError::EmptySlot,
        ProbeError::BadMagic(0x1234_5678),
        ProbeError::Legacy,
        ProbeError::UnknownVersion(9),
    ] {
        assert_readable(&error.to_string());
    }
}

#[test]
fn init_errors_read_as_words() {
    for error in [
        InitError::NotNetwork { device_id: 0 },
        InitError::NotNetwork { device_id: 2 },
        InitError::StorageInUse,
        InitError::ResetTimeout,
        InitError::NoVersion1 { offered: 0 },
        InitError::NoVersion1 { offered: u64::MAX },
        InitError::FeaturesRefused { accepted: 1 << 32 },
        InitError::FeaturesRefused { accepted: 0 },
        InitError::QueueAlreadyInUse { queue: 1 },
        InitError::QueueUnavailable { queue: 0 },
    ] {
        assert_readable(&error.to_string());
    }
}

#[test]
fn queue_errors_read_as_words() {
    for error in [
        QueueError::UsedIndexJump {
            claimed: 9,
            in_flight: 2,
        },
        QueueError::UsedIdOutOfRange { id: 300 },
        QueueError::UsedIdNotPosted { id: 3 },
        QueueError::UsedLengthTooLarge {
            token: 1,
            length: 4000,
            capacity: 1526,
        },
    ] {
        assert_readable(&error.to_string());
    }
}

#[test]
fn device_errors_read_as_words() {
    assert_eq!(DeviceErrors::default().to_string(), "none");
    let errors = DeviceErrors {
        used_index_jump: 1,
        used_id_out_of_range: 2,
        used_id_not_posted: 3,
        used_length_too_large: 4,
    };
    let text = errors.to_string();
    assert_readable(&text);
    assert_eq!(
        text,
        "used index jumps 1, used ids out of range 2, used ids not posted 3, \
         used lengths too large 4"
    );
}
