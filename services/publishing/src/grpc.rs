//! The gRPC adapter: proto ↔ domain, errors → `tonic::Status`.

use std::sync::Arc;

use gongkai_kernel::ApiError;
use gongkai_kernel::auth::{Claims, TokenKey};
use gongkai_kernel::db::today_cst;
use gongkai_proto::v1 as pb;
use gongkai_proto::v1::publishing_server::Publishing as PublishingApi;
use tonic::{Request, Response, Status};

use crate::domain::catalog::ColumnDef;
use crate::domain::document::{Attribute, Fields, RawFields};
use crate::domain::workflow::State;
use crate::search::SearchQuery;
use crate::service::{FieldFinding, Outcome, Publishing};
use crate::store::{DocRow, HistoryRow, VersionRow};

pub struct GrpcAdapter {
    svc: Arc<Publishing>,
    keys: TokenKey,
}

impl GrpcAdapter {
    pub fn new(svc: Arc<Publishing>, keys: TokenKey) -> Self {
        Self { svc, keys }
    }

    fn claims<T>(&self, req: &Request<T>) -> Result<Claims, Status> {
        self.keys
            .authenticate(req.metadata())
            .map_err(|e| ApiError::from(e).into())
    }

    /// Claims when a token is present; a bad token is still an error.
    fn optional_claims<T>(&self, req: &Request<T>) -> Result<Option<Claims>, Status> {
        if req.metadata().get("authorization").is_none() {
            return Ok(None);
        }
        self.claims(req).map(Some)
    }
}

fn attribute_from(v: i32) -> Result<Option<Attribute>, ApiError> {
    match pb::DisclosureAttribute::try_from(v) {
        Ok(pb::DisclosureAttribute::Unspecified) => Ok(None),
        Ok(pb::DisclosureAttribute::Proactive) => Ok(Some(Attribute::Proactive)),
        Ok(pb::DisclosureAttribute::OnRequest) => Ok(Some(Attribute::OnRequest)),
        Ok(pb::DisclosureAttribute::Withheld) => Ok(Some(Attribute::Withheld)),
        Err(_) => Err(ApiError::invalid(
            "fields.attribute",
            format!("unknown value {v}"),
        )),
    }
}

fn attribute_to(a: Attribute) -> pb::DisclosureAttribute {
    match a {
        Attribute::Proactive => pb::DisclosureAttribute::Proactive,
        Attribute::OnRequest => pb::DisclosureAttribute::OnRequest,
        Attribute::Withheld => pb::DisclosureAttribute::Withheld,
    }
}

pub fn raw_fields(f: Option<pb::DocumentFields>) -> Result<RawFields, ApiError> {
    let f = f.ok_or_else(|| ApiError::invalid("fields", "required"))?;
    Ok(RawFields {
        title: f.title,
        doc_number: f.doc_number,
        subject: f.subject,
        publisher: f.publisher,
        date_formed: f.date_formed,
        attribute: attribute_from(f.attribute)?,
        withheld_reason: f.withheld_reason,
        column: f.column,
        body: f.body,
        summary: f.summary,
        valid_until: f.valid_until,
    })
}

fn fields_pb(f: &Fields) -> pb::DocumentFields {
    pb::DocumentFields {
        title: f.title.clone(),
        doc_number: f.doc_number.clone().unwrap_or_default(),
        subject: f.subject.clone(),
        publisher: f.publisher.clone(),
        date_formed: f.date_formed.to_string(),
        attribute: attribute_to(f.attribute) as i32,
        withheld_reason: f.withheld_reason.clone().unwrap_or_default(),
        column: f.column.clone(),
        body: f.body.clone(),
        summary: f.summary.clone(),
        valid_until: f.valid_until.map(|d| d.to_string()).unwrap_or_default(),
    }
}

fn state_pb(s: State) -> pb::DocumentState {
    match s {
        State::Draft => pb::DocumentState::Draft,
        State::Submitted => pb::DocumentState::Submitted,
        State::Approved => pb::DocumentState::Approved,
        State::Rejected => pb::DocumentState::Rejected,
        State::Published => pb::DocumentState::Published,
        State::Abolished => pb::DocumentState::Abolished,
    }
}

fn state_from(v: i32) -> Result<Option<State>, ApiError> {
    Ok(match pb::DocumentState::try_from(v) {
        Ok(pb::DocumentState::Unspecified) => None,
        Ok(pb::DocumentState::Draft) => Some(State::Draft),
        Ok(pb::DocumentState::Submitted) => Some(State::Submitted),
        Ok(pb::DocumentState::Approved) => Some(State::Approved),
        Ok(pb::DocumentState::Rejected) => Some(State::Rejected),
        Ok(pb::DocumentState::Published) => Some(State::Published),
        Ok(pb::DocumentState::Abolished) => Some(State::Abolished),
        Err(_) => return Err(ApiError::invalid("state", format!("unknown value {v}"))),
    })
}

