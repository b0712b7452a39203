//! The gRPC adapter: proto ↔ domain, errors → `tonic::Status`.

use std::sync::Arc;

use gongkai_kernel::ApiError;
use gongkai_kernel::auth::{Claims, TokenKey};
use gongkai_proto::v1 as pb;
use gongkai_proto::v1::requests_server::Requests as RequestsApi;
use tonic::{Request, Response, Status};

use crate::domain::annual::{OutcomeColumn, Row as TableRowKind};
use crate::domain::categories::{AppealKind, ApplicantType, ReplyCategory};
use crate::domain::lifecycle::Status as RequestStatus;
use crate::service::{ReplyInput, RequestView, RequestsService, Step, StoredReply, Submission};
use crate::store::{AppealRow, RequestRow};

pub struct GrpcAdapter {
    svc: Arc<RequestsService>,
    keys: TokenKey,
}

impl GrpcAdapter {
    pub fn new(svc: Arc<RequestsService>, keys: TokenKey) -> Self {
        Self { svc, keys }
    }

    fn claims<T>(&self, req: &Request<T>) -> Result<Claims, Status> {
        self.keys
            .authenticate(req.metadata())
            .map_err(|e| ApiError::from(e).into())
    }
}

/// The caller's address, for rate-limiting query-code guesses.
fn peer<T>(req: &Request<T>) -> String {
    req.remote_addr()
        .map(|a| a.ip().to_string())
        .unwrap_or_default()
}

fn status_label(code: &str) -> String {
    RequestStatus::parse(code)
        .map(|s| s.label().to_owned())
        .unwrap_or_default()
}

fn reply_pb(row: &RequestRow) -> Option<pb::Reply> {
    let category = row.reply_category.clone()?;
    let label = ReplyCategory::parse(&category)
        .map(|c| c.label().to_owned())
        .unwrap_or_default();
    let stored: Option<StoredReply> = row
        .reply_json
        .as_deref()
        .and_then(|j| serde_json::from_str(j).ok());
    Some(pb::Reply {
        category,
        label,
        legal_basis: stored
            .as_ref()
            .map(|s| s.reply.legal_basis.clone())
            .unwrap_or_default(),
        responsible_body: stored
            .as_ref()
            .and_then(|s| s.reply.responsible_body.clone())
            .unwrap_or_default(),
        text: stored
            .as_ref()
            .map(|s| s.reply.text.clone())
            .unwrap_or_default(),
        replied_on: row.concluded_on.clone().unwrap_or_default(),
        document_index_nos: stored.map(|s| s.document_index_nos).unwrap_or_default(),
    })
}

fn status_pb(row: &RequestRow) -> pb::RequestStatus {
    let correction = serde_json::from_str::<serde_json::Value>(&row.state_json)
        .ok()
        .and_then(|v| {
            v.get("correction")?
                .get("what")?
                .as_str()
                .map(str::to_owned)
        })
        .unwrap_or_default();
    pb::RequestStatus {
        tracking_no: row.tracking_no.clone(),
        status: row.status.clone(),
        status_label: status_label(&row.status),
        received_on: row.received_on.clone(),
        due_kind: row.due_kind.clone().unwrap_or_default(),
        due_on: row.due_on.clone().unwrap_or_default(),
        due_provisional: row.due_provisional,
        reply: reply_pb(row),
        fee_yuan: row.fee_yuan,
        correction_requested: correction,
    }
}

