//! Transactional outbox: events are written in the same transaction as the
//! state change, and a relay publishes them to JetStream, marking each row
//! sent only on JetStream's ack. A crash or a NATS outage loses nothing; a
//! row published but not yet marked is published again with the same
//! `Nats-Msg-Id`, which JetStream drops as a duplicate.

use std::sync::Arc;
use std::time::{Duration, Instant};

use async_nats::HeaderMap;
use bytes::Bytes;
use futures::StreamExt as _;
use futures::stream::FuturesOrdered;
use gongkai_proto::v1::Event;
use prost::Message as _;
use sqlx::{AnyConnection, Row as _};
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;
use tracing::Instrument as _;

use crate::bus::Bus;
use crate::db::{Db, now_ms};
use crate::telemetry::{TRACEPARENT, current_traceparent};
use crate::unit::{UnitPath, event_subject};

/// An event to be written with the current transaction.
pub struct NewEvent<'a, P: prost::Message> {
    pub service: &'a str,
    pub entity: &'a str,
    pub verb: &'a str,
    pub unit: &'a UnitPath,
    /// Fully qualified proto name of the payload, e.g. `gongkai.v1.DocumentChanged`.
    pub payload_type: &'a str,
    pub payload: &'a P,
}

/// An outbox row ready to be written: the envelope encoded, the subject
/// and trace context fixed at the time of the state change.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct OutboxRow {
    pub event_id: String,
    pub subject: String,
    pub payload: Vec<u8>,
    pub traceparent: Option<String>,
    pub created_at: i64,
}

/// Builds the row for `event`, capturing the current span's trace context.
pub fn prepare<P: prost::Message>(event: NewEvent<'_, P>) -> OutboxRow {
    let id = uuid::Uuid::now_v7().to_string();
    let now = now_ms();
    let envelope = Event {
        id: id.clone(),
        unit: event.unit.to_string(),
        r#type: format!("{}.{}.{}", event.service, event.entity, event.verb),
        time_unix_ms: now,
        payload_type: event.payload_type.to_owned(),
        payload: event.payload.encode_to_vec(),
    };
    OutboxRow {
        event_id: id,
        subject: event_subject(event.service, event.entity, event.verb, event.unit),
        payload: envelope.encode_to_vec(),
        traceparent: current_traceparent(),
        created_at: now,
    }
}

/// Writes `event` into the outbox on `conn` (inside the caller's
/// transaction). Returns the event id.
pub async fn enqueue<P: prost::Message>(
    conn: &mut AnyConnection,
    event: NewEvent<'_, P>,
) -> Result<String, sqlx::Error> {
    let row = prepare(event);
    sqlx::query(
        "INSERT INTO gk_outbox (event_id, subject, payload, traceparent, created_at) \
         VALUES ($1, $2, $3, $4, $5)",
    )
    .bind(&row.event_id)
    .bind(&row.subject)
    .bind(&row.payload)
    .bind(&row.traceparent)
    .bind(row.created_at)
    .execute(conn)
    .await?;
    Ok(row.event_id)
}

/// Handle of a running relay.
#[derive(Clone)]
pub struct Relay {
    wake: Arc<Notify>,
}

impl Relay {
    /// Wakes the relay after a commit so events leave at once instead of at
    /// the next poll.
    pub fn notify(&self) {
        self.wake.notify_one();
    }
}

struct Row {
    id: i64,
    event_id: String,
    subject: String,
    payload: Vec<u8>,
    traceparent: Option<String>,
}

const BATCH: i64 = 256;
const POLL: Duration = Duration::from_secs(1);
const MAX_BACKOFF: Duration = Duration::from_secs(5);
/// Sent rows are kept this long for inspection, then pruned.
const KEEP_SENT_MS: i64 = 7 * 24 * 3600 * 1000;

/// Starts the relay. It runs until `stop` turns true, then makes one last
/// attempt to drain (bounded by `drain_timeout`) before returning.
pub fn spawn(
    db: Db,
    bus: Bus,
    stop: watch::Receiver<bool>,
    drain_timeout: Duration,
) -> (Relay, JoinHandle<()>) {
    let wake = Arc::new(Notify::new());
    let relay = Relay { wake: wake.clone() };
    let handle = tokio::spawn(run(db, bus, wake, stop, drain_timeout));
    (relay, handle)
}

