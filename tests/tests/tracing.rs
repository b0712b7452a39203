//! Traces leave the node over OTLP when `OTEL_EXPORTER_OTLP_ENDPOINT` is
//! set, and the event of a publication carries the same trace as the call.

use std::sync::{Arc, Mutex};

use futures::StreamExt as _;
use gongkai_kernel::auth::Role;
use gongkai_tests::*;
use opentelemetry_proto::tonic::collector::trace::v1::trace_service_server::{
    TraceService, TraceServiceServer,
};
use opentelemetry_proto::tonic::collector::trace::v1::{
    ExportTraceServiceRequest, ExportTraceServiceResponse,
};
use opentelemetry_proto::tonic::trace::v1::Span;

const BIN: &str = env!("CARGO_BIN_EXE_gongkai-e2e-node");

/// An OTLP collector that keeps what it receives.
#[derive(Clone, Default)]
struct Collector(Arc<Mutex<Vec<Span>>>);

#[tonic::async_trait]
impl TraceService for Collector {
    async fn export(
        &self,
        req: tonic::Request<ExportTraceServiceRequest>,
    ) -> Result<tonic::Response<ExportTraceServiceResponse>, tonic::Status> {
        let mut spans = self.0.lock().unwrap_or_else(|p| p.into_inner());
        for rs in req.into_inner().resource_spans {
            for ss in rs.scope_spans {
                spans.extend(ss.spans);
            }
        }
        Ok(tonic::Response::new(ExportTraceServiceResponse {
            partial_success: None,
        }))
    }
}

fn hex(b: &[u8]) -> String {
    b.iter().map(|x| format!("{x:02x}")).collect()
}

#[tokio::test]
async fn spans_are_exported_and_events_share_the_call_trace() -> anyhow::Result<()> {
    let collector = Collector::default();
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
    let otlp = format!("http://{}", listener.local_addr()?);
    let server = tokio::spawn(
        tonic::transport::Server::builder()
            .add_service(TraceServiceServer::new(collector.clone()))
            .serve_with_incoming(tokio_stream_listener(listener)),
    );

    let nats = Nats::start().await?;
    let dir = tempfile::tempdir()?;
    let mut node = NodeProcess::init(BIN, dir.path(), "340823.edu", &nats.url).await?;
    let addr = node
        .start_with_env(&[("OTEL_EXPORTER_OTLP_ENDPOINT", &otlp)])
        .await?;
    let keys = node.keys()?;
    let unit = gongkai_kernel::UnitPath::parse("340823.edu")?;
    let url = format!("http://{addr}");
    let mut editor = client(&url, &token_for(&keys, &unit, "zhang", Role::Editor)).await?;
    let mut reviewer = client(&url, &token_for(&keys, &unit, "li", Role::Reviewer)).await?;
    publish_new(
        &mut editor,
        &mut reviewer,
        summary_fields("可追踪的发布", "政务公开。"),
        "",
    )
    .await?;

    // The event's traceparent names the trace of the PublishDocument call.
    let js = async_nats::jetstream::new(async_nats::connect(&nats.url).await?);
    let stream = js.get_stream("GONGKAI").await?;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: "gk.publishing.document.published.340823.edu".into(),
            ..Default::default()
        })
        .await?;
    let mut msgs = consumer.messages().await?;
    let msg = tokio::time::timeout(std::time::Duration::from_secs(10), msgs.next())
        .await?
        .ok_or_else(|| anyhow::anyhow!("no event"))??;
    let tp = msg
        .headers
        .as_ref()
        .and_then(|h| h.get("traceparent"))
        .map(|v| v.as_str().to_owned())
        .ok_or_else(|| anyhow::anyhow!("no traceparent"))?;
    let trace_id = tp.split('-').nth(1).unwrap_or_default().to_owned();

    // SIGTERM flushes telemetry last.
    let status = node.terminate().await?;
    assert!(status.success());
    let spans = collector
        .0
        .lock()
        .unwrap_or_else(|p| p.into_inner())
        .clone();
    let publish = spans
        .iter()
        .find(|s| {
            s.name == "grpc"
                && s.attributes.iter().any(|a| {
                    a.key == "rpc.method"
                        && format!("{:?}", a.value)
                            .contains("/gongkai.v1.Publishing/PublishDocument")
                })
        })
        .ok_or_else(|| {
            anyhow::anyhow!(
                "no span of the PublishDocument call among {} spans",
                spans.len()
            )
        })?;
    assert_eq!(
        hex(&publish.trace_id),
        trace_id,
        "the event continues the call's trace"
    );
    server.abort();
    Ok(())
}

fn tokio_stream_listener(
    listener: tokio::net::TcpListener,
) -> impl futures::Stream<Item = std::io::Result<tokio::net::TcpStream>> {
    futures::stream::unfold(listener, |l| async move {
        let r = l.accept().await.map(|(s, _)| s);
        Some((r, l))
    })
}
