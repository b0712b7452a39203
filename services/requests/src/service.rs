//! The requests application: intake, the office's steps under the clock,
//! appeals, queues and annual figures. One transaction per call; events
//! through the outbox carry no applicant identity or contact.

use std::time::Duration;

use chrono::{Datelike as _, NaiveDate};
use gongkai_kernel::auth::{Claims, Role};
use gongkai_kernel::calendar::Calendar;
use gongkai_kernel::db::{Db, now_ms, today_cst};
use gongkai_kernel::ids::{IdCheck, check_resident_id};
use gongkai_kernel::outbox::Relay;
use gongkai_kernel::{ApiError, UnitPath};
use sqlx::AnyConnection;

use crate::config::Config;
use crate::domain::annual::{self, AppealFacts, RequestFacts};
use crate::domain::categories::{
    AppealKind, AppealOutcome, ApplicantType, Channel, Reply, ReplyCategory, validate_reply,
};
use crate::domain::fees::FeeBasis;
use crate::domain::lifecycle::{Action, ConsultKind, DueKind, LifecycleError, Request, Status};
use crate::events;
use crate::intake::{self, Limiter};
use crate::store::{self, AppealRow, QueueRow, RequestRow, TransitionRow};

/// What an applicant submits.
#[derive(Debug, Clone, Default)]
pub struct Submission {
    pub applicant_type: String,
    pub name: String,
    pub id_type: String,
    pub id_number: String,
    pub phone: String,
    pub email: String,
    pub address: String,
    pub description: String,
    pub delivery_form: String,
    pub channel: String,
    pub received_on: String,
}

#[derive(Debug, Clone)]
pub struct Submitted {
    pub tracking_no: String,
    pub query_code: String,
    pub row: RequestRow,
}

/// A step the office takes, as the caller gave it (validated here).
#[derive(Debug, Clone)]
pub enum Step {
    RequestCorrection { what: String, due_on: String },
    Correct,
    AbandonCorrection,
    StartConsultation { kind: String, party: String },
    EndConsultation { outcome: String },
    Extend { days: u32, approver: String },
    NoticeFee { basis: String, pages: u32 },
    Pay,
    AbandonFee,
    Reply(ReplyInput),
    Close,
    Withdraw,
}

#[derive(Debug, Clone, Default)]
pub struct ReplyInput {
    pub category: String,
    pub legal_basis: String,
    pub responsible_body: String,
    pub text: String,
    pub document_index_nos: Vec<String>,
}

/// The reply as stored: the domain reply plus linked documents.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct StoredReply {
    pub reply: Reply,
    pub document_index_nos: Vec<String>,
}

pub struct RequestView {
    pub row: RequestRow,
    pub transitions: Vec<TransitionRow>,
    pub appeals: Vec<AppealRow>,
}

pub struct AnnualFigures {
    pub table_three: annual::TableThree,
    pub table_four: annual::TableFour,
    pub fees_collected_yuan: i64,
}

/// Checks that published documents exist (the publishing service).
#[async_trait::async_trait]
pub trait DocumentLookup: Send + Sync {
    /// Ok(true) when a public document has this index number.
    async fn is_published(&self, index_no: &str) -> Result<bool, String>;
}

pub struct RequestsService {
    db: Db,
    unit: UnitPath,
    calendar: Calendar,
    cfg: Config,
    relay: Relay,
    by_tracking: Limiter,
    by_peer: Limiter,
    documents: Box<dyn DocumentLookup>,
}

fn lifecycle(e: LifecycleError) -> ApiError {
    match e {
        LifecycleError::Illegal { .. } => ApiError::FailedPrecondition(e.to_string()),
        LifecycleError::Invalid { field, rule } => ApiError::invalid(field, rule),
    }
}

fn require_office(claims: &Claims, unit: &UnitPath) -> Result<(), ApiError> {
    if !claims.acts_for(unit) {
        return Err(ApiError::PermissionDenied(format!(
            "token of unit {} may not act for unit {unit}",
            claims.unit
        )));
    }
    if !matches!(claims.role, Role::Editor | Role::Reviewer | Role::Admin) {
        return Err(ApiError::PermissionDenied(format!(
            "role {} may not handle disclosure requests; needs editor, reviewer or admin",
            claims.role
        )));
    }
    Ok(())
}

