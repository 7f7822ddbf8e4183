//! Build-script helpers for the kernel and dpuboot: the trusted keys.
//!
//! Both images compile in the Ed25519 public keys a signed image may be signed with: dpuboot to
//! boot it, the kernel to stage it with `update`. The keys come from one file of raw 32-byte keys
//! back to back, `DPUBOOT_TRUSTED_KEYS` or by default `target/keys/trusted-keys.bin` (written by
//! `cargo xtask image`, which generates the development key on first use). Without usable keys
//! the image trusts nothing, and both build scripts say so with the same Cargo warning.

#![forbid(unsafe_code)]

use std::fmt::Write as _;
use std::path::{Path, PathBuf};

/// Length of one raw Ed25519 public key.
pub const KEY_LENGTH: usize = 32;

/// What is wrong with a key file (the image then refuses every signed image it is offered).
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum KeyFileProblem {
    /// No file, or an empty one.
    Missing,
    /// The length is not a whole number of keys; the trailing bytes are ignored.
    TrailingBytes(usize),
}

/// Rust source for `TRUSTED_KEYS: &[bootstate::TrustedKey]` from a key file's bytes.
#[must_use]
pub fn trusted_keys_source(bytes: &[u8]) -> String {
    let mut source = String::from(
        "/// Public keys images may be signed with (from the build).\n\
         pub const TRUSTED_KEYS: &[bootstate::TrustedKey] = &[\n",
    );
    for key in bytes.chunks_exact(KEY_LENGTH) {
        let _ = writeln!(source, "    bootstate::TrustedKey::new({key:?}),");
    }
    source.push_str("];\n");
    source
}

/// What is wrong with a key file of these bytes, if anything.
#[must_use]
pub fn key_file_problem(bytes: &[u8]) -> Option<KeyFileProblem> {
    if bytes.len() < KEY_LENGTH {
        Some(KeyFileProblem::Missing)
    } else if !bytes.len().is_multiple_of(KEY_LENGTH) {
        Some(KeyFileProblem::TrailingBytes(bytes.len() % KEY_LENGTH))
    } else {
        None
    }
}

/// The key file's path: `DPUBOOT_TRUSTED_KEYS`, else `target/keys/trusted-keys.bin` of the
/// workspace that holds `manifest_dir` (two levels up: `kernel/runtime`, `boot/loader`).
#[must_use]
pub fn key_file_path(manifest_dir: &Path) -> PathBuf {
    std::env::var_os("DPUBOOT_TRUSTED_KEYS")
        .map(PathBuf::from)
        .unwrap_or_else(|| manifest_dir.join("../../target/keys/trusted-keys.bin"))
}

/// For a build script: writes `$OUT_DIR/trusted_keys.rs` (include it) and tells Cargo when to
/// run again. `refuser` names what refuses images without keys, for the warning
/// (e.g. "dpuboot", "the kernel's update").
pub fn embed_trusted_keys(manifest_dir: &Path, refuser: &str) {
    println!("cargo:rerun-if-env-changed=DPUBOOT_TRUSTED_KEYS");
    let path = key_file_path(manifest_dir);
    println!("cargo:rerun-if-changed={}", path.display());
    let bytes = std::fs::read(&path).unwrap_or_default();
    match key_file_problem(&bytes) {
        Some(KeyFileProblem::Missing) => println!(
            "cargo:warning=no trusted keys at {} (run `cargo xtask image`): {refuser} will refuse every image",
            path.display()
        ),
        Some(KeyFileProblem::TrailingBytes(count)) => println!(
            "cargo:warning=trusted keys at {}: {count} trailing byte(s) ignored (the file holds 32-byte keys)",
            path.display()
        ),
        None => {}
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").unwrap_or_default());
    if let Err(error) = std::fs::write(out.join("trusted_keys.rs"), trusted_keys_source(&bytes)) {
        panic!("writing trusted_keys.rs: {error}");
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_become_constructor_calls() {
        let mut bytes = vec![7u8; KEY_LENGTH];
        bytes.extend([9u8; KEY_LENGTH]);
        let source = trusted_keys_source(&bytes);
        assert_eq!(source.matches("bootstate::TrustedKey::new([").count(), 2);
        assert!(source.contains(&format!("{:?}", [9u8; KEY_LENGTH])));
        assert!(source.ends_with("];\n"));
        assert_eq!(key_file_problem(&bytes), None);
    }

    #[test]
    fn no_keys_is_a_problem_and_an_empty_list() {
        assert_eq!(key_file_problem(&[]), Some(KeyFileProblem::Missing));
        assert_eq!(key_file_problem(&[1; 31]), Some(KeyFileProblem::Missing));
        let source = trusted_keys_source(&[]);
        assert!(!source.contains("TrustedKey::new"));
        assert!(source.contains("pub const TRUSTED_KEYS"));
    }

    #[test]
    fn trailing_bytes_are_reported_and_ignored() {
        let bytes = [1u8; KEY_LENGTH + 5];
        assert_eq!(
            key_file_problem(&bytes),
            Some(KeyFileProblem::TrailingBytes(5))
        );
        assert_eq!(trusted_keys_source(&bytes).matches("::new(").count(), 1);
    }
}
