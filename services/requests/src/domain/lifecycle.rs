//! The life of one disclosure request (RULES §2, Art. 29–45) as a pure state
//! machine: `apply` takes a state and an action and returns the next state or
//! the rule the action breaks. Storage, transport and notifications are the
//! callers' business.
//!
//! ```text
//!              RequestCorrection            Correct
//!   Received ─────────────────▶ CorrectionRequested ─────▶ Received
//!      │  StartConsultation ▶ Consulting ── EndConsultation ▶ Received
//!      │  NoticeFee ▶ FeeNotified ── Pay ▶ Received
//!      │  Extend (stays Received)
//!      └─ Reply ▶ Replied ── Close ▶ Closed
//!   AbandonCorrection / AbandonFee ▶ Abandoned (after the applicant's due date)
//!   Withdraw (before the reply) ▶ Withdrawn
//! ```
//!
//! A reply is given only from `Received`, i.e. with the clock running: a
//! consultation is ended first (its outcome, or the statutory effect of
//! silence, is what the reply rests on, Art. 32, 34), and a noticed fee is
//! paid first (the fee is the condition of providing the information).

use chrono::NaiveDate;
use gongkai_kernel::calendar::{Calendar, Dated};
use serde::{Deserialize, Serialize};

use super::categories::{FieldError, Reply, ReplyCategory, validate_reply, vocabulary};
use super::clock::{
    ClockConfig, ClockEvent, PauseKind, ReplyClock, consultation_due, correction_due,
    correction_window_end, payment_due, reply_due,
};
use super::fees::{FeeBasis, FeeSchedule};

vocabulary! {
    /// Where a request stands.
    pub enum Status("request status") {
        Received = "received", "办理中";
        CorrectionRequested = "correction_requested", "待补正";
        Consulting = "consulting", "征求意见中";
        FeeNotified = "fee_notified", "待缴费";
        Replied = "replied", "已答复";
        Closed = "closed", "已办结";
        Withdrawn = "withdrawn", "已撤回";
        Abandoned = "abandoned", "视为放弃";
    }
}

impl Status {
    /// English phrase for "a request that is …" in error messages.
    pub fn describe(self) -> &'static str {
        match self {
            Status::Received => "being handled",
            Status::CorrectionRequested => "awaiting correction",
            Status::Consulting => "in consultation",
            Status::FeeNotified => "awaiting fee payment",
            Status::Replied => "replied",
            Status::Closed => "closed",
            Status::Withdrawn => "withdrawn",
            Status::Abandoned => "abandoned",
        }
    }

    /// No action applies any more.
    pub fn is_final(self) -> bool {
        matches!(self, Status::Closed | Status::Withdrawn | Status::Abandoned)
    }
}

vocabulary! {
    /// Whom the office consults.
    pub enum ConsultKind("consultation kind") {
        /// Art. 32: a third party whose rights disclosure may harm.
        ThirdParty = "third_party", "第三方";
        /// Art. 34: another body that made the information jointly.
        CoMaker = "co_maker", "共同制作机关";
    }
}

impl ConsultKind {
    pub fn pause_kind(self) -> PauseKind {
        match self {
            ConsultKind::ThirdParty => PauseKind::ThirdParty,
            ConsultKind::CoMaker => PauseKind::CoMaker,
        }
    }

    /// What the statute makes of no answer within the period: a co-maker's
    /// silence is consent (Art. 34); for a third party the office decides
    /// itself (Art. 32).
    pub fn silence_outcome(self) -> &'static str {
        match self {
            ConsultKind::ThirdParty => "第三方逾期未提出意见，由行政机关依照条例规定决定是否公开",
            ConsultKind::CoMaker => "共同制作机关逾期未答复，视为同意公开",
        }
    }
}

/// One step in a request's life, with the day it happens.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Ask the applicant, once and within the window, to supplement the
    /// request; `due` is the time given, `None` for the configured default.
    RequestCorrection {
        day: NaiveDate,
        what: String,
        due: Option<NaiveDate>,
    },
    /// The corrected request arrived: the term restarts from `day`.
    Correct {
        day: NaiveDate,
    },
    /// The correction is overdue: the request is treated as abandoned.
    AbandonCorrection {
        day: NaiveDate,
    },
    StartConsultation {
        day: NaiveDate,
        kind: ConsultKind,
        party: String,
    },
    /// `outcome` may be left blank once the answer period has passed; the
    /// statutory effect of silence is recorded instead.
    EndConsultation {
        day: NaiveDate,
        outcome: String,
    },
    Extend {
        day: NaiveDate,
        approver: String,
        reason: String,
        days: u32,
    },
    NoticeFee {
        day: NaiveDate,
        basis: FeeBasis,
        amount_yuan: i64,
    },
    Pay {
        day: NaiveDate,
    },
    /// The fee is overdue: the request is treated as abandoned.
    AbandonFee {
        day: NaiveDate,
    },
    Reply {
        day: NaiveDate,
        reply: Reply,
    },
    Close {
        day: NaiveDate,
    },
    Withdraw {
        day: NaiveDate,
    },
}

impl Action {
    pub fn day(&self) -> NaiveDate {
        match self {
            Action::RequestCorrection { day, .. }
            | Action::Correct { day }
            | Action::AbandonCorrection { day }
            | Action::StartConsultation { day, .. }
            | Action::EndConsultation { day, .. }
            | Action::Extend { day, .. }
            | Action::NoticeFee { day, .. }
            | Action::Pay { day }
            | Action::AbandonFee { day }
            | Action::Reply { day, .. }
            | Action::Close { day }
            | Action::Withdraw { day } => *day,
        }
    }

