//! Compiles `proto/movie.proto` and `proto/auth.proto` with protox (a pure-Rust protobuf compiler, so no `protoc` is
//! needed) and generates the prost messages and tonic services from the descriptor set. The
//! descriptor set is also written to OUT_DIR for gRPC server reflection.

use std::{env, fs, path::PathBuf};

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
    Ok(())
}
