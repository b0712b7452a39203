//! The requests tables: one SQL code path for SQLite and PostgreSQL (see
//! `gongkai_kernel::db`).

use gongkai_kernel::db::{Db, Migrations};
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

pub async fn connect(url: &str) -> anyhow::Result<Db> {
    Db::connect(url, &MIGRATIONS).await
}

/// One row of `requests`. Dates are ISO text.
#[derive(Debug, Clone, PartialEq, Eq, Default)]
pub struct RequestRow {
    pub id: String,
    pub unit: String,
    pub tracking_no: String,
    pub query_code_hash: String,
    pub applicant_type: String,
    pub applicant_name: String,
    pub id_type: String,
    pub id_number: String,
    pub phone: String,
    pub email: String,
    pub address: String,
    pub description: String,
    pub delivery_form: String,
    pub channel: String,
    pub received_on: String,
    pub status: String,
    pub state_json: String,
    pub open: bool,
    pub due_kind: Option<String>,
    pub due_on: Option<String>,
    pub due_provisional: bool,
    pub reply_category: Option<String>,
    pub replied_on: Option<String>,
    pub concluded_on: Option<String>,
    pub reply_json: Option<String>,
    pub fee_basis: Option<String>,
    pub fee_yuan: i64,
    pub fee_paid_on: Option<String>,
    pub extended: bool,
    pub applicant_key: String,
    pub info_key: String,
    pub suggested_category: String,
    pub duplicate_of: String,
    pub created_at: i64,
    pub updated_at: i64,
}

macro_rules! request_columns {
    () => {
        "id, unit, tracking_no, query_code_hash, applicant_type, applicant_name, id_type, \
         id_number, phone, email, address, description, delivery_form, channel, received_on, \
         status, state_json, open, due_kind, due_on, due_provisional, reply_category, replied_on, \
         concluded_on, reply_json, fee_basis, fee_yuan, fee_paid_on, extended, applicant_key, \
         info_key, suggested_category, duplicate_of, created_at, updated_at"
    };
}

fn from_row(r: &AnyRow) -> Result<RequestRow, sqlx::Error> {
    Ok(RequestRow {
        id: r.try_get("id")?,
        unit: r.try_get("unit")?,
        tracking_no: r.try_get("tracking_no")?,
        query_code_hash: r.try_get("query_code_hash")?,
        applicant_type: r.try_get("applicant_type")?,
        applicant_name: r.try_get("applicant_name")?,
        id_type: r.try_get("id_type")?,
        id_number: r.try_get("id_number")?,
        phone: r.try_get("phone")?,
        email: r.try_get("email")?,
        address: r.try_get("address")?,
        description: r.try_get("description")?,
        delivery_form: r.try_get("delivery_form")?,
        channel: r.try_get("channel")?,
        received_on: r.try_get("received_on")?,
        status: r.try_get("status")?,
        state_json: r.try_get("state_json")?,
        open: r.try_get::<i64, _>("open")? != 0,
        due_kind: r.try_get("due_kind")?,
        due_on: r.try_get("due_on")?,
        due_provisional: r.try_get::<i64, _>("due_provisional")? != 0,
        reply_category: r.try_get("reply_category")?,
        replied_on: r.try_get("replied_on")?,
        concluded_on: r.try_get("concluded_on")?,
        reply_json: r.try_get("reply_json")?,
        fee_basis: r.try_get("fee_basis")?,
        fee_yuan: r.try_get("fee_yuan")?,
        fee_paid_on: r.try_get("fee_paid_on")?,
        extended: r.try_get::<i64, _>("extended")? != 0,
        applicant_key: r.try_get("applicant_key")?,
        info_key: r.try_get("info_key")?,
        suggested_category: r.try_get("suggested_category")?,
        duplicate_of: r.try_get("duplicate_of")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
    })
}

