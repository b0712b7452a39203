//! The group-commit writer: publications arriving together are read in
//! one statement and written in one transaction, so many callers share a
//! commit; the counters' next values are remembered so that a group is
//! written in one go expecting them.

use std::collections::HashMap;
use std::sync::Arc;

use chrono::{Datelike as _, NaiveDate};
use gongkai_kernel::ApiError;
use sqlx::Any;
use sqlx::pool::PoolConnection;

use super::{Prepared, Publishing};
use crate::store::{self, CounterKey, DocRow};

/// A checked publication waiting for the group-commit writer.
pub struct PublishJob {
    /// The document, then the interpretation released with it, if any.
    /// Empty when the writer is to read the document itself (`read`).
    targets: Vec<DocRow>,
    /// `(document id, caller's unit)`: the writer reads the document with
    /// the rest of its group and publishes it if nothing stands in the way;
    /// otherwise it answers `Ok(None)` and the caller takes the long way,
    /// where whatever stands in the way gets its own answer.
    read: Option<(String, String)>,
    day: NaiveDate,
    actor: String,
    /// The caller's span: events written for the job carry its trace.
    span: tracing::Span,
    /// `Ok(None)`: a target changed since it was read; read again.
    reply: tokio::sync::oneshot::Sender<Result<Option<DocRow>, ApiError>>,
}

/// Publications taken into one transaction at most.
const GROUP_MAX: usize = 64;

/// A number per index-number counter (the first or the next to take).
type Numbers = HashMap<CounterKey, i64>;

/// The counters' next values as the group writer last left them. In the
/// common case only the writer advances them, so it can write a group
/// expecting these values instead of first taking them under lock; when
/// another path has taken one meanwhile, that write finds out and changes
/// nothing, and the writer takes them the slow way and learns them anew.
#[derive(Debug, Default)]
struct SeqCache {
    search: Option<i64>,
    index: Numbers,
}

impl SeqCache {
    /// The first values for a group needing `wants`, if all are known.
    fn expect(&self, wants: &[CounterKey]) -> Option<(Numbers, i64)> {
        let search = self.search?;
        let mut firsts = HashMap::new();
        for w in wants {
            firsts.insert(w.clone(), *self.index.get(w)?);
        }
        Some((firsts, search))
    }

    /// What a group taking `wants` and `searches` from these first values
    /// finds and leaves.
    fn advance(
        wants: &[CounterKey],
        index_first: &Numbers,
        search_first: i64,
        searches: i64,
    ) -> store::SeqAdvance {
        let mut index: Vec<(CounterKey, i64, i64)> = Vec::new();
        for w in wants {
            match index.iter_mut().find(|(k, _, _)| k == w) {
                Some((_, _, left)) => *left += 1,
                None => {
                    let first = index_first.get(w).copied().unwrap_or_default();
                    index.push((w.clone(), first, first + 1));
                }
            }
        }
        store::SeqAdvance {
            search: (search_first, search_first + searches),
            index,
        }
    }

    fn store(&mut self, a: &store::SeqAdvance) {
        self.search = Some(a.search.1);
        for (k, _, left) in &a.index {
            self.index.insert(k.clone(), *left);
        }
    }

    fn clear(&mut self) {
        self.search = None;
        self.index.clear();
    }
}

impl Publishing {
    pub(super) fn writer_handle(&self) -> Option<tokio::sync::mpsc::Sender<PublishJob>> {
        self.writer
            .read()
            .unwrap_or_else(|p| p.into_inner())
            .clone()
    }

    /// Hands a publication to the group writer and waits for its answer;
    /// `Ok(None)`: read again (a target changed, or the writer left a
    /// document it was to read to the caller).
    pub(super) async fn to_writer(
        &self,
        writer: &tokio::sync::mpsc::Sender<PublishJob>,
        targets: Vec<DocRow>,
        read: Option<(String, String)>,
        day: NaiveDate,
        actor: &str,
    ) -> Result<Option<DocRow>, ApiError> {
        let (reply, answer) = tokio::sync::oneshot::channel();
        let job = PublishJob {
            targets,
            read,
            day,
            actor: actor.to_owned(),
            span: tracing::Span::current(),
            reply,
        };
        writer
            .send(job)
            .await
            .map_err(|_| ApiError::Unavailable("the service is shutting down".into()))?;
        answer
            .await
            .map_err(|_| ApiError::Unavailable("the service is shutting down".into()))?
    }

