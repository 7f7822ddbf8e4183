//! Property tests of the JSON form: any bytes parse without panicking; the written form of
//! any config parses back to it (or to the switch's own refusal); mutated text never panics.

#![allow(clippy::unwrap_used, reason = "test helpers outside #[test] functions")]

mod common;

use common::any_config;
use dpu_config::json::{parse, write};
use proptest::prelude::*;

proptest! {
    #![proptest_config(ProptestConfig::with_cases(512))]

    #[test]
    fn any_bytes_parse_without_panicking(bytes in proptest::collection::vec(any::<u8>(), 0..512)) {
        let _ = parse(&bytes);
    }

    #[test]
    fn json_like_text_parses_without_panicking(text in r#"[{}\[\]",:0-9a-z\\ .eE+-]{0,200}"#) {
        let _ = parse(text.as_bytes());
    }

    #[test]
    fn written_configs_parse_back(config in any_config()) {
        let mut text = String::new();
        write(&config, &mut text).unwrap();
        match (config.switch.validate(), parse(text.as_bytes())) {
            (Ok(()), Ok(update)) => prop_assert_eq!(update.switch, config.switch),
            (Err(_), Err(errors)) => prop_assert_eq!(errors.errors.len(), 1),
            (expected, got) => prop_assert!(false, "{:?} but parsed {:?}\n{}", expected, got, text),
        }
    }

    #[test]
    fn mutated_text_never_panics(
        config in any_config(),
        edits in proptest::collection::vec((any::<usize>(), any::<u8>()), 1..8),
        cut in any::<usize>(),
    ) {
        let mut text = String::new();
        write(&config, &mut text).unwrap();
        let mut bytes = text.into_bytes();
        for (at, value) in edits {
            let at = at % bytes.len();
            bytes[at] = value;
        }
        let length = cut % (bytes.len() + 1);
        if let Ok(update) = parse(&bytes[..length]) {
            prop_assert!(update.switch.validate().is_ok());
        }
    }
}
