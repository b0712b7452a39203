//! Durable JetStream consumers whose effects are idempotent: the event id is
//! recorded in `gk_processed_events` in the same transaction as the effect,
//! so a redelivered event (after a crash, a lost ack, or a republish beyond
//! JetStream's de-duplication window) changes nothing the second time.

use std::sync::Arc;
use std::time::Duration;

use async_nats::jetstream::AckKind;
use async_nats::jetstream::consumer::{AckPolicy, DeliverPolicy, pull};
use futures::StreamExt as _;
use gongkai_proto::v1::Event;
use prost::Message as _;
use sqlx::AnyConnection;
use tokio::sync::watch;
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::bus::Bus;
use crate::db::{Db, now_ms};
use crate::telemetry::{TRACEPARENT, set_remote_parent};

/// What a consumer does with one event, inside the transaction that also
/// records the event as processed.
#[async_trait::async_trait]
pub trait EventHandler: Send + Sync + 'static {
    async fn handle(&self, conn: &mut AnyConnection, event: &Event) -> anyhow::Result<()>;
}

/// Outcome of applying one event.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Applied {
    Done,
    AlreadyProcessed,
}

/// Applies `event` exactly once for `consumer`.
pub async fn apply_once(
    db: &Db,
    consumer: &str,
    handler: &dyn EventHandler,
    event: &Event,
) -> anyhow::Result<Applied> {
    let mut tx = db.begin().await?;
    let inserted = sqlx::query(
        "INSERT INTO gk_processed_events (consumer, event_id, processed_at) VALUES ($1, $2, $3) \
         ON CONFLICT (consumer, event_id) DO NOTHING",
    )
    .bind(consumer)
    .bind(&event.id)
    .bind(now_ms())
    .execute(&mut *tx)
    .await?
    .rows_affected();
    if inserted == 0 {
        tx.rollback().await?;
        return Ok(Applied::AlreadyProcessed);
    }
    handler.handle(&mut tx, event).await?;
    tx.commit().await?;
    Ok(Applied::Done)
}

/// Starts a durable consumer named `name` on `filter` (one subject filter:
/// NATS 2.9 has no multi-filter consumers). Runs until `stop` turns true.
pub fn spawn(
    db: Db,
    bus: Bus,
    name: String,
    filter: String,
    handler: Arc<dyn EventHandler>,
    mut stop: watch::Receiver<bool>,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        let mut backoff = Duration::from_millis(200);
        loop {
            if *stop.borrow() {
                return;
            }
            let run = consume(&db, &bus, &name, &filter, handler.as_ref(), &mut stop);
            match run.await {
                Ok(()) => return,
                Err(e) => {
                    tracing::warn!(consumer = %name, error = %e, "consumer failed; restarting");
                    tokio::select! {
                        _ = tokio::time::sleep(backoff) => {}
                        _ = stop.changed() => return,
                    }
                    backoff = (backoff * 2).min(Duration::from_secs(5));
                }
            }
        }
    })
}

async fn consume(
    db: &Db,
    bus: &Bus,
    name: &str,
    filter: &str,
    handler: &dyn EventHandler,
    stop: &mut watch::Receiver<bool>,
) -> anyhow::Result<()> {
    let stream = bus.ensure_stream().await?;
    let consumer = stream
        .get_or_create_consumer(
            name,
            pull::Config {
                durable_name: Some(name.to_owned()),
                filter_subject: filter.to_owned(),
                ack_policy: AckPolicy::Explicit,
                deliver_policy: DeliverPolicy::All,
                ack_wait: Duration::from_secs(30),
                ..Default::default()
            },
        )
        .await?;
    let mut messages = consumer.messages().await?;
    loop {
        let msg = tokio::select! {
            m = messages.next() => m,
            _ = stop.changed() => return Ok(()),
        };
        let Some(msg) = msg else {
            anyhow::bail!("message stream ended");
        };
        let msg = msg?;
        let event = match Event::decode(msg.payload.clone()) {
            Ok(e) => e,
            Err(e) => {
                // Poison message: redelivery would fail the same way forever.
                tracing::error!(subject = %msg.subject, error = %e, "undecodable event dropped");
                let _ = msg.ack_with(AckKind::Term).await;
                continue;
            }
        };
        let span = tracing::info_span!(
            "consume",
            consumer = %name,
            event_id = %event.id,
            event_type = %event.r#type,
            otel.kind = "consumer",
        );
        let tp = msg
            .headers
            .as_ref()
            .and_then(|h| h.get(TRACEPARENT))
            .map(|v| v.as_str().to_owned());
        set_remote_parent(&span, tp.as_deref());
        let result = apply_once(db, name, handler, &event).instrument(span).await;
        match result {
            Ok(applied) => {
                tracing::debug!(?applied, event_id = %event.id, "event applied");
                msg.ack().await.map_err(|e| anyhow::anyhow!("ack: {e}"))?;
            }
            Err(e) => {
                tracing::warn!(event_id = %event.id, error = %e, "event handling failed; will be redelivered");
                let _ = msg
                    .ack_with(AckKind::Nak(Some(Duration::from_secs(1))))
                    .await;
            }
        }
    }
}
