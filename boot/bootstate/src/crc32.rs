//! CRC-32 (IEEE 802.3, reflected, polynomial 0xEDB88320) with a table built at compile time.
//!
//! The same CRC as zlib's `crc32`, so a record can be checked with any host tool. Written here
//! rather than pulled from a crate: it is 20 lines and keeps dpuboot's dependency list short.

/// The 256-entry lookup table, computed by the compiler.
const TABLE: [u32; 256] = build_table();

const fn build_table() -> [u32; 256] {
    let mut table = [0u32; 256];
    let mut index = 0;
    while index < 256 {
        let mut value = index as u32;
        let mut bit = 0;
        while bit < 8 {
            value = if value & 1 != 0 {
                (value >> 1) ^ 0xEDB8_8320
            } else {
                value >> 1
            };
            bit += 1;
        }
        table[index] = value;
        index += 1;
    }
    table
}

/// Computes the CRC-32 of `data` (initial value and final XOR 0xFFFFFFFF).
#[must_use]
pub fn crc32(data: &[u8]) -> u32 {
    crc32_continue(0, data)
}

/// Continues a CRC-32 over more data, like zlib's `crc32(previous, data)`: the CRC of `a ++ b`
/// is `crc32_continue(crc32(a), b)`. For checksums of data that arrives in pieces.
#[must_use]
pub fn crc32_continue(previous: u32, data: &[u8]) -> u32 {
    let mut crc = !previous;
    for &byte in data {
        crc = TABLE[((crc ^ u32::from(byte)) & 0xFF) as usize] ^ (crc >> 8);
    }
    !crc
}

#[cfg(test)]
mod tests {
    use super::{crc32, crc32_continue};

    #[test]
    fn known_check_values() {
        // The standard check value for CRC-32/ISO-HDLC.
        assert_eq!(crc32(b"123456789"), 0xCBF4_3926);
        assert_eq!(crc32(b""), 0);
        assert_eq!(crc32(b"a"), 0xE8B7_BE43);
        assert_eq!(crc32_continue(crc32(b"1234"), b"56789"), 0xCBF4_3926);
    }
}
