//! Logs and traces: `tracing` everywhere, OTLP export when the standard
//! `OTEL_EXPORTER_OTLP_ENDPOINT` is set, W3C trace context carried across
//! gRPC metadata and NATS headers.

use std::collections::HashMap;
use std::sync::OnceLock;
use std::time::Duration;

use opentelemetry::propagation::TextMapPropagator as _;
use opentelemetry::trace::TracerProvider as _;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_opentelemetry::OpenTelemetrySpanExt as _;
use tracing_subscriber::EnvFilter;
use tracing_subscriber::layer::SubscriberExt as _;
use tracing_subscriber::util::SubscriberInitExt as _;

use crate::config::TelemetryConfig;

pub const TRACEPARENT: &str = "traceparent";

static PROVIDER: OnceLock<SdkTracerProvider> = OnceLock::new();

/// Flushes and shuts down trace export when the node stops.
#[must_use = "dropping the guard does nothing; call shutdown() last"]
pub struct TelemetryGuard {
    _private: (),
}

impl TelemetryGuard {
    /// Flushes spans still buffered for export. Called last on shutdown.
    pub fn shutdown(self) {
        if let Some(p) = PROVIDER.get() {
            let _ = p.force_flush();
            let _ = p.shutdown_with_timeout(Duration::from_secs(5));
        }
    }
}

/// Installs the global subscriber once per process (later calls, e.g. from a
/// second service in the same test process, keep the first).
pub fn init(service: &str, cfg: &TelemetryConfig) -> TelemetryGuard {
    let provider = PROVIDER.get_or_init(|| build_provider(service));
    let tracer = provider.tracer("gongkai");
    let filter = EnvFilter::try_from_default_env()
        .or_else(|_| EnvFilter::try_new(&cfg.filter))
        .unwrap_or_else(|_| EnvFilter::new("info"));
    // Spans feed traces whatever the log level, so that trace context keeps
    // flowing into calls and events when an operator quiets the log; the
    // libraries' own chatty spans stay out.
    let otel = tracing_subscriber::Layer::with_filter(
        tracing_opentelemetry::layer().with_tracer(tracer),
        EnvFilter::new(
            "info,h2=off,hyper=off,hyper_util=off,tower=off,sqlx=warn,async_nats=warn,tantivy=warn",
        ),
    );
    let fmt = tracing_subscriber::fmt::layer().with_writer(std::io::stderr);
    let registry = tracing_subscriber::registry().with(otel);
    let _ = if cfg.log_format == "json" {
        registry
            .with(tracing_subscriber::Layer::with_filter(fmt.json(), filter))
            .try_init()
    } else {
        registry
            .with(tracing_subscriber::Layer::with_filter(fmt, filter))
            .try_init()
    };
    opentelemetry::global::set_text_map_propagator(TraceContextPropagator::new());
    TelemetryGuard { _private: () }
}

fn build_provider(service: &str) -> SdkTracerProvider {
    let resource = opentelemetry_sdk::Resource::builder()
        .with_service_name(service.to_owned())
        .build();
    let mut builder = SdkTracerProvider::builder().with_resource(resource);
    // Without an endpoint spans still get real ids, so the trace context in
    // events and calls stays meaningful; they are just not exported.
    if std::env::var_os("OTEL_EXPORTER_OTLP_ENDPOINT").is_some() {
        use opentelemetry_otlp::WithExportConfig as _;
        let endpoint = std::env::var("OTEL_EXPORTER_OTLP_ENDPOINT").unwrap_or_default();
        match opentelemetry_otlp::SpanExporter::builder()
            .with_tonic()
            .with_endpoint(endpoint)
            .build()
        {
            Ok(exporter) => builder = builder.with_batch_exporter(exporter),
            Err(e) => eprintln!("otlp exporter disabled: {e}"),
        }
    }
    builder.build()
}

/// The W3C `traceparent` of the current span, if it has a valid context.
pub fn current_traceparent() -> Option<String> {
    let cx = tracing::Span::current().context();
    let mut carrier = HashMap::new();
    TraceContextPropagator::new().inject_context(&cx, &mut carrier);
    carrier.remove(TRACEPARENT)
}

/// Makes `span` a child of the remote context in `traceparent`.
pub fn set_remote_parent(span: &tracing::Span, traceparent: Option<&str>) {
    let Some(tp) = traceparent else { return };
    let mut carrier = HashMap::new();
    carrier.insert(TRACEPARENT.to_owned(), tp.to_owned());
    let cx = TraceContextPropagator::new().extract(&carrier);
    let _ = span.set_parent(cx);
}

/// Span for an incoming gRPC call, parented on the caller's trace context.
/// Used as the server's `trace_fn` so that it opens before any work.
pub fn grpc_server_span(req: &http::Request<()>) -> tracing::Span {
    let span = tracing::info_span!(
        "grpc",
        rpc.method = %req.uri().path(),
        otel.kind = "server",
    );
    let tp = req.headers().get(TRACEPARENT).and_then(|v| v.to_str().ok());
    set_remote_parent(&span, tp);
    span
}

/// Client interceptor: carries the current trace context in gRPC metadata.
pub fn inject_grpc(mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
    if let Some(tp) = current_traceparent()
        && let Ok(v) = tp.parse()
    {
        req.metadata_mut().insert(TRACEPARENT, v);
    }
    Ok(req)
}