fn parse_day(field: &'static str, s: &str, today: NaiveDate) -> Result<NaiveDate, ApiError> {
    let s = s.trim();
    if s.is_empty() {
        return Ok(today);
    }
    let d = NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| ApiError::invalid(field, format!("{s:?} is not a real date as YYYY-MM-DD")))?;
    if d > today {
        return Err(ApiError::invalid(field, format!("{d} is in the future")));
    }
    Ok(d)
}

fn iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

fn due_kind_code(k: DueKind) -> &'static str {
    match k {
        DueKind::Reply => "reply",
        DueKind::Correction => "correction",
        DueKind::Consultation => "consultation",
        DueKind::Payment => "payment",
    }
}

fn bounded(field: &'static str, s: &str, max: usize) -> Result<String, ApiError> {
    let t = s.trim();
    if t.chars().count() > max {
        return Err(ApiError::invalid(
            field,
            format!("at most {max} characters"),
        ));
    }
    if t.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(ApiError::invalid(
            field,
            "must not contain control characters",
        ));
    }
    Ok(t.to_owned())
}

const ID_TYPES: [&str; 4] = ["resident_id", "passport", "business_license", "other"];

impl RequestsService {
    pub fn new(
        db: Db,
        unit: UnitPath,
        calendar: Calendar,
        cfg: Config,
        relay: Relay,
        documents: Box<dyn DocumentLookup>,
    ) -> Self {
        let window = Duration::from_secs(cfg.query_code_window_secs);
        // Callers behind one address (an office, a NAT) get more room than a
        // single tracking number does.
        let by_peer = Limiter::new(cfg.query_code_max_failures * 4, window);
        let by_tracking = Limiter::new(cfg.query_code_max_failures, window);
        Self {
            db,
            unit,
            calendar,
            cfg,
            relay,
            by_tracking,
            by_peer,
            documents,
        }
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    pub fn unit(&self) -> &UnitPath {
        &self.unit
    }

    fn state(row: &RequestRow) -> Result<Request, ApiError> {
        serde_json::from_str(&row.state_json)
            .map_err(|e| ApiError::Internal(anyhow::anyhow!("request {} state: {e}", row.id)))
    }

    /// Copies the domain state into the row's query columns.
    fn project(&self, row: &mut RequestRow, req: &Request) -> Result<(), ApiError> {
        row.status = req.status.code().to_owned();
        row.state_json = serde_json::to_string(req).map_err(|e| ApiError::Internal(e.into()))?;
        let due = req.next_due(&self.calendar, &self.cfg.clock);
        row.open = due.is_some();
        row.due_kind = due.map(|d| due_kind_code(d.kind).to_owned());
        row.due_on = due.map(|d| iso(d.date.value));
        row.due_provisional = due.is_some_and(|d| d.date.provisional);
        let concluded = req.concluded();
        row.reply_category = concluded.map(|(_, c)| c.code().to_owned());
        row.concluded_on = concluded.map(|(d, _)| iso(d));
        row.replied_on = req.reply.map(|(d, _)| iso(d));
        row.fee_basis = req.fee.map(|(b, _)| match b {
            FeeBasis::PerRequest { .. } => "per_request".to_owned(),
            FeeBasis::PerVolume { .. } => "per_volume".to_owned(),
        });
        row.fee_yuan = req.fee.map(|(_, y)| y).unwrap_or(0);
        row.fee_paid_on = req.fee_paid.map(iso);
        row.extended = req.extended;
        // Strictly later than the stamp read, so that a write checking it
        // can never mistake two changes for one.
        row.updated_at = now_ms().max(row.updated_at + 1);
        Ok(())
    }

    pub async fn submit(&self, s: &Submission) -> Result<Submitted, ApiError> {
        let today = today_cst();
        let applicant = ApplicantType::parse(s.applicant_type.trim())
            .map_err(|e| ApiError::invalid("applicant.type", e.to_string()))?;
        let name = bounded("applicant.name", &s.name, 200)?;
        if name.is_empty() {
            return Err(ApiError::invalid("applicant.name", "required"));
        }
        let id_type = s.id_type.trim().to_owned();
        if !id_type.is_empty() && !ID_TYPES.contains(&id_type.as_str()) {
            return Err(ApiError::invalid(
                "applicant.id_type",
                "one of resident_id, passport, business_license, other",
            ));
        }
        let id_number = bounded("applicant.id_number", &s.id_number, 64)?;
        if id_type == "resident_id" {
            match check_resident_id(&id_number) {
                IdCheck::Valid18 | IdCheck::Valid15 => {}
                bad => {
                    return Err(ApiError::invalid(
                        "applicant.id_number",
                        format!("not a valid resident ID number under GB 11643 ({bad:?})"),
                    ));
                }
            }
        } else if !id_number.is_empty() && id_type.is_empty() {
            return Err(ApiError::invalid(
                "applicant.id_type",
                "required when an id_number is given",
            ));
        }
        let phone = bounded("applicant.phone", &s.phone, 40)?;
        let email = bounded("applicant.email", &s.email, 200)?;
        let address = bounded("applicant.address", &s.address, 500)?;
        if phone.is_empty() && email.is_empty() && address.is_empty() {
            return Err(ApiError::invalid(
                "applicant.phone",
                "a way to reach the applicant is required: phone, email or address",
            ));
        }
        if !email.is_empty() && !email.contains('@') {
            return Err(ApiError::invalid("applicant.email", "not an email address"));
        }
        let description = bounded(
            "description",
            &s.description,
            self.cfg.description_max_chars,
        )?;
        if description.is_empty() {
            return Err(ApiError::invalid(
                "description",
                "required: describe the information sought",
            ));
        }
        let channel = Channel::parse(s.channel.trim())
            .map_err(|e| ApiError::invalid("channel", e.to_string()))?;
        let delivery_form = bounded("delivery_form", &s.delivery_form, 50)?;
        let received = parse_day("received_on", &s.received_on, today)?;

        let req = Request::new(received);
        let code = intake::new_query_code();
        let mut row = RequestRow {
            id: uuid::Uuid::now_v7().to_string(),
            unit: self.unit.to_string(),
            query_code_hash: intake::hash_query_code(&code),
            applicant_type: applicant.code().to_owned(),
            applicant_key: intake::applicant_key(&id_type, &id_number, &name),
            info_key: intake::info_key(&description),
            applicant_name: name,
            id_type,
            id_number,
            phone,
            email,
            address,
            description,
            delivery_form,
            channel: channel.code().to_owned(),
            received_on: iso(received),
            created_at: now_ms(),
            ..Default::default()
        };
        self.project(&mut row, &req)?;
        let mut tx = self.db.begin().await?;
        let seq = store::next_tracking_seq(&mut tx, self.unit.as_str(), received.year()).await?;
        row.tracking_no = intake::tracking_no(&self.cfg.tracking_prefix, received.year(), seq);
        if let Some(earlier) = store::earlier_answered(
            &mut tx,
            self.unit.as_str(),
            &row.applicant_key,
            &row.info_key,
        )
        .await?
        {
            row.suggested_category = ReplyCategory::Repeated.code().to_owned();
            row.duplicate_of = earlier;
        }
        store::insert(&mut tx, &row).await?;
        store::add_transition(
            &mut tx,
            &row.id,
            &TransitionRow {
                action: "receive".into(),
                from_status: String::new(),
                to_status: row.status.clone(),
                day: row.received_on.clone(),
                actor: "applicant".into(),
                reason: String::new(),
                at: now_ms(),
            },
        )
        .await?;
        events::changed(&mut tx, &self.unit, &row, "received", false).await?;
        self.maybe_suggest(&mut tx, &row, received).await?;
        tx.commit().await?;
        self.relay.notify();
        tracing::info!(request_id = %row.id, tracking_no = %row.tracking_no, "request received");
        Ok(Submitted {
            tracking_no: row.tracking_no.clone(),
            query_code: code,
            row,
        })
    }

    /// Art. 44: when enough distinct applicants asked for the same
    /// information within the period, suggest proactive disclosure once.
    async fn maybe_suggest(
        &self,
        conn: &mut AnyConnection,
        row: &RequestRow,
        day: NaiveDate,
    ) -> Result<(), ApiError> {
        let since = iso(day - chrono::Duration::days(i64::from(self.cfg.same_information_days)));
        let (applicants, tracking) =
            store::same_information_since(conn, self.unit.as_str(), &row.info_key, &since).await?;
        if applicants < i64::from(self.cfg.same_information_applicants) {
            return Ok(());
        }
        if store::record_suggestion(
            conn,
            self.unit.as_str(),
            &row.info_key,
            &since,
            &iso(day),
            applicants,
            now_ms(),
        )
        .await?
        {
            events::suggested(
                conn,
                &self.unit,
                row,
                applicants,
                i64::from(self.cfg.same_information_days),
                tracking,
            )
            .await?;
        }
        Ok(())
    }

    /// The applicant's view, with the tracking number and query code.
    pub async fn status(
        &self,
        tracking_no: &str,
        code: &str,
        peer: &str,
    ) -> Result<RequestRow, ApiError> {
        let tracking_no = tracking_no.trim();
        if tracking_no.is_empty() {
            return Err(ApiError::invalid("tracking_no", "required"));
        }
        if code.trim().is_empty() {
            return Err(ApiError::invalid("query_code", "required"));
        }
        if !self.by_tracking.allowed(tracking_no) || !self.by_peer.allowed(peer) {
            return Err(ApiError::ResourceExhausted(
                "query_code: too many wrong attempts; try again later".into(),
            ));
        }
        let mut conn = self.db.read().acquire().await?;
        let row = store::by_tracking_no(&mut conn, tracking_no).await?;
        // Unknown number and wrong code answer alike, so the answer does not
        // tell which tracking numbers exist.
        match row {
            Some(r) if intake::query_code_matches(&r.query_code_hash, code) => {
                self.by_tracking.succeeded(tracking_no);
                Ok(r)
            }
            _ => {
                self.by_tracking.failed(tracking_no);
                self.by_peer.failed(peer);
                Err(ApiError::PermissionDenied(
                    "query_code: the tracking number and query code do not match".into(),
                ))
            }
        }
    }

    pub async fn withdraw_public(
        &self,
        tracking_no: &str,
        code: &str,
        reason: &str,
        peer: &str,
    ) -> Result<RequestRow, ApiError> {
        let row = self.status(tracking_no, code, peer).await?;
        self.step(&row.id, None, "", reason, Step::Withdraw, "applicant")
            .await
    }

    pub async fn get(
        &self,
        claims: &Claims,
        id: &str,
        tracking_no: &str,
    ) -> Result<RequestView, ApiError> {
        // A request holds the applicant's identity and contact: only the
        // unit's own office reads it, not a parent (which sees counts,
        // categories and on-time flags through events and annual figures).
        require_office(claims, &self.unit)?;
        let mut conn = self.db.read().acquire().await?;
        let row = match (id.trim(), tracking_no.trim()) {
            ("", "") => {
                return Err(ApiError::invalid(
                    "request_id",
                    "give request_id or tracking_no",
                ));
            }
            (id, "") => store::get(&mut conn, id).await?,
            (_, t) => store::by_tracking_no(&mut conn, t).await?,
        }
        .ok_or_else(|| ApiError::NotFound("request_id: no such request".into()))?;
        let transitions = store::transitions(&mut conn, &row.id).await?;
        let appeals = store::appeals_of(&mut conn, &row.id).await?;
        Ok(RequestView {
            row,
            transitions,
            appeals,
        })
    }

    pub async fn act(
        &self,
        claims: &Claims,
        id: &str,
        day: &str,
        reason: &str,
        step: Step,
    ) -> Result<RequestRow, ApiError> {
        require_office(claims, &self.unit)?;
        if matches!(step, Step::Extend { .. }) && claims.role != Role::Admin {
            return Err(ApiError::PermissionDenied(
                "an extension is approved by the head of the disclosure office (admin)".into(),
            ));
        }
        self.step(id, Some(claims), day, reason, step, &claims.sub)
            .await
    }

    async fn step(
        &self,
        id: &str,
        claims: Option<&Claims>,
        day: &str,
        reason: &str,
        step: Step,
        actor: &str,
    ) -> Result<RequestRow, ApiError> {
        let today = today_cst();
        let day = parse_day("day", day, today)?;
        let reason = bounded("reason", reason, 2000)?;
        if uuid::Uuid::parse_str(id).is_err() {
            return Err(ApiError::invalid("request_id", "not a request id (UUID)"));
        }
        // Linked documents are checked before the transaction: a remote call
        // must not hold the writer.
        if let Step::Reply(r) = &step {
            for ix in &r.document_index_nos {
                match self.documents.is_published(ix).await {
                    Ok(true) => {}
                    Ok(false) => {
                        return Err(ApiError::invalid(
                            "reply.document_index_nos",
                            format!("no published document has index number {ix}"),
                        ));
                    }
                    Err(e) => {
                        return Err(ApiError::Unavailable(format!(
                            "reply.document_index_nos: cannot check with the publishing service: {e}"
                        )));
                    }
                }
            }
        }
        let mut tx = self.db.begin().await?;
        let mut row = store::get(&mut tx, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("request_id: no request {id}")))?;
        if let Some(c) = claims
            && c.unit.as_str() != row.unit
        {
            return Err(ApiError::PermissionDenied(format!(
                "request {id} belongs to unit {}",
                row.unit
            )));
        }
        let before = Self::state(&row)?;
        let (action, code, reply_json) = self
            .action(&mut tx, &row, &before, day, &reason, step, actor)
            .await?;
        let after = before
            .apply(action, &self.calendar, &self.cfg.clock, &self.cfg.fees)
            .map_err(lifecycle)?;
        let prev_due = before.next_due(&self.calendar, &self.cfg.clock);
        let read_at = row.updated_at;
        self.project(&mut row, &after)?;
        if let Some(j) = reply_json {
            row.reply_json = Some(j);
        }
        if !store::update(&mut tx, &row, read_at).await? {
            return Err(ApiError::FailedPrecondition(format!(
                "request_id: {id} was changed by someone else meanwhile; read it again and retry"
            )));
        }
        store::add_transition(
            &mut tx,
            &row.id,
            &TransitionRow {
                action: code.to_owned(),
                from_status: before.status.code().to_owned(),
                to_status: after.status.code().to_owned(),
                day: iso(day),
                actor: actor.to_owned(),
                reason,
                at: now_ms(),
            },
        )
        .await?;
        let on_time = match (after.status, prev_due) {
            (Status::Replied, Some(d)) if d.kind == DueKind::Reply => day <= d.date.value,
            _ => false,
        };
        let verb = if after.status != before.status {
            after.status.code()
        } else {
            code
        };
        events::changed(&mut tx, &self.unit, &row, verb, on_time).await?;
        tx.commit().await?;
        self.relay.notify();
        Ok(row)
    }

