//! Policy documents published ahead of their interpretation (RULES §1, a
//! lag allowed), and the once-only judgement of each interpretation's
//! release.

use chrono::NaiveDate;
use sqlx::any::AnyRow;
use sqlx::{AnyConnection, Row as _};

use super::{date, decode_err, iso, keyset_page};
use crate::domain::workflow::State;

/// A published policy document and its linked interpretation, released
/// after it or not yet.
#[derive(Debug, Clone, PartialEq)]
pub struct PolicyAhead {
    pub policy_id: String,
    pub policy_index_no: Option<String>,
    pub policy_title: String,
    pub policy_published: NaiveDate,
    pub interpretation_id: String,
    pub interpretation_title: String,
    pub interpretation_state: State,
    /// When the interpretation was released; `None` while it is not.
    pub interpretation_released: Option<NaiveDate>,
    /// The judgement kept in `interpretation_checks`: `on_time` or `late`.
    pub outcome: Option<String>,
}

/// A statement of one page of a unit's published policy documents (`$1`)
/// after policy id `$2`, `$3` at most, whose interpretation satisfies
/// `filter`; found through the partial index on linked documents.
macro_rules! policy_ahead_sql {
    ($filter:literal) => {
        concat!(
            "SELECT p.id AS p_id, p.index_no AS p_index_no, p.title AS p_title, \
             p.date_published AS p_published, i.id AS i_id, i.title AS i_title, \
             i.state AS i_state, i.date_published AS i_published, c.outcome AS outcome \
             FROM documents p JOIN documents i ON i.id = p.interpretation \
             LEFT JOIN interpretation_checks c ON c.policy_id = p.id \
             WHERE p.unit = $1 AND p.interpretation IS NOT NULL AND p.state = 'published' \
             AND p.id > $2 AND ",
            $filter,
            " ORDER BY p.id LIMIT $3"
        )
    };
}

fn from_row(r: &AnyRow) -> Result<PolicyAhead, sqlx::Error> {
    let state: String = r.try_get("i_state")?;
    Ok(PolicyAhead {
        policy_id: r.try_get("p_id")?,
        policy_index_no: r.try_get("p_index_no")?,
        policy_title: r.try_get("p_title")?,
        policy_published: date(r.try_get("p_published")?)?
            .ok_or_else(|| decode_err("published policy document without date".into()))?,
        interpretation_id: r.try_get("i_id")?,
        interpretation_title: r.try_get("i_title")?,
        interpretation_state: State::parse(&state)
            .ok_or_else(|| decode_err(format!("state {state}")))?,
        interpretation_released: date(r.try_get("i_published")?)?,
        outcome: r.try_get("outcome")?,
    })
}

/// Published policy documents whose interpretation came, or is to come,
/// after them and has not been judged yet.
pub async fn unjudged_page(
    conn: &mut AnyConnection,
    unit: &str,
    after_policy: &str,
    limit: i64,
) -> Result<Vec<PolicyAhead>, sqlx::Error> {
    let sql = policy_ahead_sql!(
        "c.policy_id IS NULL \
         AND (i.date_published IS NULL OR i.date_published > p.date_published)"
    );
    keyset_page(conn, sql, (unit, after_policy, limit), None, from_row).await
}

/// Published policy documents whose interpretation is not released yet,
/// judged late already or not.
pub async fn outstanding_page(
    conn: &mut AnyConnection,
    unit: &str,
    after_policy: &str,
    limit: i64,
) -> Result<Vec<PolicyAhead>, sqlx::Error> {
    let sql = policy_ahead_sql!("i.date_published IS NULL");
    keyset_page(conn, sql, (unit, after_policy, limit), None, from_row).await
}

/// The judgement of one interpretation's release.
#[derive(Debug, Clone, PartialEq)]
pub struct Judgement<'a> {
    pub policy_id: &'a str,
    pub interpretation_id: &'a str,
    pub due_on: NaiveDate,
    /// `None`: judged overdue while still unreleased.
    pub released_on: Option<NaiveDate>,
    pub late: bool,
    pub at: i64,
}

/// Keeps a judgement; `Ok(false)` when the policy document was judged
/// already (by an earlier pass), and nothing is written.
pub async fn record_judgement(
    conn: &mut AnyConnection,
    j: &Judgement<'_>,
) -> Result<bool, sqlx::Error> {
    let done = sqlx::query(
        "INSERT INTO interpretation_checks (policy_id, interpretation_id, due_on, released_on, \
         outcome, decided_at) VALUES ($1, $2, $3, $4, $5, $6) \
         ON CONFLICT (policy_id) DO NOTHING",
    )
    .bind(j.policy_id)
    .bind(j.interpretation_id)
    .bind(iso(j.due_on))
    .bind(j.released_on.map(iso))
    .bind(if j.late { "late" } else { "on_time" })
    .bind(j.at)
    .execute(conn)
    .await?;
    Ok(done.rows_affected() == 1)
}