    /// Reads the documents of the jobs that asked for it, all in one
    /// statement, and keeps those jobs whose document can be published as
    /// it stands (owned by the caller's unit, approved, 主动公开, not before
    /// its date formed, not in a policy column, nothing found by the privacy
    /// scan). The others are answered `Ok(None)` at once: their callers take
    /// the long way, which gives each its proper answer.
    async fn read_targets(&self, jobs: Vec<PublishJob>) -> Vec<PublishJob> {
        let ids: Vec<&str> = jobs
            .iter()
            .filter_map(|j| j.read.as_ref().map(|(id, _)| id.as_str()))
            .collect();
        if ids.is_empty() {
            return jobs;
        }
        let read = match self.db.read().acquire().await {
            Ok(mut conn) => store::get_documents(&mut conn, self.db.backend(), &ids).await,
            Err(e) => Err(e),
        };
        let mut found: HashMap<String, DocRow> = match read {
            Ok(docs) => docs.into_iter().map(|d| (d.id.clone(), d)).collect(),
            Err(e) => {
                tracing::debug!(error = %e, "reading a group's documents failed");
                HashMap::new()
            }
        };
        let mut kept = Vec::with_capacity(jobs.len());
        for mut job in jobs {
            let Some((id, unit)) = job.read.take() else {
                kept.push(job);
                continue;
            };
            match found.remove(&id) {
                Some(doc) if self.publishable_as_read(&doc, &unit, job.day) => {
                    job.targets = vec![doc];
                    kept.push(job);
                }
                _ => {
                    let _ = job.reply.send(Ok(None));
                }
            }
        }
        kept
    }

    /// Whether `doc`, as read (or kept), can be published by `unit` on `day`
    /// without anything the long way would have to read or say.
    pub(super) fn publishable_as_read(&self, doc: &DocRow, unit: &str, day: NaiveDate) -> bool {
        doc.unit == unit
            && Self::check_publishable(doc, day).is_ok()
            && self.column(&doc.fields.column).is_ok_and(|c| !c.policy)
            // A linked interpretation waits for its policy document, which
            // only the long way reads.
            && doc.interprets.is_none()
            && self.scan_personal(&doc.fields).is_empty()
    }

    /// Several publications (or one) written together: one commit for all
    /// of them. With the counters' next values known from the last group,
    /// the group is written in one go expecting them (one statement on
    /// PostgreSQL); otherwise, or when they were not as expected (another
    /// path took a sequence meanwhile), the counters are taken under lock
    /// first. Any refusal or conflict undoes the whole group, and its jobs
    /// are then run one by one so that each gets its own answer.
    async fn publish_group(
        &self,
        jobs: &[PublishJob],
        seqs: &mut SeqCache,
        held: &mut Option<PoolConnection<Any>>,
    ) -> Result<Vec<DocRow>, ()> {
        // Anything a job would refuse sends the group back to one by one,
        // where that job gets its own answer.
        let mut wants: Vec<CounterKey> = Vec::new();
        for job in jobs {
            for d in &job.targets {
                Self::check_publishable(d, job.day).map_err(|_| ())?;
                if d.index_no.is_none() {
                    wants.push((d.unit.clone(), job.day.year(), self.index_scope(d)));
                }
            }
        }
        let searches = jobs.iter().map(|j| j.targets.len()).sum::<usize>() as i64;

        if let Some((index_first, search_first)) = seqs.expect(&wants) {
            let (docs, prepared) = self
                .prepare_group(jobs, index_first.clone(), search_first)
                .ok_or(())?;
            let changes = Self::group_changes(jobs, &docs, &prepared);
            let advance = SeqCache::advance(&wants, &index_first, search_first, searches);
            match store::write_changes_expecting(&self.db, held, &changes, &advance).await {
                Ok(true) => {
                    seqs.store(&advance);
                    return Ok(first_of_each(docs));
                }
                Ok(false) => {}
                Err(e) => tracing::debug!(error = %e, "group write with expected counters failed"),
            }
            seqs.clear();
        }

        let Ok(mut tx) = self.db.begin().await else {
            return Err(());
        };
        // Every sequence the group needs, taken in one statement.
        let Ok((index_first, search_first)) =
            store::take_seq_ranges(&mut tx, self.db.backend(), &wants, searches).await
        else {
            let _ = tx.rollback().await;
            return Err(());
        };
        let Some((docs, prepared)) = self.prepare_group(jobs, index_first.clone(), search_first)
        else {
            let _ = tx.rollback().await;
            return Err(());
        };
        let changes = Self::group_changes(jobs, &docs, &prepared);
        match store::write_changes(&mut tx, self.db.backend(), &changes).await {
            Ok(true) => {}
            _ => {
                let _ = tx.rollback().await;
                return Err(());
            }
        }
        drop(changes);
        tx.commit().await.map_err(|_| ())?;
        seqs.store(&SeqCache::advance(
            &wants,
            &index_first,
            search_first,
            searches,
        ));
        Ok(first_of_each(docs))
    }