    /// Turns a caller's step into a domain action (with the fee computed
    /// from the schedule and the reply validated).
    #[allow(clippy::too_many_arguments)]
    async fn action(
        &self,
        conn: &mut AnyConnection,
        row: &RequestRow,
        _state: &Request,
        day: NaiveDate,
        reason: &str,
        step: Step,
        actor: &str,
    ) -> Result<(Action, &'static str, Option<String>), ApiError> {
        Ok(match step {
            Step::RequestCorrection { what, due_on } => {
                let due = if due_on.trim().is_empty() {
                    None
                } else {
                    Some(
                        NaiveDate::parse_from_str(due_on.trim(), "%Y-%m-%d").map_err(|_| {
                            ApiError::invalid("request_correction.due_on", "a date as YYYY-MM-DD")
                        })?,
                    )
                };
                (
                    Action::RequestCorrection { day, what, due },
                    "request_correction",
                    None,
                )
            }
            Step::Correct => (Action::Correct { day }, "correct", None),
            Step::AbandonCorrection => (
                Action::AbandonCorrection { day },
                "abandon_correction",
                None,
            ),
            Step::StartConsultation { kind, party } => {
                let kind = ConsultKind::parse(kind.trim())
                    .map_err(|e| ApiError::invalid("start_consultation.kind", e.to_string()))?;
                (
                    Action::StartConsultation { day, kind, party },
                    "start_consultation",
                    None,
                )
            }
            Step::EndConsultation { outcome } => (
                Action::EndConsultation { day, outcome },
                "end_consultation",
                None,
            ),
            Step::Extend { days, approver } => {
                let approver = if approver.trim().is_empty() {
                    actor.to_owned()
                } else {
                    approver
                };
                (
                    Action::Extend {
                        day,
                        approver,
                        reason: reason.to_owned(),
                        days,
                    },
                    "extend",
                    None,
                )
            }
            Step::NoticeFee { basis, pages } => {
                let basis = match basis.trim() {
                    "per_request" => {
                        if pages != 0 {
                            return Err(ApiError::invalid(
                                "notice_fee.pages",
                                "a fee is charged per request or per volume, never both",
                            ));
                        }
                        let received = NaiveDate::parse_from_str(&row.received_on, "%Y-%m-%d")
                            .map_err(|e| ApiError::Internal(e.into()))?;
                        let first = received.with_day(1).unwrap_or(received);
                        let last = (first + chrono::Months::new(1))
                            .pred_opt()
                            .unwrap_or(received);
                        let nth = store::nth_in_period(
                            conn,
                            &row.unit,
                            &row.applicant_key,
                            &iso(first),
                            &iso(last),
                            &row.received_on,
                            &row.id,
                        )
                        .await?;
                        FeeBasis::PerRequest {
                            nth_in_month: u32::try_from(nth).unwrap_or(u32::MAX),
                        }
                    }
                    "per_volume" => {
                        if pages == 0 {
                            return Err(ApiError::invalid(
                                "notice_fee.pages",
                                "required for a per-volume fee",
                            ));
                        }
                        FeeBasis::PerVolume { pages }
                    }
                    _ => {
                        return Err(ApiError::invalid(
                            "notice_fee.basis",
                            "per_request or per_volume",
                        ));
                    }
                };
                let amount = self.cfg.fees.fee(basis);
                if amount == 0 {
                    return Err(ApiError::FailedPrecondition(format!(
                        "notice_fee: no fee is due under the schedule ({basis:?})"
                    )));
                }
                (
                    Action::NoticeFee {
                        day,
                        basis,
                        amount_yuan: amount,
                    },
                    "notice_fee",
                    None,
                )
            }
            Step::Pay => (Action::Pay { day }, "pay", None),
            Step::AbandonFee => (Action::AbandonFee { day }, "abandon_fee", None),
            Step::Reply(r) => {
                let category = ReplyCategory::parse(r.category.trim())
                    .map_err(|e| ApiError::invalid("reply.category", e.to_string()))?;
                let reply = Reply {
                    category,
                    legal_basis: r.legal_basis.trim().to_owned(),
                    responsible_body: Some(r.responsible_body.trim().to_owned())
                        .filter(|s| !s.is_empty()),
                    text: r.text,
                };
                validate_reply(&reply).map_err(|e| ApiError::invalid(e.field, e.rule))?;
                let stored = StoredReply {
                    reply: reply.clone(),
                    document_index_nos: r.document_index_nos,
                };
                let json =
                    serde_json::to_string(&stored).map_err(|e| ApiError::Internal(e.into()))?;
                (Action::Reply { day, reply }, "reply", Some(json))
            }
            Step::Close => (Action::Close { day }, "close", None),
            Step::Withdraw => (Action::Withdraw { day }, "withdraw", None),
        })
    }

