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
}

impl IndexThread {
    fn start(index: Arc<SearchIndex>, nice: i32) -> std::io::Result<IndexThread> {
        let (batches, rx) = std::sync::mpsc::channel::<Batch>();
        std::thread::Builder::new()
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
        Ok(IndexThread { batches })
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

/// Applies every change after the index's watermark; returns how many.
async fn catch_up(db: &Db, index: &SearchIndex, thread: &IndexThread) -> anyhow::Result<usize> {
    let mut total = 0;
    loop {
        let from = index.watermark();
        let mut conn = db.read().acquire().await?;
        let rows = store::changed_since(&mut conn, from, 1000).await?;
        drop(conn);
        let Some(last) = rows.last().map(|d| d.search_seq) else {
            return Ok(total);
        };
        total += rows.len();
        thread.apply(rows, last).await?;
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
            if let Err(e) = catch_up(&db, &index, &thread).await {
                tracing::warn!(error = %e, "search indexing failed; will retry");
            }
            if *stop.borrow() {
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