    /// Phrase completing "cannot … a request", for error messages.
    pub fn verb(&self) -> &'static str {
        match self {
            Action::RequestCorrection { .. } => "request a correction of",
            Action::Correct { .. } => "record the correction of",
            Action::AbandonCorrection { .. } => "close for want of correction",
            Action::StartConsultation { .. } => "start a consultation on",
            Action::EndConsultation { .. } => "end a consultation on",
            Action::Extend { .. } => "extend",
            Action::NoticeFee { .. } => "send a fee notice for",
            Action::Pay { .. } => "record payment for",
            Action::AbandonFee { .. } => "close for want of payment",
            Action::Reply { .. } => "reply to",
            Action::Close { .. } => "close",
            Action::Withdraw { .. } => "withdraw",
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum LifecycleError {
    /// The action does not apply in the current state.
    #[error("cannot {action} a request that is {}", status.describe())]
    Illegal {
        action: &'static str,
        status: Status,
    },
    /// The action applies but its data breaks a rule.
    #[error("{field}: {rule}")]
    Invalid { field: &'static str, rule: String },
}

impl LifecycleError {
    fn invalid(field: &'static str, rule: impl Into<String>) -> Self {
        LifecycleError::Invalid {
            field,
            rule: rule.into(),
        }
    }
}

impl From<FieldError> for LifecycleError {
    fn from(e: FieldError) -> Self {
        LifecycleError::Invalid {
            field: e.field,
            rule: e.rule,
        }
    }
}

/// Bounds on free text, in characters.
pub const MAX_NOTE_CHARS: usize = 2_000;
pub const MAX_NAME_CHARS: usize = 200;

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Correction {
    pub requested: NaiveDate,
    pub what: String,
    /// The time the office gave; `None` means the configured default, which
    /// is recomputed on demand so a late calendar file corrects it.
    pub given_due: Option<NaiveDate>,
    pub corrected: Option<NaiveDate>,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Extension {
    pub day: NaiveDate,
    pub approver: String,
    pub reason: String,
    pub days: u32,
}

#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Consultation {
    pub kind: ConsultKind,
    pub party: String,
    pub started: NaiveDate,
    pub ended: Option<NaiveDate>,
    pub outcome: Option<String>,
}

/// What the office (or applicant) must do next, and by when.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DueKind {
    /// The office replies.
    Reply,
    /// The applicant sends the correction.
    Correction,
    /// The consulted party answers.
    Consultation,
    /// The applicant pays the fee.
    Payment,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Due {
    pub kind: DueKind,
    pub date: Dated<NaiveDate>,
}

/// One request's state. Plain data so it can be stored as is; only
/// [`Request::apply`] should produce new states.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Request {
    pub status: Status,
    /// Day of receipt under Art. 31 (see `Channel`).
    pub received: NaiveDate,
    /// Day of the latest transition: no action may be dated before it.
    pub last_day: NaiveDate,
    pub correction_requested: bool,
    pub correction: Option<Correction>,
    pub extended: bool,
    pub extension: Option<Extension>,
    /// Every consultation, the open one (if any) last.
    pub consultations: Vec<Consultation>,
    /// The fee noticed, with its basis; at most one per request.
    pub fee: Option<(FeeBasis, i64)>,
    pub fee_noticed: Option<NaiveDate>,
    pub fee_paid: Option<NaiveDate>,
    /// The clock's input, replayed by [`reply_due`].
    pub clock: Vec<ClockEvent>,
    /// How and when the request was concluded by a reply or as abandoned.
    pub reply: Option<(NaiveDate, ReplyCategory)>,
    pub reply_detail: Option<Reply>,
    /// Day the request was closed, withdrawn or abandoned.
    pub ended: Option<NaiveDate>,
}

fn required(field: &'static str, value: &str, max: usize) -> Result<String, LifecycleError> {
    let trimmed = value.trim();
    if trimmed.is_empty() {
        return Err(LifecycleError::invalid(field, "must not be empty"));
    }
    let n = trimmed.chars().count();
    if n > max {
        return Err(LifecycleError::invalid(
            field,
            format!("at most {max} characters, got {n}"),
        ));
    }
    Ok(trimmed.to_owned())
}

impl Request {
    pub fn new(received: NaiveDate) -> Self {
        Self {
            status: Status::Received,
            received,
            last_day: received,
            correction_requested: false,
            correction: None,
            extended: false,
            extension: None,
            consultations: Vec::new(),
            fee: None,
            fee_noticed: None,
            fee_paid: None,
            clock: vec![ClockEvent::Received(received)],
            reply: None,
            reply_detail: None,
            ended: None,
        }
    }

    /// Rebuilds a state from its actions; the error carries the index of the
    /// first refused action.
    pub fn replay<'a>(
        received: NaiveDate,
        actions: impl IntoIterator<Item = &'a Action>,
        cal: &Calendar,
        cfg: &ClockConfig,
        fees: &FeeSchedule,
    ) -> Result<Request, (usize, LifecycleError)> {
        let mut request = Request::new(received);
        for (i, action) in actions.into_iter().enumerate() {
            request = request
                .apply(action.clone(), cal, cfg, fees)
                .map_err(|e| (i, e))?;
        }
        Ok(request)
    }

    /// The reply clock as the events stand.
    pub fn reply_clock(&self, cal: &Calendar, cfg: &ClockConfig) -> ReplyClock {
        reply_due(cal, cfg, &self.clock)
    }

    /// The next state after `action`, or why it is refused. `self` is
    /// untouched either way.
    pub fn apply(
        &self,
        action: Action,
        cal: &Calendar,
        cfg: &ClockConfig,
        fees: &FeeSchedule,
    ) -> Result<Request, LifecycleError> {
        let illegal = LifecycleError::Illegal {
            action: action.verb(),
            status: self.status,
        };
        let allowed: &[Status] = match &action {
            Action::RequestCorrection { .. }
            | Action::StartConsultation { .. }
            | Action::Extend { .. }
            | Action::NoticeFee { .. }
            | Action::Reply { .. } => &[Status::Received],
            Action::Correct { .. } | Action::AbandonCorrection { .. } => {
                &[Status::CorrectionRequested]
            }
            Action::EndConsultation { .. } => &[Status::Consulting],
            Action::Pay { .. } | Action::AbandonFee { .. } => &[Status::FeeNotified],
            Action::Close { .. } => &[Status::Replied],
            Action::Withdraw { .. } => &[
                Status::Received,
                Status::CorrectionRequested,
                Status::Consulting,
                Status::FeeNotified,
            ],
        };
        if !allowed.contains(&self.status) {
            return Err(illegal);
        }
        let day = action.day();
        if day < self.last_day {
            return Err(LifecycleError::invalid(
                "day",
                format!("{day} is before the previous step on {}", self.last_day),
            ));
        }

        let mut next = self.clone();
        next.last_day = day;
        match action {
            Action::RequestCorrection { what, due, .. } => {
                if self.correction_requested {
                    return Err(LifecycleError::invalid(
                        "correction",
                        "a correction may be requested only once (Art. 30)",
                    ));
                }
                let window = correction_window_end(cal, cfg, self.received);
                if day > window.value {
                    return Err(LifecycleError::invalid(
                        "day",
                        format!(
                            "a correction must be requested within {} working days of receipt, \
                             i.e. on or before {} (Art. 30)",
                            cfg.correction_window_days, window.value
                        ),
                    ));
                }
                let what = required("what", &what, MAX_NOTE_CHARS)?;
                if let Some(due) = due
                    && due <= day
                {
                    return Err(LifecycleError::invalid(
                        "due",
                        format!("{due} leaves the applicant no time: it must be after {day}"),
                    ));
                }
                next.status = Status::CorrectionRequested;
                next.correction_requested = true;
                next.correction = Some(Correction {
                    requested: day,
                    what,
                    given_due: due,
                    corrected: None,
                });
                next.clock.push(ClockEvent::CorrectionRequested(day));
            }
            // A late correction is still accepted while the office has not
            // closed the request: Art. 30 excuses delay with good reason.
            Action::Correct { .. } => {
                if let Some(correction) = &mut next.correction {
                    correction.corrected = Some(day);
                }
                next.status = Status::Received;
                next.clock.push(ClockEvent::Corrected(day));
            }
            Action::AbandonCorrection { .. } => {
                let due = self.correction_due(cal, cfg);
                if let Some(due) = due
                    && day <= due.value
                {
                    return Err(LifecycleError::invalid(
                        "day",
                        format!(
                            "the correction is due on {}; the request counts as abandoned \
                             only after that day (Art. 30)",
                            due.value
                        ),
                    ));
                }
                next.abandon(day, ReplyCategory::CorrectionOverdue);
            }
            Action::StartConsultation { kind, party, .. } => {
                let party = required("party", &party, MAX_NAME_CHARS)?;
                next.status = Status::Consulting;
                next.consultations.push(Consultation {
                    kind,
                    party,
                    started: day,
                    ended: None,
                    outcome: None,
                });
                next.clock
                    .push(ClockEvent::PauseStart(day, kind.pause_kind()));
            }
            Action::EndConsultation { outcome, .. } => {
                let Some(open) = next.consultations.last_mut() else {
                    return Err(illegal);
                };
                let due = consultation_due(cal, cfg, open.started);
                let outcome = if outcome.trim().is_empty() && day > due.value {
                    open.kind.silence_outcome().to_owned()
                } else {
                    required("outcome", &outcome, MAX_NOTE_CHARS).map_err(|_| {
                        LifecycleError::invalid(
                            "outcome",
                            format!(
                                "record the answer (at most {MAX_NOTE_CHARS} characters); it \
                                 may be left blank only after the answer period ends on {}",
                                due.value
                            ),
                        )
                    })?
                };
                open.ended = Some(day);
                open.outcome = Some(outcome);
                next.status = Status::Received;
                next.clock.push(ClockEvent::PauseEnd(day));
            }
            Action::Extend {
                approver,
                reason,
                days,
                ..
            } => {
                if self.extended {
                    return Err(LifecycleError::invalid(
                        "extension",
                        "a request may be extended only once (Art. 33)",
                    ));
                }
                if cfg.max_extension_days == 0 {
                    return Err(LifecycleError::invalid(
                        "days",
                        "extensions are disabled (max_extension_days = 0)",
                    ));
                }
                if !(1..=cfg.max_extension_days).contains(&days) {
                    return Err(LifecycleError::invalid(
                        "days",
                        format!(
                            "must be 1..={} working days (Art. 33), got {days}",
                            cfg.max_extension_days
                        ),
                    ));
                }
                let approver = required("approver", &approver, MAX_NAME_CHARS)?;
                let reason = required("reason", &reason, MAX_NOTE_CHARS)?;
                self.within_term(day, cal, cfg, "an extension must be decided")?;
                next.extended = true;
                next.extension = Some(Extension {
                    day,
                    approver,
                    reason,
                    days,
                });
                next.clock.push(ClockEvent::Extended { day, days });
            }
            Action::NoticeFee {
                basis, amount_yuan, ..
            } => {
                if self.fee.is_some() {
                    return Err(LifecycleError::invalid(
                        "fee",
                        "a fee notice may be issued only once per request",
                    ));
                }
                let (what, zero) = match basis {
                    FeeBasis::PerRequest { nth_in_month } => (
                        format!("request #{nth_in_month} of the month"),
                        nth_in_month == 0,
                    ),
                    FeeBasis::PerVolume { pages } => (format!("{pages} pages"), pages == 0),
                };
                if zero {
                    return Err(LifecycleError::invalid(
                        "basis",
                        "counts start at 1: a request is at least the first of its month and \
                         at least one page",
                    ));
                }
                let expected = fees.fee(basis);
                if expected == 0 {
                    return Err(LifecycleError::invalid(
                        "basis",
                        format!("{what} is free under the fee schedule: no notice is needed"),
                    ));
                }
                if amount_yuan != expected {
                    return Err(LifecycleError::invalid(
                        "amount_yuan",
                        format!(
                            "the fee schedule gives {expected} yuan for {what}, not {amount_yuan}"
                        ),
                    ));
                }
                self.within_term(day, cal, cfg, "a fee notice must be issued")?;
                next.status = Status::FeeNotified;
                next.fee = Some((basis, amount_yuan));
                next.fee_noticed = Some(day);
                next.clock
                    .push(ClockEvent::PauseStart(day, PauseKind::FeeWait));
            }
            // Late payment is accepted while the request is still open, like
            // a late correction.
            Action::Pay { .. } => {
                next.status = Status::Received;
                next.fee_paid = Some(day);
                next.clock.push(ClockEvent::PauseEnd(day));
            }
            Action::AbandonFee { .. } => {
                if let Some(noticed) = self.fee_noticed {
                    let due = payment_due(cal, cfg, noticed);
                    if day <= due.value {
                        return Err(LifecycleError::invalid(
                            "day",
                            format!(
                                "the fee is due on {}; the request counts as abandoned only \
                                 after that day",
                                due.value
                            ),
                        ));
                    }
                }
                next.abandon(day, ReplyCategory::FeeUnpaid);
            }
            Action::Reply { reply, .. } => {
                validate_reply(&reply)?;
                match reply.category {
                    ReplyCategory::CorrectionOverdue | ReplyCategory::FeeUnpaid => {
                        return Err(LifecycleError::invalid(
                            "reply.category",
                            format!(
                                "{} is recorded by closing the request when the applicant's \
                                 time has run out, not by a reply",
                                reply.category.label()
                            ),
                        ));
                    }
                    ReplyCategory::UnclearAfterCorrection
                        if self
                            .correction
                            .as_ref()
                            .is_none_or(|c| c.corrected.is_none()) =>
                    {
                        return Err(LifecycleError::invalid(
                            "reply.category",
                            format!(
                                "{} applies only after a correction was requested and received",
                                reply.category.label()
                            ),
                        ));
                    }
                    _ => {}
                }
                next.status = Status::Replied;
                next.reply = Some((day, reply.category));
                next.reply_detail = Some(reply);
            }
            Action::Close { .. } => {
                next.status = Status::Closed;
                next.ended = Some(day);
            }
            Action::Withdraw { .. } => {
                next.status = Status::Withdrawn;
                next.ended = Some(day);
            }
        }
        Ok(next)
    }

    fn abandon(&mut self, day: NaiveDate, category: ReplyCategory) {
        self.status = Status::Abandoned;
        self.reply = Some((day, category));
        self.ended = Some(day);
    }

    fn correction_due(&self, cal: &Calendar, cfg: &ClockConfig) -> Option<Dated<NaiveDate>> {
        self.correction
            .as_ref()
            .map(|c| correction_due(cal, cfg, c.requested, c.given_due))
    }

    /// Steps that must happen within the handling period.
    fn within_term(
        &self,
        day: NaiveDate,
        cal: &Calendar,
        cfg: &ClockConfig,
        what: &str,
    ) -> Result<(), LifecycleError> {
        if let Some(due) = self.reply_clock(cal, cfg).due
            && day > due.value
        {
            return Err(LifecycleError::invalid(
                "day",
                format!(
                    "{what} within the reply period, which ended on {}",
                    due.value
                ),
            ));
        }
        Ok(())
    }

    /// The date by which someone must act in the current state; `None` once
    /// replied or final.
    pub fn next_due(&self, cal: &Calendar, cfg: &ClockConfig) -> Option<Due> {
        let (kind, date) = match self.status {
            Status::Received => (DueKind::Reply, self.reply_clock(cal, cfg).due?),
            Status::CorrectionRequested => (DueKind::Correction, self.correction_due(cal, cfg)?),
            Status::Consulting => {
                let open = self.consultations.last()?;
                (
                    DueKind::Consultation,
                    consultation_due(cal, cfg, open.started),
                )
            }
            Status::FeeNotified => (DueKind::Payment, payment_due(cal, cfg, self.fee_noticed?)),
            Status::Replied | Status::Closed | Status::Withdrawn | Status::Abandoned => {
                return None;
            }
        };
        Some(Due { kind, date })
    }

    /// How and when the request was concluded, for the annual report: the
    /// reply, the abandonment, or a withdrawal counted as 其他处理·其他.
    pub fn concluded(&self) -> Option<(NaiveDate, ReplyCategory)> {
        match self.status {
            Status::Replied | Status::Closed | Status::Abandoned => self.reply,
            Status::Withdrawn => self.ended.map(|day| (day, ReplyCategory::Other)),
            Status::Received
            | Status::CorrectionRequested
            | Status::Consulting
            | Status::FeeNotified => None,
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::domain::clock::test_calendar;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    struct Env {
        cal: Calendar,
        cfg: ClockConfig,
        fees: FeeSchedule,
    }

    fn env() -> Env {
        Env {
            cal: test_calendar(),
            cfg: ClockConfig::default(),
            fees: FeeSchedule::default(),
        }
    }

    impl Env {
        fn apply(&self, r: &Request, a: Action) -> Result<Request, LifecycleError> {
            r.apply(a, &self.cal, &self.cfg, &self.fees)
        }

        fn ok(&self, r: &Request, a: Action) -> Request {
            match self.apply(r, a.clone()) {
                Ok(next) => next,
                Err(e) => panic!("{a:?} refused: {e}"),
            }
        }

        fn invalid(&self, r: &Request, a: Action) -> (&'static str, String) {
            match self.apply(r, a.clone()) {
                Err(LifecycleError::Invalid { field, rule }) => (field, rule),
                other => panic!("{a:?}: expected Invalid, got {other:?}"),
            }
        }

        fn due(&self, r: &Request) -> Option<(DueKind, NaiveDate)> {
            r.next_due(&self.cal, &self.cfg).map(|due| {
                assert!(!due.date.provisional);
                (due.kind, due.date.value)
            })
        }
    }

    fn disclosed() -> Reply {
        Reply {
            category: ReplyCategory::Disclosed,
            legal_basis: String::new(),
            responsible_body: None,
            text: "予以公开，见附件。".into(),
        }
    }

    fn ask(day: &str) -> Action {
        Action::RequestCorrection {
            day: d(day),
            what: "请明确所需信息的文号".into(),
            due: None,
        }
    }

    fn consult(day: &str, kind: ConsultKind) -> Action {
        Action::StartConsultation {
            day: d(day),
            kind,
            party: "某公司".into(),
        }
    }

    fn extend(day: &str, days: u32) -> Action {
        Action::Extend {
            day: d(day),
            approver: "办公室主任 张三".into(),
            reason: "涉及档案调取".into(),
            days,
        }
    }

    fn fee(day: &str) -> Action {
        Action::NoticeFee {
            day: d(day),
            basis: FeeBasis::PerVolume { pages: 250 },
            amount_yuan: 4_700,
        }
    }

    /// A request received Mon 2026-06-01 brought into `status` on 06-02.
    fn in_status(e: &Env, status: Status) -> Request {
        let r = Request::new(d("2026-06-01"));
        let reply = Action::Reply {
            day: d("2026-06-02"),
            reply: disclosed(),
        };
        match status {
            Status::Received => r,
            Status::CorrectionRequested => e.ok(&r, ask("2026-06-02")),
            Status::Consulting => e.ok(&r, consult("2026-06-02", ConsultKind::ThirdParty)),
            Status::FeeNotified => e.ok(&r, fee("2026-06-02")),
            Status::Replied => e.ok(&r, reply),
            Status::Closed => e.ok(
                &e.ok(&r, reply),
                Action::Close {
                    day: d("2026-06-02"),
                },
            ),
            Status::Withdrawn => e.ok(
                &r,
                Action::Withdraw {
                    day: d("2026-06-02"),
                },
            ),
            Status::Abandoned => e.ok(
                &e.ok(&r, ask("2026-06-02")),
                Action::AbandonCorrection {
                    day: d("2026-08-03"),
                },
            ),
        }
    }

    #[test]
    fn every_transition_legal_or_illegal() {
        use Status as S;
        let e = env();
        let on = d("2026-06-03");
        let late = d("2026-08-31");
        // (action, states it applies in, resulting state)
        let table: Vec<(Action, &[Status], Status)> = vec![
            (ask("2026-06-03"), &[S::Received], S::CorrectionRequested),
            (
                Action::Correct { day: on },
                &[S::CorrectionRequested],
                S::Received,
            ),
            (
                Action::AbandonCorrection { day: late },
                &[S::CorrectionRequested],
                S::Abandoned,
            ),
            (
                consult("2026-06-03", ConsultKind::CoMaker),
                &[S::Received],
                S::Consulting,
            ),
            (
                Action::EndConsultation {
                    day: on,
                    outcome: "同意公开".into(),
                },
                &[S::Consulting],
                S::Received,
            ),
            (extend("2026-06-03", 20), &[S::Received], S::Received),
            (fee("2026-06-03"), &[S::Received], S::FeeNotified),
            (Action::Pay { day: on }, &[S::FeeNotified], S::Received),
            (
                Action::AbandonFee { day: late },
                &[S::FeeNotified],
                S::Abandoned,
            ),
            (
                Action::Reply {
                    day: on,
                    reply: disclosed(),
                },
                &[S::Received],
                S::Replied,
            ),
            (Action::Close { day: on }, &[S::Replied], S::Closed),
            (
                Action::Withdraw { day: on },
                &[
                    S::Received,
                    S::CorrectionRequested,
                    S::Consulting,
                    S::FeeNotified,
                ],
                S::Withdrawn,
            ),
        ];
        let mut checked = 0;
        for (action, legal, result) in &table {
            for status in Status::ALL {
                let r = in_status(&e, status);
                assert_eq!(r.status, status);
                let got = e.apply(&r, action.clone());
                if legal.contains(&status) {
                    let next = got.unwrap_or_else(|err| panic!("{action:?} in {status:?}: {err}"));
                    assert_eq!(next.status, *result, "{action:?} in {status:?}");
                    assert_eq!(next.last_day, action.day());
                } else {
                    let err = got.unwrap_err();
                    assert_eq!(
                        err,
                        LifecycleError::Illegal {
                            action: action.verb(),
                            status
                        },
                        "{action:?} in {status:?}"
                    );
                    assert_eq!(
                        err.to_string(),
                        format!(
                            "cannot {} a request that is {}",
                            action.verb(),
                            status.describe()
                        )
                    );
                }
                checked += 1;
            }
        }
        assert_eq!(checked, 12 * 8);
        // Final states accept nothing.
        for status in Status::ALL.into_iter().filter(|s| s.is_final()) {
            assert!(
                table.iter().all(|(_, legal, _)| !legal.contains(&status)),
                "{status:?}"
            );
        }
        let withdrawn = in_status(&e, Status::Withdrawn);
        let err = e
            .apply(
                &withdrawn,
                Action::Reply {
                    day: on,
                    reply: disclosed(),
                },
            )
            .unwrap_err();
        assert_eq!(
            err.to_string(),
            "cannot reply to a request that is withdrawn"
        );
    }

    #[test]
    fn actions_cannot_go_back_in_time() {
        let e = env();
        let r = e.ok(&Request::new(d("2026-06-01")), ask("2026-06-04"));
        let (field, rule) = e.invalid(
            &r,
            Action::Correct {
                day: d("2026-06-03"),
            },
        );
        assert_eq!(field, "day");
        assert!(
            rule.contains("before the previous step on 2026-06-04"),
            "{rule}"
        );
        // Same day is fine.
        e.ok(
            &r,
            Action::Correct {
                day: d("2026-06-04"),
            },
        );
        let (field, _) = e.invalid(
            &Request::new(d("2026-06-01")),
            Action::Withdraw {
                day: d("2026-05-31"),
            },
        );
        assert_eq!(field, "day");
    }

    #[test]
    fn correction_window_once_and_restart() {
        let e = env();
        let r = Request::new(d("2026-04-27"));
        // Window end: Apr 28–30 (3), May 1–5 off, 6–8 (6), Sat 9 make-up (7).
        e.ok(&r, ask("2026-05-09"));
        let (field, rule) = e.invalid(&r, ask("2026-05-11"));
        assert_eq!(field, "day");
        assert!(rule.contains("on or before 2026-05-09"), "{rule}");
        assert!(rule.contains("7 working days"), "{rule}");

        let asked = e.ok(&r, ask("2026-04-29"));
        assert!(asked.correction_requested);
        // Default time: 15 working days from 04-29 → 05-22.
        assert_eq!(e.due(&asked), Some((DueKind::Correction, d("2026-05-22"))));
        let corrected = e.ok(
            &asked,
            Action::Correct {
                day: d("2026-05-11"),
            },
        );
        // Restart from 05-11 → 06-08 (see clock test c).
        assert_eq!(e.due(&corrected), Some((DueKind::Reply, d("2026-06-08"))));
        assert_eq!(
            corrected.correction.as_ref().and_then(|c| c.corrected),
            Some(d("2026-05-11"))
        );
        let (field, rule) = e.invalid(&corrected, ask("2026-05-11"));
        assert_eq!(field, "correction");
        assert!(rule.contains("only once"), "{rule}");

        let (field, _) = e.invalid(
            &r,
            Action::RequestCorrection {
                day: d("2026-04-29"),
                what: " ".into(),
                due: None,
            },
        );
        assert_eq!(field, "what");
        let (field, rule) = e.invalid(
            &r,
            Action::RequestCorrection {
                day: d("2026-04-29"),
                what: "x".into(),
                due: Some(d("2026-04-29")),
            },
        );
        assert_eq!(field, "due");
        assert!(rule.contains("after 2026-04-29"), "{rule}");
        let given = e.ok(
            &r,
            Action::RequestCorrection {
                day: d("2026-04-29"),
                what: "x".into(),
                due: Some(d("2026-05-15")),
            },
        );
        assert_eq!(e.due(&given), Some((DueKind::Correction, d("2026-05-15"))));
    }

    #[test]
    fn abandon_correction_only_after_due() {
        let e = env();
        let asked = e.ok(&Request::new(d("2026-04-27")), ask("2026-04-29"));
        let (field, rule) = e.invalid(
            &asked,
            Action::AbandonCorrection {
                day: d("2026-05-22"),
            },
        );
        assert_eq!(field, "day");
        assert!(rule.contains("due on 2026-05-22"), "{rule}");
        let gone = e.ok(
            &asked,
            Action::AbandonCorrection {
                day: d("2026-05-25"),
            },
        );
        assert_eq!(gone.status, Status::Abandoned);
        assert_eq!(
            gone.concluded(),
            Some((d("2026-05-25"), ReplyCategory::CorrectionOverdue))
        );
        assert_eq!(e.due(&gone), None);
        // A late correction before the office closes the request is accepted.
        let late = e.ok(
            &asked,
            Action::Correct {
                day: d("2026-05-28"),
            },
        );
        assert_eq!(late.status, Status::Received);
    }

    #[test]
    fn consultation_pauses_and_resumes() {
        let e = env();
        let r = Request::new(d("2026-06-01"));
        assert_eq!(e.due(&r), Some((DueKind::Reply, d("2026-06-30"))));
        let consulting = e.ok(&r, consult("2026-06-08", ConsultKind::ThirdParty));
        // Answer due 06-30 (15 working days across 端午).
        assert_eq!(
            e.due(&consulting),
            Some((DueKind::Consultation, d("2026-06-30")))
        );
        let clock = consulting.reply_clock(&e.cal, &e.cfg);
        assert_eq!(clock.due, None);
        let back = e.ok(
            &consulting,
            Action::EndConsultation {
                day: d("2026-06-26"),
                outcome: "第三方不同意公开".into(),
            },
        );
        // 13 paused working days added to 06-30 → 07-17.
        assert_eq!(e.due(&back), Some((DueKind::Reply, d("2026-07-17"))));
        assert_eq!(
            back.consultations[0].outcome.as_deref(),
            Some("第三方不同意公开")
        );
        let (field, _) = e.invalid(
            &r,
            consult("2026-06-08", ConsultKind::CoMaker).with_party(""),
        );
        assert_eq!(field, "party");
        // A second consultation is allowed.
        let again = e.ok(&back, consult("2026-07-01", ConsultKind::CoMaker));
        assert_eq!(again.consultations.len(), 2);
    }

    impl Action {
        fn with_party(self, p: &str) -> Action {
            match self {
                Action::StartConsultation { day, kind, .. } => Action::StartConsultation {
                    day,
                    kind,
                    party: p.into(),
                },
                other => other,
            }
        }
    }

    #[test]
    fn silence_after_the_answer_period() {
        let e = env();
        let r = Request::new(d("2026-06-01"));
        for kind in ConsultKind::ALL {
            let consulting = e.ok(&r, consult("2026-06-08", kind));
            let blank = |day: &str| Action::EndConsultation {
                day: d(day),
                outcome: "  ".into(),
            };
            // Due 06-30: a blank outcome on that day is still missing.
            let (field, rule) = e.invalid(&consulting, blank("2026-06-30"));
            assert_eq!(field, "outcome");
            assert!(rule.contains("2026-06-30"), "{rule}");
            let ended = e.ok(&consulting, blank("2026-07-01"));
            assert_eq!(
                ended.consultations[0].outcome.as_deref(),
                Some(kind.silence_outcome())
            );
        }
        assert!(ConsultKind::CoMaker.silence_outcome().contains("视为同意"));
    }

    #[test]
    fn extension_once_bounded_and_in_time() {
        let e = env();
        let r = Request::new(d("2026-09-30"));
        let extended = e.ok(&r, extend("2026-10-20", 20));
        // 11-03 + 20 working days → 12-01.
        assert_eq!(e.due(&extended), Some((DueKind::Reply, d("2026-12-01"))));
        assert!(extended.extended);
        let (field, rule) = e.invalid(&extended, extend("2026-10-21", 1));
        assert_eq!(field, "extension");
        assert!(rule.contains("only once"), "{rule}");
        for days in [0, 21] {
            let (field, rule) = e.invalid(&r, extend("2026-10-20", days));
            assert_eq!(field, "days");
            assert!(rule.contains("1..=20"), "{rule}");
        }
        e.ok(&r, extend("2026-10-20", 1));
        let (field, rule) = e.invalid(&r, extend("2026-11-04", 5));
        assert_eq!(field, "day");
        assert!(rule.contains("2026-11-03"), "{rule}");
        e.ok(&r, extend("2026-11-03", 5));
        let (field, _) = e.invalid(
            &r,
            Action::Extend {
                day: d("2026-10-20"),
                approver: "".into(),
                reason: "x".into(),
                days: 5,
            },
        );
        assert_eq!(field, "approver");
        let (field, _) = e.invalid(
            &r,
            Action::Extend {
                day: d("2026-10-20"),
                approver: "x".into(),
                reason: "\n".into(),
                days: 5,
            },
        );
        assert_eq!(field, "reason");
        let strict = Env {
            cfg: ClockConfig {
                max_extension_days: 0,
                ..ClockConfig::default()
            },
            ..env()
        };
        let (field, rule) = strict.invalid(&r, extend("2026-10-20", 5));
        assert_eq!(field, "days");
        assert!(rule.contains("disabled"), "{rule}");
    }

    #[test]
    fn fee_amounts_are_checked_and_the_wait_pauses() {
        let e = env();
        let r = Request::new(d("2026-03-02"));
        let notice = |basis, amount_yuan| Action::NoticeFee {
            day: d("2026-03-10"),
            basis,
            amount_yuan,
        };
        let (field, rule) = e.invalid(&r, notice(FeeBasis::PerVolume { pages: 250 }, 4_600));
        assert_eq!(field, "amount_yuan");
        assert!(rule.contains("4700 yuan for 250 pages"), "{rule}");
        let (field, rule) = e.invalid(&r, notice(FeeBasis::PerRequest { nth_in_month: 5 }, 0));
        assert_eq!(field, "basis");
        assert!(rule.contains("free"), "{rule}");
        let (field, _) = e.invalid(&r, notice(FeeBasis::PerVolume { pages: 0 }, 0));
        assert_eq!(field, "basis");
        let (field, rule) = e.invalid(&r, notice(FeeBasis::PerRequest { nth_in_month: 45 }, 5_500));
        assert_eq!(field, "amount_yuan");
        assert!(rule.contains("300 yuan"), "{rule}");

        let noticed = e.ok(&r, notice(FeeBasis::PerRequest { nth_in_month: 45 }, 300));
        assert_eq!(
            noticed.fee,
            Some((FeeBasis::PerRequest { nth_in_month: 45 }, 300))
        );
        // Payment due 04-08 (20 working days from the day after 03-10).
        assert_eq!(e.due(&noticed), Some((DueKind::Payment, d("2026-04-08"))));
        let paid = e.ok(
            &noticed,
            Action::Pay {
                day: d("2026-03-20"),
            },
        );
        // 8 paused working days added to 03-30 → 04-10 (清明 Apr 4–6).
        assert_eq!(e.due(&paid), Some((DueKind::Reply, d("2026-04-10"))));
        let (field, rule) = e.invalid(
            &paid,
            Action::NoticeFee {
                day: d("2026-03-23"),
                basis: FeeBasis::PerVolume { pages: 31 },
                amount_yuan: 10,
            },
        );
        assert_eq!(field, "fee");
        assert!(rule.contains("only once"), "{rule}");

        // Abandon only after the payment due date.
        let (field, rule) = e.invalid(
            &noticed,
            Action::AbandonFee {
                day: d("2026-04-08"),
            },
        );
        assert_eq!(field, "day");
        assert!(rule.contains("2026-04-08"), "{rule}");
        let gone = e.ok(
            &noticed,
            Action::AbandonFee {
                day: d("2026-04-09"),
            },
        );
        assert_eq!(
            gone.concluded(),
            Some((d("2026-04-09"), ReplyCategory::FeeUnpaid))
        );

        // Without the pause setting the reply date does not move.
        let running = Env {
            cfg: ClockConfig {
                fee_wait_pauses_clock: false,
                ..ClockConfig::default()
            },
            ..env()
        };
        let paid = running.ok(
            &running.ok(&r, notice(FeeBasis::PerVolume { pages: 31 }, 10)),
            Action::Pay {
                day: d("2026-03-20"),
            },
        );
        assert_eq!(running.due(&paid), Some((DueKind::Reply, d("2026-03-30"))));
        // A notice after the reply period is refused.
        let (field, _) = e.invalid(
            &r,
            Action::NoticeFee {
                day: d("2026-03-31"),
                basis: FeeBasis::PerVolume { pages: 31 },
                amount_yuan: 10,
            },
        );
        assert_eq!(field, "day");
    }

    #[test]
    fn replies_are_validated() {
        let e = env();
        let r = Request::new(d("2026-06-01"));
        let reply = |category, legal_basis: &str| Action::Reply {
            day: d("2026-06-10"),
            reply: Reply {
                category,
                legal_basis: legal_basis.into(),
                responsible_body: None,
                text: "告知书".into(),
            },
        };
        let (field, _) = e.invalid(&r, reply(ReplyCategory::WithheldStateSecret, ""));
        assert_eq!(field, "reply.legal_basis");
        let done = e.ok(
            &r,
            reply(ReplyCategory::WithheldStateSecret, "条例第十四条"),
        );
        assert_eq!(
            done.concluded(),
            Some((d("2026-06-10"), ReplyCategory::WithheldStateSecret))
        );
        assert_eq!(e.due(&done), None);
        for reserved in [ReplyCategory::CorrectionOverdue, ReplyCategory::FeeUnpaid] {
            let (field, _) = e.invalid(&r, reply(reserved, ""));
            assert_eq!(field, "reply.category");
        }
        let (field, rule) = e.invalid(&r, reply(ReplyCategory::UnclearAfterCorrection, ""));
        assert_eq!(field, "reply.category");
        assert!(rule.contains("correction"), "{rule}");
        let corrected = e.ok(
            &e.ok(&r, ask("2026-06-02")),
            Action::Correct {
                day: d("2026-06-05"),
            },
        );
        e.ok(&corrected, reply(ReplyCategory::UnclearAfterCorrection, ""));
        // A late reply is still a reply.
        let late = e.ok(
            &r,
            Action::Reply {
                day: d("2026-09-01"),
                reply: disclosed(),
            },
        );
        assert_eq!(late.status, Status::Replied);
        let closed = e.ok(
            &late,
            Action::Close {
                day: d("2026-09-02"),
            },
        );
        assert_eq!(
            closed.concluded(),
            Some((d("2026-09-01"), ReplyCategory::Disclosed))
        );
        assert_eq!(closed.ended, Some(d("2026-09-02")));
    }

    #[test]
    fn due_dates_per_state() {
        let e = env();
        let expected = [
            // Received 06-01 → reply 06-30.
            (Status::Received, Some((DueKind::Reply, "2026-06-30"))),
            // Correction asked 06-02, 15 working days: Jun 3–5 (3), 8–12
            // (8), 15–18 (12), 19 off, 22–24 (15).
            (
                Status::CorrectionRequested,
                Some((DueKind::Correction, "2026-06-24")),
            ),
            // Consultation from 06-02, 15 working days → 06-24 as above.
            (
                Status::Consulting,
                Some((DueKind::Consultation, "2026-06-24")),
            ),
            // Fee noticed 06-02: Jun 3–5 (3), 8–12 (8), 15–18 (12), 22–26
            // (17), 29–30 (19), Jul 1 (20).
            (Status::FeeNotified, Some((DueKind::Payment, "2026-07-01"))),
            (Status::Replied, None),
            (Status::Closed, None),
            (Status::Withdrawn, None),
            (Status::Abandoned, None),
        ];
        for (status, due) in expected {
            let r = in_status(&e, status);
            assert_eq!(e.due(&r), due.map(|(k, day)| (k, d(day))), "{status:?}");
        }
        // A due date in a year without data is flagged.
        let r = Request::new(d("2026-12-20"));
        let due = r.next_due(&e.cal, &e.cfg).unwrap();
        assert_eq!(due.kind, DueKind::Reply);
        assert!(due.date.provisional);
    }

    #[test]
    fn concluded_for_the_annual_report() {
        let e = env();
        for status in Status::ALL {
            let r = in_status(&e, status);
            let expected = match status {
                Status::Replied | Status::Closed => {
                    Some((d("2026-06-02"), ReplyCategory::Disclosed))
                }
                Status::Withdrawn => Some((d("2026-06-02"), ReplyCategory::Other)),
                Status::Abandoned => Some((d("2026-08-03"), ReplyCategory::CorrectionOverdue)),
                _ => None,
            };
            assert_eq!(r.concluded(), expected, "{status:?}");
        }
    }

    #[test]
    fn replay_and_serde_round_trip() {
        let e = env();
        let actions = vec![
            ask("2026-06-02"),
            Action::Correct {
                day: d("2026-06-04"),
            },
            consult("2026-06-05", ConsultKind::ThirdParty),
            Action::EndConsultation {
                day: d("2026-06-12"),
                outcome: "同意".into(),
            },
            extend("2026-06-15", 10),
            Action::Reply {
                day: d("2026-06-20"),
                reply: disclosed(),
            },
        ];
        let r = Request::replay(d("2026-06-01"), &actions, &e.cal, &e.cfg, &e.fees).unwrap();
        assert_eq!(r.status, Status::Replied);
        assert_eq!(r.clock.len(), 6);
        let json = serde_json::to_string(&actions).unwrap();
        assert!(json.contains("\"action\":\"request_correction\""), "{json}");
        let back: Vec<Action> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, actions);
        let stored = serde_json::to_string(&r).unwrap();
        let restored: Request = serde_json::from_str(&stored).unwrap();
        assert_eq!(restored, r);

        let mut bad = actions.clone();
        bad.insert(2, ask("2026-06-04"));
        let (index, err) =
            Request::replay(d("2026-06-01"), &bad, &e.cal, &e.cfg, &e.fees).unwrap_err();
        assert_eq!(index, 2);
        assert!(matches!(
            err,
            LifecycleError::Invalid {
                field: "correction",
                ..
            }
        ));
    }

    #[test]
    fn status_vocabulary() {
        let codes: Vec<_> = Status::ALL.iter().map(|s| s.code()).collect();
        assert_eq!(
            codes,
            [
                "received",
                "correction_requested",
                "consulting",
                "fee_notified",
                "replied",
                "closed",
                "withdrawn",
                "abandoned"
            ]
        );
        for s in Status::ALL {
            assert_eq!(Status::parse(s.code()), Ok(s));
            assert_eq!(Status::parse(s.label()), Ok(s));
        }
    }
}
