//! gRPC plumbing shared by the services: the server with its tracing span
//! per call and optional TLS, health (`grpc.health.v1`) and reflection.

use std::time::Duration;

use anyhow::Context as _;
use tonic::body::Body;
use tonic::transport::{Certificate, ClientTlsConfig, Endpoint, Identity, Server, ServerTlsConfig};
use tower::layer::util::Stack;
use tower::util::MapResponseLayer;

use crate::config::NodeConfig;
use crate::telemetry::grpc_server_span;

/// What every server wraps its calls in: [`oversize_as_invalid_argument`].
pub type Layers = Stack<
    MapResponseLayer<fn(http::Response<Body>) -> http::Response<Body>>,
    tower::layer::util::Identity,
>;
/// A server as [`server`] builds it.
pub type GrpcServer = Server<Layers>;
/// A server with its services, as [`spawn_server`] takes it.
pub type Router = tonic::transport::server::Router<Layers>;

/// A server whose every call opens a span parented on the caller's trace;
/// TLS when the node has a certificate.
pub fn server(node: &NodeConfig) -> anyhow::Result<GrpcServer> {
    let mut server = Server::builder()
        .trace_fn(grpc_server_span)
        .timeout(Duration::from_secs(60))
        .http2_keepalive_interval(Some(Duration::from_secs(30)))
        .layer(MapResponseLayer::new(
            oversize_as_invalid_argument as fn(http::Response<Body>) -> http::Response<Body>,
        ));
    if let (Some(cert), Some(key)) = (&node.tls_cert, &node.tls_key) {
        let cert =
            std::fs::read(cert).with_context(|| format!("node.tls_cert {}", cert.display()))?;
        let key = std::fs::read(key).with_context(|| format!("node.tls_key {}", key.display()))?;
        server =
            server.tls_config(ServerTlsConfig::new().identity(Identity::from_pem(cert, key)))?;
    }
    Ok(server)
}

/// The start of tonic's own answer to a request over a service's size limit.
const TOO_LARGE: &str = "Error, decoded message length too large: found ";

/// tonic refuses a request larger than the service's decoding limit itself,
/// before the service sees it, with OUT_OF_RANGE in its own words. For the
/// caller it is bad input like any other: INVALID_ARGUMENT saying how large
/// the request was and how large a request may be.
fn oversize_as_invalid_argument(res: http::Response<Body>) -> http::Response<Body> {
    if res.headers().get("grpc-status").map(|v| v.as_bytes()) != Some(b"11") {
        return res;
    }
    let Some(status) = tonic::Status::from_header_map(res.headers()) else {
        return res;
    };
    let Some(rest) = status.message().strip_prefix(TOO_LARGE) else {
        return res;
    };
    // "{found} bytes, the limit is: {limit} bytes"
    let mut numbers = rest
        .split(|c: char| !c.is_ascii_digit())
        .filter(|s| !s.is_empty());
    let (Some(found), Some(limit)) = (numbers.next(), numbers.next()) else {
        return res;
    };
    tonic::Status::invalid_argument(format!(
        "request: {found} bytes, more than the {limit} bytes a request to this service may \
         carry"
    ))
    .into_http()
}

/// A client endpoint; `https://` addresses trust `ca` (PEM file) or, without
/// one, fail at connect time with the TLS error.
pub fn endpoint(url: &str, ca: Option<&std::path::Path>) -> anyhow::Result<Endpoint> {
    let mut ep = Endpoint::from_shared(url.to_owned())?
        .connect_timeout(Duration::from_secs(5))
        .timeout(Duration::from_secs(30));
    if url.starts_with("https://") {
        let mut tls = ClientTlsConfig::new();
        if let Some(ca) = ca {
            let pem =
                std::fs::read(ca).with_context(|| format!("CA certificate {}", ca.display()))?;
            tls = tls.ca_certificate(Certificate::from_pem(pem));
        }
        ep = ep.tls_config(tls)?;
    }
    Ok(ep)
}

/// Accepted connections with Nagle's algorithm off: replies are small and
/// must leave at once, not wait for the peer's delayed ACK (~40 ms a call).
pub fn incoming(listener: tokio::net::TcpListener) -> tonic::transport::server::TcpIncoming {
    tonic::transport::server::TcpIncoming::from(listener)
        .with_nodelay(Some(true))
        .with_keepalive(Some(Duration::from_secs(60)))
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

/// Grace period for in-flight calls and for each background task's last
/// work (the outbox flush above all) at shutdown.
pub const DRAIN: Duration = Duration::from_secs(10);

/// A service's gRPC server task and its stop signal.
pub struct ServerTask {
    pub stop: tokio::sync::watch::Sender<bool>,
    pub server: tokio::task::JoinHandle<Result<(), tonic::transport::Error>>,
}

impl ServerTask {
    /// Stops accepting and waits (bounded) for in-flight calls to finish.
    pub async fn stop_accepting(&mut self) -> anyhow::Result<()> {
        let _ = self.stop.send(true);
        match tokio::time::timeout(DRAIN, &mut self.server).await {
            Ok(r) => r??,
            Err(_) => tracing::warn!("in-flight calls still running after the grace period"),
        }
        Ok(())
    }
}

/// Waits (bounded) for background tasks that have been told to stop.
pub async fn join_background(tasks: Vec<tokio::task::JoinHandle<()>>) {
    for h in tasks {
        if tokio::time::timeout(DRAIN, h).await.is_err() {
            tracing::warn!("a background task did not stop in time");
        }
    }
}

/// Binds `listen` (named `listen_key` in errors), serves `router` with
/// health and reflection beside it, and reports `service` SERVING until
/// [`ServerTask::stop_accepting`]; then NOT_SERVING while in-flight calls
/// finish. The server has a stop signal of its own: the service's
/// background work (the outbox relay above all) must outlast the calls,
/// whose events it still has to send.
pub async fn spawn_server(
    listen: &str,
    listen_key: &str,
    router: Router,
    service: &'static str,
) -> anyhow::Result<(std::net::SocketAddr, ServerTask)> {
    let (stop, _) = tokio::sync::watch::channel(false);
    use tonic_health::ServingStatus;
    let listener = tokio::net::TcpListener::bind(listen)
        .await
        .with_context(|| format!("{listen_key} {listen}"))?;
    let addr = listener.local_addr()?;
    let (router, health) = with_health_and_reflection(router)?;
    health
        .set_service_status(service, ServingStatus::Serving)
        .await;
    let mut stopped = stop.subscribe();
    let server = tokio::spawn(router.serve_with_incoming_shutdown(
        incoming(listener),
        async move {
            let _ = stopped.wait_for(|s| *s).await;
            health
                .set_service_status(service, ServingStatus::NotServing)
                .await;
        },
    ));
    Ok((addr, ServerTask { stop, server }))
}
