//! Keeps the search index in step with the database. The index is derived
//! data: each public change takes a sequence number in its transaction, and
//! the indexer applies changes in sequence order and commits the last one as
//! the index's watermark, so after a crash it resumes where the index ends.

use std::sync::Arc;
use std::time::Duration;

use gongkai_kernel::db::Db;
use tokio::sync::{Notify, watch};
use tokio::task::JoinHandle;

use crate::search::{IndexedDoc, SearchIndex};
use crate::store::{self, DocRow};

#[derive(Clone)]
pub struct Indexer {
    wake: Arc<Notify>,
}

impl Indexer {
    pub fn notify(&self) {
        self.wake.notify_one();
    }
}

pub fn indexed(d: &DocRow) -> Option<IndexedDoc> {
    Some(IndexedDoc {
        id: d.id.clone(),
        unit: d.unit.clone(),
        index_no: d.index_no.clone()?,
        title: d.fields.title.clone(),
        doc_number: d.fields.doc_number.clone().unwrap_or_default(),
        column: d.fields.column.clone(),
        publisher: d.fields.publisher.clone(),
        published_on: d.date_published?,
        validity: d.validity.clone(),
        body: d.fields.body.clone(),
    })
}

/// A batch of changes for the indexing thread, and where to say it is done.
struct Batch {
    rows: Vec<DocRow>,
    last: i64,
    done: tokio::sync::oneshot::Sender<anyhow::Result<()>>,
}

/// The thread that applies and commits changes. Tokenizing and committing
/// are CPU and disk work, kept off the async workers that serve calls and,
/// at the configured priority, behind them. A thread of its own rather than
/// the blocking pool: tantivy starts new indexing threads from the thread
/// that commits, and they inherit its priority.
struct IndexThread {
    batches: std::sync::mpsc::Sender<Batch>,
    thread: std::thread::JoinHandle<()>,
}

impl IndexThread {
    fn start(index: Arc<SearchIndex>, nice: i32) -> std::io::Result<IndexThread> {
        let (batches, rx) = std::sync::mpsc::channel::<Batch>();
        let thread = std::thread::Builder::new()
            .name("search-indexer".into())
            .spawn(move || {
                if let Err(e) = gongkai_kernel::priority::lower_current_thread(nice) {
                    tracing::warn!(error = %e, "could not lower the search indexing priority");
                }
                // Ends when the last sender is dropped.
                while let Ok(b) = rx.recv() {
                    let _ = b.done.send(apply(&index, &b.rows, b.last));
                }
            })?;
        Ok(IndexThread { batches, thread })
    }

    /// Ends the thread and waits for it: its hold on the index (and on the
    /// index's writer lock, which a node started again in this process
    /// needs) is gone when this returns.
    async fn finish(self) {
        let IndexThread { batches, thread } = self;
        drop(batches);
        if !matches!(
            tokio::task::spawn_blocking(move || thread.join()).await,
            Ok(Ok(()))
        ) {
            tracing::warn!("the search indexing thread did not end cleanly");
        }
    }

    async fn apply(&self, rows: Vec<DocRow>, last: i64) -> anyhow::Result<()> {
        let (done, answer) = tokio::sync::oneshot::channel();
        self.batches
            .send(Batch { rows, last, done })
            .map_err(|_| anyhow::anyhow!("the search indexing thread has stopped"))?;
        answer
            .await
            .map_err(|_| anyhow::anyhow!("the search indexing thread has stopped"))?
    }
}

fn apply(index: &SearchIndex, rows: &[DocRow], last: i64) -> anyhow::Result<()> {
    for d in rows {
        match (d.state.is_public(), indexed(d)) {
            (true, Some(doc)) => index.upsert(&doc)?,
            _ => index.delete(&d.id)?,
        }
    }
    index.commit(last)?;
    Ok(())
}

/// Changes read and committed at most at once.
const BATCH: usize = 1000;

/// Applies the changes after the index's watermark, a batch and a commit at
/// a time, until a batch comes back short (or, with `drain`, empty); returns
/// how many. Running, it does not chase changes committed while it works:
/// under a steady stream of publications that would commit a segment of a
/// few documents after each pass, and merging those small segments costs
/// more than indexing them. Those changes have woken the indexer, which
/// comes back for them after its commit interval.
async fn catch_up(
    db: &Db,
    index: &SearchIndex,
    thread: &IndexThread,
    drain: bool,
    batch: usize,
) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let from = index.watermark();
        let mut conn = db.read().acquire().await?;
        let rows = store::changed_since(&mut conn, from, batch as i64).await?;
        drop(conn);
        let Some(last) = rows.last().map(|d| d.search_seq) else {
            return Ok(total);
        };
        let more = drain || rows.len() == batch;
        total += rows.len();
        thread.apply(rows, last).await?;
        if !more {
            return Ok(total);
        }
    }
}

