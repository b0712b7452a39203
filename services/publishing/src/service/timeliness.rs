//! Timeliness that rested on a year without calendar data, settled once the
//! year's file is there (RULES §6).

use gongkai_kernel::ApiError;
use gongkai_kernel::calendar::Dated;
use gongkai_kernel::outbox::OutboxRow;

use super::{Publishing, commit_calendar_change, next_stamp};
use crate::events;
use crate::store::{self, DocRow, HistoryRow};

/// Documents read per round while recomputing.
const PAGE: i64 = 500;

impl Publishing {
    /// Sets `doc`'s timeliness to `days` (formed to published) and returns
    /// the event that follows: `document.late` when late by it,
    /// `document.late_withdrawn` when reported late before and no longer.
    pub(super) fn set_timeliness(&self, doc: &mut DocRow, days: Dated<u32>) -> Vec<OutboxRow> {
        let limit = self.cfg.late_after_working_days;
        let was_late = doc.late;
        doc.timeliness_days = Some(i64::from(days.value));
        doc.timeliness_provisional = days.provisional;
        doc.late = days.value > limit;
        if doc.late {
            vec![events::late(&self.unit, doc, i64::from(limit))]
        } else if was_late {
            vec![events::late_withdrawn(&self.unit, doc, i64::from(limit))]
        } else {
            Vec::new()
        }
    }

    /// Recomputes the working days of documents whose count touched a year
    /// the calendar lacked, now that it may have it; returns how many
    /// changed. A document late by the new count gets `document.late` (now
    /// final, or still provisional if another year is missing); one reported
    /// late before and within the limit now gets `document.late_withdrawn`.
    /// Run at start, before calls are taken; a document changed meanwhile
    /// is left as that change wrote it.
    pub async fn recompute_provisional(&self) -> Result<usize, ApiError> {
        let mut after = String::new();
        let mut changed = 0;
        loop {
            let page = {
                let mut conn = self.db.read().acquire().await?;
                store::provisional_timeliness_page(&mut conn, self.unit.as_str(), &after, PAGE)
                    .await?
            };
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            let full = page.len() as i64 == PAGE;
            for mut doc in page {
                let Some(published) = doc.date_published else {
                    continue;
                };
                let days = self
                    .calendar
                    .working_days_between(doc.fields.date_formed, published);
                let before = doc.timeliness_days;
                // The same count, still provisional: the year is still missing.
                if before == Some(i64::from(days.value)) && days.provisional {
                    continue;
                }
                let read = (doc.state, doc.updated_at);
                doc.updated_at = next_stamp(read.1);
                let out = self.set_timeliness(&mut doc, days);
                let history = HistoryRow {
                    action: "timeliness".into(),
                    actor: "calendar".into(),
                    from_state: doc.state.as_str().into(),
                    to_state: doc.state.as_str().into(),
                    comment: format!(
                        "working days {} → {}{}",
                        before.map_or("-".into(), |d| d.to_string()),
                        days.value,
                        if days.provisional {
                            " (still provisional)"
                        } else {
                            ""
                        }
                    ),
                    at: doc.updated_at,
                };
                let tx = self.db.begin().await?;
                if commit_calendar_change(tx, self.db.backend(), &doc, read, &history, &out).await?
                {
                    changed += 1;
                }
            }
            if !full {
                break;
            }
        }
        if changed > 0 {
            self.relay.notify();
        }
        Ok(changed)
    }
}
