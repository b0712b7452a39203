//! What the requests service emits. Payloads carry counts, categories,
//! dates and on-time flags — never the applicant's identity or contact.

use gongkai_kernel::UnitPath;
use gongkai_kernel::outbox::{NewEvent, enqueue};
use gongkai_proto::v1::{ProactiveDisclosureSuggested, RequestChanged, RequestDue};
use sqlx::AnyConnection;

use crate::store::{QueueRow, RequestRow};

pub const SERVICE: &str = "requests";
pub const ENTITY: &str = "request";

pub async fn changed(
    conn: &mut AnyConnection,
    unit: &UnitPath,
    r: &RequestRow,
    verb: &str,
    on_time: bool,
) -> Result<String, sqlx::Error> {
    let payload = RequestChanged {
        request_id: r.id.clone(),
        unit: r.unit.clone(),
        tracking_no: r.tracking_no.clone(),
        applicant_type: r.applicant_type.clone(),
        channel: r.channel.clone(),
        status: r.status.clone(),
        received_on: r.received_on.clone(),
        due_kind: r.due_kind.clone().unwrap_or_default(),
        due_on: r.due_on.clone().unwrap_or_default(),
        reply_category: r.reply_category.clone().unwrap_or_default(),
        on_time,
    };
    enqueue(
        conn,
        NewEvent {
            service: SERVICE,
            entity: ENTITY,
            verb,
            unit,
            payload_type: "gongkai.v1.RequestChanged",
            payload: &payload,
        },
    )
    .await
}

pub async fn due(
    conn: &mut AnyConnection,
    unit: &UnitPath,
    q: &QueueRow,
    level: &str,
    working_days_left: i64,
) -> Result<String, sqlx::Error> {
    let payload = RequestDue {
        request_id: q.id.clone(),
        unit: unit.to_string(),
        tracking_no: q.tracking_no.clone(),
        due_kind: q.due_kind.clone(),
        due_on: q.due_on.clone(),
        working_days_left,
    };
    enqueue(
        conn,
        NewEvent {
            service: SERVICE,
            entity: ENTITY,
            verb: level,
            unit,
            payload_type: "gongkai.v1.RequestDue",
            payload: &payload,
        },
    )
    .await
}

pub async fn suggested(
    conn: &mut AnyConnection,
    unit: &UnitPath,
    r: &RequestRow,
    applicants: i64,
    period_days: i64,
    tracking_nos: Vec<String>,
) -> Result<String, sqlx::Error> {
    let payload = ProactiveDisclosureSuggested {
        unit: unit.to_string(),
        description: r.description.clone(),
        applicants,
        period_days,
        tracking_nos,
    };
    enqueue(
        conn,
        NewEvent {
            service: SERVICE,
            entity: ENTITY,
            verb: "proactive_suggested",
            unit,
            payload_type: "gongkai.v1.ProactiveDisclosureSuggested",
            payload: &payload,
        },
    )
    .await
}
