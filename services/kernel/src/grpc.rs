//! gRPC plumbing shared by the services: the server with its tracing span
//! per call, health (`grpc.health.v1`) and reflection.

use std::time::Duration;

use tonic::transport::Server;
use tonic::transport::server::Router;

use crate::telemetry::grpc_server_span;

/// A server whose every call opens a span parented on the caller's trace.
pub fn server() -> Server {
    Server::builder()
        .trace_fn(grpc_server_span)
        .timeout(Duration::from_secs(60))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
}

/// Adds reflection over Gongkai's protos and health to `router`; returns the
/// reporter so the caller can flip services to NOT_SERVING on shutdown.
pub fn with_health_and_reflection(
    mut router: Router,
) -> anyhow::Result<(Router, tonic_health::server::HealthReporter)> {
    let (reporter, health) = tonic_health::server::health_reporter();
    let reflection = tonic_reflection::server::Builder::configure()
        .register_encoded_file_descriptor_set(gongkai_proto::FILE_DESCRIPTOR_SET)
        .register_encoded_file_descriptor_set(tonic_health::pb::FILE_DESCRIPTOR_SET)
        .build_v1()?;
    router = router.add_service(health).add_service(reflection);
    Ok((router, reporter))
}
