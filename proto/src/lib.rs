//! Gongkai's protobuf messages and gRPC stubs, generated at build time.

pub use prost;
pub use tonic;

#[allow(clippy::all, clippy::pedantic)]
pub mod v1 {
    tonic::include_proto!("gongkai.v1");
}

/// The encoded file descriptor set, for gRPC reflection.
pub const FILE_DESCRIPTOR_SET: &[u8] = tonic::include_file_descriptor_set!("gongkai_descriptor");
