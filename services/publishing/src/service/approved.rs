//! Approved documents kept in memory from their approval to their
//! publication, so that publishing one need not read it back first.
//!
//! A copy here is only ever a guess: the publication's write names the state
//! and change stamp of the copy it was made from, and writes nothing when
//! the row is no longer so (the call then reads the row and starts again).
//! A stale copy costs a retry, never a wrong publication.

use std::collections::{HashMap, VecDeque};
use std::sync::Mutex;

use crate::domain::workflow::State;
use crate::store::DocRow;

/// Approved documents by id, up to a budget of bytes; the oldest approval
/// goes first when the budget is exceeded.
#[derive(Debug)]
pub struct ApprovedDocs {
    budget: usize,
    inner: Mutex<Inner>,
}

#[derive(Debug, Default)]
struct Inner {
    /// Each copy with the number of the `keep` that made it.
    docs: HashMap<String, (u64, DocRow)>,
    /// `(id, keep number)` in the order kept; an entry whose document has
    /// left, or was kept again later, is skipped when its turn comes.
    order: VecDeque<(String, u64)>,
    kept: u64,
    bytes: usize,
}

impl Inner {
    /// Whether `(id, n)` is the entry of the copy now kept for `id`.
    fn current(&self, id: &str, n: u64) -> bool {
        self.docs.get(id).is_some_and(|(k, _)| *k == n)
    }
}

/// Roughly what a copy costs in memory: its texts and a fixed overhead.
fn weight(d: &DocRow) -> usize {
    let f = &d.fields;
    f.title.len()
        + f.body.len()
        + f.summary.len()
        + f.subject.len()
        + f.publisher.len()
        + d.confidential_findings.len()
        + 512
}

impl ApprovedDocs {
    /// Keeps at most `budget` bytes of documents; 0 keeps none.
    pub fn new(budget: usize) -> ApprovedDocs {
        ApprovedDocs {
            budget,
            inner: Mutex::new(Inner::default()),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, Inner> {
        self.inner.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Keeps a copy of `doc` if it is approved and fits the budget.
    pub fn keep(&self, doc: &DocRow) {
        let w = weight(doc);
        if doc.state != State::Approved || w > self.budget {
            return;
        }
        // Copied before the lock: a body may be megabytes.
        let copy = doc.clone();
        let mut inner = self.lock();
        inner.kept += 1;
        let n = inner.kept;
        if let Some((_, old)) = inner.docs.insert(doc.id.clone(), (n, copy)) {
            inner.bytes -= weight(&old);
        }
        inner.bytes += w;
        inner.order.push_back((doc.id.clone(), n));
        while inner.bytes > self.budget {
            let Some((id, n)) = inner.order.pop_front() else {
                break;
            };
            if inner.current(&id, n)
                && let Some((_, gone)) = inner.docs.remove(&id)
            {
                inner.bytes -= weight(&gone);
            }
        }
        // Entries of documents taken since pile up in `order` when nothing
        // is evicted; drop them once they outnumber the documents kept.
        if inner.order.len() > 2 * inner.docs.len() + 64 {
            let order = std::mem::take(&mut inner.order);
            inner.order = order
                .into_iter()
                .filter(|(id, n)| inner.current(id, *n))
                .collect();
        }
    }

    /// Takes the copy of document `id`, if one is kept.
    pub fn take(&self, id: &str) -> Option<DocRow> {
        let mut inner = self.lock();
        let (_, doc) = inner.docs.remove(id)?;
        inner.bytes -= weight(&doc);
        Some(doc)
    }

    /// Forgets document `id`: it changed, and a copy would only cost a retry.
    pub fn forget(&self, id: &str) {
        drop(self.take(id));
    }

    /// How many documents and bytes are kept.
    #[cfg(test)]
    fn size(&self) -> (usize, usize) {
        let inner = self.lock();
        (inner.docs.len(), inner.bytes)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::document::{Attribute, Fields};
    use chrono::NaiveDate;

    fn approved(id: &str, body_len: usize, stamp: i64) -> DocRow {
        let fields = Fields {
            title: "标题".into(),
            doc_number: None,
            subject: "教育".into(),
            publisher: "南陵县教育局".into(),
            date_formed: NaiveDate::from_ymd_opt(2026, 11, 2).unwrap(),
            attribute: Attribute::Proactive,
            withheld_reason: None,
            column: "gzzj".into(),
            body: "x".repeat(body_len),
            summary: String::new(),
            valid_until: None,
        };
        let mut d = DocRow::draft(
            id.into(),
            "340823.edu".into(),
            fields,
            "zhang".into(),
            stamp,
        );
        d.state = State::Approved;
        d
    }

    #[test]
    fn keeps_approved_documents_until_taken() {
        let cache = ApprovedDocs::new(1 << 20);
        let d = approved("a", 100, 5);
        cache.keep(&d);
        assert_eq!(cache.size(), (1, weight(&d)));
        assert_eq!(cache.take("a"), Some(d));
        assert_eq!(cache.take("a"), None);
        assert_eq!(cache.size(), (0, 0));
    }

    #[test]
    fn keeps_only_approved_documents() {
        let cache = ApprovedDocs::new(1 << 20);
        for state in [State::Draft, State::Submitted, State::Published] {
            let mut d = approved("a", 10, 1);
            d.state = state;
            cache.keep(&d);
        }
        assert_eq!(cache.size(), (0, 0));
    }

    #[test]
    fn a_later_copy_replaces_the_earlier() {
        let cache = ApprovedDocs::new(1 << 20);
        cache.keep(&approved("a", 10, 1));
        let later = approved("a", 300, 2);
        cache.keep(&later);
        assert_eq!(cache.size(), (1, weight(&later)));
        assert_eq!(cache.take("a"), Some(later));
    }

    #[test]
    fn the_oldest_goes_when_the_budget_is_exceeded() {
        let one = weight(&approved("a", 1000, 1));
        let cache = ApprovedDocs::new(3 * one);
        for (n, id) in ["a", "b", "c", "d"].into_iter().enumerate() {
            cache.keep(&approved(id, 1000, n as i64));
        }
        assert_eq!(cache.size(), (3, 3 * one));
        assert_eq!(cache.take("a"), None, "the oldest went");
        for id in ["b", "c", "d"] {
            assert!(cache.take(id).is_some(), "{id}");
        }
        // Kept again later, a document is not evicted by its earlier turn.
        cache.keep(&approved("e", 1000, 1));
        cache.keep(&approved("f", 1000, 1));
        cache.keep(&approved("e", 1000, 2));
        cache.keep(&approved("g", 1000, 1));
        cache.keep(&approved("h", 1000, 1));
        assert!(cache.take("f").is_none(), "f was the oldest kept");
        assert!(cache.take("e").is_some(), "e was kept again after f");
    }

    #[test]
    fn a_document_over_the_budget_is_not_kept() {
        let cache = ApprovedDocs::new(1000);
        cache.keep(&approved("big", 2000, 1));
        assert_eq!(cache.size(), (0, 0));
        let none = ApprovedDocs::new(0);
        none.keep(&approved("a", 1, 1));
        assert_eq!(none.size(), (0, 0));
    }

    #[test]
    fn taken_documents_do_not_pile_up_in_the_order() {
        let cache = ApprovedDocs::new(1 << 30);
        for n in 0..10_000 {
            let id = format!("d{n}");
            cache.keep(&approved(&id, 10, 1));
            cache.forget(&id);
        }
        assert!(cache.lock().order.len() <= 64 + 1);
        assert_eq!(cache.size(), (0, 0));
    }
}
