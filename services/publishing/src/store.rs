//! The publishing tables. One SQL code path serves SQLite and PostgreSQL
//! (see `gongkai_kernel::db`); the conformance suite in `tests/store.rs`
//! runs it against both. One write has a path per backend: the group
//! writer's, as one statement on PostgreSQL and on SQLite's own handle
//! (`direct`).

use std::sync::LazyLock;

use chrono::NaiveDate;
use gongkai_kernel::db::{Db, Migrations, is_guard_failure, now_ms, sqlite_guard};
use sqlx::any::AnyRow;
use sqlx::pool::PoolConnection;
use sqlx::{Any, AnyConnection, Row as _};

use crate::domain::catalog::ColumnDef;
use crate::domain::document::{Attribute, Fields};
use crate::domain::workflow::State;

mod direct;
mod interpretations;
pub use interpretations::{
    Judgement, PolicyAhead, outstanding_page, record_judgement, unjudged_page,
};

static SQLITE: sqlx::migrate::Migrator = sqlx::migrate!("migrations/sqlite");
static POSTGRES: sqlx::migrate::Migrator = sqlx::migrate!("migrations/postgres");

pub const MIGRATIONS: Migrations = Migrations {
    sqlite: &SQLITE,
    postgres: &POSTGRES,
};

pub async fn connect(url: &str) -> anyhow::Result<Db> {
    Db::connect(url, &MIGRATIONS).await
}

/// One row of `documents`.
#[derive(Debug, Clone, PartialEq)]
pub struct DocRow {
    pub id: String,
    pub unit: String,
    pub state: State,
    pub version: i64,
    pub fields: Fields,
    pub index_no: Option<String>,
    pub date_published: Option<NaiveDate>,
    pub validity: String,
    pub created_by: String,
    pub created_at: i64,
    pub updated_at: i64,
    pub interprets: Option<String>,
    pub interpretation: Option<String>,
    /// JSON array of confidentiality findings shown to the reviewer.
    pub confidential_findings: String,
    pub timeliness_days: Option<i64>,
    pub late: bool,
    pub timeliness_provisional: bool,
    pub abolished_on: Option<NaiveDate>,
    pub abolish_reason: Option<String>,
    pub search_seq: i64,
}

impl DocRow {
    /// A new draft of `unit`, written by `created_by` at `at` (ms): version
    /// 1, valid, nothing published, linked or found yet.
    pub fn draft(id: String, unit: String, fields: Fields, created_by: String, at: i64) -> DocRow {
        DocRow {
            id,
            unit,
            state: State::Draft,
            version: 1,
            fields,
            index_no: None,
            date_published: None,
            validity: "valid".into(),
            created_by,
            created_at: at,
            updated_at: at,
            interprets: None,
            interpretation: None,
            confidential_findings: "[]".into(),
            timeliness_days: None,
            late: false,
            timeliness_provisional: false,
            abolished_on: None,
            abolish_reason: None,
            search_seq: 0,
        }
    }
}

/// The columns of `documents` in `doc_from_row` order, as a macro so that
/// statements stay `&'static str` literals.
macro_rules! doc_columns {
    () => {
        "id, unit, state, version, title, doc_number, subject, publisher, \
    date_formed, attribute, withheld_reason, column_code, body, summary, index_no, \
    date_published, validity, created_by, created_at, updated_at, interprets, interpretation, \
    confidential_findings, timeliness_days, late, timeliness_provisional, abolished_on, \
    abolish_reason, search_seq, valid_until"
    };
}

fn date(s: Option<String>) -> Result<Option<NaiveDate>, sqlx::Error> {
    s.map(|s| {
        NaiveDate::parse_from_str(&s, "%Y-%m-%d").map_err(|e| sqlx::Error::Decode(Box::new(e)))
    })
    .transpose()
}

fn decode_err(msg: String) -> sqlx::Error {
    sqlx::Error::Decode(msg.into())
}

fn doc_from_row(r: &AnyRow) -> Result<DocRow, sqlx::Error> {
    let state: String = r.try_get("state")?;
    let attribute: String = r.try_get("attribute")?;
    Ok(DocRow {
        id: r.try_get("id")?,
        unit: r.try_get("unit")?,
        state: State::parse(&state).ok_or_else(|| decode_err(format!("state {state}")))?,
        version: r.try_get("version")?,
        fields: Fields {
            title: r.try_get("title")?,
            doc_number: r.try_get("doc_number")?,
            subject: r.try_get("subject")?,
            publisher: r.try_get("publisher")?,
            date_formed: date(Some(r.try_get("date_formed")?))?
                .ok_or_else(|| decode_err("date_formed".into()))?,
            attribute: Attribute::parse(&attribute)
                .ok_or_else(|| decode_err(format!("attribute {attribute}")))?,
            withheld_reason: r.try_get("withheld_reason")?,
            column: r.try_get("column_code")?,
            body: r.try_get("body")?,
            summary: r.try_get("summary")?,
            valid_until: date(r.try_get("valid_until")?)?,
        },
        index_no: r.try_get("index_no")?,
        date_published: date(r.try_get("date_published")?)?,
        validity: r.try_get("validity")?,
        created_by: r.try_get("created_by")?,
        created_at: r.try_get("created_at")?,
        updated_at: r.try_get("updated_at")?,
        interprets: r.try_get("interprets")?,
        interpretation: r.try_get("interpretation")?,
        confidential_findings: r.try_get("confidential_findings")?,
        timeliness_days: r.try_get("timeliness_days")?,
        late: r.try_get::<i64, _>("late")? != 0,
        timeliness_provisional: r.try_get::<i64, _>("timeliness_provisional")? != 0,
        abolished_on: date(r.try_get("abolished_on")?)?,
        abolish_reason: r.try_get("abolish_reason")?,
        search_seq: r.try_get("search_seq")?,
    })
}

fn iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

pub async fn insert_document(conn: &mut AnyConnection, d: &DocRow) -> Result<(), sqlx::Error> {
    let f = &d.fields;
    sqlx::query(concat!(
        "INSERT INTO documents (",
        doc_columns!(),
        ") VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16, $17, $18, $19, $20, $21, $22, $23, $24, $25, $26, $27, \
         $28, $29, $30)"
    ))
    .bind(&d.id)
    .bind(&d.unit)
    .bind(d.state.as_str())
    .bind(d.version)
    .bind(&f.title)
    .bind(&f.doc_number)
    .bind(&f.subject)
    .bind(&f.publisher)
    .bind(iso(f.date_formed))
    .bind(f.attribute.as_str())
    .bind(&f.withheld_reason)
    .bind(&f.column)
    .bind(&f.body)
    .bind(&f.summary)
    .bind(&d.index_no)
    .bind(d.date_published.map(iso))
    .bind(&d.validity)
    .bind(&d.created_by)
    .bind(d.created_at)
    .bind(d.updated_at)
    .bind(&d.interprets)
    .bind(&d.interpretation)
    .bind(&d.confidential_findings)
    .bind(d.timeliness_days)
    .bind(i64::from(d.late))
    .bind(i64::from(d.timeliness_provisional))
    .bind(d.abolished_on.map(iso))
    .bind(&d.abolish_reason)
    .bind(d.search_seq)
    .bind(f.valid_until.map(iso))
    .execute(conn)
    .await?;
    Ok(())
}

