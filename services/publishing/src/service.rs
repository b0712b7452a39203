//! The publishing application: domain rules + store + outbox, one
//! transaction per call. The gRPC adapter in `grpc.rs` only converts.

use std::sync::{Arc, RwLock};

use chrono::{Datelike as _, NaiveDate};
use gongkai_kernel::auth::{Claims, Role};
use gongkai_kernel::calendar::Calendar;
use gongkai_kernel::db::{Db, is_unique_violation, now_ms, today_cst, violated_constraint};
use gongkai_kernel::outbox::Relay;
use gongkai_kernel::{ApiError, UnitPath};
use sqlx::AnyConnection;

use crate::config::Config;
use crate::domain::catalog::{Catalog, ColumnDef};
use crate::domain::document::{self, Attribute, Fields, Limits, RawFields};
use crate::domain::index_no::IndexFormat;
use crate::domain::privacy::{Finding, Scanner};
use crate::domain::workflow::{Action, State, transition};
use crate::events;
use crate::indexer::Indexer;
use crate::search::{SearchIndex, SearchPage, SearchQuery};
use crate::store::{self, DocRow, HistoryRow, VersionRow};

mod approved;
mod interpretations;
mod timeliness;
mod validity;
mod writer;
use approved::ApprovedDocs;
pub use interpretations::InterpretationDue;
use writer::PublishJob;

/// A finding and the field it was found in.
#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize)]
pub struct FieldFinding {
    pub field: &'static str,
    #[serde(flatten)]
    pub finding: Finding,
}

/// Result of a step that scans: the document, or why it was blocked.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub document: DocRow,
    pub blocked: bool,
    pub findings: Vec<FieldFinding>,
}

#[derive(Debug, Clone)]
pub struct DocumentView {
    pub doc: DocRow,
    pub versions: Vec<VersionRow>,
    pub history: Vec<HistoryRow>,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct RegulationFigures {
    pub kind: String,
    pub issued: i64,
    pub abolished: i64,
    pub in_force: i64,
}

#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Statistics {
    pub by_column: Vec<(String, i64)>,
    pub by_month: Vec<(String, i64)>,
    pub by_year: Vec<(String, i64)>,
    pub table_two: Vec<RegulationFigures>,
    pub late: i64,
}

#[derive(Debug, Clone, serde::Serialize)]
pub struct RectificationItem {
    pub document_id: String,
    pub index_no: String,
    /// The title of the version scanned.
    pub title: String,
    pub date_published: String,
    /// The version whose text holds the finding, and whether it is an
    /// earlier one (public in the document's history) rather than the
    /// text in force.
    pub version: i64,
    pub earlier_version: bool,
    pub state: &'static str,
    pub field: &'static str,
    #[serde(flatten)]
    pub finding: Finding,
}

pub struct Publishing {
    db: Db,
    unit: UnitPath,
    unit_name: String,
    org_code: String,
    calendar: Calendar,
    cfg: Config,
    limits: Limits,
    index_format: IndexFormat,
    scanner: Scanner,
    catalog: RwLock<Catalog>,
    search: Arc<SearchIndex>,
    indexer: Indexer,
    relay: Relay,
    /// The group-commit writer for publications, once started.
    writer: RwLock<Option<tokio::sync::mpsc::Sender<PublishJob>>>,
    /// Approved documents, kept from their approval for their publication.
    approved: ApprovedDocs,
}

/// A publication prepared for writing.
struct Prepared {
    from: State,
    expect_at: i64,
    history: HistoryRow,
    events: Vec<gongkai_kernel::outbox::OutboxRow>,
}

/// Pieces `Publishing` is built from.
pub struct Parts {
    pub db: Db,
    pub unit: UnitPath,
    pub unit_name: String,
    pub org_code: String,
    pub calendar: Calendar,
    pub cfg: Config,
    pub catalog: Catalog,
    pub search: Arc<SearchIndex>,
    pub indexer: Indexer,
    pub relay: Relay,
}

fn require_role(claims: &Claims, roles: &[Role], what: &str) -> Result<(), ApiError> {
    if roles.contains(&claims.role) {
        return Ok(());
    }
    let names: Vec<&str> = roles.iter().map(|r| r.as_str()).collect();
    Err(ApiError::PermissionDenied(format!(
        "role {} may not {what}; needs {}",
        claims.role,
        names.join(" or ")
    )))
}

fn invalid(e: document::FieldError) -> ApiError {
    ApiError::invalid(e.field, e.rule)
}

fn history(action: Action, actor: &str, from: State, to: State, comment: &str) -> HistoryRow {
    HistoryRow {
        action: action.as_str().to_owned(),
        actor: actor.to_owned(),
        from_state: from.as_str().to_owned(),
        to_state: to.as_str().to_owned(),
        comment: comment.to_owned(),
        at: now_ms(),
    }
}

/// Attempts at a change read outside the writer before giving up on a
/// document others keep changing.
const RETRIES: usize = 3;
/// What a document's validity (有效性) can be.
const VALIDITIES: [&str; 3] = ["valid", "abolished", "expired"];
/// The longest review comment or reason for a revision or an abolition.
const NOTE_MAX_CHARS: usize = 2000;

fn conflict(id: &str) -> ApiError {
    ApiError::FailedPrecondition(format!(
        "document_id: {id} was changed by someone else meanwhile; read it again and retry"
    ))
}

/// A change stamp later than `prev`, so that two changes never share one and
/// the write's "unchanged since read" check is exact.
fn next_stamp(prev: i64) -> i64 {
    now_ms().max(prev + 1)
}

/// Stamps `doc` anew and writes it, if its row is still as read (`read`:
/// state and stamp then); refused with nothing written when someone else
/// changed it meanwhile.
async fn write_if_unchanged(
    conn: &mut AnyConnection,
    doc: &mut DocRow,
    read: (State, i64),
) -> Result<(), ApiError> {
    doc.updated_at = next_stamp(read.1);
    let written = store::update_document(conn, doc, read)
        .await
        .map_err(|e| map_unique(e, doc.fields.doc_number.as_deref()))?;
    if written {
        Ok(())
    } else {
        Err(conflict(&doc.id))
    }
}

