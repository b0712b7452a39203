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

/// Applies every change after the index's watermark; returns how many.
pub async fn catch_up(db: &Db, index: &Arc<SearchIndex>) -> anyhow::Result<usize> {
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
        // Tokenizing and committing are CPU and disk work: keep them off the
        // async workers that serve calls.
        let idx = index.clone();
        tokio::task::spawn_blocking(move || -> anyhow::Result<()> {
            for d in &rows {
                match (d.state.is_public(), indexed(d)) {
                    (true, Some(doc)) => idx.upsert(&doc)?,
                    _ => idx.delete(&d.id)?,
                }
            }
            idx.commit(last)?;
            Ok(())
        })
        .await??;
    }
}

/// Runs the indexer until `stop`; commits at most every `every`.
pub fn spawn(
    db: Db,
    index: Arc<SearchIndex>,
    every: Duration,
    mut stop: watch::Receiver<bool>,
) -> (Indexer, JoinHandle<()>) {
    let wake = Arc::new(Notify::new());
    let handle = Indexer { wake: wake.clone() };
    let task = tokio::spawn(async move {
        loop {
            if let Err(e) = catch_up(&db, &index).await {
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
    (handle, task)
}