/// Writes every mutable column of `d` (the id and unit never change) if
/// the row is still as it was read: in state `expect.0`, stamped
/// `expect.1`. `Ok(false)`: it was changed (or removed) meanwhile, and
/// nothing was written. Without the check, two calls that read the same row
/// would both write it, the second undoing the first unseen (PostgreSQL
/// reads without locking).
pub async fn update_document(
    conn: &mut AnyConnection,
    d: &DocRow,
    expect: (State, i64),
) -> Result<bool, sqlx::Error> {
    let f = &d.fields;
    let done = sqlx::query(
        "UPDATE documents SET state = $2, version = $3, title = $4, doc_number = $5, \
         subject = $6, publisher = $7, date_formed = $8, attribute = $9, withheld_reason = $10, \
         column_code = $11, body = $12, summary = $13, index_no = $14, date_published = $15, \
         validity = $16, updated_at = $17, interprets = $18, interpretation = $19, \
         confidential_findings = $20, timeliness_days = $21, late = $22, \
         timeliness_provisional = $23, abolished_on = $24, abolish_reason = $25, \
         search_seq = $26, valid_until = $27 WHERE id = $1 AND state = $28 AND updated_at = $29",
    )
    .bind(&d.id)
    .bind(d.state.as_str())
    .bind(d.version)
    .bind(&f.title)
    .bind(&f.doc_number)
    .bind(&f.subject)
    .bind(&f.publisher)
    .bind(iso(f.date_formed))
    .bind(f.attribute.as_str())
    .bind(&f.withheld_reason)
    .bind(&f.column)
    .bind(&f.body)
    .bind(&f.summary)
    .bind(&d.index_no)
    .bind(d.date_published.map(iso))
    .bind(&d.validity)
    .bind(d.updated_at)
    .bind(&d.interprets)
    .bind(&d.interpretation)
    .bind(&d.confidential_findings)
    .bind(d.timeliness_days)
    .bind(i64::from(d.late))
    .bind(i64::from(d.timeliness_provisional))
    .bind(d.abolished_on.map(iso))
    .bind(&d.abolish_reason)
    .bind(d.search_seq)
    .bind(f.valid_until.map(iso))
    .bind(expect.0.as_str())
    .bind(expect.1)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}

pub async fn get_document(
    conn: &mut AnyConnection,
    id: &str,
) -> Result<Option<DocRow>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        doc_columns!(),
        " FROM documents WHERE id = $1"
    ))
    .bind(id)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(doc_from_row)
    .transpose()
}

/// The documents with these ids that exist, in no particular order.
pub async fn get_documents(
    conn: &mut AnyConnection,
    backend: gongkai_kernel::db::Backend,
    ids: &[&str],
) -> Result<Vec<DocRow>, sqlx::Error> {
    // The ids travel as one JSON array: one statement whatever their number.
    let sql = match backend {
        gongkai_kernel::db::Backend::Postgres => concat!(
            "SELECT ",
            doc_columns!(),
            " FROM documents WHERE id = ANY (ARRAY(SELECT jsonb_array_elements_text($1::jsonb)))"
        ),
        gongkai_kernel::db::Backend::Sqlite => concat!(
            "SELECT ",
            doc_columns!(),
            " FROM documents WHERE id IN (SELECT value FROM json_each($1))"
        ),
    };
    sqlx::query(sql)
        .bind(serde_json::to_string(ids).unwrap_or_else(|_| "[]".into()))
        .fetch_all(conn)
        .await?
        .iter()
        .map(doc_from_row)
        .collect()
}

pub async fn find_by_index_no(
    conn: &mut AnyConnection,
    index_no: &str,
) -> Result<Option<DocRow>, sqlx::Error> {
    sqlx::query(concat!(
        "SELECT ",
        doc_columns!(),
        " FROM documents WHERE index_no = $1"
    ))
    .bind(index_no)
    .fetch_optional(conn)
    .await?
    .as_ref()
    .map(doc_from_row)
    .transpose()
}

pub struct ListFilter<'a> {
    pub unit: &'a str,
    pub state: Option<State>,
    pub column: Option<&'a str>,
    pub offset: i64,
    pub limit: i64,
}

pub async fn list_documents(
    conn: &mut AnyConnection,
    f: &ListFilter<'_>,
) -> Result<(Vec<DocRow>, i64), sqlx::Error> {
    // Empty strings disable a filter, keeping one statement for all cases.
    let state = f.state.map(State::as_str).unwrap_or("");
    let column = f.column.unwrap_or("");
    macro_rules! filter {
        () => {
            " WHERE unit = $1 AND ($2 = '' OR state = $2) AND ($3 = '' OR column_code = $3)"
        };
    }
    let total: i64 = sqlx::query_scalar(concat!("SELECT COUNT(*) FROM documents", filter!()))
        .bind(f.unit)
        .bind(state)
        .bind(column)
        .fetch_one(&mut *conn)
        .await?;
    let rows = sqlx::query(concat!(
        "SELECT ",
        doc_columns!(),
        " FROM documents",
        filter!(),
        " ORDER BY updated_at DESC, id LIMIT $4 OFFSET $5"
    ))
    .bind(f.unit)
    .bind(state)
    .bind(column)
    .bind(f.limit)
    .bind(f.offset)
    .fetch_all(conn)
    .await?;
    let docs = rows.iter().map(doc_from_row).collect::<Result<_, _>>()?;
    Ok((docs, total))
}

/// A statement of one page of a unit's documents in id order: `$1` the
/// unit, `$2` the last id of the page before, `$3` the page size; `filter`
/// the further condition.
macro_rules! unit_page_sql {
    ($filter:literal) => {
        concat!(
            "SELECT ",
            doc_columns!(),
            " FROM documents WHERE unit = $1 AND ",
            $filter,
            " AND id > $2 ORDER BY id LIMIT $3"
        )
    };
}

/// One page of `unit`'s documents after `after_id` by a [`unit_page_sql`]
/// statement.
async fn unit_page(
    conn: &mut AnyConnection,
    sql: &'static str,
    unit: &str,
    after_id: &str,
    limit: i64,
) -> Result<Vec<DocRow>, sqlx::Error> {
    keyset_page(conn, sql, (unit, after_id, limit), None, doc_from_row).await
}

/// One page of rows by a statement taking `$1` the unit, `$2` the last key
/// of the page before and `$3` the page size (`at`), and `$4` when `extra`
/// is given; each row read by `row`.
async fn keyset_page<T>(
    conn: &mut AnyConnection,
    sql: &'static str,
    at: (&str, &str, i64),
    extra: Option<String>,
    row: fn(&AnyRow) -> Result<T, sqlx::Error>,
) -> Result<Vec<T>, sqlx::Error> {
    let mut q = sqlx::query(sql).bind(at.0).bind(at.1).bind(at.2);
    if let Some(x) = extra {
        q = q.bind(x);
    }
    q.fetch_all(conn).await?.iter().map(row).collect()
}

/// Documents the public can read (published or abolished) after
/// `after_id`, for the scan.
pub async fn public_page(
    conn: &mut AnyConnection,
    unit: &str,
    after_id: &str,
    limit: i64,
) -> Result<Vec<DocRow>, sqlx::Error> {
    let sql = unit_page_sql!("state IN ('published', 'abolished')");
    unit_page(conn, sql, unit, after_id, limit).await
}

/// Documents of `unit` after `after_id` (in id order) whose timeliness
/// rests on a year without calendar data (RULES §6), to be recomputed.
pub async fn provisional_timeliness_page(
    conn: &mut AnyConnection,
    unit: &str,
    after_id: &str,
    limit: i64,
) -> Result<Vec<DocRow>, sqlx::Error> {
    let sql = unit_page_sql!("timeliness_provisional = 1");
    unit_page(conn, sql, unit, after_id, limit).await
}

/// Published documents of `unit` after `after_id` (in id order) still
/// marked valid whose last day in force is before `today`: due to expire.
pub async fn expiring_page(
    conn: &mut AnyConnection,
    unit: &str,
    today: NaiveDate,
    after_id: &str,
    limit: i64,
) -> Result<Vec<DocRow>, sqlx::Error> {
    let sql = unit_page_sql!(
        "validity = 'valid' AND valid_until IS NOT NULL AND valid_until < $4 \
         AND state = 'published'"
    );
    let at = (unit, after_id, limit);
    keyset_page(conn, sql, at, Some(iso(today)), doc_from_row).await
}

/// Public documents changed after search watermark `after`, in order;
/// never a document that has not been public (search position 0), whatever
/// `after` is. (`search_seq > 0` spells the partial index's condition, so
/// that both planners use it.)
pub async fn changed_since(
    conn: &mut AnyConnection,
    after: i64,
    limit: i64,
) -> Result<Vec<DocRow>, sqlx::Error> {
    let rows = sqlx::query(concat!(
        "SELECT ",
        doc_columns!(),
        " FROM documents WHERE search_seq > $1 AND search_seq > 0 ORDER BY search_seq LIMIT $2"
    ))
    .bind(after)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter().map(doc_from_row).collect()
}