    /// The group's documents as published, numbered from `index_first`
    /// (first number per counter) and `search_first`; `None` if a counter
    /// the group needs is missing.
    fn prepare_group(
        &self,
        jobs: &[PublishJob],
        mut index_next: Numbers,
        mut search_next: i64,
    ) -> Option<(Vec<Vec<DocRow>>, Vec<Prepared>)> {
        let mut docs: Vec<Vec<DocRow>> = Vec::with_capacity(jobs.len());
        let mut prepared = Vec::new();
        for job in jobs {
            // Events carry the trace of the call that asked for them.
            let _enter = job.span.enter();
            let mut targets = job.targets.clone();
            for d in &mut targets {
                let seq = if d.index_no.is_none() {
                    let key = (d.unit.clone(), job.day.year(), self.index_scope(d));
                    let next = index_next.get_mut(&key)?;
                    *next += 1;
                    Some(*next - 1)
                } else {
                    None
                };
                prepared.push(self.prepare_publication(d, job.day, &job.actor, seq, search_next));
                search_next += 1;
            }
            docs.push(targets);
        }
        Some((docs, prepared))
    }

    fn group_changes<'a>(
        jobs: &'a [PublishJob],
        docs: &'a [Vec<DocRow>],
        prepared: &'a [Prepared],
    ) -> Vec<store::Change<'a>> {
        jobs.iter()
            .zip(docs)
            .flat_map(|(job, targets)| targets.iter().map(move |d| (job, d)))
            .zip(prepared)
            .map(|((job, d), p)| store::Change {
                doc: d,
                expect_state: p.from,
                expect_updated_at: p.expect_at,
                fields_changed: false,
                version: Some(("published", job.actor.as_str())),
                history: &p.history,
                events: &p.events,
            })
            .collect()
    }

    /// Starts the group-commit writer: publications arriving together share
    /// one transaction, so many callers pay for one commit. It runs until
    /// `stop_writer`, answering everything sent before.
    pub fn start_writer(self: &Arc<Self>) -> tokio::task::JoinHandle<()> {
        use tracing::Instrument as _;
        let (tx, mut rx) = tokio::sync::mpsc::channel::<PublishJob>(GROUP_MAX * 4);
        *self.writer.write().unwrap_or_else(|p| p.into_inner()) = Some(tx);
        // The task holds the service only weakly: it ends when the last
        // sender is gone, not when the service is dropped.
        let svc = Arc::downgrade(self);
        tokio::spawn(async move {
            let mut seqs = SeqCache::default();
            let mut held = None;
            while let Some(first) = rx.recv().await {
                let Some(svc) = svc.upgrade() else { return };
                let mut jobs = vec![first];
                while jobs.len() < GROUP_MAX {
                    match rx.try_recv() {
                        Ok(j) => jobs.push(j),
                        Err(_) => break,
                    }
                }
                let jobs = svc.read_targets(jobs).await;
                if jobs.is_empty() {
                    continue;
                }
                if let Ok(docs) = svc.publish_group(&jobs, &mut seqs, &mut held).await {
                    for (job, doc) in jobs.into_iter().zip(docs) {
                        let _ = job.reply.send(Ok(Some(doc)));
                    }
                    continue;
                }
                // One by one, each taking its counters under lock.
                seqs.clear();
                for job in jobs {
                    let span = job.span.clone();
                    let r = svc
                        .publish_alone(job.targets, job.day, &job.actor)
                        .instrument(span)
                        .await;
                    let _ = job.reply.send(r);
                }
            }
        })
    }

    /// Lets the writer finish what it was sent and stop; publications after
    /// this run in their own transactions.
    pub fn stop_writer(&self) {
        self.writer
            .write()
            .unwrap_or_else(|p| p.into_inner())
            .take();
    }
}

/// Each job's own document (the first of its targets), in the jobs' order.
fn first_of_each(docs: Vec<Vec<DocRow>>) -> Vec<DocRow> {
    docs.into_iter().map(|mut t| t.swap_remove(0)).collect()
}
