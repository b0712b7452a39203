//! What publishing emits (document published, revised, abolished, expired,
//! privacy-blocked, late, interpretation late) and what it consumes (its
//! children's document events, to build the subtree catalogue).

use std::collections::BTreeMap;

use gongkai_kernel::UnitPath;
use gongkai_kernel::consumer::EventHandler;
use gongkai_kernel::outbox::{NewEvent, OutboxRow, enqueue, prepare};
use gongkai_proto::v1::{
    DocumentChanged, DocumentLate, DocumentPrivacyBlocked, Event, FindingCount, InterpretationLate,
    ProactiveDisclosureSuggested,
};
use prost::Message as _;
use sqlx::AnyConnection;

use crate::service::FieldFinding;
use crate::store::{self, CatalogRow, DocRow, PolicyAhead};

pub const SERVICE: &str = "publishing";
pub const ENTITY: &str = "document";

pub fn changed_payload(unit_name: &str, d: &DocRow) -> DocumentChanged {
    DocumentChanged {
        document_id: d.id.clone(),
        unit: d.unit.clone(),
        unit_name: unit_name.to_owned(),
        index_no: d.index_no.clone().unwrap_or_default(),
        title: d.fields.title.clone(),
        doc_number: d.fields.doc_number.clone().unwrap_or_default(),
        subject: d.fields.subject.clone(),
        publisher: d.fields.publisher.clone(),
        date_formed: d.fields.date_formed.to_string(),
        date_published: d.date_published.map(|x| x.to_string()).unwrap_or_default(),
        validity: d.validity.clone(),
        column: d.fields.column.clone(),
        summary: d.fields.summary.clone(),
        version: d.version,
        abolished_on: d.abolished_on.map(|x| x.to_string()).unwrap_or_default(),
        abolish_reason: d.abolish_reason.clone().unwrap_or_default(),
        body_chars: d.fields.body.chars().count() as i64,
        valid_until: d
            .fields
            .valid_until
            .map(|x| x.to_string())
            .unwrap_or_default(),
    }
}

/// document.published / document.revised / document.abolished /
/// document.expired, as an outbox row written with the change.
pub fn document_changed(unit: &UnitPath, unit_name: &str, d: &DocRow, verb: &str) -> OutboxRow {
    let payload = changed_payload(unit_name, d);
    prepare(NewEvent {
        service: SERVICE,
        entity: ENTITY,
        verb,
        unit,
        payload_type: "gongkai.v1.DocumentChanged",
        payload: &payload,
    })
}

pub async fn privacy_blocked(
    conn: &mut AnyConnection,
    unit: &UnitPath,
    d: &DocRow,
    stage: &str,
    findings: &[FieldFinding],
) -> Result<String, sqlx::Error> {
    let mut counts: BTreeMap<String, i64> = BTreeMap::new();
    for f in findings {
        *counts.entry(f.finding.kind.as_str()).or_default() += 1;
    }
    let payload = DocumentPrivacyBlocked {
        document_id: d.id.clone(),
        unit: d.unit.clone(),
        stage: stage.to_owned(),
        counts: counts
            .into_iter()
            .map(|(kind, count)| FindingCount { kind, count })
            .collect(),
    };
    enqueue(
        conn,
        NewEvent {
            service: SERVICE,
            entity: ENTITY,
            verb: "privacy_blocked",
            unit,
            payload_type: "gongkai.v1.DocumentPrivacyBlocked",
            payload: &payload,
        },
    )
    .await
}

/// document.late: published after the limit of working days.
pub fn late(unit: &UnitPath, d: &DocRow, limit_days: i64) -> OutboxRow {
    timeliness(unit, d, limit_days, "late")
}

/// document.late_withdrawn: reported late on a provisional count (RULES §6)
/// that the year's calendar, once there, shows was within the limit.
pub fn late_withdrawn(unit: &UnitPath, d: &DocRow, limit_days: i64) -> OutboxRow {
    timeliness(unit, d, limit_days, "late_withdrawn")
}