/// A stored 文号 left in the spelling it was stored in: another document
/// of its unit already has its standard spelling.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DocNumberClash {
    pub id: String,
    pub unit: String,
    pub stored: String,
    pub standard: String,
    /// The document that has the standard spelling.
    pub holder: String,
}

/// The `counters` row saying that every stored 文号 has been given its
/// standard spelling (or reported as a clash).
const DOC_NUMBERS_STANDARD: &str = "doc_numbers_standard";

/// Gives every stored 文号 its standard spelling ([`doc_number::normalize`]),
/// once per database: numbers are spelled so on the way in, but rows
/// written before that kept what was typed, and a number typed again in
/// another spelling would not have met them. A public document rewritten
/// takes a new search sequence, so the index shows the number as now
/// stored. A number whose standard spelling another document of its unit
/// already has is left as it is and returned, for the operator to settle.
/// Call it before serving: it takes the write connection row by row.
///
/// [`doc_number::normalize`]: crate::domain::doc_number::normalize
pub async fn standardize_doc_numbers(db: &Db) -> Result<Vec<DocNumberClash>, sqlx::Error> {
    let done: Option<i64> = sqlx::query_scalar("SELECT value FROM counters WHERE name = $1")
        .bind(DOC_NUMBERS_STANDARD)
        .fetch_optional(db.read())
        .await?;
    if done.is_some() {
        return Ok(Vec::new());
    }
    let mut clashes = Vec::new();
    let mut after = String::new();
    loop {
        let page: Vec<(String, String, String, i64)> = sqlx::query_as(
            "SELECT id, unit, doc_number, search_seq FROM documents \
             WHERE doc_number IS NOT NULL AND id > $1 ORDER BY id LIMIT 1000",
        )
        .bind(&after)
        .fetch_all(db.read())
        .await?;
        let Some((last, ..)) = page.last() else { break };
        after = last.clone();
        for (id, unit, stored, search_seq) in page {
            let standard = crate::domain::doc_number::normalize(&stored);
            if standard == stored {
                continue;
            }
            let mut tx = db.begin().await?;
            let holder: Option<String> =
                sqlx::query_scalar("SELECT id FROM documents WHERE unit = $1 AND doc_number = $2")
                    .bind(&unit)
                    .bind(&standard)
                    .fetch_optional(&mut *tx)
                    .await?;
            if let Some(holder) = holder {
                tx.rollback().await?;
                clashes.push(DocNumberClash {
                    id,
                    unit,
                    stored,
                    standard,
                    holder,
                });
                continue;
            }
            let seq = if search_seq > 0 {
                take_seqs(&mut tx, db.backend(), None).await?.1
            } else {
                0
            };
            sqlx::query("UPDATE documents SET doc_number = $1, search_seq = $2 WHERE id = $3")
                .bind(&standard)
                .bind(seq)
                .bind(&id)
                .execute(&mut *tx)
                .await?;
            tx.commit().await?;
        }
    }
    // Two processes started at once on one database may both get here.
    sqlx::query("INSERT INTO counters (name, value) VALUES ($1, 1) ON CONFLICT (name) DO NOTHING")
        .bind(DOC_NUMBERS_STANDARD)
        .execute(db.write())
        .await?;
    Ok(clashes)
}

pub async fn max_search_seq(conn: &mut AnyConnection) -> Result<i64, sqlx::Error> {
    sqlx::query_scalar("SELECT value FROM counters WHERE name = 'search'")
        .fetch_one(conn)
        .await
}

pub async fn insert_version(
    conn: &mut AnyConnection,
    d: &DocRow,
    reason: &str,
    actor: &str,
) -> Result<(), sqlx::Error> {
    let f = &d.fields;
    sqlx::query(
        "INSERT INTO document_versions (document_id, version, title, doc_number, subject, \
         publisher, date_formed, attribute, withheld_reason, column_code, body, summary, reason, \
         created_by, created_at, valid_until) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, \
         $11, $12, $13, $14, $15, $16)",
    )
    .bind(&d.id)
    .bind(d.version)
    .bind(&f.title)
    .bind(&f.doc_number)
    .bind(&f.subject)
    .bind(&f.publisher)
    .bind(iso(f.date_formed))
    .bind(f.attribute.as_str())
    .bind(&f.withheld_reason)
    .bind(&f.column)
    .bind(&f.body)
    .bind(&f.summary)
    .bind(reason)
    .bind(actor)
    .bind(now_ms())
    .bind(f.valid_until.map(iso))
    .execute(conn)
    .await?;
    Ok(())
}

#[derive(Debug, Clone, PartialEq)]
pub struct VersionRow {
    pub version: i64,
    pub fields: Fields,
    pub reason: String,
    pub created_by: String,
    pub created_at: i64,
}

pub async fn versions(conn: &mut AnyConnection, id: &str) -> Result<Vec<VersionRow>, sqlx::Error> {
    let rows = sqlx::query(
        // A version without a body of its own has the document's (see
        // `change_sql`).
        "SELECT v.version, v.title, v.doc_number, v.subject, v.publisher, v.date_formed, \
         v.attribute, v.withheld_reason, v.column_code, COALESCE(v.body, d.body) AS body, \
         v.summary, v.valid_until, v.reason, v.created_by, v.created_at \
         FROM document_versions v JOIN documents d ON d.id = v.document_id \
         WHERE v.document_id = $1 ORDER BY v.version",
    )
    .bind(id)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let attribute: String = r.try_get("attribute")?;
            Ok(VersionRow {
                version: r.try_get("version")?,
                fields: Fields {
                    title: r.try_get("title")?,
                    doc_number: r.try_get("doc_number")?,
                    subject: r.try_get("subject")?,
                    publisher: r.try_get("publisher")?,
                    date_formed: date(Some(r.try_get("date_formed")?))?
                        .ok_or_else(|| decode_err("date_formed".into()))?,
                    attribute: Attribute::parse(&attribute)
                        .ok_or_else(|| decode_err(format!("attribute {attribute}")))?,
                    withheld_reason: r.try_get("withheld_reason")?,
                    column: r.try_get("column_code")?,
                    body: r.try_get("body")?,
                    summary: r.try_get("summary")?,
                    valid_until: date(r.try_get("valid_until")?)?,
                },
                reason: r.try_get("reason")?,
                created_by: r.try_get("created_by")?,
                created_at: r.try_get("created_at")?,
            })
        })
        .collect()
}

#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct HistoryRow {
    pub action: String,
    pub actor: String,
    pub from_state: String,
    pub to_state: String,
    pub comment: String,
    pub at: i64,
}

pub async fn add_history(
    conn: &mut AnyConnection,
    id: &str,
    h: &HistoryRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO document_history (document_id, action, actor, from_state, to_state, \
         comment, at) VALUES ($1, $2, $3, $4, $5, $6, $7)",
    )
    .bind(id)
    .bind(&h.action)
    .bind(&h.actor)
    .bind(&h.from_state)
    .bind(&h.to_state)
    .bind(&h.comment)
    .bind(h.at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn history(conn: &mut AnyConnection, id: &str) -> Result<Vec<HistoryRow>, sqlx::Error> {
    sqlx::query_as(
        "SELECT action, actor, from_state, to_state, comment, at FROM document_history \
         WHERE document_id = $1 ORDER BY id",
    )
    .bind(id)
    .fetch_all(conn)
    .await
}

pub async fn insert_custom_column(
    conn: &mut AnyConnection,
    unit: &str,
    c: &ColumnDef,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO custom_columns (unit, code, name, parent, policy, interpretation, \
         report_kind, created_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)",
    )
    .bind(unit)
    .bind(&c.code)
    .bind(&c.name)
    .bind(&c.parent)
    .bind(i64::from(c.policy))
    .bind(i64::from(c.interpretation))
    .bind(&c.report_kind)
    .bind(now_ms())
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn custom_columns(
    conn: &mut AnyConnection,
    unit: &str,
) -> Result<Vec<ColumnDef>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT code, name, parent, policy, interpretation, report_kind FROM custom_columns \
         WHERE unit = $1 ORDER BY created_at, code",
    )
    .bind(unit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(ColumnDef {
                code: r.try_get("code")?,
                name: r.try_get("name")?,
                parent: r.try_get("parent")?,
                policy: r.try_get::<i64, _>("policy")? != 0,
                interpretation: r.try_get::<i64, _>("interpretation")? != 0,
                report_kind: r.try_get("report_kind")?,
                custom: true,
            })
        })
        .collect()
}

