//! Test support: the QEMU fixtures, and a small device-tree writer for hand-made blobs.

#![allow(dead_code)]

use std::path::PathBuf;

/// A fixture from `tests/fixtures` (made by `regenerate.sh`).
pub fn fixture(name: &str) -> Vec<u8> {
    let path = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("tests/fixtures")
        .join(format!("{name}.dtb"));
    std::fs::read(&path).unwrap_or_else(|error| panic!("{}: {error}", path.display()))
}

/// Writes a version-17 flattened device tree.
#[derive(Default)]
pub struct Writer {
    structure: Vec<u8>,
    strings: Vec<u8>,
}

impl Writer {
    fn word(&mut self, value: u32) {
        self.structure.extend_from_slice(&value.to_be_bytes());
    }

    fn pad(&mut self) {
        while !self.structure.len().is_multiple_of(4) {
            self.structure.push(0);
        }
    }

    /// Opens a node.
    pub fn begin(&mut self, name: &str) -> &mut Self {
        self.word(1);
        self.structure.extend_from_slice(name.as_bytes());
        self.structure.push(0);
        self.pad();
        self
    }

    /// Closes a node.
    pub fn end(&mut self) -> &mut Self {
        self.word(2);
        self
    }

    /// A property with raw bytes.
    pub fn property(&mut self, name: &str, value: &[u8]) -> &mut Self {
        let offset = self.strings.len() as u32;
        self.strings.extend_from_slice(name.as_bytes());
        self.strings.push(0);
        self.word(3);
        self.word(value.len() as u32);
        self.word(offset);
        self.structure.extend_from_slice(value);
        self.pad();
        self
    }

    /// A property of 32-bit cells.
    pub fn cells(&mut self, name: &str, cells: &[u32]) -> &mut Self {
        let bytes: Vec<u8> = cells.iter().flat_map(|cell| cell.to_be_bytes()).collect();
        self.property(name, &bytes)
    }

    /// A NUL-terminated string property.
    pub fn string(&mut self, name: &str, value: &str) -> &mut Self {
        let mut bytes = value.as_bytes().to_vec();
        bytes.push(0);
        self.property(name, &bytes)
    }

    /// The blob.
    pub fn finish(&mut self) -> Vec<u8> {
        self.word(9);
        let reservations = 40u32;
        let structure_offset = reservations + 16;
        let strings_offset = structure_offset + self.structure.len() as u32;
        let total = strings_offset + self.strings.len() as u32;
        let header = [
            0xd00d_feed,
            total,
            structure_offset,
            strings_offset,
            reservations,
            17,
            16,
            0,
            self.strings.len() as u32,
            self.structure.len() as u32,
        ];
        let mut blob: Vec<u8> = header.iter().flat_map(|word| word.to_be_bytes()).collect();
        blob.extend_from_slice(&[0; 16]);
        blob.extend_from_slice(&self.structure);
        blob.extend_from_slice(&self.strings);
        blob
    }
}

/// A minimal machine like QEMU's: root with 2/2 cells, /cpus, /chosen, memory, a PL011 and a
/// virtio slot. `extra` adds nodes under the root before it closes.
pub fn minimal(extra: impl FnOnce(&mut Writer)) -> Vec<u8> {
    let mut writer = Writer::default();
    writer
        .begin("")
        .cells("#address-cells", &[2])
        .cells("#size-cells", &[2])
        .string("model", "test board")
        .begin("cpus")
        .cells("#address-cells", &[1])
        .cells("#size-cells", &[0])
        .begin("cpu@0")
        .string("device_type", "cpu")
        .cells("reg", &[0])
        .end()
        .end()
        .begin("chosen")
        .string("bootargs", "console=ttyAMA0")
        .end()
        .begin("memory@40000000")
        .string("device_type", "memory")
        .cells("reg", &[0, 0x4000_0000, 0, 0x1000_0000])
        .end();
    extra(&mut writer);
    writer.end().finish()
}
