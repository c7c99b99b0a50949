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
    Ok(())
}