fn timeliness(unit: &UnitPath, d: &DocRow, limit_days: i64, verb: &str) -> OutboxRow {
    let payload = DocumentLate {
        document_id: d.id.clone(),
        unit: d.unit.clone(),
        index_no: d.index_no.clone().unwrap_or_default(),
        title: d.fields.title.clone(),
        date_formed: d.fields.date_formed.to_string(),
        date_published: d.date_published.map(|x| x.to_string()).unwrap_or_default(),
        working_days: d.timeliness_days.unwrap_or_default(),
        limit_days,
        provisional: d.timeliness_provisional,
    };
    prepare(NewEvent {
        service: SERVICE,
        entity: ENTITY,
        verb,
        unit,
        payload_type: "gongkai.v1.DocumentLate",
        payload: &payload,
    })
}

/// document.interpretation_late, about policy document `p`: its
/// interpretation, due on `due`, was released later (`released`) or is
/// still not (`None`), `days_late` working days past the due date.
pub async fn interpretation_late(
    conn: &mut AnyConnection,
    unit: &UnitPath,
    p: &PolicyAhead,
    due: chrono::NaiveDate,
    lag_days: u32,
    days_late: u32,
) -> Result<String, sqlx::Error> {
    let payload = InterpretationLate {
        document_id: p.policy_id.clone(),
        unit: unit.to_string(),
        index_no: p.policy_index_no.clone().unwrap_or_default(),
        title: p.policy_title.clone(),
        date_published: p.policy_published.to_string(),
        interpretation_document_id: p.interpretation_id.clone(),
        due_on: due.to_string(),
        released_on: p
            .interpretation_released
            .map(|d| d.to_string())
            .unwrap_or_default(),
        lag_days: i64::from(lag_days),
        working_days_late: i64::from(days_late),
    };
    enqueue(
        conn,
        NewEvent {
            service: SERVICE,
            entity: ENTITY,
            verb: "interpretation_late",
            unit,
            payload_type: "gongkai.v1.InterpretationLate",
            payload: &payload,
        },
    )
    .await
}

/// Builds the subtree catalogue from the children's document events.
pub struct CatalogBuilder;

#[async_trait::async_trait]
impl EventHandler for CatalogBuilder {
    async fn handle(&self, conn: &mut AnyConnection, event: &Event) -> anyhow::Result<()> {
        let verb = event.r#type.rsplit('.').next().unwrap_or_default();
        if !matches!(verb, "published" | "revised" | "abolished" | "expired") {
            return Ok(());
        }
        let p = DocumentChanged::decode(event.payload.as_slice())?;
        store::upsert_catalog(
            conn,
            &CatalogRow {
                document_id: p.document_id,
                unit: p.unit,
                unit_name: p.unit_name,
                index_no: p.index_no,
                title: p.title,
                summary: p.summary,
                date_formed: p.date_formed,
                date_published: p.date_published,
                validity: p.validity,
                column: p.column,
                version: p.version,
                valid_until: p.valid_until,
                event_time: event.time_unix_ms,
            },
        )
        .await?;
        Ok(())
    }
}

/// Keeps the requests service's Art. 44 suggestions for the unit's editors.
pub struct SuggestionKeeper;

#[async_trait::async_trait]
impl EventHandler for SuggestionKeeper {
    async fn handle(&self, conn: &mut AnyConnection, event: &Event) -> anyhow::Result<()> {
        let p = ProactiveDisclosureSuggested::decode(event.payload.as_slice())?;
        store::insert_suggestion(
            conn,
            &store::SuggestionRow {
                event_id: event.id.clone(),
                unit: event.unit.clone(),
                description: p.description,
                applicants: p.applicants,
                period_days: p.period_days,
                tracking_nos: p.tracking_nos,
                at: event.time_unix_ms,
            },
        )
        .await?;
        Ok(())
    }
}