/// Commits in `tx` what the calendar changed in `doc` (no new version),
/// with its history entry and events, if the row is still as read
/// (`read`); `Ok(false)`, with nothing written, when someone changed the
/// document meanwhile: the next pass looks at it again.
async fn commit_calendar_change(
    mut tx: sqlx::Transaction<'static, sqlx::Any>,
    backend: gongkai_kernel::db::Backend,
    doc: &DocRow,
    read: (State, i64),
    history: &HistoryRow,
    events: &[gongkai_kernel::outbox::OutboxRow],
) -> Result<bool, ApiError> {
    let written = store::write_change(
        &mut tx,
        backend,
        &store::Change {
            doc,
            expect_state: read.0,
            expect_updated_at: read.1,
            fields_changed: false,
            version: None,
            history,
            events,
        },
    )
    .await?;
    if written {
        tx.commit().await?;
    } else {
        tx.rollback().await?;
    }
    Ok(written)
}

fn map_unique(e: sqlx::Error, doc_number: Option<&str>) -> ApiError {
    if is_unique_violation(&e) {
        let c = violated_constraint(&e);
        if c.contains("doc_number") {
            return ApiError::AlreadyExists(format!(
                "fields.doc_number: {} is already used by another document of this unit",
                doc_number.unwrap_or_default()
            ));
        }
        if c.contains("index_no") {
            return ApiError::AlreadyExists(format!("index_no: already assigned ({c})"));
        }
    }
    e.into()
}

impl Publishing {
    pub fn new(p: Parts) -> Result<Publishing, ApiError> {
        let index_format = IndexFormat::parse(&p.cfg.index_format)
            .map_err(|e| ApiError::invalid("publishing.index_format", e))?;
        let scanner = Scanner::new(&p.cfg.privacy)
            .map_err(|e| ApiError::invalid("publishing.privacy", e.to_string()))?;
        let limits = Limits {
            body_max_bytes: p.cfg.body_max_bytes,
            ..Limits::default()
        };
        let approved = ApprovedDocs::new(p.cfg.approved_cache_mib.saturating_mul(1 << 20));
        Ok(Publishing {
            approved,
            db: p.db,
            unit: p.unit,
            unit_name: p.unit_name,
            org_code: p.org_code,
            calendar: p.calendar,
            cfg: p.cfg,
            limits,
            index_format,
            scanner,
            catalog: RwLock::new(p.catalog),
            search: p.search,
            indexer: p.indexer,
            relay: p.relay,
            writer: RwLock::new(None),
        })
    }

    pub fn unit(&self) -> &UnitPath {
        &self.unit
    }

    pub fn db(&self) -> &Db {
        &self.db
    }

    /// Adds the unit's own columns (stored) to the default tree.
    pub async fn load_custom_columns(&self) -> Result<(), ApiError> {
        let mut conn = self.db.read().acquire().await?;
        let cols = store::custom_columns(&mut conn, self.unit.as_str()).await?;
        let mut cat = self.catalog_write();
        for c in cols {
            if cat.get(&c.code).is_none() {
                // A stored column whose parent vanished from the default file
                // still loads, as a top-level column, rather than disappear.
                let parent_ok = c.parent.is_empty() || cat.get(&c.parent).is_some();
                let c = if parent_ok {
                    c
                } else {
                    ColumnDef {
                        parent: String::new(),
                        ..c
                    }
                };
                cat.add(c)
                    .map_err(|e| ApiError::Internal(anyhow::anyhow!(e)))?;
            }
        }
        Ok(())
    }