pub async fn insert(conn: &mut AnyConnection, q: &RequestRow) -> Result<(), sqlx::Error> {
    sqlx::query(concat!(
        "INSERT INTO requests (",
        request_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13, $14, $15, $16, $17, \
         $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, $28, $29, $30, $31, $32, $33, $34, $35)"
    ))
    .bind(&q.id)
    .bind(&q.unit)
    .bind(&q.tracking_no)
    .bind(&q.query_code_hash)
    .bind(&q.applicant_type)
    .bind(&q.applicant_name)
    .bind(&q.id_type)
    .bind(&q.id_number)
    .bind(&q.phone)
    .bind(&q.email)
    .bind(&q.address)
    .bind(&q.description)
    .bind(&q.delivery_form)
    .bind(&q.channel)
    .bind(&q.received_on)
    .bind(&q.status)
    .bind(&q.state_json)
    .bind(i64::from(q.open))
    .bind(&q.due_kind)
    .bind(&q.due_on)
    .bind(i64::from(q.due_provisional))
    .bind(&q.reply_category)
    .bind(&q.replied_on)
    .bind(&q.concluded_on)
    .bind(&q.reply_json)
    .bind(&q.fee_basis)
    .bind(q.fee_yuan)
    .bind(&q.fee_paid_on)
    .bind(i64::from(q.extended))
    .bind(&q.applicant_key)
    .bind(&q.info_key)
    .bind(&q.suggested_category)
    .bind(&q.duplicate_of)
    .bind(q.created_at)
    .bind(q.updated_at)
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes the columns a step can change, if the row still bears the change
/// stamp `read_at` it had when read. `Ok(false)`: it was changed (or is
/// missing), and nothing was written. Without the check two steps that read
/// the same request would both write it, the second undoing the first
/// unseen (PostgreSQL reads without locking).
pub async fn update(
    conn: &mut AnyConnection,
    q: &RequestRow,
    read_at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "UPDATE requests SET status = $2, state_json = $3, open = $4, due_kind = $5, due_on = $6, \
         due_provisional = $7, reply_category = $8, replied_on = $9, concluded_on = $10, \
         reply_json = $11, fee_basis = $12, fee_yuan = $13, fee_paid_on = $14, extended = $15, \
         updated_at = $16 WHERE id = $1 AND updated_at = $17",
    )
    .bind(&q.id)
    .bind(&q.status)
    .bind(&q.state_json)
    .bind(i64::from(q.open))
    .bind(&q.due_kind)
    .bind(&q.due_on)
    .bind(i64::from(q.due_provisional))
    .bind(&q.reply_category)
    .bind(&q.replied_on)
    .bind(&q.concluded_on)
    .bind(&q.reply_json)
    .bind(&q.fee_basis)
    .bind(q.fee_yuan)
    .bind(&q.fee_paid_on)
    .bind(i64::from(q.extended))
    .bind(q.updated_at)
    .bind(read_at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get(conn: &mut AnyConnection, id: &str) -> Result<Option<RequestRow>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        request_columns!(),
        " FROM requests WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

pub async fn by_tracking_no(
    conn: &mut AnyConnection,
    tracking_no: &str,
) -> Result<Option<RequestRow>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        request_columns!(),
        " FROM requests WHERE tracking_no = $1"
    ))
    .bind(tracking_no)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(from_row)
    .transpose()
}

/// Takes the next tracking-number sequence for (unit, year), inside the
/// caller's transaction.
pub async fn next_tracking_seq(
    conn: &mut AnyConnection,
    unit: &str,
    year: i32,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "INSERT INTO tracking_counters (unit, year, next_seq) VALUES ($1, $2, 2) \
         ON CONFLICT (unit, year) DO UPDATE SET next_seq = tracking_counters.next_seq + 1 \
         RETURNING next_seq - 1",
    )
    .bind(unit)
    .bind(i64::from(year))
    .fetch_one(conn)
    .await
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct TransitionRow {
    pub action: String,
    pub from_status: String,
    pub to_status: String,
    pub day: String,
    pub actor: String,
    pub reason: String,
    pub at: i64,
}