/// Published/abolished documents of a unit with the fields statistics need.
#[derive(Debug, Clone)]
pub struct StatRow {
    pub column: String,
    pub date_published: NaiveDate,
    pub abolished_on: Option<NaiveDate>,
    /// The last day in force, when the document says so.
    pub valid_until: Option<NaiveDate>,
    pub late: bool,
}

pub async fn stat_rows(conn: &mut AnyConnection, unit: &str) -> Result<Vec<StatRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT column_code, date_published, abolished_on, valid_until, late FROM documents \
         WHERE unit = $1 AND state IN ('published', 'abolished') AND date_published IS NOT NULL",
    )
    .bind(unit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            Ok(StatRow {
                column: r.try_get("column_code")?,
                date_published: date(r.try_get("date_published")?)?
                    .ok_or_else(|| decode_err("date_published".into()))?,
                abolished_on: date(r.try_get("abolished_on")?)?,
                valid_until: date(r.try_get("valid_until")?)?,
                late: r.try_get::<i64, _>("late")? != 0,
            })
        })
        .collect()
}

/// One entry of the subtree catalogue.
#[derive(Debug, Clone, PartialEq, Eq, sqlx::FromRow)]
pub struct CatalogRow {
    pub document_id: String,
    pub unit: String,
    pub unit_name: String,
    pub index_no: String,
    pub title: String,
    pub summary: String,
    pub date_formed: String,
    pub date_published: String,
    pub validity: String,
    #[sqlx(rename = "column_code")]
    pub column: String,
    pub version: i64,
    /// YYYY-MM-DD; empty: no end given.
    pub valid_until: String,
    pub event_time: i64,
}

/// Applies a child's document event; an older (version, time) than what is
/// stored is ignored, so out-of-order delivery cannot roll an entry back.
pub async fn upsert_catalog(conn: &mut AnyConnection, c: &CatalogRow) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO subtree_catalog (document_id, unit, unit_name, index_no, title, summary, \
         date_formed, date_published, validity, column_code, version, event_time, valid_until) \
         VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13) \
         ON CONFLICT (document_id) DO UPDATE SET unit = excluded.unit, \
         unit_name = excluded.unit_name, index_no = excluded.index_no, title = excluded.title, \
         summary = excluded.summary, date_formed = excluded.date_formed, \
         date_published = excluded.date_published, validity = excluded.validity, \
         column_code = excluded.column_code, version = excluded.version, \
         event_time = excluded.event_time, valid_until = excluded.valid_until \
         WHERE subtree_catalog.version < excluded.version \
            OR (subtree_catalog.version = excluded.version \
                AND subtree_catalog.event_time <= excluded.event_time)",
    )
    .bind(&c.document_id)
    .bind(&c.unit)
    .bind(&c.unit_name)
    .bind(&c.index_no)
    .bind(&c.title)
    .bind(&c.summary)
    .bind(&c.date_formed)
    .bind(&c.date_published)
    .bind(&c.validity)
    .bind(&c.column)
    .bind(c.version)
    .bind(c.event_time)
    .bind(&c.valid_until)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() > 0)
}

pub async fn list_catalog(
    conn: &mut AnyConnection,
    unit_prefix: &str,
    offset: i64,
    limit: i64,
) -> Result<(Vec<CatalogRow>, i64), sqlx::Error> {
    // Unit paths may hold '_', a LIKE wildcard: escape it.
    let like = format!(
        "{}.%",
        unit_prefix.replace('\\', "\\\\").replace('_', "\\_")
    );
    macro_rules! filter {
        () => {
            " WHERE unit = $1 OR unit LIKE $2 ESCAPE '\\'"
        };
    }
    let total: i64 = sqlx::query_scalar(concat!("SELECT COUNT(*) FROM subtree_catalog", filter!()))
        .bind(unit_prefix)
        .bind(&like)
        .fetch_one(&mut *conn)
        .await?;
    let rows: Vec<CatalogRow> = sqlx::query_as(concat!(
        "SELECT document_id, unit, unit_name, index_no, title, summary, date_formed, \
         date_published, validity, column_code, version, event_time, valid_until \
         FROM subtree_catalog",
        filter!(),
        " ORDER BY date_published DESC, document_id LIMIT $3 OFFSET $4"
    ))
    .bind(unit_prefix)
    .bind(&like)
    .bind(limit)
    .bind(offset)
    .fetch_all(conn)
    .await?;
    Ok((rows, total))
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SuggestionRow {
    pub event_id: String,
    pub unit: String,
    pub description: String,
    pub applicants: i64,
    pub period_days: i64,
    pub tracking_nos: Vec<String>,
    pub at: i64,
}

pub async fn insert_suggestion(
    conn: &mut AnyConnection,
    s: &SuggestionRow,
) -> Result<(), sqlx::Error> {
    sqlx::query(
        "INSERT INTO disclosure_suggestions (event_id, unit, description, applicants, period_days, \
         tracking_nos, at) VALUES ($1, $2, $3, $4, $5, $6, $7) ON CONFLICT (event_id) DO NOTHING",
    )
    .bind(&s.event_id)
    .bind(&s.unit)
    .bind(&s.description)
    .bind(s.applicants)
    .bind(s.period_days)
    .bind(serde_json::to_string(&s.tracking_nos).unwrap_or_default())
    .bind(s.at)
    .execute(conn)
    .await?;
    Ok(())
}

pub async fn suggestions(
    conn: &mut AnyConnection,
    unit: &str,
    limit: i64,
) -> Result<Vec<SuggestionRow>, sqlx::Error> {
    let rows = sqlx::query(
        "SELECT event_id, unit, description, applicants, period_days, tracking_nos, at \
         FROM disclosure_suggestions WHERE unit = $1 ORDER BY at DESC LIMIT $2",
    )
    .bind(unit)
    .bind(limit)
    .fetch_all(conn)
    .await?;
    rows.iter()
        .map(|r| {
            let tracking: String = r.try_get("tracking_nos")?;
            Ok(SuggestionRow {
                event_id: r.try_get("event_id")?,
                unit: r.try_get("unit")?,
                description: r.try_get("description")?,
                applicants: r.try_get("applicants")?,
                period_days: r.try_get("period_days")?,
                tracking_nos: serde_json::from_str(&tracking).unwrap_or_default(),
                at: r.try_get("at")?,
            })
        })
        .collect()
}

/// A bind value of a statement assembled at run time.
enum Val {
    S(String),
    OS(Option<String>),
    I(i64),
    OI(Option<i64>),
    B(Vec<u8>),
}

/// Parameters of an assembled statement, numbered as they are added.
#[derive(Default)]
struct Params(Vec<Val>);

impl Params {
    fn add(&mut self, v: Val) -> String {
        self.0.push(v);
        format!("${}", self.0.len())
    }

    fn bind<'q>(
        self,
        mut q: sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments>,
    ) -> sqlx::query::Query<'q, sqlx::Any, sqlx::any::AnyArguments> {
        for v in self.0 {
            q = match v {
                Val::S(s) => q.bind(s),
                Val::OS(s) => q.bind(s),
                Val::I(i) => q.bind(i),
                Val::OI(i) => q.bind(i),
                Val::B(b) => q.bind(b),
            };
        }
        q
    }
}