pub fn finding_pb(f: &FieldFinding) -> pb::Finding {
    pb::Finding {
        kind: f.finding.kind.as_str(),
        start: f.finding.start as i64,
        end: f.finding.end as i64,
        line: f.finding.line as i64,
        excerpt: f.finding.excerpt.clone(),
        suggested_mask: f.finding.suggested_mask.clone(),
        field: f.field.to_owned(),
    }
}

fn document_pb(d: &DocRow, versions: &[VersionRow], history: &[HistoryRow]) -> pb::Document {
    // Stored as JSON by the service; a row that fails to parse shows none
    // rather than failing the read.
    let confidential: Vec<FieldFinding> =
        serde_json::from_str::<Vec<serde_json::Value>>(&d.confidential_findings)
            .ok()
            .into_iter()
            .flatten()
            .filter_map(|v| {
                Some(FieldFinding {
                    field: match v.get("field")?.as_str()? {
                        "title" => "title",
                        "summary" => "summary",
                        _ => "body",
                    },
                    finding: serde_json::from_value(v).ok()?,
                })
            })
            .collect();
    pb::Document {
        id: d.id.clone(),
        unit: d.unit.clone(),
        state: state_pb(d.state) as i32,
        fields: Some(fields_pb(&d.fields)),
        index_no: d.index_no.clone().unwrap_or_default(),
        date_published: d.date_published.map(|x| x.to_string()).unwrap_or_default(),
        validity: d.validity.clone(),
        version: d.version,
        created_by: d.created_by.clone(),
        interprets: d.interprets.clone().unwrap_or_default(),
        interpretation: d.interpretation.clone().unwrap_or_default(),
        confidential_findings: confidential.iter().map(finding_pb).collect(),
        timeliness_days: d.timeliness_days.unwrap_or_default(),
        late: d.late,
        timeliness_provisional: d.timeliness_provisional,
        abolished_on: d.abolished_on.map(|x| x.to_string()).unwrap_or_default(),
        abolish_reason: d.abolish_reason.clone().unwrap_or_default(),
        versions: versions
            .iter()
            .map(|v| pb::DocumentVersion {
                version: v.version,
                fields: Some(fields_pb(&v.fields)),
                reason: v.reason.clone(),
                created_by: v.created_by.clone(),
                created_at_unix_ms: v.created_at,
            })
            .collect(),
        history: history
            .iter()
            .map(|h| pb::ReviewEntry {
                action: h.action.clone(),
                actor: h.actor.clone(),
                from_state: h.from_state.clone(),
                to_state: h.to_state.clone(),
                comment: h.comment.clone(),
                at_unix_ms: h.at,
            })
            .collect(),
    }
}

fn outcome_pb(o: Outcome) -> pb::WorkflowResponse {
    pb::WorkflowResponse {
        document: Some(document_pb(&o.document, &[], &[])),
        blocked: o.blocked,
        findings: o.findings.iter().map(finding_pb).collect(),
    }
}

fn column_pb(c: &ColumnDef) -> pb::Column {
    pb::Column {
        code: c.code.clone(),
        name: c.name.clone(),
        parent: c.parent.clone(),
        policy: c.policy,
        interpretation: c.interpretation,
        custom: c.custom,
    }
}

fn counts(v: Vec<(String, i64)>) -> Vec<pb::CountByKey> {
    v.into_iter()
        .map(|(key, count)| pb::CountByKey { key, count })
        .collect()
}

fn non_empty(s: String) -> Option<String> {
    let t = s.trim();
    (!t.is_empty()).then(|| t.to_owned())
}

