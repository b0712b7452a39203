//! Compiles the protos with protox, so no system protoc is needed.

use std::{env, path::PathBuf};

fn main() -> Result<(), Box<dyn std::error::Error>> {
    let files = [
        "gongkai/v1/events.proto",
        "gongkai/v1/publishing.proto",
        "gongkai/v1/requests.proto",
    ];
    for f in &files {
        println!("cargo:rerun-if-changed={f}");
    }
    let fds = protox::compile(files, ["."])?;
    let out = PathBuf::from(env::var("OUT_DIR")?);
    // Served by gRPC reflection so that grpcurl and friends work.
    std::fs::write(
        out.join("gongkai_descriptor.bin"),
        prost::Message::encode_to_vec(&fds),
    )?;
    tonic_prost_build::configure().compile_fds(fds)?;
    Ok(())
}