/// A change to a document that becomes public in one round trip: the row
/// itself (only if it is still in `expect_state` at `expect_updated_at`),
/// optionally a version, a history entry and the outbox rows.
pub struct Change<'a> {
    pub doc: &'a DocRow,
    pub expect_state: State,
    pub expect_updated_at: i64,
    /// Whether the document's fields (title … body, summary) differ from
    /// the stored row. When they do not (publishing, abolishing), they are
    /// neither sent nor rewritten, and a new version copies them from the
    /// row, all but the body, which it shares with the row until the fields
    /// change: the body is neither carried to the database again nor
    /// stored twice.
    pub fields_changed: bool,
    /// `(reason, actor)` when the change makes a new published version.
    pub version: Option<(&'a str, &'a str)>,
    pub history: &'a HistoryRow,
    pub events: &'a [gongkai_kernel::outbox::OutboxRow],
}

/// Writes `c` as one statement (PostgreSQL: a data-modifying CTE) or one
/// batch of statements (SQLite). Returns false, writing nothing that
/// survives the caller's rollback, when the document changed meanwhile.
pub async fn write_change(
    conn: &mut AnyConnection,
    backend: gongkai_kernel::db::Backend,
    c: &Change<'_>,
) -> Result<bool, sqlx::Error> {
    write_changes(conn, backend, std::slice::from_ref(c)).await
}

/// Writes several changes in one round trip; false unless every document
/// was still as read (the caller then rolls back).
pub async fn write_changes(
    conn: &mut AnyConnection,
    backend: gongkai_kernel::db::Backend,
    changes: &[Change<'_>],
) -> Result<bool, sqlx::Error> {
    // PostgreSQL plans a statement of many CTEs anew for every group size,
    // which costs more than a round trip per change; one prepared statement
    // per change shape stays cached.
    if backend == gongkai_kernel::db::Backend::Postgres && changes.len() > 1 {
        return write_group_pg(conn, changes).await;
    }
    let mut p = Params::default();
    // PostgreSQL's CTEs, or SQLite's batch of statements.
    let parts: Vec<String> = changes
        .iter()
        .enumerate()
        .map(|(n, c)| change_sql(&mut p, c, n, backend))
        .collect();
    match backend {
        gongkai_kernel::db::Backend::Postgres => {
            let counts: Vec<String> = (0..changes.len())
                .map(|n| format!("(SELECT COUNT(*) FROM u{n})"))
                .collect();
            let sql = format!("WITH {} SELECT {}", parts.join(", "), counts.join(" + "));
            let n: i64 = p
                .bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
                .fetch_one(conn)
                .await?
                .try_get(0)?;
            Ok(n == changes.len() as i64)
        }
        gongkai_kernel::db::Backend::Sqlite => {
            match p
                .bind(sqlx::query(sqlx::AssertSqlSafe(parts.concat())))
                .execute(conn)
                .await
            {
                Ok(_) => Ok(true),
                // A document was not as read: its guard stopped the batch,
                // and the caller rolls back what came before.
                Err(e) if is_guard_failure(&e) => Ok(false),
                Err(e) => Err(e),
            }
        }
    }
}

/// The changes of a group on PostgreSQL as two JSON parameters (documents,
/// events) for [`group_ctes`].
fn group_json(changes: &[Change<'_>]) -> (String, String) {
    use base64::Engine as _;
    let v_at = now_ms();
    let mut docs = Vec::with_capacity(changes.len());
    let mut events = Vec::new();
    for c in changes {
        let d = c.doc;
        let f = &d.fields;
        let h = c.history;
        let fields = c.fields_changed.then(|| GroupFields {
            title: &f.title,
            doc_number: f.doc_number.as_deref(),
            subject: &f.subject,
            publisher: &f.publisher,
            date_formed: iso(f.date_formed),
            attribute: f.attribute.as_str(),
            withheld_reason: f.withheld_reason.as_deref(),
            column_code: &f.column,
            body: &f.body,
            summary: &f.summary,
            valid_until: f.valid_until.map(iso),
        });
        docs.push(GroupDoc {
            id: &d.id,
            state: d.state.as_str(),
            version: d.version,
            fields: c.fields_changed,
            changed: fields,
            index_no: d.index_no.as_deref(),
            date_published: d.date_published.map(iso),
            validity: &d.validity,
            updated_at: d.updated_at,
            interprets: d.interprets.as_deref(),
            interpretation: d.interpretation.as_deref(),
            confidential_findings: &d.confidential_findings,
            timeliness_days: d.timeliness_days,
            late: i64::from(d.late),
            timeliness_provisional: i64::from(d.timeliness_provisional),
            abolished_on: d.abolished_on.map(iso),
            abolish_reason: d.abolish_reason.as_deref(),
            search_seq: d.search_seq,
            expect_state: c.expect_state.as_str(),
            expect_at: c.expect_updated_at,
            v_reason: c.version.map(|v| v.0),
            v_actor: c.version.map(|v| v.1),
            v_at,
            h_action: &h.action,
            h_actor: &h.actor,
            h_from: &h.from_state,
            h_to: &h.to_state,
            h_comment: &h.comment,
            h_at: h.at,
        });
        for e in c.events {
            events.push(GroupEvent {
                doc_id: &d.id,
                event_id: &e.event_id,
                subject: &e.subject,
                payload: base64::engine::general_purpose::STANDARD.encode(&e.payload),
                traceparent: e.traceparent.as_deref(),
                created_at: e.created_at,
            });
        }
    }
    // Serializing plain structs cannot fail.
    (
        serde_json::to_string(&docs).unwrap_or_default(),
        serde_json::to_string(&events).unwrap_or_default(),
    )
}

/// One document of a group, as [`group_ctes`] unpacks it (`x`).
#[derive(serde::Serialize)]
struct GroupDoc<'a> {
    id: &'a str,
    state: &'static str,
    version: i64,
    /// Whether `changed` is there: the fields are written only then.
    fields: bool,
    #[serde(flatten, skip_serializing_if = "Option::is_none")]
    changed: Option<GroupFields<'a>>,
    index_no: Option<&'a str>,
    date_published: Option<String>,
    validity: &'a str,
    updated_at: i64,
    interprets: Option<&'a str>,
    interpretation: Option<&'a str>,
    confidential_findings: &'a str,
    timeliness_days: Option<i64>,
    late: i64,
    timeliness_provisional: i64,
    abolished_on: Option<String>,
    abolish_reason: Option<&'a str>,
    search_seq: i64,
    expect_state: &'static str,
    expect_at: i64,
    v_reason: Option<&'a str>,
    v_actor: Option<&'a str>,
    v_at: i64,
    h_action: &'a str,
    h_actor: &'a str,
    h_from: &'a str,
    h_to: &'a str,
    h_comment: &'a str,
    h_at: i64,
}

#[derive(serde::Serialize)]
struct GroupFields<'a> {
    title: &'a str,
    doc_number: Option<&'a str>,
    subject: &'a str,
    publisher: &'a str,
    date_formed: String,
    attribute: &'static str,
    withheld_reason: Option<&'a str>,
    column_code: &'a str,
    body: &'a str,
    summary: &'a str,
    valid_until: Option<String>,
}

/// An index-number counter a group advances, as the expecting write
/// unpacks it: the next number it finds and the one it leaves.
#[derive(serde::Serialize)]
struct GroupCounter<'a> {
    unit: &'a str,
    year: i32,
    scope: &'a str,
    old_seq: i64,
    new_seq: i64,
}

/// One outbox row of a group (`e`); the payload in base64.
#[derive(serde::Serialize)]
struct GroupEvent<'a> {
    doc_id: &'a str,
    event_id: &'a str,
    subject: &'a str,
    payload: String,
    traceparent: Option<&'a str>,
    created_at: i64,
}

