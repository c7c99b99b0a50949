//! Compiles `proto/movie.proto` and `proto/auth.proto` with protox (a pure-Rust protobuf compiler, so no `protoc` is
//! needed) and generates the prost messages and tonic services from the descriptor set. The
//! descriptor set is also written to OUT_DIR for gRPC server reflection. It also records what
//! the binary is built from, for `movieapp version`.

use std::{env, fs, path::PathBuf, process::Command};

use prost::Message;

fn main() -> Result<(), Box<dyn std::error::Error>> {
    println!("cargo:rerun-if-changed=proto/movie.proto");
    println!("cargo:rerun-if-changed=proto/auth.proto");
    let fds = protox::compile(["movie.proto", "auth.proto"], ["proto"])?;
    let out_dir = PathBuf::from(env::var("OUT_DIR")?);
    fs::write(out_dir.join("movie_descriptor.bin"), fds.encode_to_vec())?;
    tonic_prost_build::configure().compile_fds(fds)?;
    // pprof's profile format, for /debug/pprof/profile: messages only, and not served by
    // reflection.
    println!("cargo:rerun-if-changed=proto/profile.proto");
    let profile = protox::compile(["profile.proto"], ["proto"])?;
    tonic_prost_build::configure()
        .build_client(false)
        .build_server(false)
        .compile_fds(profile)?;
    record_build();
    Ok(())
}

/// Sets BUILD_INFO_{COMMIT,RUSTC,FEATURES,PROFILE,TARGET} for `env!`. The commit comes
/// from BUILD_GIT_COMMIT when set (an image built without `.git`), else from git, else
/// "unknown".
fn record_build() {
    println!("cargo:rerun-if-env-changed=BUILD_GIT_COMMIT");
    let commit = env::var("BUILD_GIT_COMMIT")
        .ok()
        .filter(|c| !c.trim().is_empty())
        .or_else(|| output("git", &["rev-parse", "HEAD"]))
        .unwrap_or_else(|| "unknown".to_owned());
    // A new commit moves HEAD or the branch it names; watch only files that exist, as a
    // missing one would rerun this script on every build.
    if let Some(git_dir) = output("git", &["rev-parse", "--git-dir"]) {
        let git_dir = PathBuf::from(git_dir);
        let mut watched = vec![git_dir.join("HEAD"), git_dir.join("packed-refs")];
        if let Some(branch) = output("git", &["symbolic-ref", "-q", "HEAD"]) {
            watched.push(git_dir.join(branch));
        }
        for path in watched.iter().filter(|p| p.exists()) {
            println!("cargo:rerun-if-changed={}", path.display());
        }
    }
    let rustc = env::var("RUSTC").unwrap_or_else(|_| "rustc".to_owned());
    let rustc = output(&rustc, &["--version"]).unwrap_or_else(|| "unknown".to_owned());
    let mut features: Vec<String> = env::vars()
        .filter_map(|(k, _)| k.strip_prefix("CARGO_FEATURE_").map(str::to_owned))
        .map(|f| f.to_lowercase().replace('_', "-"))
        .collect();
    features.sort();
    let profile = env::var("PROFILE").unwrap_or_default();
    let target = env::var("TARGET").unwrap_or_default();
    println!("cargo:rustc-env=BUILD_INFO_COMMIT={}", commit.trim());
    println!("cargo:rustc-env=BUILD_INFO_RUSTC={rustc}");
    println!("cargo:rustc-env=BUILD_INFO_FEATURES={}", features.join(","));
    println!("cargo:rustc-env=BUILD_INFO_PROFILE={profile}");
    println!("cargo:rustc-env=BUILD_INFO_TARGET={target}");
}

/// What a command prints on stdout, trimmed, if it ran and succeeded.
fn output(program: &str, args: &[&str]) -> Option<String> {
    let out = Command::new(program).args(args).output().ok()?;
    let text = String::from_utf8(out.stdout).ok()?;
    (out.status.success() && !text.trim().is_empty()).then(|| text.trim().to_owned())
}