/// Runs the indexer until `stop`; commits at most every `every`, indexing at
/// CPU priority `nice` (0 to 19).
pub fn spawn(
    db: Db,
    index: Arc<SearchIndex>,
    every: Duration,
    nice: i32,
    mut stop: watch::Receiver<bool>,
) -> std::io::Result<(Indexer, JoinHandle<()>)> {
    let wake = Arc::new(Notify::new());
    let handle = Indexer { wake: wake.clone() };
    let thread = IndexThread::start(index.clone(), nice)?;
    let task = tokio::spawn(async move {
        loop {
            // Stopping (or the stop's sender gone, which would otherwise
            // wake this loop at once forever), everything committed before
            // is indexed.
            let stopping = *stop.borrow() || stop.has_changed().is_err();
            if let Err(e) = catch_up(&db, &index, &thread, stopping, BATCH).await {
                tracing::warn!(error = %e, "search indexing failed; will retry");
            }
            if stopping {
                thread.finish().await;
                return;
            }
            tokio::select! {
                _ = wake.notified() => {
                    // Batch the changes of a burst into one commit.
                    tokio::time::sleep(every).await;
                }
                _ = tokio::time::sleep(Duration::from_secs(30)) => {}
                _ = stop.changed() => {}
            }
        }
    });
    Ok((handle, task))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::{Attribute, Fields};
    use crate::domain::workflow::State;
    use chrono::NaiveDate;

    fn published(n: i64) -> DocRow {
        let day = NaiveDate::from_ymd_opt(2026, 3, 2).unwrap_or_default();
        let fields = Fields {
            title: format!("关于第{n}号文件的通知"),
            doc_number: None,
            subject: "政务公开".into(),
            publisher: "南陵县教育局".into(),
            date_formed: day,
            attribute: Attribute::Proactive,
            withheld_reason: None,
            column: "gzzj".into(),
            body: "扎实推进政务公开标准化规范化建设".into(),
            summary: String::new(),
            valid_until: None,
        };
        let mut d = DocRow::draft(format!("doc-{n}"), "u".into(), fields, "editor".into(), 1);
        d.state = State::Published;
        d.index_no = Some(format!("003159085/2026-{n:05}"));
        d.date_published = Some(day);
        d.search_seq = n;
        d
    }

    /// A SQLite file (kept while the directory is held) and an empty index.
    async fn parts() -> anyhow::Result<(tempfile::TempDir, Db, Arc<SearchIndex>)> {
        let dir = tempfile::tempdir()?;
        let db = store::connect(&gongkai_kernel::db::sqlite_url(&dir.path().join("p.db"))).await?;
        Ok((dir, db, Arc::new(SearchIndex::open_in_ram()?)))
    }

    #[tokio::test]
    async fn catch_up_goes_on_after_full_batches_and_stops_after_a_short_one() -> anyhow::Result<()>
    {
        let (_dir, db, index) = parts().await?;
        let thread = IndexThread::start(index.clone(), 0)?;
        let mut conn = db.write().acquire().await?;
        for n in 1..=5 {
            store::insert_document(&mut conn, &published(n)).await?;
        }
        // Batches of two: two full ones, then a short one of one.
        assert_eq!(catch_up(&db, &index, &thread, false, 2).await?, 5);
        assert_eq!(index.watermark(), 5);
        assert_eq!(index.num_docs(), 5);
        // Nothing new: nothing applied.
        assert_eq!(catch_up(&db, &index, &thread, false, 2).await?, 0);
        store::insert_document(&mut conn, &published(6)).await?;
        assert_eq!(catch_up(&db, &index, &thread, true, 2).await?, 1);
        assert_eq!((index.watermark(), index.num_docs()), (6, 6));
        drop(conn);
        db.close().await;
        Ok(())
    }

    /// An indexer whose stop sender is dropped indexes what is there and
    /// ends, instead of finding every wait over at once for ever.
    #[tokio::test]
    async fn an_indexer_whose_stop_is_dropped_catches_up_and_ends() -> anyhow::Result<()> {
        let (_dir, db, index) = parts().await?;
        let mut conn = db.write().acquire().await?;
        for n in 1..=3 {
            store::insert_document(&mut conn, &published(n)).await?;
        }
        drop(conn);
        let (stop, stop_rx) = watch::channel(false);
        // A long commit interval: only the stop ends the wait.
        let (_indexer, task) = spawn(
            db.clone(),
            index.clone(),
            Duration::from_secs(60),
            0,
            stop_rx,
        )?;
        drop(stop);
        tokio::time::timeout(Duration::from_secs(30), task)
            .await
            .map_err(|_| anyhow::anyhow!("the indexer went on after its stop was dropped"))??;
        assert_eq!((index.watermark(), index.num_docs()), (3, 3));
        db.close().await;
        Ok(())
    }

    /// Under a steady stream of publications the indexer commits once per
    /// interval, not after every pass that found something new: each commit
    /// is a segment to merge.
    #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
    async fn a_steady_stream_is_committed_once_per_interval() -> anyhow::Result<()> {
        let (_dir, db, index) = parts().await?;
        let every = Duration::from_millis(100);
        let (stop, stop_rx) = watch::channel(false);
        let (indexer, task) = spawn(db.clone(), index.clone(), every, 0, stop_rx)?;
        let started = std::time::Instant::now();
        let mut n = 0;
        while started.elapsed() < Duration::from_millis(600) {
            n += 1;
            let mut conn = db.write().acquire().await?;
            store::insert_document(&mut conn, &published(n)).await?;
            drop(conn);
            indexer.notify();
            // Publications a moment apart, each waking the indexer.
            tokio::time::sleep(Duration::from_millis(1)).await;
        }
        let _ = stop.send(true);
        task.await?;
        let elapsed = started.elapsed();
        assert_eq!((index.watermark(), index.num_docs()), (n, n as u64));
        // A pass at the start, one per interval, one at the stop; a
        // thousand changes or more in one interval may take a pass each.
        let bound = elapsed.as_millis() / every.as_millis() + 2 + n as u128 / 1000;
        assert!(
            u128::from(index.commits()) <= bound,
            "{} commits of {n} publications in {elapsed:?}",
            index.commits()
        );
        db.close().await;
        Ok(())
    }
}
