//! The event bus: NATS with JetStream. One stream captures `gk.>`; events are
//! published by the outbox relay and read by durable, idempotent consumers.

use std::time::Duration;

use async_nats::jetstream;
use async_nats::jetstream::stream;

use crate::config::NatsConfig;
use crate::unit::SUBJECT_ROOT;

/// A connection to NATS that keeps reconnecting in the background, so that a
/// node starts and serves while NATS is down (events wait in the outbox).
#[derive(Clone)]
pub struct Bus {
    client: async_nats::Client,
    js: jetstream::Context,
    config: NatsConfig,
}

impl Bus {
    pub async fn connect(config: &NatsConfig, name: &str) -> anyhow::Result<Bus> {
        let mut opts = async_nats::ConnectOptions::new()
            .name(name)
            .retry_on_initial_connect()
            .connection_timeout(Duration::from_secs(5))
            .require_tls(config.tls)
            .event_callback(|event| async move {
                tracing::info!(%event, "nats connection event");
            });
        if let Some(creds) = &config.credentials {
            opts = opts.credentials_file(creds).await?;
        }
        let client = opts.connect(config.url.as_str()).await?;
        let js = jetstream::new(client.clone());
        Ok(Bus {
            client,
            js,
            config: config.clone(),
        })
    }

    pub fn client(&self) -> &async_nats::Client {
        &self.client
    }

    pub fn jetstream(&self) -> &jetstream::Context {
        &self.js
    }

    pub fn config(&self) -> &NatsConfig {
        &self.config
    }

    pub fn is_connected(&self) -> bool {
        self.client.connection_state() == async_nats::connection::State::Connected
    }

    /// Creates the stream on first use (idempotent across nodes sharing a
    /// NATS server). Fails while NATS is unreachable; callers retry.
    pub async fn ensure_stream(&self) -> anyhow::Result<stream::Stream> {
        let cfg = stream::Config {
            name: self.config.stream.clone(),
            subjects: vec![format!("{SUBJECT_ROOT}.>")],
            duplicate_window: Duration::from_secs(self.config.duplicate_window_secs),
            storage: stream::StorageType::File,
            ..Default::default()
        };
        let s = tokio::time::timeout(Duration::from_secs(5), self.js.get_or_create_stream(cfg))
            .await
            .map_err(|_| anyhow::anyhow!("timed out creating stream"))??;
        Ok(s)
    }

    pub async fn flush(&self) {
        let _ = tokio::time::timeout(Duration::from_secs(2), self.client.flush()).await;
    }
}
