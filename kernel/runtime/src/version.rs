//! Build identity: version, git revision and profile.

/// The crate version (`Cargo.toml`).
pub const VERSION: &str = env!("CARGO_PKG_VERSION");
/// The git revision the build script recorded (`DPU_GIT_HASH` overrides it).
pub const GIT_HASH: &str = env!("DPU_GIT_HASH");
/// `debug` or `release`.
pub const PROFILE: &str = if cfg!(debug_assertions) {
    "debug"
} else {
    "release"
};