type Res<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl PublishingApi for GrpcAdapter {
    async fn list_columns(
        &self,
        req: Request<pb::ListColumnsRequest>,
    ) -> Res<pb::ListColumnsResponse> {
        let columns = self.svc.columns_of(&req.into_inner().unit)?;
        Ok(Response::new(pb::ListColumnsResponse {
            columns: columns.iter().map(column_pb).collect(),
        }))
    }

    async fn add_column(&self, req: Request<pb::AddColumnRequest>) -> Res<pb::Column> {
        let claims = self.claims(&req)?;
        let c = req
            .into_inner()
            .column
            .ok_or_else(|| Status::from(ApiError::invalid("column", "required")))?;
        let col = ColumnDef {
            code: c.code,
            name: c.name,
            parent: c.parent,
            policy: c.policy,
            interpretation: c.interpretation,
            report_kind: String::new(),
            custom: true,
        };
        let col = self.svc.add_column(&claims, col).await?;
        Ok(Response::new(column_pb(&col)))
    }

    async fn create_document(&self, req: Request<pb::CreateDocumentRequest>) -> Res<pb::Document> {
        let claims = self.claims(&req)?;
        let raw = raw_fields(req.into_inner().fields)?;
        let d = self.svc.create(&claims, &raw).await?;
        Ok(Response::new(document_pb(&d, &[], &[])))
    }

    async fn update_draft(&self, req: Request<pb::UpdateDraftRequest>) -> Res<pb::Document> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let raw = raw_fields(r.fields)?;
        let d = self.svc.update_draft(&claims, &r.document_id, &raw).await?;
        Ok(Response::new(document_pb(&d, &[], &[])))
    }

    async fn submit_document(
        &self,
        req: Request<pb::SubmitDocumentRequest>,
    ) -> Res<pb::WorkflowResponse> {
        let claims = self.claims(&req)?;
        let o = self
            .svc
            .submit(&claims, &req.into_inner().document_id)
            .await?;
        Ok(Response::new(outcome_pb(o)))
    }

    async fn review_document(&self, req: Request<pb::ReviewDocumentRequest>) -> Res<pb::Document> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let d = self
            .svc
            .review(
                &claims,
                &r.document_id,
                r.approve,
                &r.comment,
                r.confidentiality_cleared,
            )
            .await?;
        Ok(Response::new(document_pb(&d, &[], &[])))
    }

    async fn publish_document(
        &self,
        req: Request<pb::PublishDocumentRequest>,
    ) -> Res<pb::WorkflowResponse> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let o = self
            .svc
            .publish(&claims, &r.document_id, &r.date_published)
            .await?;
        Ok(Response::new(outcome_pb(o)))
    }

    async fn revise_document(
        &self,
        req: Request<pb::ReviseDocumentRequest>,
    ) -> Res<pb::WorkflowResponse> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let raw = raw_fields(r.fields)?;
        let o = self
            .svc
            .revise(
                &claims,
                &r.document_id,
                &raw,
                &r.reason,
                r.confidentiality_cleared,
            )
            .await?;
        Ok(Response::new(outcome_pb(o)))
    }

    async fn abolish_document(
        &self,
        req: Request<pb::AbolishDocumentRequest>,
    ) -> Res<pb::Document> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let d = self
            .svc
            .abolish(&claims, &r.document_id, &r.reason, &r.date)
            .await?;
        Ok(Response::new(document_pb(&d, &[], &[])))
    }

    async fn link_interpretation(
        &self,
        req: Request<pb::LinkInterpretationRequest>,
    ) -> Res<pb::Document> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let d = self
            .svc
            .link_interpretation(
                &claims,
                &r.policy_document_id,
                &r.interpretation_document_id,
            )
            .await?;
        Ok(Response::new(document_pb(&d, &[], &[])))
    }

    async fn get_document(&self, req: Request<pb::GetDocumentRequest>) -> Res<pb::Document> {
        let claims = self.optional_claims(&req)?;
        let r = req.into_inner();
        let v = self
            .svc
            .get(claims.as_ref(), &r.document_id, &r.index_no, r.with_history)
            .await?;
        Ok(Response::new(document_pb(&v.doc, &v.versions, &v.history)))
    }

    async fn list_documents(
        &self,
        req: Request<pb::ListDocumentsRequest>,
    ) -> Res<pb::ListDocumentsResponse> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let state = state_from(r.state)?;
        let (docs, total) = self
            .svc
            .list(&claims, state, &r.column, r.offset, r.limit)
            .await?;
        Ok(Response::new(pb::ListDocumentsResponse {
            documents: docs.iter().map(|d| document_pb(d, &[], &[])).collect(),
            total: total as u64,
        }))
    }

    async fn search(&self, req: Request<pb::SearchRequest>) -> Res<pb::SearchResponse> {
        let r = req.into_inner();
        if r.limit > 100 {
            return Err(ApiError::invalid("limit", "at most 100").into());
        }
        if r.offset > 10_000 {
            return Err(
                ApiError::invalid("offset", "at most 10000; narrow the query instead").into(),
            );
        }
        let q = SearchQuery {
            text: r.text,
            column: non_empty(r.column),
            year: (r.year != 0).then_some(r.year),
            validity: non_empty(r.validity),
            publisher: non_empty(r.publisher),
            unit: non_empty(r.unit),
            offset: r.offset as usize,
            limit: r.limit as usize,
        };
        let svc = self.svc.clone();
        let page = tokio::task::spawn_blocking(move || svc.search(&q))
            .await
            .map_err(|e| Status::from(ApiError::Internal(e.into())))??;
        Ok(Response::new(pb::SearchResponse {
            total: page.total as u64,
            hits: page
                .hits
                .into_iter()
                .map(|h| pb::SearchHit {
                    document_id: h.id,
                    unit: h.unit,
                    index_no: h.index_no,
                    title: h.title,
                    column: h.column,
                    publisher: h.publisher,
                    date_published: h.published_on.to_string(),
                    validity: h.validity,
                    score: h.score,
                    title_html: h.title_html,
                    snippet_html: h.snippet_html,
                })
                .collect(),
        }))
    }

    async fn get_statistics(&self, req: Request<pb::GetStatisticsRequest>) -> Res<pb::Statistics> {
        let r = req.into_inner();
        let s = self.svc.statistics(&r.unit, r.year).await?;
        Ok(Response::new(pb::Statistics {
            unit: if r.unit.is_empty() {
                self.svc.unit().to_string()
            } else {
                r.unit
            },
            year: r.year,
            by_column: counts(s.by_column),
            by_month: counts(s.by_month),
            by_year: counts(s.by_year),
            table_two: s
                .table_two
                .into_iter()
                .map(|f| pb::RegulationFigures {
                    kind: f.kind,
                    issued: f.issued,
                    abolished: f.abolished,
                    in_force: f.in_force,
                })
                .collect(),
            late: s.late,
        }))
    }

    async fn scan_published(
        &self,
        req: Request<pb::ScanPublishedRequest>,
    ) -> Res<pb::ScanPublishedResponse> {
        let claims = self.claims(&req)?;
        let (scanned, items) = self.svc.scan_published(&claims).await?;
        Ok(Response::new(pb::ScanPublishedResponse {
            documents_scanned: scanned,
            items: items
                .into_iter()
                .map(|i| pb::RectificationItem {
                    finding: Some(finding_pb(&FieldFinding {
                        field: i.field,
                        finding: i.finding,
                    })),
                    document_id: i.document_id,
                    index_no: i.index_no,
                    title: i.title,
                    date_published: i.date_published,
                    version: i.version,
                    earlier_version: i.earlier_version,
                    state: i.state.to_owned(),
                })
                .collect(),
        }))
    }

    async fn list_subtree_catalog(
        &self,
        req: Request<pb::ListSubtreeCatalogRequest>,
    ) -> Res<pb::ListSubtreeCatalogResponse> {
        let r = req.into_inner();
        let (rows, total) = self.svc.subtree_catalog(&r.unit, r.offset, r.limit).await?;
        Ok(Response::new(pb::ListSubtreeCatalogResponse {
            total: total as u64,
            entries: rows
                .into_iter()
                .map(|c| pb::CatalogEntry {
                    document_id: c.document_id,
                    unit: c.unit,
                    unit_name: c.unit_name,
                    index_no: c.index_no,
                    title: c.title,
                    summary: c.summary,
                    date_formed: c.date_formed,
                    date_published: c.date_published,
                    validity: c.validity,
                    column: c.column,
                    version: c.version,
                    valid_until: c.valid_until,
                })
                .collect(),
        }))
    }

    async fn list_suggestions(
        &self,
        req: Request<pb::ListSuggestionsRequest>,
    ) -> Res<pb::ListSuggestionsResponse> {
        let claims = self.claims(&req)?;
        let rows = self
            .svc
            .suggestions(&claims, req.into_inner().limit)
            .await?;
        Ok(Response::new(pb::ListSuggestionsResponse {
            suggestions: rows
                .into_iter()
                .map(|s| pb::Suggestion {
                    description: s.description,
                    applicants: s.applicants,
                    period_days: s.period_days,
                    tracking_nos: s.tracking_nos,
                    at_unix_ms: s.at,
                })
                .collect(),
        }))
    }

    async fn list_interpretations_due(
        &self,
        req: Request<pb::ListInterpretationsDueRequest>,
    ) -> Res<pb::ListInterpretationsDueResponse> {
        let claims = self.claims(&req)?;
        let due = self
            .svc
            .interpretations_due(&claims, req.into_inner().limit, today_cst())
            .await?;
        Ok(Response::new(pb::ListInterpretationsDueResponse {
            items: due
                .into_iter()
                .map(|d| {
                    let p = d.policy;
                    pb::InterpretationDue {
                        policy_document_id: p.policy_id,
                        policy_index_no: p.policy_index_no.unwrap_or_default(),
                        policy_title: p.policy_title,
                        policy_date_published: p.policy_published.to_string(),
                        interpretation_document_id: p.interpretation_id,
                        interpretation_title: p.interpretation_title,
                        interpretation_state: state_pb(p.interpretation_state) as i32,
                        due_on: d.due.value.to_string(),
                        due_provisional: d.due.provisional,
                        working_days_late: i64::from(d.days_late),
                        late_reported: d.late_reported,
                    }
                })
                .collect(),
        }))
    }
}