fn request_pb(v: &RequestView) -> pb::DisclosureRequest {
    let r = &v.row;
    pb::DisclosureRequest {
        id: r.id.clone(),
        unit: r.unit.clone(),
        tracking_no: r.tracking_no.clone(),
        applicant: Some(pb::Applicant {
            r#type: r.applicant_type.clone(),
            name: r.applicant_name.clone(),
            id_type: r.id_type.clone(),
            id_number: r.id_number.clone(),
            phone: r.phone.clone(),
            email: r.email.clone(),
            address: r.address.clone(),
        }),
        description: r.description.clone(),
        delivery_form: r.delivery_form.clone(),
        channel: r.channel.clone(),
        received_on: r.received_on.clone(),
        status: r.status.clone(),
        status_label: status_label(&r.status),
        due_kind: r.due_kind.clone().unwrap_or_default(),
        due_on: r.due_on.clone().unwrap_or_default(),
        due_provisional: r.due_provisional,
        reply: reply_pb(r),
        fee_basis: r.fee_basis.clone().unwrap_or_default(),
        fee_yuan: r.fee_yuan,
        extended: r.extended,
        suggested_category: r.suggested_category.clone(),
        duplicate_of: r.duplicate_of.clone(),
        transitions: v
            .transitions
            .iter()
            .map(|t| pb::Transition {
                action: t.action.clone(),
                from_status: t.from_status.clone(),
                to_status: t.to_status.clone(),
                day: t.day.clone(),
                actor: t.actor.clone(),
                reason: t.reason.clone(),
                at_unix_ms: t.at,
            })
            .collect(),
        appeals: v
            .appeals
            .iter()
            .map(|a| pb::Appeal {
                kind: a.kind.clone(),
                outcome: a.outcome.clone(),
                filed_on: a.filed_on.clone(),
                decided_on: a.decided_on.clone(),
                note: a.note.clone(),
            })
            .collect(),
    }
}

fn step_from(action: Option<pb::act_request::Action>) -> Result<Step, ApiError> {
    use pb::act_request::Action as A;
    Ok(
        match action.ok_or_else(|| ApiError::invalid("action", "required"))? {
            A::RequestCorrection(c) => Step::RequestCorrection {
                what: c.what,
                due_on: c.due_on,
            },
            A::Correct(_) => Step::Correct,
            A::AbandonCorrection(_) => Step::AbandonCorrection,
            A::StartConsultation(c) => Step::StartConsultation {
                kind: c.kind,
                party: c.party,
            },
            A::EndConsultation(c) => Step::EndConsultation { outcome: c.outcome },
            A::Extend(e) => Step::Extend {
                days: e.days,
                approver: e.approver,
            },
            A::NoticeFee(f) => Step::NoticeFee {
                basis: f.basis,
                pages: f.pages,
            },
            A::Pay(_) => Step::Pay,
            A::AbandonFee(_) => Step::AbandonFee,
            A::Reply(r) => Step::Reply(ReplyInput {
                category: r.category,
                legal_basis: r.legal_basis,
                responsible_body: r.responsible_body,
                text: r.text,
                document_index_nos: r.document_index_nos,
            }),
            A::Close(_) => Step::Close,
            A::Withdraw(_) => Step::Withdraw,
        },
    )
}

type Res<T> = Result<Response<T>, Status>;

#[tonic::async_trait]
impl RequestsApi for GrpcAdapter {
    async fn submit_request(
        &self,
        req: Request<pb::SubmitRequestRequest>,
    ) -> Res<pb::SubmitRequestResponse> {
        let r = req.into_inner();
        let a = r.applicant.unwrap_or_default();
        let done = self
            .svc
            .submit(&Submission {
                applicant_type: a.r#type,
                name: a.name,
                id_type: a.id_type,
                id_number: a.id_number,
                phone: a.phone,
                email: a.email,
                address: a.address,
                description: r.description,
                delivery_form: r.delivery_form,
                channel: r.channel,
                received_on: r.received_on,
            })
            .await?;
        Ok(Response::new(pb::SubmitRequestResponse {
            tracking_no: done.tracking_no,
            query_code: done.query_code,
            reply_due: done.row.due_on.unwrap_or_default(),
            due_provisional: done.row.due_provisional,
        }))
    }