/// A group on PostgreSQL in one statement of one shape whatever the group's
/// size: the changes travel as two JSON parameters ($1 documents, $2
/// events) unpacked with `jsonb_to_recordset`, so the statement is planned
/// once and stays cached (a statement with a CTE per change would be
/// planned anew for every size). `u` holds the documents written. The
/// documents are found through `id = ANY (ARRAY(…))`, which the planner
/// answers from the primary key: joined to the unpacked JSON alone (100
/// rows by its estimate) it scanned the whole table for every group.
///
/// There are two shapes. A group that changes no document's fields (every
/// publication, abolition or expiry) takes the shorter one, which neither
/// unpacks nor chooses the fields and has no step giving older versions
/// their own body; that costs PostgreSQL a third of the statement's time
/// when a document's fields stay as they are.
fn group_ctes(fields: bool) -> String {
    // Columns of `x` and assignments of `u` for the fields, when the group
    // changes any; `fields` tells per document whether its own changed.
    let (field_columns, field_sets, keep_bodies) = if fields {
        (
            "fields boolean, title text, doc_number text, subject text, publisher text, \
             date_formed text, attribute text, withheld_reason text, column_code text, \
             body text, summary text, valid_until text, ",
            "title = CASE WHEN x.fields THEN x.title ELSE d.title END, \
             doc_number = CASE WHEN x.fields THEN x.doc_number ELSE d.doc_number END, \
             subject = CASE WHEN x.fields THEN x.subject ELSE d.subject END, \
             publisher = CASE WHEN x.fields THEN x.publisher ELSE d.publisher END, \
             date_formed = CASE WHEN x.fields THEN x.date_formed ELSE d.date_formed END, \
             attribute = CASE WHEN x.fields THEN x.attribute ELSE d.attribute END, \
             withheld_reason = CASE WHEN x.fields THEN x.withheld_reason \
                 ELSE d.withheld_reason END, \
             column_code = CASE WHEN x.fields THEN x.column_code ELSE d.column_code END, \
             body = CASE WHEN x.fields THEN x.body ELSE d.body END, \
             summary = CASE WHEN x.fields THEN x.summary ELSE d.summary END, \
             valid_until = CASE WHEN x.fields THEN x.valid_until ELSE d.valid_until END, ",
            // Versions that share the body a change replaces get their own.
            "m AS (UPDATE document_versions v SET body = d.body FROM documents d \
                WHERE v.document_id = ANY (ARRAY(SELECT id FROM x WHERE fields)) \
                AND v.body IS NULL AND d.id = v.document_id \
                AND v.document_id IN (SELECT id FROM u)), ",
        )
    } else {
        ("", "", "")
    };
    format!(
        "x AS (SELECT * FROM jsonb_to_recordset($1::jsonb) AS x(\
            id text, state text, version bigint, {field_columns}\
            index_no text, date_published text, validity text, updated_at bigint, interprets text, \
            interpretation text, confidential_findings text, timeliness_days bigint, \
            late bigint, timeliness_provisional bigint, abolished_on text, abolish_reason text, \
            search_seq bigint, expect_state text, expect_at bigint, v_reason text, v_actor text, \
            v_at bigint, h_action text, h_actor text, h_from text, h_to text, h_comment text, \
            h_at bigint)), \
         u AS (UPDATE documents d SET state = x.state, version = x.version, {field_sets}\
            index_no = x.index_no, date_published = x.date_published, \
            validity = x.validity, updated_at = x.updated_at, interprets = x.interprets, \
            interpretation = x.interpretation, confidential_findings = x.confidential_findings, \
            timeliness_days = x.timeliness_days, late = x.late, \
            timeliness_provisional = x.timeliness_provisional, abolished_on = x.abolished_on, \
            abolish_reason = x.abolish_reason, search_seq = x.search_seq \
            FROM x WHERE d.id = ANY (ARRAY(SELECT id FROM x)) \
            AND d.id = x.id AND d.state = x.expect_state AND d.updated_at = x.expect_at \
            RETURNING d.id, d.version, d.title, d.doc_number, d.subject, d.publisher, \
            d.date_formed, d.attribute, d.withheld_reason, d.column_code, d.summary, \
            d.valid_until), \
         {keep_bodies}\
         v AS (INSERT INTO document_versions (document_id, version, title, doc_number, subject, \
            publisher, date_formed, attribute, withheld_reason, column_code, summary, \
            valid_until, reason, created_by, created_at) \
            SELECT u.id, u.version, u.title, u.doc_number, u.subject, u.publisher, u.date_formed, \
            u.attribute, u.withheld_reason, u.column_code, u.summary, u.valid_until, \
            x.v_reason, x.v_actor, x.v_at FROM x JOIN u ON u.id = x.id \
            WHERE x.v_reason IS NOT NULL), \
         h AS (INSERT INTO document_history (document_id, action, actor, from_state, to_state, \
            comment, at) SELECT x.id, x.h_action, x.h_actor, x.h_from, x.h_to, x.h_comment, x.h_at \
            FROM x JOIN u ON u.id = x.id), \
         e AS (SELECT * FROM jsonb_to_recordset($2::jsonb) AS e(doc_id text, event_id text, \
            subject text, payload text, traceparent text, created_at bigint)), \
         o AS (INSERT INTO gk_outbox (event_id, subject, payload, traceparent, created_at) \
            SELECT e.event_id, e.subject, decode(e.payload, 'base64'), e.traceparent, e.created_at \
            FROM e JOIN u ON u.id = e.doc_id)"
    )
}

/// A group statement in both of [`group_ctes`]'s shapes, each built once:
/// the same text every time, prepared and cached.
struct GroupShapes {
    state_only: LazyLock<String>,
    with_fields: LazyLock<String>,
}

