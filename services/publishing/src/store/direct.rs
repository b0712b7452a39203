//! The group writer's transaction on SQLite's own handle
//! (`Db::write_direct`): the statements `change_sql` batches for sqlx,
//! each prepared once and kept, with the count of rows each changed read
//! straight off it instead of a guard statement after it.

use std::sync::{LazyLock, OnceLock};

use rusqlite::types::ToSqlOutput;
use rusqlite::{Transaction, params, params_from_iter};

use super::{
    Change, HISTORY_INSERT, KEEP_BODY, OUTBOX_INSERT, SeqAdvance, VERSION_COLUMNS, VERSION_INSERT,
    Val, field_sets, row_sets,
};

impl rusqlite::ToSql for Val {
    fn to_sql(&self) -> rusqlite::Result<ToSqlOutput<'_>> {
        match self {
            Val::S(s) => s.to_sql(),
            Val::OS(s) => s.to_sql(),
            Val::I(i) => i.to_sql(),
            Val::OI(i) => i.to_sql(),
            Val::B(b) => b.to_sql(),
        }
    }
}

/// Writes `changes` and advances the counters from the values `seqs`
/// expects. `Some(())` when everything was as expected; `None` as soon as
/// a counter or a document was not, and the caller rolls back. `now`
/// dates the versions.
pub(super) fn write_expecting(
    tx: &Transaction<'_>,
    changes: &[Change<'_>],
    seqs: &SeqAdvance,
    now: i64,
) -> rusqlite::Result<Option<()>> {
    // The row holds the last search sequence taken, the next minus one.
    let search = tx
        .prepare_cached(
            "UPDATE counters SET value = ?1 - 1 WHERE name = 'search' AND value = ?2 - 1",
        )?
        .execute(params![seqs.search.1, seqs.search.0])?;
    if search != 1 {
        return Ok(None);
    }
    for ((unit, year, scope), found, left) in &seqs.index {
        let n = tx
            .prepare_cached(
                "UPDATE index_counters SET next_seq = ?1 \
                 WHERE unit = ?2 AND year = ?3 AND scope = ?4 AND next_seq = ?5",
            )?
            .execute(params![left, unit, year, scope, found])?;
        if n != 1 {
            return Ok(None);
        }
    }
    for c in changes {
        if write_change(tx, c, now)?.is_none() {
            return Ok(None);
        }
    }
    Ok(Some(()))
}

/// The texts of a change's statements, built once: prepared statements are
/// looked up by their text, and the texts never change.
static KEEP_BODY_SQL: LazyLock<String> =
    LazyLock::new(|| format!("{KEEP_BODY} WHERE document_id = ?1 AND body IS NULL"));
static VERSION_SQL: LazyLock<String> = LazyLock::new(|| {
    format!(
        "{} SELECT id, {VERSION_COLUMNS}, ?1, ?2, ?3 FROM documents WHERE id = ?4",
        *VERSION_INSERT
    )
});
static HISTORY_SQL: LazyLock<String> =
    LazyLock::new(|| format!("{HISTORY_INSERT} VALUES (?1, ?2, ?3, ?4, ?5, ?6, ?7)"));
static OUTBOX_SQL: LazyLock<String> =
    LazyLock::new(|| format!("{OUTBOX_INSERT} VALUES (?1, ?2, ?3, ?4, ?5)"));
/// The document's UPDATE, leaving the fields alone (`[0]`) or writing them
/// (`[1]`): its columns are always the same, so the text is made from the
/// first change of each kind.
static UPDATE_SQL: [OnceLock<String>; 2] = [OnceLock::new(), OnceLock::new()];

/// One change, as `change_sql`'s batch writes it.
fn write_change(tx: &Transaction<'_>, c: &Change<'_>, now: i64) -> rusqlite::Result<Option<()>> {
    let d = c.doc;
    if c.fields_changed {
        tx.prepare_cached(&KEEP_BODY_SQL)?.execute([&d.id])?;
    }
    let fields = c.fields_changed.then(|| field_sets(&d.fields));
    let sets: Vec<(&str, Val)> = fields.into_iter().flatten().chain(row_sets(d)).collect();
    let update = UPDATE_SQL[usize::from(c.fields_changed)].get_or_init(|| {
        let assignments: Vec<String> = sets
            .iter()
            .enumerate()
            .map(|(i, (col, _))| format!("{col} = ?{}", i + 1))
            .collect();
        let n = sets.len();
        format!(
            "UPDATE documents SET {} WHERE id = ?{} AND state = ?{} AND updated_at = ?{}",
            assignments.join(", "),
            n + 1,
            n + 2,
            n + 3
        )
    });
    let mut values: Vec<Val> = sets.into_iter().map(|(_, v)| v).collect();
    values.push(Val::S(d.id.clone()));
    values.push(Val::S(c.expect_state.as_str().into()));
    values.push(Val::I(c.expect_updated_at));
    if tx
        .prepare_cached(update)?
        .execute(params_from_iter(&values))?
        != 1
    {
        return Ok(None);
    }
    if let Some((reason, actor)) = c.version {
        // The version copies the row as just written; its body stays the
        // document's (NULL) until the fields change.
        tx.prepare_cached(&VERSION_SQL)?
            .execute(params![reason, actor, now, d.id])?;
    }
    let h = c.history;
    tx.prepare_cached(&HISTORY_SQL)?.execute(params![
        d.id,
        h.action,
        h.actor,
        h.from_state,
        h.to_state,
        h.comment,
        h.at
    ])?;
    for e in c.events {
        tx.prepare_cached(&OUTBOX_SQL)?.execute(params![
            e.event_id,
            e.subject,
            e.payload,
            e.traceparent,
            e.created_at
        ])?;
    }
    Ok(Some(()))
}