    fn catalog_read(&self) -> std::sync::RwLockReadGuard<'_, Catalog> {
        self.catalog.read().unwrap_or_else(|p| p.into_inner())
    }

    fn catalog_write(&self) -> std::sync::RwLockWriteGuard<'_, Catalog> {
        self.catalog.write().unwrap_or_else(|p| p.into_inner())
    }

    pub fn columns(&self) -> Vec<ColumnDef> {
        self.catalog_read().columns().to_vec()
    }

    /// The catalogue of `unit` (empty: this node's), which is the only one
    /// this node keeps.
    pub fn columns_of(&self, unit: &str) -> Result<Vec<ColumnDef>, ApiError> {
        let unit = unit.trim();
        if !unit.is_empty() {
            let unit =
                UnitPath::parse(unit).map_err(|e| ApiError::invalid("unit", e.to_string()))?;
            if unit != self.unit {
                return Err(ApiError::NotFound(format!(
                    "unit: this node keeps the catalogue of {} only, not of {unit}",
                    self.unit
                )));
            }
        }
        Ok(self.columns())
    }

    /// `code` if the catalogue has it; the error names `field`.
    fn known_column(&self, field: &'static str, code: &str) -> Result<(), ApiError> {
        if self.catalog_read().get(code).is_some() {
            Ok(())
        } else {
            Err(ApiError::invalid(
                field,
                format!("no column {code:?} in this unit's catalogue (see ListColumns)"),
            ))
        }
    }

    fn column(&self, code: &str) -> Result<ColumnDef, ApiError> {
        self.catalog_read().get(code).cloned().ok_or_else(|| {
            ApiError::invalid(
                "fields.column",
                format!("no column {code:?} in this unit's catalogue (see ListColumns)"),
            )
        })
    }

    /// Acting on this node's documents is for tokens of this unit.
    fn acting(&self, claims: &Claims) -> Result<(), ApiError> {
        if claims.acts_for(&self.unit) {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied(format!(
                "token of unit {} may not act for unit {}",
                claims.unit, self.unit
            )))
        }
    }

    fn owned(&self, claims: &Claims, doc: &DocRow) -> Result<(), ApiError> {
        if claims.unit.as_str() == doc.unit {
            Ok(())
        } else {
            Err(ApiError::PermissionDenied(format!(
                "document {} belongs to unit {}, not {}",
                doc.id, doc.unit, claims.unit
            )))
        }
    }

    pub async fn add_column(
        &self,
        claims: &Claims,
        mut col: ColumnDef,
    ) -> Result<ColumnDef, ApiError> {
        self.acting(claims)?;
        require_role(claims, &[Role::Admin], "add columns")?;
        col.custom = true;
        col.code = col.code.trim().to_owned();
        col.name = col.name.trim().to_owned();
        if self.catalog_read().get(&col.code).is_some() {
            return Err(ApiError::AlreadyExists(format!(
                "column.code: {} already exists",
                col.code
            )));
        }
        // Checked against a copy, so that a refused column changes nothing.
        self.catalog_read()
            .clone()
            .add(col.clone())
            .map_err(|e| ApiError::invalid("column", e))?;
        let mut tx = self.db.begin().await?;
        store::insert_custom_column(&mut tx, self.unit.as_str(), &col)
            .await
            .map_err(|e| {
                if is_unique_violation(&e) {
                    ApiError::AlreadyExists(format!("column.code: {} already exists", col.code))
                } else {
                    e.into()
                }
            })?;
        tx.commit().await?;
        // Into the catalogue as it is now, not as copied above: a column
        // another call added meanwhile stays. Only a column with the same
        // code could be refused here, and the database has just refused
        // that one.
        if let Err(e) = self.catalog_write().add(col.clone()) {
            tracing::warn!(code = %col.code, error = %e, "column stored but not added to the catalogue in memory");
        }
        Ok(col)
    }

    fn validate(&self, raw: &RawFields) -> Result<Fields, ApiError> {
        let f =
            document::validate(raw, &self.limits, today_cst(), &self.unit_name).map_err(invalid)?;
        self.column(&f.column)?;
        Ok(f)
    }

    pub async fn create(&self, claims: &Claims, raw: &RawFields) -> Result<DocRow, ApiError> {
        self.acting(claims)?;
        require_role(claims, &[Role::Editor, Role::Admin], "create documents")?;
        let fields = self.validate(raw)?;
        let doc = DocRow::draft(
            uuid::Uuid::now_v7().to_string(),
            self.unit.to_string(),
            fields,
            claims.sub.clone(),
            now_ms(),
        );
        let mut tx = self.db.begin().await?;
        store::insert_document(&mut tx, &doc)
            .await
            .map_err(|e| map_unique(e, doc.fields.doc_number.as_deref()))?;
        store::add_history(
            &mut tx,
            &doc.id,
            &history(
                Action::Edit,
                &claims.sub,
                State::Draft,
                State::Draft,
                "created",
            ),
        )
        .await?;
        tx.commit().await?;
        Ok(doc)
    }

    async fn load(&self, conn: &mut AnyConnection, id: &str) -> Result<DocRow, ApiError> {
        self.load_named(conn, "document_id", id).await
    }

    /// The document `id` names; errors name `field`. Ids are given out in
    /// one spelling, and only that one is taken: another spelling of the
    /// same UUID would be stored as a different text wherever it is kept.
    async fn load_named(
        &self,
        conn: &mut AnyConnection,
        field: &'static str,
        id: &str,
    ) -> Result<DocRow, ApiError> {
        if id.is_empty() {
            return Err(ApiError::invalid(field, "required"));
        }
        if !uuid::Uuid::parse_str(id).is_ok_and(|u| u.hyphenated().to_string() == id) {
            return Err(ApiError::invalid(
                field,
                format!("{id:?} is not a document id (a UUID as 8-4-4-4-12 lowercase hex digits)"),
            ));
        }
        store::get_document(conn, id)
            .await?
            .ok_or_else(|| ApiError::NotFound(format!("{field}: no document {id}")))
    }

    fn step(doc: &DocRow, action: Action) -> Result<State, ApiError> {
        transition(doc.state, action).map_err(|e| ApiError::FailedPrecondition(e.to_string()))
    }

    pub async fn update_draft(
        &self,
        claims: &Claims,
        id: &str,
        raw: &RawFields,
    ) -> Result<DocRow, ApiError> {
        self.acting(claims)?;
        require_role(claims, &[Role::Editor, Role::Admin], "edit drafts")?;
        let fields = self.validate(raw)?;
        let mut tx = self.db.begin().await?;
        let mut doc = self.load(&mut tx, id).await?;
        self.owned(claims, &doc)?;
        let from = doc.state;
        doc.state = Self::step(&doc, Action::Edit)?;
        self.check_links_kept(&doc, &fields)?;
        let read = (doc.state, doc.updated_at);
        doc.fields = fields;
        doc.confidential_findings = "[]".into();
        write_if_unchanged(&mut tx, &mut doc, read).await?;
        store::add_history(
            &mut tx,
            id,
            &history(Action::Edit, &claims.sub, from, doc.state, ""),
        )
        .await?;
        tx.commit().await?;
        Ok(doc)
    }

    /// A linked document stays in a column of its kind: an interpretation
    /// in an interpretation column, a policy document in a policy column.
    fn check_links_kept(&self, doc: &DocRow, fields: &Fields) -> Result<(), ApiError> {
        let column = self.column(&fields.column)?;
        if doc.interprets.is_some() && !column.interpretation {
            return Err(ApiError::FailedPrecondition(
                "fields.column: this document is linked as an interpretation; keep it in an interpretation column".into(),
            ));
        }
        if doc.interpretation.is_some() && !column.policy {
            return Err(ApiError::FailedPrecondition(
                "fields.column: this policy document is linked to its interpretation; keep it in a policy column".into(),
            ));
        }
        Ok(())
    }

    /// The fields to scan: a summary derived from the body would only
    /// repeat the body's findings, so it is scanned only when written apart.
    fn scanned_fields<'a>(&self, f: &'a Fields) -> Vec<(&'static str, &'a str)> {
        let mut v = vec![("title", f.title.as_str())];
        if f.summary != document::summarize(&f.body, self.limits.summary_chars) {
            v.push(("summary", f.summary.as_str()));
        }
        v.push(("body", f.body.as_str()));
        v
    }

    fn scan_personal(&self, f: &Fields) -> Vec<FieldFinding> {
        let mut out = Vec::new();
        for (field, text) in self.scanned_fields(f) {
            out.extend(
                self.scanner
                    .scan_personal(text)
                    .into_iter()
                    .map(|finding| FieldFinding { field, finding }),
            );
        }
        out
    }

    fn scan_confidential(&self, f: &Fields) -> Vec<FieldFinding> {
        let mut out = Vec::new();
        for (field, text) in self.scanned_fields(f) {
            out.extend(
                self.scanner
                    .scan_confidential(text)
                    .into_iter()
                    .map(|finding| FieldFinding { field, finding }),
            );
        }
        out
    }

    /// Records a privacy block: its event only, the document unchanged.
    async fn blocked(
        &self,
        doc: DocRow,
        stage: &str,
        findings: Vec<FieldFinding>,
    ) -> Result<Outcome, ApiError> {
        let mut tx = self.db.begin().await?;
        events::privacy_blocked(&mut tx, &self.unit, &doc, stage, &findings).await?;
        tx.commit().await?;
        self.relay.notify();
        tracing::info!(document_id = %doc.id, stage, findings = findings.len(), "privacy scan blocked the document");
        Ok(Outcome {
            document: doc,
            blocked: true,
            findings,
        })
    }

    /// A policy document travels with its interpretation (RULES §1: 退文
    /// otherwise). Returns the linked interpretation.
    async fn interpretation_of(
        &self,
        conn: &mut AnyConnection,
        doc: &DocRow,
        publishing: bool,
    ) -> Result<Option<DocRow>, ApiError> {
        if !self.column(&doc.fields.column)?.policy {
            return Ok(None);
        }
        let Some(iid) = &doc.interpretation else {
            return Err(ApiError::FailedPrecondition(
                "interpretation: a policy document goes with its interpretation (政策解读); link one with LinkInterpretation first (退文)".into(),
            ));
        };
        let interp = self.load(conn, iid).await?;
        if publishing {
            let ready = matches!(interp.state, State::Published | State::Approved);
            if !ready {
                return Err(ApiError::FailedPrecondition(format!(
                    "interpretation: the linked interpretation {} is {}; it must be approved to be released with the policy document",
                    interp.id, interp.state
                )));
            }
        }
        Ok(Some(interp))
    }

    /// An interpretation is released with its policy document or after it
    /// (RULES §1), never before: alone, it may go out only once the policy
    /// document is published.
    async fn policy_released_before(
        &self,
        conn: &mut AnyConnection,
        doc: &DocRow,
    ) -> Result<(), ApiError> {
        let Some(pid) = &doc.interprets else {
            return Ok(());
        };
        let policy = self.load(conn, pid).await?;
        if policy.state == State::Published {
            return Ok(());
        }
        let how = if self.cfg.interpretation_lag_days == 0 {
            format!("publishing {pid} releases both together")
        } else {
            format!("publish {pid} first")
        };
        Err(ApiError::FailedPrecondition(format!(
            "document_id: an interpretation is released with its policy document or after it, and {pid} is {}; {how}",
            policy.state
        )))
    }

    pub async fn submit(&self, claims: &Claims, id: &str) -> Result<Outcome, ApiError> {
        self.acting(claims)?;
        require_role(claims, &[Role::Editor, Role::Admin], "submit documents")?;
        let mut tx = self.db.begin().await?;
        let mut doc = self.load(&mut tx, id).await?;
        self.owned(claims, &doc)?;
        let from = doc.state;
        let to = Self::step(&doc, Action::Submit)?;
        self.interpretation_of(&mut tx, &doc, false).await?;
        let personal = self.scan_personal(&doc.fields);
        if !personal.is_empty() {
            tx.rollback().await?;
            return self.blocked(doc, "submit", personal).await;
        }
        let confidential = self.scan_confidential(&doc.fields);
        doc.confidential_findings =
            serde_json::to_string(&confidential).map_err(|e| ApiError::Internal(e.into()))?;
        let read = (doc.state, doc.updated_at);
        doc.state = to;
        write_if_unchanged(&mut tx, &mut doc, read).await?;
        let note = if confidential.is_empty() {
            String::new()
        } else {
            format!(
                "{} confidentiality finding(s) for the reviewer",
                confidential.len()
            )
        };
        store::add_history(
            &mut tx,
            id,
            &history(Action::Submit, &claims.sub, from, to, &note),
        )
        .await?;
        tx.commit().await?;
        Ok(Outcome {
            document: doc,
            blocked: false,
            findings: confidential,
        })
    }

    pub async fn review(
        &self,
        claims: &Claims,
        id: &str,
        approve: bool,
        comment: &str,
        confidentiality_cleared: bool,
    ) -> Result<DocRow, ApiError> {
        self.acting(claims)?;
        require_role(claims, &[Role::Reviewer, Role::Admin], "review documents")?;
        let comment = comment.trim();
        if !approve && comment.is_empty() {
            return Err(ApiError::invalid(
                "comment",
                "required when rejecting: say what to change",
            ));
        }
        document::paragraphs("comment", comment, NOTE_MAX_CHARS).map_err(invalid)?;
        let mut tx = self.db.begin().await?;
        let mut doc = self.load(&mut tx, id).await?;
        self.owned(claims, &doc)?;
        let action = if approve {
            Action::Approve
        } else {
            Action::Reject
        };
        let from = doc.state;
        let to = Self::step(&doc, action)?;
        if doc.created_by == claims.sub {
            return Err(ApiError::PermissionDenied(format!(
                "{} drafted this document; nobody reviews their own draft",
                claims.sub
            )));
        }
        // An admin may edit any draft of the unit: having written any of
        // the text is drafting it.
        let edited = store::history(&mut tx, id)
            .await?
            .iter()
            .any(|h| h.action == Action::Edit.as_str() && h.actor == claims.sub);
        if edited {
            return Err(ApiError::PermissionDenied(format!(
                "{} edited this draft; nobody reviews their own draft",
                claims.sub
            )));
        }
        if approve && doc.confidential_findings != "[]" && !confidentiality_cleared {
            return Err(ApiError::FailedPrecondition(
                "confidentiality_cleared: the draft has confidentiality findings (保密审查); confirm them cleared to approve".into(),
            ));
        }
        let read = (doc.state, doc.updated_at);
        doc.state = to;
        write_if_unchanged(&mut tx, &mut doc, read).await?;
        store::add_history(
            &mut tx,
            id,
            &history(action, &claims.sub, from, to, comment),
        )
        .await?;
        tx.commit().await?;
        self.approved.keep(&doc);
        Ok(doc)
    }

    fn parse_day(field: &'static str, s: &str) -> Result<NaiveDate, ApiError> {
        let today = today_cst();
        if s.trim().is_empty() {
            return Ok(today);
        }
        let d = document::parse_date(field, s).map_err(invalid)?;
        if d > today {
            return Err(ApiError::invalid(field, format!("{d} is in the future")));
        }
        Ok(d)
    }

    /// Assigns the index number, timeliness and search sequence, and writes
    /// the row, its version, history and events. `Ok(false)`: the document
    /// changed since it was read; the caller rolls back and retries.
    /// Why `doc` cannot be published on `day`, if it cannot.
    fn check_publishable(doc: &DocRow, day: NaiveDate) -> Result<(), ApiError> {
        if doc.fields.attribute != Attribute::Proactive {
            return Err(ApiError::FailedPrecondition(format!(
                "fields.attribute: only 主动公开 (proactive) documents are published; {} is {}",
                doc.id,
                doc.fields.attribute.as_str()
            )));
        }
        if day < doc.fields.date_formed {
            return Err(ApiError::invalid(
                "date_published",
                format!("{day} is before the date formed {}", doc.fields.date_formed),
            ));
        }
        Self::step(doc, Action::Publish)?;
        Ok(())
    }

    /// Makes `doc` published on `day` with its sequences (index number when
    /// it has none yet, search watermark): timeliness, history and events.
    fn prepare_publication(
        &self,
        doc: &mut DocRow,
        day: NaiveDate,
        actor: &str,
        seq: Option<i64>,
        search_seq: i64,
    ) -> Prepared {
        let from = doc.state;
        let expect_at = doc.updated_at;
        doc.state = State::Published;
        let days = self
            .calendar
            .working_days_between(doc.fields.date_formed, day);
        doc.timeliness_days = Some(i64::from(days.value));
        doc.timeliness_provisional = days.provisional;
        doc.late = days.value > self.cfg.late_after_working_days;
        doc.date_published = Some(day);
        doc.updated_at = next_stamp(expect_at);
        if let Some(seq) = seq {
            doc.index_no = Some(self.index_format.render(
                &self.org_code,
                &doc.unit,
                day.year(),
                &doc.fields.column,
                seq,
            ));
        }
        doc.search_seq = search_seq;
        let mut events = vec![events::document_changed(
            &self.unit,
            &self.unit_name,
            doc,
            "published",
        )];
        if doc.late {
            events.push(events::late(
                &self.unit,
                doc,
                i64::from(self.cfg.late_after_working_days),
            ));
        }
        Prepared {
            from,
            expect_at,
            history: history(Action::Publish, actor, from, doc.state, ""),
            events,
        }
    }

    /// Publishes `doc` inside the caller's transaction. `Ok(false)`: the
    /// document changed since it was read; the caller rolls back and retries.
    async fn publish_in_tx(
        &self,
        conn: &mut AnyConnection,
        doc: &mut DocRow,
        day: NaiveDate,
        actor: &str,
    ) -> Result<bool, ApiError> {
        Self::check_publishable(doc, day)?;
        let scope = self.index_scope(doc);
        let index =
            doc.index_no
                .is_none()
                .then_some((doc.unit.as_str(), day.year(), scope.as_str()));
        let (seq, search_seq) = store::take_seqs(conn, self.db.backend(), index).await?;
        let p = self.prepare_publication(doc, day, actor, seq, search_seq);
        Ok(store::write_change(
            conn,
            self.db.backend(),
            &store::Change {
                doc,
                expect_state: p.from,
                expect_updated_at: p.expect_at,
                fields_changed: false,
                version: Some(("published", actor)),
                history: &p.history,
                events: &p.events,
            },
        )
        .await?)
    }

    pub async fn publish(
        &self,
        claims: &Claims,
        id: &str,
        date: &str,
    ) -> Result<Outcome, ApiError> {
        self.acting(claims)?;
        require_role(
            claims,
            &[Role::Editor, Role::Reviewer, Role::Admin],
            "publish documents",
        )?;
        let day = Self::parse_day("date_published", date)?;
        // The common case first: the document as kept at its approval, or
        // else read by the writer with the rest of its group (one read for
        // all of them). Anything unusual takes the long way below, where it
        // gets its proper answer.
        let fast = match self.approved.take(id) {
            Some(doc) if self.publishable_as_read(&doc, claims.unit.as_str(), day) => {
                Some((vec![doc], None))
            }
            Some(doc) => {
                // Another unit's caller is refused on the long way; the
                // copy stays for the document's own unit.
                if doc.unit != claims.unit.as_str() {
                    self.approved.keep(&doc);
                }
                None
            }
            None => Some((Vec::new(), Some((id.to_owned(), claims.unit.to_string())))),
        };
        if let Some(writer) = self.writer_handle()
            && let Some((targets, read)) = fast
            && let Some(doc) = self
                .to_writer(&writer, targets, read, day, &claims.sub)
                .await?
        {
            self.after_public_change();
            return Ok(Outcome {
                document: doc,
                blocked: false,
                findings: Vec::new(),
            });
        }
        for _ in 0..RETRIES {
            // Read and check outside the writer; the write itself verifies
            // that nothing changed meanwhile.
            let mut conn = self.db.read().acquire().await?;
            let doc = self.load(&mut conn, id).await?;
            self.owned(claims, &doc)?;
            // Refusals first: a document that cannot be published is not
            // scanned, so no block is recorded for it.
            Self::check_publishable(&doc, day)?;
            self.policy_released_before(&mut conn, &doc).await?;
            let mut findings = self.scan_personal(&doc.fields);
            let interp = self.interpretation_of(&mut conn, &doc, true).await?;
            drop(conn);
            // With no lag allowed the interpretation is released in the same
            // transaction: both appear together or neither does.
            let mut targets = vec![doc];
            if let Some(i) = interp
                && i.state == State::Approved
                && self.cfg.interpretation_lag_days == 0
            {
                findings.extend(self.scan_personal(&i.fields));
                targets.push(i);
            }
            if !findings.is_empty() {
                let doc = targets.swap_remove(0);
                return self.blocked(doc, "publish", findings).await;
            }
            // An interpretation released here is published with its policy
            // document: no call will take its kept copy.
            for released in &targets[1..] {
                self.approved.forget(&released.id);
            }
            let published = match self.writer_handle() {
                Some(writer) => {
                    self.to_writer(&writer, targets, None, day, &claims.sub)
                        .await?
                }
                None => self.publish_alone(targets, day, &claims.sub).await?,
            };
            if let Some(doc) = published {
                self.after_public_change();
                return Ok(Outcome {
                    document: doc,
                    blocked: false,
                    findings: Vec::new(),
                });
            }
        }
        Err(conflict(id))
    }

    /// One publication in its own transaction; `Ok(None)` on a conflict.
    async fn publish_alone(
        &self,
        mut targets: Vec<DocRow>,
        day: NaiveDate,
        actor: &str,
    ) -> Result<Option<DocRow>, ApiError> {
        let mut tx = self.db.begin().await?;
        for d in &mut targets {
            if !self.publish_in_tx(&mut tx, d, day, actor).await? {
                tx.rollback().await?;
                return Ok(None);
            }
        }
        tx.commit().await?;
        Ok(Some(targets.swap_remove(0)))
    }

    /// The index-number sequence a document counts in: per column when the
    /// format names the column, else one per unit and year.
    fn index_scope(&self, d: &DocRow) -> String {
        if self.index_format.per_column() {
            d.fields.column.clone()
        } else {
            String::new()
        }
    }

    fn after_public_change(&self) {
        self.relay.notify();
        self.indexer.notify();
    }

    pub async fn revise(
        &self,
        claims: &Claims,
        id: &str,
        raw: &RawFields,
        reason: &str,
        confidentiality_cleared: bool,
    ) -> Result<Outcome, ApiError> {
        self.acting(claims)?;
        require_role(
            claims,
            &[Role::Reviewer, Role::Admin],
            "revise published documents",
        )?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ApiError::invalid(
                "reason",
                "required: say why the document is revised",
            ));
        }
        document::paragraphs("reason", reason, NOTE_MAX_CHARS).map_err(invalid)?;
        let fields = self.validate(raw)?;
        if fields.attribute != Attribute::Proactive {
            return Err(ApiError::FailedPrecondition(
                "fields.attribute: a published document stays 主动公开; abolish it instead".into(),
            ));
        }
        for _ in 0..RETRIES {
            let mut doc = {
                let mut conn = self.db.read().acquire().await?;
                self.load(&mut conn, id).await?
            };
            self.owned(claims, &doc)?;
            let to = Self::step(&doc, Action::Revise)?;
            if let Some(p) = doc.date_published
                && fields.date_formed > p
            {
                return Err(ApiError::invalid(
                    "fields.date_formed",
                    format!("{} is after the date published {p}", fields.date_formed),
                ));
            }
            self.check_links_kept(&doc, &fields)?;
            let findings = self.scan_personal(&fields);
            if !findings.is_empty() {
                return self.blocked(doc, "revise", findings).await;
            }
            let confidential = self.scan_confidential(&fields);
            if !confidential.is_empty() && !confidentiality_cleared {
                return Ok(Outcome {
                    document: doc,
                    blocked: true,
                    findings: confidential,
                });
            }
            let expect_at = doc.updated_at;
            let formed_before = doc.fields.date_formed;
            doc.fields = fields.clone();
            doc.state = to;
            doc.version += 1;
            // A new version in force again renews an expired document; one
            // whose new last day has passed is expired by the next pass.
            if doc.validity == "expired" && fields.valid_until.is_none_or(|d| d >= today_cst()) {
                doc.validity = "valid".into();
            }
            doc.updated_at = next_stamp(expect_at);
            let mut tx = self.db.begin().await?;
            doc.search_seq = store::take_seqs(&mut tx, self.db.backend(), None).await?.1;
            // A corrected date formed changes the working days it took to
            // publish the document, and perhaps whether it was late.
            let timeliness = match doc.date_published {
                Some(p) if doc.fields.date_formed != formed_before => {
                    let days = self
                        .calendar
                        .working_days_between(doc.fields.date_formed, p);
                    self.set_timeliness(&mut doc, days)
                }
                _ => Vec::new(),
            };
            let mut events = vec![events::document_changed(
                &self.unit,
                &self.unit_name,
                &doc,
                "revised",
            )];
            events.extend(timeliness);
            let h = history(Action::Revise, &claims.sub, State::Published, to, reason);
            let written = store::write_change(
                &mut tx,
                self.db.backend(),
                &store::Change {
                    doc: &doc,
                    expect_state: State::Published,
                    expect_updated_at: expect_at,
                    fields_changed: true,
                    version: Some((reason, &claims.sub)),
                    history: &h,
                    events: &events,
                },
            )
            .await
            .map_err(|e| map_unique(e, doc.fields.doc_number.as_deref()))?;
            if written {
                tx.commit().await?;
                self.after_public_change();
                return Ok(Outcome {
                    document: doc,
                    blocked: false,
                    findings: Vec::new(),
                });
            }
            tx.rollback().await?;
        }
        Err(conflict(id))
    }

    pub async fn abolish(
        &self,
        claims: &Claims,
        id: &str,
        reason: &str,
        date: &str,
    ) -> Result<DocRow, ApiError> {
        self.acting(claims)?;
        require_role(claims, &[Role::Reviewer, Role::Admin], "abolish documents")?;
        let reason = reason.trim();
        if reason.is_empty() {
            return Err(ApiError::invalid(
                "reason",
                "required: say why the document is abolished",
            ));
        }
        document::paragraphs("reason", reason, NOTE_MAX_CHARS).map_err(invalid)?;
        let day = Self::parse_day("date", date)?;
        for _ in 0..RETRIES {
            let mut doc = {
                let mut conn = self.db.read().acquire().await?;
                self.load(&mut conn, id).await?
            };
            self.owned(claims, &doc)?;
            let from = doc.state;
            doc.state = Self::step(&doc, Action::Abolish)?;
            if let Some(p) = doc.date_published
                && day < p
            {
                return Err(ApiError::invalid(
                    "date",
                    format!("{day} is before the date published {p}"),
                ));
            }
            let expect_at = doc.updated_at;
            doc.validity = "abolished".into();
            doc.abolished_on = Some(day);
            doc.abolish_reason = Some(reason.to_owned());
            doc.updated_at = next_stamp(expect_at);
            let mut tx = self.db.begin().await?;
            doc.search_seq = store::take_seqs(&mut tx, self.db.backend(), None).await?.1;
            let events = [events::document_changed(
                &self.unit,
                &self.unit_name,
                &doc,
                "abolished",
            )];
            let h = history(Action::Abolish, &claims.sub, from, doc.state, reason);
            let written = store::write_change(
                &mut tx,
                self.db.backend(),
                &store::Change {
                    doc: &doc,
                    expect_state: from,
                    expect_updated_at: expect_at,
                    fields_changed: false,
                    version: None,
                    history: &h,
                    events: &events,
                },
            )
            .await?;
            if written {
                tx.commit().await?;
                self.after_public_change();
                return Ok(doc);
            }
            tx.rollback().await?;
        }
        Err(conflict(id))
    }

    pub async fn link_interpretation(
        &self,
        claims: &Claims,
        policy_id: &str,
        interp_id: &str,
    ) -> Result<DocRow, ApiError> {
        self.acting(claims)?;
        require_role(claims, &[Role::Editor, Role::Admin], "link interpretations")?;
        let mut tx = self.db.begin().await?;
        let mut policy = self
            .load_named(&mut tx, "policy_document_id", policy_id)
            .await?;
        let mut interp = self
            .load_named(&mut tx, "interpretation_document_id", interp_id)
            .await?;
        if policy_id == interp_id {
            return Err(ApiError::invalid(
                "interpretation_document_id",
                "a document cannot interpret itself",
            ));
        }
        self.owned(claims, &policy)?;
        self.owned(claims, &interp)?;
        if !self.column(&policy.fields.column)?.policy {
            return Err(ApiError::FailedPrecondition(format!(
                "policy_document_id: column {} is not a policy column",
                policy.fields.column
            )));
        }
        if !self.column(&interp.fields.column)?.interpretation {
            return Err(ApiError::FailedPrecondition(format!(
                "interpretation_document_id: column {} is not an interpretation column",
                interp.fields.column
            )));
        }
        for d in [&policy, &interp] {
            if d.state == State::Abolished {
                return Err(ApiError::FailedPrecondition(format!(
                    "document {} is abolished",
                    d.id
                )));
            }
        }
        if policy
            .interpretation
            .as_deref()
            .is_some_and(|x| x != interp_id)
        {
            return Err(ApiError::FailedPrecondition(
                "policy_document_id: already linked to another interpretation".into(),
            ));
        }
        if interp.interprets.as_deref().is_some_and(|x| x != policy_id) {
            return Err(ApiError::FailedPrecondition(
                "interpretation_document_id: already interprets another document".into(),
            ));
        }
        for d in [&mut policy, &mut interp] {
            let read = (d.state, d.updated_at);
            if d.id == policy_id {
                d.interpretation = Some(interp_id.to_owned());
            } else {
                d.interprets = Some(policy_id.to_owned());
            }
            write_if_unchanged(&mut tx, d, read).await?;
        }
        tx.commit().await?;
        self.approved.forget(policy_id);
        self.approved.forget(interp_id);
        Ok(policy)
    }

    /// A document by id or index number. Published and abolished documents
    /// are public; others need a token that may read the unit.
    pub async fn get(
        &self,
        claims: Option<&Claims>,
        id: &str,
        index_no: &str,
        with_history: bool,
    ) -> Result<DocumentView, ApiError> {
        let (field, key, by_id) = match (id.trim(), index_no.trim()) {
            ("", "") => {
                return Err(ApiError::invalid(
                    "document_id",
                    "give document_id or index_no",
                ));
            }
            (id, "") => ("document_id", id, true),
            ("", ix) => ("index_no", ix, false),
            _ => {
                return Err(ApiError::invalid(
                    "index_no",
                    "give document_id or index_no, not both",
                ));
            }
        };
        let mut conn = self.db.read().acquire().await?;
        let found = if by_id {
            match self.load(&mut conn, key).await {
                Ok(doc) => Some(doc),
                Err(ApiError::NotFound(_)) => None,
                Err(e) => return Err(e),
            }
        } else {
            store::find_by_index_no(&mut conn, key).await?
        };
        let doc = match (found, claims) {
            (Some(doc), _) if doc.state.is_public() => doc,
            // Without a token a document is published or not there at all:
            // whether an unpublished one exists is the unit's own business.
            (_, None) => {
                return Err(ApiError::NotFound(format!(
                    "{field}: no published document {key} (a token reads unpublished ones)"
                )));
            }
            (None, Some(_)) => {
                return Err(ApiError::NotFound(format!("{field}: no document {key}")));
            }
            (Some(doc), Some(c)) => {
                let unit = UnitPath::parse(&doc.unit).map_err(|e| ApiError::Internal(e.into()))?;
                if !c.may_read(&unit) {
                    return Err(ApiError::PermissionDenied(format!(
                        "token of unit {} may not read documents of {}",
                        c.unit, unit
                    )));
                }
                doc
            }
        };
        let (versions, history) = if with_history {
            (
                store::versions(&mut conn, &doc.id).await?,
                store::history(&mut conn, &doc.id).await?,
            )
        } else {
            (Vec::new(), Vec::new())
        };
        Ok(DocumentView {
            doc,
            versions,
            history,
        })
    }

    pub async fn list(
        &self,
        claims: &Claims,
        state: Option<State>,
        column: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<DocRow>, i64), ApiError> {
        if !claims.may_read(&self.unit) {
            return Err(ApiError::PermissionDenied(format!(
                "token of unit {} may not read documents of {}",
                claims.unit, self.unit
            )));
        }
        let limit = match limit {
            0 => 20,
            l => l.min(200),
        };
        let column = column.trim();
        if !column.is_empty() {
            self.known_column("column", column)?;
        }
        let mut conn = self.db.read().acquire().await?;
        Ok(store::list_documents(
            &mut conn,
            &store::ListFilter {
                unit: self.unit.as_str(),
                state,
                column: (!column.is_empty()).then_some(column),
                offset: i64::from(offset),
                limit: i64::from(limit),
            },
        )
        .await?)
    }

    pub fn search(&self, q: &SearchQuery) -> Result<SearchPage, ApiError> {
        if let Some(u) = &q.unit {
            UnitPath::parse(u).map_err(|e| ApiError::invalid("unit", e.to_string()))?;
        }
        if q.text.chars().count() > 200 {
            return Err(ApiError::invalid("text", "at most 200 characters"));
        }
        // A filter nothing can match is a mistake to point out, not a
        // reason to answer with nothing.
        if let Some(c) = &q.column {
            self.known_column("column", c)?;
        }
        if let Some(v) = &q.validity
            && !VALIDITIES.contains(&v.as_str())
        {
            return Err(ApiError::invalid(
                "validity",
                format!("{v:?}: one of {}", VALIDITIES.join(", ")),
            ));
        }
        if let Some(y) = q.year
            && !(1949..=9999).contains(&y)
        {
            return Err(ApiError::invalid(
                "year",
                "a year such as 2026, or 0 for any",
            ));
        }
        self.search.search(q).map_err(|e| match e {
            crate::search::SearchError::BadQuery(m) => ApiError::invalid("text", m),
            other => ApiError::Internal(other.into()),
        })
    }

    pub async fn statistics(&self, unit: &str, year: i32) -> Result<Statistics, ApiError> {
        let unit = if unit.trim().is_empty() {
            self.unit.clone()
        } else {
            UnitPath::parse(unit.trim()).map_err(|e| ApiError::invalid("unit", e.to_string()))?
        };
        if !(1949..=9999).contains(&year) {
            return Err(ApiError::invalid("year", "a year such as 2026"));
        }
        let mut conn = self.db.read().acquire().await?;
        let rows = store::stat_rows(&mut conn, unit.as_str()).await?;
        let cat = self.catalog_read().clone();
        Ok(compute_statistics(&rows, &cat, year))
    }

    /// Scans every published document for personal information: the
    /// rectification list (RULES §7).
    pub async fn scan_published(
        &self,
        claims: &Claims,
    ) -> Result<(i64, Vec<RectificationItem>), ApiError> {
        self.acting(claims)?;
        require_role(
            claims,
            &[Role::Reviewer, Role::Admin],
            "scan published documents",
        )?;
        let mut conn = self.db.read().acquire().await?;
        let mut after = String::new();
        let mut scanned = 0i64;
        let mut items = Vec::new();
        loop {
            let page = store::public_page(&mut conn, self.unit.as_str(), &after, 500).await?;
            let Some(last) = page.last() else { break };
            after = last.id.clone();
            for d in &page {
                scanned += 1;
                // Earlier versions are public too, in the document's
                // history: a number masked by a revision is still there.
                let earlier = if d.version > 1 {
                    store::versions(&mut conn, &d.id).await?
                } else {
                    Vec::new()
                };
                let texts = std::iter::once((d.version, &d.fields)).chain(
                    earlier
                        .iter()
                        .filter(|v| v.version < d.version)
                        .map(|v| (v.version, &v.fields)),
                );
                for (version, fields) in texts {
                    for f in self.scan_personal(fields) {
                        items.push(RectificationItem {
                            document_id: d.id.clone(),
                            index_no: d.index_no.clone().unwrap_or_default(),
                            title: fields.title.clone(),
                            date_published: d
                                .date_published
                                .map(|x| x.to_string())
                                .unwrap_or_default(),
                            version,
                            earlier_version: version < d.version,
                            state: d.state.as_str(),
                            field: f.field,
                            finding: f.finding,
                        });
                    }
                }
            }
        }
        Ok((scanned, items))
    }

    pub async fn suggestions(
        &self,
        claims: &Claims,
        limit: u32,
    ) -> Result<Vec<store::SuggestionRow>, ApiError> {
        self.acting(claims)?;
        require_role(
            claims,
            &[Role::Editor, Role::Reviewer, Role::Admin],
            "read disclosure suggestions",
        )?;
        let limit = match limit {
            0 => 50,
            l => l.min(500),
        };
        let mut conn = self.db.read().acquire().await?;
        Ok(store::suggestions(&mut conn, self.unit.as_str(), i64::from(limit)).await?)
    }

    pub async fn subtree_catalog(
        &self,
        unit: &str,
        offset: u32,
        limit: u32,
    ) -> Result<(Vec<store::CatalogRow>, i64), ApiError> {
        let unit = if unit.trim().is_empty() {
            self.unit.clone()
        } else {
            UnitPath::parse(unit.trim()).map_err(|e| ApiError::invalid("unit", e.to_string()))?
        };
        let limit = match limit {
            0 => 20,
            l => l.min(200),
        };
        let mut conn = self.db.read().acquire().await?;
        Ok(store::list_catalog(
            &mut conn,
            unit.as_str(),
            i64::from(offset),
            i64::from(limit),
        )
        .await?)
    }
}