pub async fn add_transition(
    conn: &mut AnyConnection,
    request_id: &str,
    t: &TransitionRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO request_transitions (request_id, action, from_status, to_status, day, actor, \
         reason, at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(request_id)
    .bind(&t.action)
    .bind(&t.from_status)
    .bind(&t.to_status)
    .bind(&t.day)
    .bind(&t.actor)
    .bind(&t.reason)
    .bind(t.at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn transitions(
    conn: &mut AnyConnection,
    request_id: &str,
) -> Result<Vec<TransitionRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT action, from_status, to_status, day, actor, reason, at FROM request_transitions \
         WHERE request_id = $1 ORDER BY id",
    )
    .bind(request_id)
    .fetch_all(conn)
    .await
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct AppealRow {
    pub kind: String,
    pub outcome: String,
    pub filed_on: String,
    pub decided_on: String,
    pub note: String,
}

pub async fn add_appeal(
    conn: &mut AnyConnection,
    request_id: &str,
    unit: &str,
    a: &AppealRow,
    at: i64,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO appeals (request_id, unit, kind, outcome, filed_on, decided_on, note, at) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(request_id)
    .bind(unit)
    .bind(&a.kind)
    .bind(&a.outcome)
    .bind(&a.filed_on)
    .bind(&a.decided_on)
    .bind(&a.note)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn appeals_of(
    conn: &mut AnyConnection,
    request_id: &str,
) -> Result<Vec<AppealRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, outcome, filed_on, decided_on, note FROM appeals WHERE request_id = $1 ORDER BY id",
    )
    .bind(request_id)
    .fetch_all(conn)
    .await
}

pub async fn appeals_filed_between(
    conn: &mut AnyConnection,
    unit: &str,
    from: &str,
    to: &str,
) -> Result<Vec<AppealRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT kind, outcome, filed_on, decided_on, note FROM appeals \
         WHERE unit = $1 AND filed_on >= $2 AND filed_on <= $3",
    )
    .bind(unit)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

/// One entry of a queue.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct QueueRow {
    pub id: String,
    pub tracking_no: String,
    pub status: String,
    pub due_kind: String,
    pub due_on: String,
    pub received_on: String,
}

/// Open requests due in `[from, to]`, oldest due first, after the cursor
/// `(after_due, after_id)`. Served by the partial index `requests_queue`;
/// the redundant `due_on >= $4` lets PostgreSQL start the index scan at the
/// cursor instead of filtering everything before it (an OR is no bound).
pub async fn queue(
    conn: &mut AnyConnection,
    unit: &str,
    from: &str,
    to: &str,
    after_due: &str,
    after_id: &str,
    limit: i64,
) -> Result<Vec<QueueRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT id, tracking_no, status, due_kind, due_on, received_on FROM requests \
         WHERE unit = $1 AND open = 1 AND due_on >= $2 AND due_on <= $3 \
         AND due_on >= $4 AND (due_on > $4 OR (due_on = $4 AND id > $5)) \
         ORDER BY due_on, id LIMIT $6",
    )
    .bind(unit)
    .bind(from)
    .bind(to)
    .bind(after_due)
    .bind(after_id)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(QueueRow {
                id: r.try_get("id")?,
                tracking_no: r.try_get("tracking_no")?,
                status: r.try_get("status")?,
                due_kind: r
                    .try_get::<Option<String>, _>("due_kind")?
                    .unwrap_or_default(),
                due_on: r
                    .try_get::<Option<String>, _>("due_on")?
                    .unwrap_or_default(),
                received_on: r.try_get("received_on")?,
            })
        })
        .collect()
}

/// Facts for the annual tables: requests received up to `to` and not
/// concluded before `from`.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct FactRow {
    pub applicant_type: String,
    pub received_on: String,
    pub concluded_on: Option<String>,
    pub reply_category: Option<String>,
}

pub async fn annual_facts(
    conn: &mut AnyConnection,
    unit: &str,
    from: &str,
    to: &str,
) -> Result<Vec<FactRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT applicant_type, received_on, concluded_on, reply_category FROM requests \
         WHERE unit = $1 AND received_on <= $3 AND (concluded_on IS NULL OR concluded_on >= $2)",
    )
    .bind(unit)
    .bind(from)
    .bind(to)
    .fetch_all(conn)
    .await
}

pub async fn fees_paid_between(
    conn: &mut AnyConnection,
    unit: &str,
    from: &str,
    to: &str,
) -> Result<i64, sqlx::Error> {
    // PostgreSQL sums BIGINT into NUMERIC; cast back so both backends
    // answer an integer.
    let v: Option<i64> = sqlx::query_scalar(
        "SELECT CAST(SUM(fee_yuan) AS BIGINT) FROM requests \
         WHERE unit = $1 AND fee_paid_on >= $2 AND fee_paid_on <= $3",
    )
    .bind(unit)
    .bind(from)
    .bind(to)
    .fetch_one(conn)
    .await?;
    Ok(v.unwrap_or(0))
}