    async fn get_request_status(
        &self,
        req: Request<pb::GetRequestStatusRequest>,
    ) -> Res<pb::RequestStatus> {
        let peer = peer(&req);
        let r = req.into_inner();
        let row = self
            .svc
            .status(&r.tracking_no, &r.query_code, &peer)
            .await?;
        Ok(Response::new(status_pb(&row)))
    }

    async fn withdraw_request(
        &self,
        req: Request<pb::WithdrawRequestRequest>,
    ) -> Res<pb::RequestStatus> {
        let peer = peer(&req);
        let r = req.into_inner();
        let row = self
            .svc
            .withdraw_public(&r.tracking_no, &r.query_code, &r.reason, &peer)
            .await?;
        Ok(Response::new(status_pb(&row)))
    }

    async fn get_request(&self, req: Request<pb::GetRequestRequest>) -> Res<pb::DisclosureRequest> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let v = self.svc.get(&claims, &r.request_id, &r.tracking_no).await?;
        Ok(Response::new(request_pb(&v)))
    }

    async fn act(&self, req: Request<pb::ActRequest>) -> Res<pb::DisclosureRequest> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let step = step_from(r.action)?;
        let row = self
            .svc
            .act(&claims, &r.request_id, &r.day, &r.reason, step)
            .await?;
        let v = self.svc.get(&claims, &row.id, "").await?;
        Ok(Response::new(request_pb(&v)))
    }

    async fn record_appeal(
        &self,
        req: Request<pb::RecordAppealRequest>,
    ) -> Res<pb::DisclosureRequest> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let a = r
            .appeal
            .ok_or_else(|| Status::from(ApiError::invalid("appeal", "required")))?;
        let row = self
            .svc
            .record_appeal(
                &claims,
                &r.request_id,
                &AppealRow {
                    kind: a.kind,
                    outcome: a.outcome,
                    filed_on: a.filed_on,
                    decided_on: a.decided_on,
                    note: a.note,
                },
            )
            .await?;
        let v = self.svc.get(&claims, &row.id, "").await?;
        Ok(Response::new(request_pb(&v)))
    }

    async fn list_queue(&self, req: Request<pb::ListQueueRequest>) -> Res<pb::ListQueueResponse> {
        let claims = self.claims(&req)?;
        let r = req.into_inner();
        let rows = self
            .svc
            .queue(&claims, &r.queue, r.limit, &r.after_due_on, &r.after_id)
            .await?;
        Ok(Response::new(pb::ListQueueResponse {
            entries: rows
                .into_iter()
                .map(|q| pb::QueueEntry {
                    request_id: q.id,
                    tracking_no: q.tracking_no,
                    status: q.status,
                    due_kind: q.due_kind,
                    due_on: q.due_on,
                    received_on: q.received_on,
                })
                .collect(),
        }))
    }

    async fn get_annual_report(
        &self,
        req: Request<pb::GetAnnualReportRequest>,
    ) -> Res<pb::AnnualReport> {
        let claims = self.claims(&req)?;
        let year = req.into_inner().year;
        let f = self.svc.annual(&claims, year).await?;
        let table_three = f
            .table_three
            .rows()
            .map(|(row, cells)| pb::TableRow {
                label: match row {
                    TableRowKind::Result(_) => row.path(),
                    _ => row.label(),
                },
                cells: cells.iter().map(|&c| c as i64).collect(),
            })
            .collect();
        let table_four = AppealKind::ALL
            .iter()
            .map(|&kind| pb::AppealRow {
                label: kind.label().to_owned(),
                cells: OutcomeColumn::ALL
                    .iter()
                    .map(|&col| f.table_four.cell(kind, col) as i64)
                    .collect(),
            })
            .collect();
        // Keep the column order visible to clients in one place.
        let _ = ApplicantType::ALL;
        Ok(Response::new(pb::AnnualReport {
            unit: self.svc.unit().to_string(),
            year,
            table_three,
            table_four,
            fees_collected_yuan: f.fees_collected_yuan,
        }))
    }
}