impl GroupShapes {
    /// The shape `changes` need: with the fields if any of them changes its
    /// document's.
    fn for_changes(&self, changes: &[Change<'_>]) -> &str {
        if changes.iter().any(|c| c.fields_changed) {
            &self.with_fields
        } else {
            &self.state_only
        }
    }
}

/// The group statement on PostgreSQL and its two parameters for `changes`;
/// public so that a test can check how PostgreSQL plans it.
pub fn group_statement_pg(changes: &[Change<'_>]) -> (&'static str, String, String) {
    static SQL: GroupShapes = GroupShapes {
        state_only: LazyLock::new(|| format!("WITH {} SELECT COUNT(*) FROM u", group_ctes(false))),
        with_fields: LazyLock::new(|| format!("WITH {} SELECT COUNT(*) FROM u", group_ctes(true))),
    };
    let (docs, events) = group_json(changes);
    (SQL.for_changes(changes), docs, events)
}

async fn write_group_pg(
    conn: &mut AnyConnection,
    changes: &[Change<'_>],
) -> Result<bool, sqlx::Error> {
    let (sql, docs, events) = group_statement_pg(changes);
    let n: i64 = sqlx::query(sqlx::AssertSqlSafe(sql))
        .bind(docs)
        .bind(events)
        .fetch_one(conn)
        .await?
        .try_get(0)?;
    Ok(n == changes.len() as i64)
}

/// An index-number counter: unit, year and scope (the column, when the
/// index format numbers per column; else empty).
pub type CounterKey = (String, i32, String);

/// Counter values a group of publications expects to find, and leaves.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SeqAdvance {
    /// `(found, left)` of the search sequence, as the next value to take
    /// (the `counters` row holds the last value taken).
    pub search: (i64, i64),
    /// `((unit, year, scope), found, left)` of each index-number counter, as
    /// the next number to take (which its row holds).
    pub index: Vec<(CounterKey, i64, i64)>,
}

/// Writes `changes` and advances the counters from the values `seqs`
/// expects, all or nothing, without first taking the counters: one
/// statement on PostgreSQL (its own transaction, undone by `gk_expect` when
/// anything was not as expected), one transaction on SQLite's own handle.
/// `Ok(false)`: a counter or a document was not as expected, and nothing
/// was written. The writer that keeps the counters' next values in memory
/// saves the round trips of taking them under lock.
///
/// On PostgreSQL the statement runs on `held`, or on a connection from the
/// pool that is then kept there (the group writer's: a group then pays
/// neither the pool's acquire nor the round trip sqlx spends checking every
/// connection it takes back); after an error none is kept.
pub async fn write_changes_expecting(
    db: &Db,
    held: &mut Option<PoolConnection<Any>>,
    changes: &[Change<'_>],
    seqs: &SeqAdvance,
) -> Result<bool, sqlx::Error> {
    match db.backend() {
        gongkai_kernel::db::Backend::Postgres => {
            let mut conn = match held.take() {
                Some(c) => c,
                None => db.write().acquire().await?,
            };
            let written = write_changes_expecting_pg(&mut conn, changes, seqs).await;
            if written.is_ok() {
                *held = Some(conn);
            }
            written
        }
        gongkai_kernel::db::Backend::Sqlite => {
            let now = now_ms();
            let written = db
                .write_direct(|tx| direct::write_expecting(tx, changes, seqs, now))
                .await?;
            Ok(written.is_some())
        }
    }
}

async fn write_changes_expecting_pg(
    conn: &mut AnyConnection,
    changes: &[Change<'_>],
    seqs: &SeqAdvance,
) -> Result<bool, sqlx::Error> {
    if let ([change], [] | [_]) = (changes, seqs.index.as_slice()) {
        return write_one_expecting_pg(conn, change, seqs).await;
    }
    let (docs, events) = group_json(changes);
    let counters: Vec<GroupCounter<'_>> = seqs
        .index
        .iter()
        .map(|((unit, year, scope), found, left)| GroupCounter {
            unit,
            year: *year,
            scope,
            old_seq: *found,
            new_seq: *left,
        })
        .collect();
    // Serializing plain structs cannot fail.
    let counters = serde_json::to_string(&counters).unwrap_or_default();
    fn text(fields: bool) -> String {
        format!(
            "WITH sc AS (UPDATE counters SET value = $4 - 1 \
                WHERE name = 'search' AND value = $3 - 1 RETURNING 1), \
             ic AS (UPDATE index_counters c SET next_seq = j.new_seq \
                FROM jsonb_to_recordset($5::jsonb) \
                    AS j(unit text, year bigint, scope text, old_seq bigint, new_seq bigint) \
                WHERE c.unit = j.unit AND c.year = j.year AND c.scope = j.scope \
                  AND c.next_seq = j.old_seq RETURNING 1), \
             {} \
             SELECT gk_expect((SELECT COUNT(*) FROM sc) = 1 \
                AND (SELECT COUNT(*) FROM ic) = $6 AND (SELECT COUNT(*) FROM u) = $7)",
            group_ctes(fields)
        )
    }
    static SQL: GroupShapes = GroupShapes {
        state_only: LazyLock::new(|| text(false)),
        with_fields: LazyLock::new(|| text(true)),
    };
    let done = sqlx::query(sqlx::AssertSqlSafe(SQL.for_changes(changes)))
        .bind(docs)
        .bind(events)
        .bind(seqs.search.0)
        .bind(seqs.search.1)
        .bind(counters)
        .bind(seqs.index.len() as i64)
        .bind(changes.len() as i64)
        .execute(&mut *conn)
        .await;
    as_expected(done)
}

/// The outcome of a write expecting the counters on PostgreSQL: `gk_expect`
/// refuses with a serialization failure when anything was not as expected.
fn as_expected<T>(done: Result<T, sqlx::Error>) -> Result<bool, sqlx::Error> {
    match done {
        Ok(_) => Ok(true),
        Err(sqlx::Error::Database(e)) if e.code().as_deref() == Some("40001") => Ok(false),
        Err(e) => Err(e),
    }
}

/// One change taking at most one index number, as [`write_changes_expecting`]
/// writes it on PostgreSQL: its values as parameters of their own (the
/// statement of a single change), not unpacked from JSON, which costs
/// PostgreSQL about a third of the statement when a group holds one
/// publication, as it mostly does with one caller at a time.
async fn write_one_expecting_pg(
    conn: &mut AnyConnection,
    change: &Change<'_>,
    seqs: &SeqAdvance,
) -> Result<bool, sqlx::Error> {
    let mut p = Params::default();
    let search = format!(
        "sc AS (UPDATE counters SET value = {} WHERE name = 'search' AND value = {} RETURNING 1)",
        p.add(Val::I(seqs.search.1 - 1)),
        p.add(Val::I(seqs.search.0 - 1)),
    );
    let (index, index_check) = match seqs.index.as_slice() {
        [((unit, year, scope), found, left)] => (
            format!(
                ", ic AS (UPDATE index_counters SET next_seq = {} WHERE unit = {} \
                 AND year = {} AND scope = {} AND next_seq = {} RETURNING 1)",
                p.add(Val::I(*left)),
                p.add(Val::S(unit.clone())),
                p.add(Val::I(i64::from(*year))),
                p.add(Val::S(scope.clone())),
                p.add(Val::I(*found)),
            ),
            " AND (SELECT COUNT(*) FROM ic) = 1",
        ),
        _ => (String::new(), ""),
    };
    let cte = change_sql(&mut p, change, 0, gongkai_kernel::db::Backend::Postgres);
    let sql = format!(
        "WITH {search}{index}, {cte} SELECT gk_expect((SELECT COUNT(*) FROM sc) = 1\
         {index_check} AND (SELECT COUNT(*) FROM u0) = 1)"
    );
    as_expected(
        p.bind(sqlx::query(sqlx::AssertSqlSafe(sql)))
            .execute(conn)
            .await,
    )
}

/// What a version copies from its document's row.
const VERSION_COLUMNS: &str = "version, title, doc_number, subject, publisher, date_formed, \
     attribute, withheld_reason, column_code, summary, valid_until";

/// A version's row, before its values: the document's id, then
/// `VERSION_COLUMNS`, the reason, who and when.
static VERSION_INSERT: LazyLock<String> = LazyLock::new(|| {
    format!(
        "INSERT INTO document_versions (document_id, {VERSION_COLUMNS}, reason, created_by, \
         created_at)"
    )
});

/// Gives the versions that share their document's body (NULL) their own
/// copy, before the document's fields change; a `WHERE` follows.
const KEEP_BODY: &str = "UPDATE document_versions SET body = (SELECT body FROM documents \
     WHERE id = document_versions.document_id)";

const HISTORY_INSERT: &str = "INSERT INTO document_history \
     (document_id, action, actor, from_state, to_state, comment, at)";

const OUTBOX_INSERT: &str =
    "INSERT INTO gk_outbox (event_id, subject, payload, traceparent, created_at)";

/// The document's fields as a change writes them, when they changed.
fn field_sets(f: &Fields) -> [(&'static str, Val); 11] {
    [
        ("title", Val::S(f.title.clone())),
        ("doc_number", Val::OS(f.doc_number.clone())),
        ("subject", Val::S(f.subject.clone())),
        ("publisher", Val::S(f.publisher.clone())),
        ("date_formed", Val::S(iso(f.date_formed))),
        ("attribute", Val::S(f.attribute.as_str().into())),
        ("withheld_reason", Val::OS(f.withheld_reason.clone())),
        ("column_code", Val::S(f.column.clone())),
        ("body", Val::S(f.body.clone())),
        ("summary", Val::S(f.summary.clone())),
        ("valid_until", Val::OS(f.valid_until.map(iso))),
    ]
}

/// What every change writes: the state and all that goes with it.
fn row_sets(d: &DocRow) -> [(&'static str, Val); 15] {
    [
        ("state", Val::S(d.state.as_str().into())),
        ("version", Val::I(d.version)),
        ("index_no", Val::OS(d.index_no.clone())),
        ("date_published", Val::OS(d.date_published.map(iso))),
        ("validity", Val::S(d.validity.clone())),
        ("updated_at", Val::I(d.updated_at)),
        ("interprets", Val::OS(d.interprets.clone())),
        ("interpretation", Val::OS(d.interpretation.clone())),
        (
            "confidential_findings",
            Val::S(d.confidential_findings.clone()),
        ),
        ("timeliness_days", Val::OI(d.timeliness_days)),
        ("late", Val::I(i64::from(d.late))),
        (
            "timeliness_provisional",
            Val::I(i64::from(d.timeliness_provisional)),
        ),
        ("abolished_on", Val::OS(d.abolished_on.map(iso))),
        ("abolish_reason", Val::OS(d.abolish_reason.clone())),
        ("search_seq", Val::I(d.search_seq)),
    ]
}

/// The SQL of one change, numbered `n`, for `backend`: on PostgreSQL as
/// CTEs hanging off the UPDATE's row (no row, no writes); on SQLite as a
/// batch of statements (a guard after the UPDATE stops the batch unless it
/// wrote its one row, and the caller rolls back, so a stale change writes
/// nothing).
fn change_sql(
    p: &mut Params,
    c: &Change<'_>,
    n: usize,
    backend: gongkai_kernel::db::Backend,
) -> String {
    let d = c.doc;
    let f = &d.fields;
    let id = p.add(Val::S(d.id.clone()));
    let changed_fields = c.fields_changed.then(|| field_sets(f));
    let set_sql: Vec<String> = changed_fields
        .into_iter()
        .flatten()
        .chain(row_sets(d))
        .map(|(col, v)| format!("{col} = {}", p.add(v)))
        .collect();
    let expect_state = p.add(Val::S(c.expect_state.as_str().into()));
    let expect_at = p.add(Val::I(c.expect_updated_at));
    let update = format!(
        "UPDATE documents SET {} WHERE id = {id} AND state = {expect_state} AND updated_at = {expect_at}",
        set_sql.join(", ")
    );
    // A version copies the row as just written, fields included: PostgreSQL
    // from the UPDATE's RETURNING, SQLite from the row itself. All but the
    // body, which stays the document's own (NULL: "as the document has it")
    // until a change of the fields gives the versions that share it their
    // own copy, first thing (`KEEP_BODY`; in PostgreSQL's CTEs, from the
    // snapshot taken before the UPDATE).
    let version = c.version.map(|(reason, actor)| {
        let reason = p.add(Val::S(reason.into()));
        let actor = p.add(Val::S(actor.into()));
        let now = p.add(Val::I(now_ms()));
        (
            VERSION_INSERT.as_str(),
            format!("id, {VERSION_COLUMNS}, {reason}, {actor}, {now}"),
        )
    });
    let h = c.history;
    let history_values = [
        p.add(Val::S(h.action.clone())),
        p.add(Val::S(h.actor.clone())),
        p.add(Val::S(h.from_state.clone())),
        p.add(Val::S(h.to_state.clone())),
        p.add(Val::S(h.comment.clone())),
        p.add(Val::I(h.at)),
    ]
    .join(", ");
    let outbox_rows: Vec<String> = c
        .events
        .iter()
        .map(|e| {
            format!(
                "({}, {}, {}, {}, {})",
                p.add(Val::S(e.event_id.clone())),
                p.add(Val::S(e.subject.clone())),
                p.add(Val::B(e.payload.clone())),
                p.add(Val::OS(e.traceparent.clone())),
                p.add(Val::I(e.created_at)),
            )
        })
        .collect();
    if backend == gongkai_kernel::db::Backend::Postgres {
        let returning = if version.is_some() {
            format!("id, {VERSION_COLUMNS}")
        } else {
            "id".to_owned()
        };
        let mut cte = format!("u{n} AS ({update} RETURNING {returning})");
        if c.fields_changed {
            cte.push_str(&format!(
                ", m{n} AS ({KEEP_BODY} WHERE document_id = {id} AND body IS NULL \
                 AND EXISTS (SELECT 1 FROM u{n}))"
            ));
        }
        if let Some((insert, values)) = &version {
            cte.push_str(&format!(", v{n} AS ({insert} SELECT {values} FROM u{n})"));
        }
        cte.push_str(&format!(
            ", h{n} AS ({HISTORY_INSERT} SELECT id, {history_values} FROM u{n})"
        ));
        if !outbox_rows.is_empty() {
            let values = outbox_rows.join(", ");
            cte.push_str(&format!(
                ", o{n} AS ({OUTBOX_INSERT} SELECT x.* FROM u{n}, (VALUES {values}) \
                 AS x(event_id, subject, payload, traceparent, created_at))"
            ));
        }
        return cte;
    }
    let mut batch = String::new();
    if c.fields_changed {
        batch.push_str(&format!(
            "{KEEP_BODY} WHERE document_id = {id} AND body IS NULL;"
        ));
    }
    batch.push_str(&format!("{update}; {}", sqlite_guard("changes() = 1")));
    if let Some((insert, values)) = &version {
        batch.push_str(&format!(
            "{insert} SELECT {values} FROM documents WHERE id = {id};"
        ));
    }
    batch.push_str(&format!(
        "{HISTORY_INSERT} VALUES ({id}, {history_values});"
    ));
    if !outbox_rows.is_empty() {
        batch.push_str(&format!(
            "{OUTBOX_INSERT} VALUES {}",
            outbox_rows.join(", ")
        ));
        batch.push(';');
    }
    batch
}

/// Takes the next index-number sequence (when `index` is given as
/// `(unit, year, scope)`) and the next search sequence, in one round trip.
/// Both rows stay locked until the caller commits, which orders concurrent
/// publications; so this comes last before the write.
pub async fn take_seqs(
    conn: &mut AnyConnection,
    backend: gongkai_kernel::db::Backend,
    index: Option<(&str, i32, &str)>,
) -> Result<(Option<i64>, i64), sqlx::Error> {
    let wants: Vec<CounterKey> = index
        .map(|(unit, year, scope)| (unit.to_owned(), year, scope.to_owned()))
        .into_iter()
        .collect();
    let (firsts, search) = take_seq_ranges(conn, backend, &wants, 1).await?;
    Ok((wants.first().and_then(|w| firsts.get(w).copied()), search))
}

/// Takes, in one statement, the sequence ranges a group of publications
/// needs: for each `(unit, year, scope)` listed (once per publication that
/// needs an index number) the first number of its range, and the first of
/// `searches` search sequences. Rows stay locked until commit.
pub async fn take_seq_ranges(
    conn: &mut AnyConnection,
    backend: gongkai_kernel::db::Backend,
    wants: &[CounterKey],
    searches: i64,
) -> Result<(std::collections::HashMap<CounterKey, i64>, i64), sqlx::Error> {
    let mut counts: Vec<(CounterKey, i64)> = Vec::new();
    for w in wants {
        match counts.iter_mut().find(|(k, _)| k == w) {
            Some((_, n)) => *n += 1,
            None => counts.push((w.clone(), 1)),
        }
    }
    let mut p = Params::default();
    let mut parts = Vec::new();
    for ((unit, year, scope), n) in &counts {
        let (u, y, s, k) = (
            p.add(Val::S(unit.clone())),
            p.add(Val::I(i64::from(*year))),
            p.add(Val::S(scope.clone())),
            p.add(Val::I(*n)),
        );
        parts.push(format!(
            "INSERT INTO index_counters (unit, year, scope, next_seq) VALUES ({u}, {y}, {s}, {k} + 1) \
             ON CONFLICT (unit, year, scope) DO UPDATE SET next_seq = index_counters.next_seq + {k} \
             RETURNING next_seq - {k} AS first"
        ));
    }
    let n = p.add(Val::I(searches));
    parts.push(format!(
        "UPDATE counters SET value = value + {n} WHERE name = 'search' RETURNING value - {n} + 1 AS first"
    ));
    let firsts: Vec<i64> = match backend {
        gongkai_kernel::db::Backend::Postgres => {
            let ctes: Vec<String> = parts
                .iter()
                .enumerate()
                .map(|(i, q)| format!("c{i} AS ({q})"))
                .collect();
            let selects: Vec<String> = (0..parts.len())
                .map(|i| format!("(SELECT first FROM c{i})"))
                .collect();
            let row = p
                .bind(sqlx::query(sqlx::AssertSqlSafe(format!(
                    "WITH {} SELECT {}",
                    ctes.join(", "),
                    selects.join(", ")
                ))))
                .fetch_one(conn)
                .await?;
            (0..parts.len())
                .map(|i| row.try_get(i))
                .collect::<Result<_, _>>()?
        }
        gongkai_kernel::db::Backend::Sqlite => {
            let rows = p
                .bind(sqlx::query(sqlx::AssertSqlSafe(parts.join("; "))))
                .fetch_all(conn)
                .await?;
            if rows.len() != parts.len() {
                return Err(sqlx::Error::Protocol(format!(
                    "expected {} sequence rows, got {}",
                    parts.len(),
                    rows.len()
                )));
            }
            rows.iter()
                .map(|r| r.try_get(0))
                .collect::<Result<_, _>>()?
        }
    };
    let search_first = firsts.last().copied().unwrap_or_default();
    let ranges = counts
        .into_iter()
        .zip(firsts)
        .map(|((k, _), first)| (k, first))
        .collect();
    Ok((ranges, search_first))
}
