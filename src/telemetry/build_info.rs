//! What this binary was built from: version, commit, compiler, features, profile and target,
//! recorded by `build.rs`. `movieapp version` prints it and `serve` logs it at start.

use serde::Serialize;

/// The build's identity.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize)]
pub struct BuildInfo {
    pub version: &'static str,
    /// The git commit, or "unknown" when built outside a repository without
    /// BUILD_GIT_COMMIT.
    pub commit: &'static str,
    pub rustc: &'static str,
    /// Cargo features enabled, comma-separated; empty for none.
    pub features: &'static str,
    /// `release` or `debug`.
    pub profile: &'static str,
    pub target: &'static str,
}

/// This binary's.
pub const BUILD: BuildInfo = BuildInfo {
    version: env!("CARGO_PKG_VERSION"),
    commit: env!("BUILD_INFO_COMMIT"),
    rustc: env!("BUILD_INFO_RUSTC"),
    features: env!("BUILD_INFO_FEATURES"),
    profile: env!("BUILD_INFO_PROFILE"),
    target: env!("BUILD_INFO_TARGET"),
};

/// `--version` of every command: the version and the commit.
pub const VERSION_LINE: &str = concat!(
    env!("CARGO_PKG_VERSION"),
    " (commit ",
    env!("BUILD_INFO_COMMIT"),
    ", ",
    env!("BUILD_INFO_PROFILE"),
    " build)"
);

impl BuildInfo {
    /// The enabled features as a list.
    pub fn feature_list(&self) -> Vec<&'static str> {
        self.features.split(',').filter(|f| !f.is_empty()).collect()
    }
}