/// How many requests the applicant made in `[from, to]` up to and including
/// this one (ordered by day of receipt, then id): the n of "n-th request in
/// the month" for per-request fees.
pub async fn nth_in_period(
    conn: &mut AnyConnection,
    unit: &str,
    applicant_key: &str,
    from: &str,
    to: &str,
    received_on: &str,
    id: &str,
) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT COUNT(*) FROM requests WHERE unit = $1 AND applicant_key = $2 \
         AND received_on >= $3 AND received_on <= $4 \
         AND (received_on < $5 OR (received_on = $5 AND id <= $6))",
    )
    .bind(unit)
    .bind(applicant_key)
    .bind(from)
    .bind(to)
    .bind(received_on)
    .bind(id)
    .fetch_one(conn)
    .await
}

/// An earlier request of the same applicant for the same information that
/// was answered: a 重复申请 candidate.
pub async fn earlier_answered(
    conn: &mut AnyConnection,
    unit: &str,
    applicant_key: &str,
    info_key: &str,
) -> Result<Option<String>, sqlx::Error> {
    sqlx::query_scalar(
        "SELECT tracking_no FROM requests WHERE unit = $1 AND applicant_key = $2 AND info_key = $3 \
         AND reply_category IS NOT NULL AND (reply_category = 'disclosed' OR reply_category = 'partly') \
         ORDER BY received_on DESC, id DESC LIMIT 1",
    )
    .bind(unit)
    .bind(applicant_key)
    .bind(info_key)
    .fetch_optional(conn)
    .await
}

/// Distinct applicants and tracking numbers asking for `info_key` since `since`.
pub async fn same_information_since(
    conn: &mut AnyConnection,
    unit: &str,
    info_key: &str,
    since: &str,
) -> Result<(i64, Vec<String>), sqlx::Error> {
    let applicants: i64 = sqlx::query_scalar(
        "SELECT COUNT(DISTINCT applicant_key) FROM requests WHERE unit = $1 AND info_key = $2 AND received_on >= $3",
    )
    .bind(unit)
    .bind(info_key)
    .bind(since)
    .fetch_one(&mut *conn)
    .await?;
    let tracking: Vec<String> = sqlx::query_scalar(
        "SELECT tracking_no FROM requests WHERE unit = $1 AND info_key = $2 AND received_on >= $3 \
         ORDER BY received_on, id LIMIT 100",
    )
    .bind(unit)
    .bind(info_key)
    .bind(since)
    .fetch_all(conn)
    .await?;
    Ok((applicants, tracking))
}

/// Records an Art. 44 suggestion made on `day` unless one was made on or
/// after `since`; returns whether this call recorded it. One statement, so
/// that concurrent callers cannot both see "none yet".
pub async fn record_suggestion(
    conn: &mut AnyConnection,
    unit: &str,
    info_key: &str,
    since: &str,
    day: &str,
    applicants: i64,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let recorded: Option<String> = sqlx::query_scalar(
        "INSERT INTO proactive_suggestions (unit, info_key, suggested_on, applicants, at) \
         VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (unit, info_key) DO UPDATE SET suggested_on = excluded.suggested_on, \
         applicants = excluded.applicants, at = excluded.at \
         WHERE proactive_suggestions.suggested_on < $6 \
         RETURNING info_key",
    )
    .bind(unit)
    .bind(info_key)
    .bind(day)
    .bind(applicants)
    .bind(at)
    .bind(since)
    .fetch_optional(conn)
    .await?;
    Ok(recorded.is_some())
}

/// Records a due notice; false when it was already sent.
pub async fn record_notice(
    conn: &mut AnyConnection,
    request_id: &str,
    kind: &str,
    due_on: &str,
    level: &str,
    at: i64,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO due_notices (request_id, kind, due_on, level, sent_at) VALUES ($1, $2, $3, $4, $5) \
         ON CONFLICT (request_id, kind, due_on, level) DO NOTHING",
    )
    .bind(request_id)
    .bind(kind)
    .bind(due_on)
    .bind(level)
    .bind(at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

/// Open requests whose due date is provisional (a year without calendar
/// data): recomputed when the year's file arrives.
pub async fn provisional_open(
    conn: &mut AnyConnection,
    unit: &str,
    limit: i64,
) -> Result<Vec<RequestRow>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        request_columns!(),
        " FROM requests WHERE unit = $1 AND open = 1 AND due_provisional = 1 ORDER BY id LIMIT $2"
    ))
    .bind(unit)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(from_row).collect()
}
