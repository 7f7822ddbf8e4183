//! Property tests of the flash codec: decoding any bytes never panics; random valid configs
//! round-trip; mutated encodings either decode to a config that round-trips or are refused.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use common::any_config;
use dpu_config::codec::{MAX_PAYLOAD, decode, encode};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_decode_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..2048)) {
        let _ = decode(&bytes);
    }

    #[test]
    fn valid_configs_round_trip(config in any_config()) {
        let mut buffer = [0u8; MAX_PAYLOAD];
        let length = encode(&config, &mut buffer).unwrap();
        match config.switch.validate() {
            Ok(()) => prop_assert_eq!(decode(&buffer[..length]).unwrap().0, config),
            Err(_) => prop_assert!(decode(&buffer[..length]).is_err()),
        }
    }

    #[test]
    fn mutated_encodings_are_refused_or_round_trip(
        config in any_config(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..6),
        cut in any::<usize>(),
    ) {
        let mut buffer = [0u8; MAX_PAYLOAD];
        let length = encode(&config, &mut buffer).unwrap();
        for (at, value) in edits {
            buffer[at % length] = value;
        }
        let length = if cut % 4 == 0 { cut % (length + 1) } else { length };
        if let Ok((decoded, _)) = decode(&buffer[..length]) {
            let mut again = [0u8; MAX_PAYLOAD];
            let relength = encode(&decoded, &mut again).unwrap();
            prop_assert_eq!(decode(&again[..relength]).unwrap().0, decoded);
        }
    }
}