async fn run(
    db: Db,
    bus: Bus,
    wake: Arc<Notify>,
    mut stop: watch::Receiver<bool>,
    drain_timeout: Duration,
) {
    let max_in_flight = bus.config().max_in_flight;
    let linger = Duration::from_millis(bus.config().relay_linger_ms);
    let mut relay = Progress::default();
    let mut backoff = Duration::from_millis(100);
    let mut last_prune = 0i64;
    loop {
        // A stop's sender gone would otherwise wake every wait at once.
        if *stop.borrow() || stop.has_changed().is_err() {
            break;
        }
        match relay_batch(&db, &bus, max_in_flight, &mut relay).await {
            // A full batch: more are likely waiting.
            Ok(n) if n as i64 >= BATCH => {
                backoff = Duration::from_millis(100);
                if relay.marks_due() {
                    flush_marks(&db, &mut relay).await;
                }
                continue;
            }
            // A short batch took everything committed before it was read;
            // a commit since then has woken the relay (the wake-up is kept
            // until it waits), so it reads again only when there is news.
            Ok(_) => {
                backoff = Duration::from_millis(100);
                if now_ms() - last_prune > 3_600_000 {
                    last_prune = now_ms();
                    if let Err(e) = prune(&db).await {
                        tracing::warn!(error = %e, "outbox prune failed");
                    }
                }
                // Idle with marks owed: mark them when they fall due, unless
                // new events come first (they are marked together).
                let wait = relay.marks_wait().unwrap_or(POLL);
                if wait.is_zero() {
                    flush_marks(&db, &mut relay).await;
                    continue;
                }
                tokio::select! {
                    _ = wake.notified() => {
                        // A commit rarely comes alone: waiting a moment lets
                        // its neighbours leave in the same batch, one read
                        // and one round of acks for all of them.
                        if !linger.is_zero() {
                            tokio::select! {
                                _ = tokio::time::sleep(linger) => {}
                                _ = stop.changed() => {}
                            }
                        }
                    }
                    _ = tokio::time::sleep(wait) => {}
                    _ = stop.changed() => {}
                }
            }
            Err(e) => {
                tracing::warn!(error = %e, backoff_ms = backoff.as_millis() as u64, "outbox relay failed; will retry");
                tokio::select! {
                    _ = tokio::time::sleep(backoff) => {}
                    _ = stop.changed() => {}
                }
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
        }
    }
    // Flush what is left so a clean stop leaves an empty outbox when NATS is up.
    let drained = tokio::time::timeout(drain_timeout, async {
        loop {
            match relay_batch(&db, &bus, max_in_flight, &mut relay).await {
                Ok(0) => return true,
                Ok(_) => {}
                Err(_) => return false,
            }
        }
    })
    .await
    .unwrap_or(false);
    flush_marks(&db, &mut relay).await;
    bus.flush().await;
    if !drained {
        tracing::warn!("outbox not fully drained at shutdown; events will be sent at next start");
    }
}

/// Marks owed to the outbox are written at most this late. A crash before
/// they are written only means their events are sent again, and JetStream
/// drops those as duplicates (its window is far longer than this).
const MARK_EVERY: Duration = Duration::from_millis(250);
/// ... or as soon as this many are owed.
const MARK_MAX: usize = 4096;

/// What one relay has sent but not yet marked sent in the database
/// (`unmarked`, acknowledged by JetStream), and how far it has read: the
/// next batch starts after `cursor` so owed rows are not read again.
/// Marking lazily spares the database a write transaction per event when
/// events trickle in one at a time (on SQLite it would queue behind the
/// service's own writes on the single writer connection).
///
/// On PostgreSQL a transaction may commit after one holding a higher id, so
/// a row can appear behind the cursor: the cursor returns to the start
/// whenever the owed marks are written, and such a row leaves then.
///
/// `stream_known`: the stream was found or made, and no publication has
/// failed since. Asking JetStream for it before every batch would cost a
/// round trip per event when events trickle in.
#[derive(Debug, Default)]
struct Progress {
    cursor: i64,
    unmarked: Vec<i64>,
    since: Option<Instant>,
    stream_known: bool,
}

impl Progress {
    fn acked(&mut self, ids: &[i64]) {
        if let Some(&last) = ids.last() {
            self.cursor = self.cursor.max(last);
            if self.unmarked.is_empty() {
                self.since = Some(Instant::now());
            }
            self.unmarked.extend_from_slice(ids);
        }
    }

    fn marks_due(&self) -> bool {
        self.unmarked.len() >= MARK_MAX || self.marks_wait().is_some_and(|w| w.is_zero())
    }

    /// How long until the owed marks are due; `None` when nothing is owed.
    fn marks_wait(&self) -> Option<Duration> {
        let since = self.since?;
        Some(MARK_EVERY.saturating_sub(since.elapsed()))
    }
}

async fn flush_marks(db: &Db, relay: &mut Progress) {
    // On failure the marks stay owed for the next attempt; a relay that
    // starts afresh meanwhile sends their rows again and JetStream drops
    // the repeats.
    if let Err(e) = mark_owed(db, relay).await {
        tracing::warn!(error = %e, "marking outbox rows sent failed; will retry");
    }
}

/// Publishes up to one batch of the rows after `relay`'s cursor; returns how
/// many were sent. Their marks are owed in `relay` (see [`Progress`]); call
/// [`mark_owed`] to write them now.
async fn relay_batch(
    db: &Db,
    bus: &Bus,
    max_in_flight: usize,
    relay: &mut Progress,
) -> anyhow::Result<usize> {
    let rows: Vec<Row> = sqlx::query(
        "SELECT id, event_id, subject, payload, traceparent FROM gk_outbox \
         WHERE sent_at IS NULL AND id > $1 ORDER BY id LIMIT $2",
    )
    .bind(relay.cursor)
    .bind(BATCH)
    .fetch_all(db.read())
    .await?
    .into_iter()
    .map(|r| {
        Ok(Row {
            id: r.try_get("id")?,
            event_id: r.try_get("event_id")?,
            subject: r.try_get("subject")?,
            payload: r.try_get("payload")?,
            traceparent: r.try_get("traceparent")?,
        })
    })
    .collect::<Result<_, sqlx::Error>>()?;
    if rows.is_empty() {
        return Ok(0);
    }
    if !relay.stream_known {
        bus.ensure_stream().await?;
        relay.stream_known = true;
    }
    let span = tracing::debug_span!("outbox.relay", events = rows.len());
    let acked = publish_rows(bus, &rows, max_in_flight)
        .instrument(span)
        .await;
    let sent: Vec<i64> = acked.iter().map(|&i| rows[i].id).collect();
    relay.acked(&sent);
    if sent.len() < rows.len() {
        // The stream may be gone (a NATS server started afresh): look for
        // it, or make it, before the next attempt.
        relay.stream_known = false;
        anyhow::bail!(
            "{} of {} events not acknowledged by JetStream",
            rows.len() - sent.len(),
            rows.len()
        );
    }
    Ok(sent.len())
}

/// Writes the marks `relay` owes now.
async fn mark_owed(db: &Db, relay: &mut Progress) -> Result<(), sqlx::Error> {
    if relay.unmarked.is_empty() {
        return Ok(());
    }
    mark_sent(db, &relay.unmarked).await?;
    relay.unmarked.clear();
    relay.since = None;
    relay.cursor = 0;
    Ok(())
}

/// Publishes with up to `max_in_flight` acks outstanding; returns the indexes
/// of rows JetStream acknowledged, stopping at the first failure so that
/// order is kept for the rest on retry.
async fn publish_rows(bus: &Bus, rows: &[Row], max_in_flight: usize) -> Vec<usize> {
    let js = bus.jetstream();
    let mut acked = Vec::with_capacity(rows.len());
    let mut pending = FuturesOrdered::new();
    let mut failed = false;
    for (i, row) in rows.iter().enumerate() {
        let mut headers = HeaderMap::new();
        headers.insert("Nats-Msg-Id", row.event_id.as_str());
        if let Some(tp) = &row.traceparent {
            headers.insert(TRACEPARENT, tp.as_str());
        }
        let publish = tokio::time::timeout(
            Duration::from_secs(5),
            js.publish_with_headers(
                row.subject.clone(),
                headers,
                Bytes::from(row.payload.clone()),
            ),
        )
        .await;
        match publish {
            Ok(Ok(ack)) => pending.push_back(async move {
                (
                    i,
                    tokio::time::timeout(Duration::from_secs(10), ack.into_future()).await,
                )
            }),
            Ok(Err(e)) => {
                tracing::warn!(error = %e, subject = %row.subject, "publish failed");
                failed = true;
                break;
            }
            Err(_) => {
                tracing::warn!(subject = %row.subject, "publish timed out");
                failed = true;
                break;
            }
        }
        if pending.len() >= max_in_flight && !collect_one(&mut pending, &mut acked).await {
            failed = true;
            break;
        }
    }
    while !pending.is_empty() {
        if !collect_one(&mut pending, &mut acked).await {
            failed = true;
        }
    }
    if failed {
        // Keep only the unbroken prefix: later acks are re-sent and dropped
        // by JetStream's de-duplication, which keeps per-unit order simple.
        acked.sort_unstable();
        let prefix = acked
            .iter()
            .enumerate()
            .take_while(|(n, i)| n == *i)
            .count();
        acked.truncate(prefix);
    }
    acked
}

type AckResult = Result<
    Result<
        async_nats::jetstream::publish::PublishAck,
        async_nats::jetstream::context::PublishError,
    >,
    tokio::time::error::Elapsed,
>;

async fn collect_one<F>(pending: &mut FuturesOrdered<F>, acked: &mut Vec<usize>) -> bool
where
    F: std::future::Future<Output = (usize, AckResult)>,
{
    match pending.next().await {
        Some((i, Ok(Ok(_ack)))) => {
            acked.push(i);
            true
        }
        Some((_, Ok(Err(e)))) => {
            tracing::warn!(error = %e, "publish not acknowledged");
            false
        }
        Some((_, Err(_))) => {
            tracing::warn!("publish ack timed out");
            false
        }
        None => true,
    }
}

async fn mark_sent(db: &Db, ids: &[i64]) -> Result<(), sqlx::Error> {
    if ids.is_empty() {
        return Ok(());
    }
    let now = now_ms();
    // Contiguous ranges keep this one statement per batch in the common case.
    let mut start = 0;
    while start < ids.len() {
        let mut end = start;
        while end + 1 < ids.len() && ids[end + 1] == ids[end] + 1 {
            end += 1;
        }
        sqlx::query("UPDATE gk_outbox SET sent_at = $1 WHERE id >= $2 AND id <= $3")
            .bind(now)
            .bind(ids[start])
            .bind(ids[end])
            .execute(db.write())
            .await?;
        start = end + 1;
    }
    Ok(())
}

/// Deletes rows sent long ago, all but the newest row: on SQLite a new row
/// takes the largest id plus one, and ids must never go back (the relay
/// reads after the last one it saw).
async fn prune(db: &Db) -> Result<(), sqlx::Error> {
    sqlx::query(
        "DELETE FROM gk_outbox WHERE sent_at IS NOT NULL AND sent_at < $1 \
         AND id < (SELECT MAX(id) FROM gk_outbox)",
    )
    .bind(now_ms() - KEEP_SENT_MS)
    .execute(db.write())
    .await?;
    Ok(())
}

/// Rows not yet marked sent: not yet acknowledged by JetStream, or
/// acknowledged in the last 250 ms and not yet marked.
pub async fn pending_count(db: &Db) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT COUNT(*) FROM gk_outbox WHERE sent_at IS NULL")
        .fetch_one(db.read())
        .await
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::config::NatsConfig;
    use crate::db::{Migrations, sqlite_url};

    static NO_SERVICE_TABLES: sqlx::migrate::Migrator = sqlx::migrate::Migrator::DEFAULT;

    async fn enqueue_one(db: &Db, relay: &Relay, unit: &UnitPath) -> anyhow::Result<()> {
        let mut tx = db.begin().await?;
        enqueue(
            &mut tx,
            NewEvent {
                service: "kernel",
                entity: "test",
                verb: "happened",
                unit,
                payload_type: "gongkai.v1.Event",
                payload: &Event::default(),
            },
        )
        .await?;
        tx.commit().await?;
        relay.notify();
        Ok(())
    }

    /// A SQLite file in `dir` with only the kernel's tables.
    async fn kernel_db(dir: &tempfile::TempDir) -> anyhow::Result<Db> {
        Db::connect(
            &sqlite_url(&dir.path().join("outbox.db")),
            &Migrations {
                sqlite: &NO_SERVICE_TABLES,
                postgres: &NO_SERVICE_TABLES,
            },
        )
        .await
    }

    /// A nats-server, a SQLite file with only the kernel's tables, and a
    /// bus on that server; the first two live as long as they are held.
    async fn relay_parts() -> anyhow::Result<(gongkai_testkit::Nats, tempfile::TempDir, Db, Bus)> {
        let nats = gongkai_testkit::Nats::start().await?;
        let dir = tempfile::tempdir()?;
        let db = kernel_db(&dir).await?;
        let bus = Bus::connect(
            &NatsConfig {
                url: nats.url.clone(),
                ..Default::default()
            },
            "outbox-test",
        )
        .await?;
        Ok((nats, dir, db, bus))
    }

    async fn drained(db: &Db) -> anyhow::Result<()> {
        for _ in 0..200 {
            if pending_count(db).await? == 0 {
                return Ok(());
            }
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
        anyhow::bail!("{} events still in the outbox", pending_count(db).await?)
    }

    /// The relay asks JetStream for the stream once, not per batch; after a
    /// failed publication it asks again, so a stream deleted under it is
    /// made anew and the waiting events follow.
    #[tokio::test]
    async fn a_stream_deleted_under_the_relay_is_made_again() -> anyhow::Result<()> {
        let (_nats, _dir, db, bus) = relay_parts().await?;
        let (stop, stop_rx) = watch::channel(false);
        let (relay, task) = spawn(db.clone(), bus.clone(), stop_rx, Duration::from_secs(5));
        let unit = UnitPath::parse("340823")?;
        let stream = bus.config().stream.clone();

        enqueue_one(&db, &relay, &unit).await?;
        drained(&db).await?;
        bus.jetstream().delete_stream(&stream).await?;
        enqueue_one(&db, &relay, &unit).await?;
        drained(&db).await?;
        let mut made_again = bus.jetstream().get_stream(&stream).await?;
        assert_eq!(made_again.info().await?.state.messages, 1);

        let _ = stop.send(true);
        task.await?;
        db.close().await;
        Ok(())
    }

    /// A relay whose stop sender is dropped (its owner gone without a word)
    /// stops after its last drain, instead of finding every wait over at
    /// once and reading the outbox in a loop for ever.
    #[tokio::test]
    async fn a_relay_whose_stop_is_dropped_drains_and_ends() -> anyhow::Result<()> {
        let (_nats, _dir, db, bus) = relay_parts().await?;
        let (stop, stop_rx) = watch::channel(false);
        let (relay, task) = spawn(db.clone(), bus.clone(), stop_rx, Duration::from_secs(5));
        enqueue_one(&db, &relay, &UnitPath::parse("340823")?).await?;
        drop(stop);
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .map_err(|_| anyhow::anyhow!("the relay went on after its stop was dropped"))??;
        drained(&db).await?;
        db.close().await;
        Ok(())
    }

    /// On SQLite a new row takes the largest id plus one: the prune keeps
    /// the newest row, so an id deleted is never given again (the relay
    /// would take a row with an id it has passed for one already sent).
    #[tokio::test]
    async fn pruning_never_gives_an_id_twice() -> anyhow::Result<()> {
        let dir = tempfile::tempdir()?;
        let db = kernel_db(&dir).await?;
        let relay = Relay {
            wake: Arc::new(Notify::new()),
        };
        let unit = UnitPath::parse("340823")?;
        for _ in 0..3 {
            enqueue_one(&db, &relay, &unit).await?;
        }
        let ids = || async {
            sqlx::query_scalar::<_, i64>("SELECT id FROM gk_outbox ORDER BY id")
                .fetch_all(db.read())
                .await
        };
        let before = ids().await?;
        assert_eq!(before.len(), 3);
        sqlx::query("UPDATE gk_outbox SET sent_at = 1")
            .execute(db.write())
            .await?;
        prune(&db).await?;
        assert_eq!(ids().await?, [before[2]], "all but the newest are gone");
        enqueue_one(&db, &relay, &unit).await?;
        let after = ids().await?;
        assert!(after[1] > before[2], "{after:?} after {before:?}");
        db.close().await;
        Ok(())
    }
}