/// Counts per column, month and year, and annual-report table 二.
pub fn compute_statistics(rows: &[store::StatRow], cat: &Catalog, year: i32) -> Statistics {
    use std::collections::BTreeMap;
    let mut by_column: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_month: BTreeMap<String, i64> = BTreeMap::new();
    let mut by_year: BTreeMap<String, i64> = BTreeMap::new();
    let mut late = 0;
    for r in rows {
        *by_year
            .entry(r.date_published.year().to_string())
            .or_default() += 1;
        if r.date_published.year() == year {
            *by_column.entry(r.column.clone()).or_default() += 1;
            *by_month
                .entry(r.date_published.format("%Y-%m").to_string())
                .or_default() += 1;
            if r.late {
                late += 1;
            }
        }
    }
    let year_end = NaiveDate::from_ymd_opt(year, 12, 31).unwrap_or(NaiveDate::MAX);
    let table_two = crate::domain::catalog::REPORT_KINDS
        .iter()
        .map(|kind| {
            let codes = cat.codes_of_kind(kind);
            let mine = rows.iter().filter(|r| codes.contains(r.column.as_str()));
            let mut f = RegulationFigures {
                kind: (*kind).to_owned(),
                ..Default::default()
            };
            for r in mine {
                if r.date_published.year() == year {
                    f.issued += 1;
                }
                if r.abolished_on.is_some_and(|d| d.year() == year) {
                    f.abolished += 1;
                }
                // In force at the year's end: published, neither abolished
                // nor past its last day in force by then.
                if r.date_published <= year_end
                    && r.abolished_on.is_none_or(|d| d > year_end)
                    && r.valid_until.is_none_or(|d| d >= year_end)
                {
                    f.in_force += 1;
                }
            }
            f
        })
        .collect();
    Statistics {
        by_column: by_column.into_iter().collect(),
        by_month: by_month.into_iter().collect(),
        by_year: by_year.into_iter().collect(),
        table_two,
        late,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use store::StatRow;

    fn d(s: &str) -> NaiveDate {
        NaiveDate::parse_from_str(s, "%Y-%m-%d").unwrap()
    }

    #[test]
    fn table_two_counts_issued_abolished_and_in_force() {
        let cat = Catalog::parse_toml(
            &std::fs::read_to_string(concat!(
                env!("CARGO_MANIFEST_DIR"),
                "/../../deploy/catalog/default.toml"
            ))
            .unwrap(),
        )
        .unwrap();
        let row = |col: &str, p: &str, a: Option<&str>, late| StatRow {
            column: col.into(),
            date_published: d(p),
            abolished_on: a.map(d),
            valid_until: None,
            late,
        };
        let until = |p: &str, u: &str| StatRow {
            valid_until: Some(d(u)),
            ..row("gfxwj", p, None, false)
        };
        let rows = vec![
            row("gfxwj", "2025-03-01", None, false), // in force, issued earlier
            row("gfxwj", "2025-05-01", Some("2026-02-01"), false), // abolished this year
            row("gfxwj", "2026-04-01", None, true),  // issued this year
            row("gfxwj", "2026-06-01", Some("2026-09-01"), false), // issued and abolished
            row("gz", "2026-01-10", None, false),
            row("gzzj", "2026-01-20", None, false),
            row("gfxwj", "2027-01-02", None, false), // next year: not in force yet
            until("2021-06-30", "2026-06-30"),       // expired this year: not in force
            until("2021-12-31", "2026-12-31"),       // in force to the year's last day
        ];
        let s = compute_statistics(&rows, &cat, 2026);
        let gf = s
            .table_two
            .iter()
            .find(|f| f.kind == "行政规范性文件")
            .unwrap();
        assert_eq!((gf.issued, gf.abolished, gf.in_force), (2, 2, 3));
        let gz = s.table_two.iter().find(|f| f.kind == "规章").unwrap();
        assert_eq!((gz.issued, gz.abolished, gz.in_force), (1, 0, 1));
        assert_eq!(s.late, 1);
        assert_eq!(
            s.by_column,
            vec![("gfxwj".into(), 2), ("gz".into(), 1), ("gzzj".into(), 1)]
        );
        assert_eq!(
            s.by_year,
            vec![
                ("2021".into(), 2),
                ("2025".into(), 2),
                ("2026".into(), 4),
                ("2027".into(), 1)
            ]
        );
        assert_eq!(s.by_month.iter().map(|x| x.1).sum::<i64>(), 4);
        assert_eq!(s.by_month[0], ("2026-01".into(), 2));
    }
}