    pub async fn record_appeal(
        &self,
        claims: &Claims,
        id: &str,
        a: &AppealRow,
    ) -> Result<RequestRow, ApiError> {
        require_office(claims, &self.unit)?;
        let kind = AppealKind::parse(a.kind.trim())
            .map_err(|e| ApiError::invalid("appeal.kind", e.to_string()))?;
        let outcome = AppealOutcome::parse(a.outcome.trim())
            .map_err(|e| ApiError::invalid("appeal.outcome", e.to_string()))?;
        let today = today_cst();
        let filed = parse_day("appeal.filed_on", &a.filed_on, today)?;
        let decided = if a.decided_on.trim().is_empty() {
            None
        } else {
            Some(parse_day("appeal.decided_on", &a.decided_on, today)?)
        };
        match (outcome, decided) {
            (AppealOutcome::Pending, Some(_)) => {
                return Err(ApiError::invalid(
                    "appeal.decided_on",
                    "a pending appeal has no decision date",
                ));
            }
            (AppealOutcome::Upheld | AppealOutcome::Corrected | AppealOutcome::Other, None) => {
                return Err(ApiError::invalid(
                    "appeal.decided_on",
                    "required with an outcome",
                ));
            }
            (_, Some(d)) if d < filed => {
                return Err(ApiError::invalid(
                    "appeal.decided_on",
                    "before the day it was filed",
                ));
            }
            _ => {}
        }
        let note = bounded("appeal.note", &a.note, 2000)?;
        let mut tx = self.db.begin().await?;
        let row = store::get(&mut tx, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("request_id: no request {id}")))?;
        if claims.unit.as_str() != row.unit {
            return Err(ApiError::PermissionDenied(format!(
                "request {id} belongs to unit {}",
                row.unit
            )));
        }
        let replied = row
            .replied_on
            .as_deref()
            .and_then(|d| NaiveDate::parse_from_str(d, "%Y-%m-%d").ok())
            .ok_or_else(|| {
                ApiError::FailedPrecondition(format!(
                    "appeals are recorded after the reply; the request is {}",
                    row.status
                ))
            })?;
        if filed < replied {
            return Err(ApiError::invalid(
                "appeal.filed_on",
                format!("before the reply of {replied}"),
            ));
        }
        store::add_appeal(
            &mut tx,
            &row.id,
            &row.unit,
            &AppealRow {
                kind: kind.code().to_owned(),
                outcome: outcome.code().to_owned(),
                filed_on: iso(filed),
                decided_on: decided.map(iso).unwrap_or_default(),
                note,
            },
            now_ms(),
        )
        .await?;
        tx.commit().await?;
        Ok(row)
    }

    /// The office's queues, oldest due first: `due_soon` (due within the
    /// configured working days) or `overdue`.
    pub async fn queue(
        &self,
        claims: &Claims,
        queue: &str,
        limit: u32,
        after_due: &str,
        after_id: &str,
    ) -> Result<Vec<QueueRow>, ApiError> {
        require_office(claims, &self.unit)?;
        let (from, to) = self.queue_range(queue, today_cst())?;
        let limit = match limit {
            0 => 50,
            l => l.min(1000),
        };
        let mut conn = self.db.read().acquire().await?;
        Ok(store::queue(
            &mut conn,
            self.unit.as_str(),
            &from,
            &to,
            after_due,
            after_id,
            i64::from(limit),
        )
        .await?)
    }

    fn queue_range(&self, queue: &str, today: NaiveDate) -> Result<(String, String), ApiError> {
        match queue {
            "overdue" => Ok(("0000-01-01".into(), iso(today.pred_opt().unwrap_or(today)))),
            "due_soon" => {
                let until = self
                    .calendar
                    .add_working_days(today, self.cfg.due_soon_working_days)
                    .value;
                Ok((iso(today), iso(until)))
            }
            _ => Err(ApiError::invalid("queue", "due_soon or overdue")),
        }
    }

    pub async fn annual(&self, claims: &Claims, year: i32) -> Result<AnnualFigures, ApiError> {
        if !claims.may_read(&self.unit) {
            return Err(ApiError::PermissionDenied(format!(
                "token of unit {} may not read figures of {}",
                claims.unit, self.unit
            )));
        }
        if !(1949..=9999).contains(&year) {
            return Err(ApiError::invalid("year", "a year such as 2026"));
        }
        let from = format!("{year:04}-01-01");
        let to = format!("{year:04}-12-31");
        let mut conn = self.db.read().acquire().await?;
        let facts = store::annual_facts(&mut conn, self.unit.as_str(), &from, &to).await?;
        let parse = |s: &str| {
            NaiveDate::parse_from_str(s, "%Y-%m-%d").map_err(|e| ApiError::Internal(e.into()))
        };
        let mut requests = Vec::with_capacity(facts.len());
        for f in facts {
            let concluded = match (f.concluded_on, f.reply_category) {
                (Some(d), Some(c)) => Some((
                    parse(&d)?,
                    ReplyCategory::parse(&c)
                        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))?,
                )),
                _ => None,
            };
            requests.push(RequestFacts {
                applicant: ApplicantType::parse(&f.applicant_type)
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))?,
                received: parse(&f.received_on)?,
                concluded,
            });
        }
        let table_three = annual::table_three(year, &requests);
        if let Err(problems) = annual::check(&table_three) {
            return Err(ApiError::Internal(anyhow::anyhow!(
                "table 三 fails its checks: {}",
                problems.join("; ")
            )));
        }
        let appeals = store::appeals_filed_between(&mut conn, self.unit.as_str(), &from, &to)
            .await?
            .into_iter()
            .map(|a| {
                Ok(AppealFacts {
                    kind: AppealKind::parse(&a.kind)
                        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))?,
                    outcome: AppealOutcome::parse(&a.outcome)
                        .map_err(|e| ApiError::Internal(anyhow::anyhow!(e.to_string())))?,
                    filed: parse(&a.filed_on)?,
                })
            })
            .collect::<Result<Vec<_>, ApiError>>()?;
        let table_four = annual::table_four(year, &appeals);
        let fees_collected_yuan =
            store::fees_paid_between(&mut conn, self.unit.as_str(), &from, &to).await?;
        Ok(AnnualFigures {
            table_three,
            table_four,
            fees_collected_yuan,
        })
    }

    /// One scheduler pass: due-soon and overdue events, each sent once per
    /// request, kind and due date. Returns how many were sent.
    pub async fn scheduler_tick(&self, today: NaiveDate) -> Result<usize, ApiError> {
        let mut sent = 0;
        for level in ["due_soon", "overdue"] {
            let (from, to) = self.queue_range(level, today)?;
            let (mut after_due, mut after_id) = (String::new(), String::new());
            loop {
                let page = {
                    let mut conn = self.db.read().acquire().await?;
                    store::queue(
                        &mut conn,
                        self.unit.as_str(),
                        &from,
                        &to,
                        &after_due,
                        &after_id,
                        500,
                    )
                    .await?
                };
                let Some(last) = page.last() else { break };
                after_due = last.due_on.clone();
                after_id = last.id.clone();
                let mut tx = self.db.begin().await?;
                let mut any = false;
                for q in &page {
                    if !store::record_notice(
                        &mut tx,
                        &q.id,
                        &q.due_kind,
                        &q.due_on,
                        level,
                        now_ms(),
                    )
                    .await?
                    {
                        continue;
                    }
                    let due = NaiveDate::parse_from_str(&q.due_on, "%Y-%m-%d")
                        .map_err(|e| ApiError::Internal(e.into()))?;
                    let left = if due >= today {
                        i64::from(self.calendar.working_days_between(today, due).value)
                    } else {
                        -i64::from(self.calendar.working_days_between(due, today).value)
                    };
                    events::due(&mut tx, &self.unit, q, level, left).await?;
                    sent += 1;
                    any = true;
                }
                tx.commit().await?;
                if any {
                    self.relay.notify();
                }
            }
        }
        Ok(sent)
    }

    /// Recomputes due dates resting on a year without calendar data, now
    /// that the calendar may have it (RULES §6).
    pub async fn recompute_provisional(&self) -> Result<usize, ApiError> {
        let rows = {
            let mut conn = self.db.read().acquire().await?;
            store::provisional_open(&mut conn, self.unit.as_str(), 100_000).await?
        };
        let mut changed = 0;
        for mut row in rows {
            let req = Self::state(&row)?;
            let before = (row.due_on.clone(), row.due_provisional);
            let read_at = row.updated_at;
            self.project(&mut row, &req)?;
            // A request stepped on since it was read was projected anew by
            // that step: it is left as the step wrote it.
            if (row.due_on.clone(), row.due_provisional) != before {
                let mut tx = self.db.begin().await?;
                if store::update(&mut tx, &row, read_at).await? {
                    tx.commit().await?;
                    changed += 1;
                }
            }
        }
        Ok(changed)
    }
}
