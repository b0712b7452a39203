//! Interpretations released after their policy document where a lag is
//! allowed (RULES §1): which are due when, and the judgement of each
//! release, made and reported once.

use chrono::NaiveDate;
use gongkai_kernel::ApiError;
use gongkai_kernel::auth::{Claims, Role};
use gongkai_kernel::calendar::Dated;
use gongkai_kernel::db::now_ms;

use super::{Publishing, require_role};
use crate::domain::workflow::State;
use crate::events;
use crate::store::{self, HistoryRow, Judgement, PolicyAhead};

/// Policy documents read per round.
const PAGE: i64 = 500;

/// A policy document whose interpretation is still to be released.
#[derive(Debug, Clone, PartialEq)]
pub struct InterpretationDue {
    pub policy: PolicyAhead,
    pub due: Dated<NaiveDate>,
    /// Working days past the due date as of the day asked about.
    pub days_late: u32,
    pub late_reported: bool,
}

impl Publishing {
    /// The last day an interpretation may be released when its policy
    /// document was published on `published`.
    fn interpretation_due_on(&self, published: NaiveDate) -> Dated<NaiveDate> {
        self.calendar
            .add_working_days(published, self.cfg.interpretation_lag_days)
    }

    /// Judges every interpretation released after its policy document, or
    /// overdue on `today`, that was not judged yet: on time or late, kept
    /// with a history entry on the policy document, and, when late,
    /// `document.interpretation_late`. A due date resting on a year
    /// without calendar data is left until the year's file is there (RULES
    /// §6). Returns how many were found late.
    pub async fn judge_interpretations(&self, today: NaiveDate) -> Result<usize, ApiError> {
        let lag = self.cfg.interpretation_lag_days;
        let mut after = String::new();
        let mut late = 0;
        loop {
            let page = {
                let mut conn = self.db.read().acquire().await?;
                store::unjudged_page(&mut conn, self.unit.as_str(), &after, PAGE).await?
            };
            let Some(last) = page.last() else { break };
            after = last.policy_id.clone();
            let full = page.len() as i64 == PAGE;
            for p in page {
                let due = self.interpretation_due_on(p.policy_published);
                if due.provisional {
                    continue;
                }
                let due = due.value;
                let (is_late, to) = match p.interpretation_released {
                    Some(released) => (released > due, released),
                    None if today > due => (true, today),
                    None => continue,
                };
                let days_late = self.calendar.working_days_between(due, to).value;
                let at = now_ms();
                let mut tx = self.db.begin().await?;
                let fresh = store::record_judgement(
                    &mut tx,
                    &Judgement {
                        policy_id: &p.policy_id,
                        interpretation_id: &p.interpretation_id,
                        due_on: due,
                        released_on: p.interpretation_released,
                        late: is_late,
                        at,
                    },
                )
                .await?;
                if !fresh {
                    tx.rollback().await?;
                    continue;
                }
                let comment = match (p.interpretation_released, is_late) {
                    (Some(r), false) => format!("interpretation released {r}, due {due}"),
                    (Some(r), true) => format!(
                        "interpretation released {r}, due {due}: {days_late} working day(s) late"
                    ),
                    (None, _) => format!(
                        "interpretation not released by {due}: {days_late} working day(s) late on {today}"
                    ),
                };
                let published = State::Published.as_str();
                store::add_history(
                    &mut tx,
                    &p.policy_id,
                    &HistoryRow {
                        action: if is_late {
                            "interpretation_late"
                        } else {
                            "interpretation_on_time"
                        }
                        .into(),
                        actor: "calendar".into(),
                        from_state: published.into(),
                        to_state: published.into(),
                        comment,
                        at,
                    },
                )
                .await?;
                if is_late {
                    events::interpretation_late(&mut tx, &self.unit, &p, due, lag, days_late)
                        .await?;
                    late += 1;
                }
                tx.commit().await?;
            }
            if !full {
                break;
            }
        }
        if late > 0 {
            self.relay.notify();
        }
        Ok(late)
    }

    /// The unit's published policy documents whose interpretation is not
    /// released yet, earliest due first, at most `limit` (0: 100, at most
    /// 1000), as of `today`.
    pub async fn interpretations_due(
        &self,
        claims: &Claims,
        limit: u32,
        today: NaiveDate,
    ) -> Result<Vec<InterpretationDue>, ApiError> {
        self.acting(claims)?;
        require_role(
            claims,
            &[Role::Editor, Role::Reviewer, Role::Admin],
            "list interpretations due",
        )?;
        let limit = match limit {
            0 => 100,
            l => l.min(1000),
        } as usize;
        let mut conn = self.db.read().acquire().await?;
        let mut after = String::new();
        let mut due = Vec::new();
        loop {
            let page = store::outstanding_page(&mut conn, self.unit.as_str(), &after, PAGE).await?;
            let Some(last) = page.last() else { break };
            after = last.policy_id.clone();
            let full = page.len() as i64 == PAGE;
            for policy in page {
                let on = self.interpretation_due_on(policy.policy_published);
                let days_late = self.calendar.working_days_between(on.value, today).value;
                let late_reported = policy.outcome.as_deref() == Some("late");
                due.push(InterpretationDue {
                    policy,
                    due: on,
                    days_late,
                    late_reported,
                });
            }
            if !full {
                break;
            }
        }
        due.sort_by(|a, b| {
            (a.due.value, &a.policy.policy_id).cmp(&(b.due.value, &b.policy.policy_id))
        });
        due.truncate(limit);
        Ok(due)
    }
}
