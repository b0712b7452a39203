//! Documents past their last day in force (有效期): marked expired the day
//! after, so that the catalogue, search and the annual report's table 二
//! no longer count them as in force (RULES §1: valid / abolished /
//! expired).

use chrono::NaiveDate;
use gongkai_kernel::ApiError;

use super::{Publishing, commit_calendar_change, next_stamp};
use crate::domain::workflow::State;
use crate::events;
use crate::store::{self, HistoryRow};

/// Documents read per round.
const PAGE: i64 = 500;

impl Publishing {
    /// Marks the unit's published documents whose last day in force is
    /// before `today` expired, each in its own transaction with a history
    /// entry, a new search position (the index shows the change) and
    /// `document.expired`. A document changed meanwhile is left to the next
    /// pass. Returns how many expired.
    pub async fn expire_documents(&self, today: NaiveDate) -> Result<usize, ApiError> {
        let mut after = String::new();
        let mut expired = 0;
        loop {
            let page = {
                let mut conn = self.db.read().acquire().await?;
                store::expiring_page(&mut conn, self.unit.as_str(), today, &after, PAGE).await?
            };
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            let full = page.len() as i64 == PAGE;
            for mut doc in page {
                let until = doc.fields.valid_until.unwrap_or(today);
                let read = (doc.state, doc.updated_at);
                doc.validity = "expired".into();
                doc.updated_at = next_stamp(read.1);
                let mut tx = self.db.begin().await?;
                doc.search_seq = store::take_seqs(&mut tx, self.db.backend(), None).await?.1;
                let out = [events::document_changed(
                    &self.unit,
                    &self.unit_name,
                    &doc,
                    "expired",
                )];
                let history = HistoryRow {
                    action: "expire".into(),
                    actor: "calendar".into(),
                    from_state: State::Published.as_str().into(),
                    to_state: State::Published.as_str().into(),
                    comment: format!("in force until {until}"),
                    at: doc.updated_at,
                };
                if commit_calendar_change(tx, self.db.backend(), &doc, read, &history, &out).await?
                {
                    expired += 1;
                }
            }
            if !full {
                break;
            }
        }
        if expired > 0 {
            self.after_public_change();
        }
        Ok(expired)
    }
}
