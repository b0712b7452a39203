//! Conformance suite of the publishing store: every case runs once against
//! SQLite (a fresh file in a temporary directory) and once against
//! PostgreSQL (a fresh database on the testkit server), with the same
//! assertions, so that the single `Any` code path behaves the same on both.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result, bail, ensure};
use chrono::NaiveDate;
use gongkai_kernel::UnitPath;
use gongkai_kernel::consumer::{Applied, apply_once};
use gongkai_kernel::db::{Backend, Db, is_unique_violation, now_ms, violated_constraint};
use gongkai_kernel::outbox::{self, NewEvent};
use gongkai_proto::v1::{DocumentChanged, Event};
use gongkai_publishing::domain::catalog::ColumnDef;
use gongkai_publishing::domain::document::{Attribute, Fields};
use gongkai_publishing::domain::workflow::State;
use gongkai_publishing::events::CatalogBuilder;
use gongkai_publishing::store::{self, CatalogRow, DocRow, HistoryRow, ListFilter};
use prost::Message as _;
use sqlx::AnyConnection;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// Upper bound for one case; a lock-up (e.g. a writer waiting on itself)
/// fails the test instead of hanging the run.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

async fn sqlite_db(dir: &tempfile::TempDir) -> Result<Db> {
    let url = gongkai_kernel::db::sqlite_url(&dir.path().join("publishing.db"));
    store::connect(&url).await
}

async fn postgres_db() -> Result<Db> {
    let url = gongkai_testkit::Postgres::start()
        .await?
        .fresh_database()
        .await?;
    store::connect(&url).await
}

async fn run_case<F, Fut>(db: Db, case: F) -> Result<()>
where
    F: FnOnce(Db) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let result = tokio::time::timeout(CASE_TIMEOUT, case(db.clone()))
        .await
        .context("case timed out")
        .and_then(|r| r);
    db.close().await;
    result
}

use gongkai_testkit::conformance;

conformance! {
    write_changes_group => case_write_changes_group,
    write_changes_expecting => case_write_changes_expecting,
    write_one_expecting => case_write_one_expecting,
    document_round_trip => case_document_round_trip,
    update_document => case_update_document,
    unique_doc_number => case_unique_doc_number,
    standardize_doc_numbers => case_standardize_doc_numbers,
    failed_transaction_leaves_nothing => case_failed_transaction_leaves_nothing,
    index_seq => case_index_seq,
    index_seq_concurrent => case_index_seq_concurrent,
    search_seq_and_changed_since => case_search_seq_and_changed_since,
    list_documents => case_list_documents,
    public_page => case_public_page,
    provisional_timeliness_page => case_provisional_timeliness_page,
    interpretations_ahead => case_interpretations_ahead,
    expiring_page => case_expiring_page,
    versions_and_history => case_versions_and_history,
    versions_share_the_current_body => case_versions_share_the_current_body,
    custom_columns => case_custom_columns,
    stat_rows => case_stat_rows,
    upsert_catalog => case_upsert_catalog,
    list_catalog_subtree => case_list_catalog_subtree,
    idempotent_consumer => case_idempotent_consumer,
}

/// The group write finds its documents by primary key, however many rows
/// the table holds: joined to the unpacked JSON alone, PostgreSQL planned a
/// sequential scan of the whole table for every group.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn postgres_group_write_uses_the_primary_key() -> Result<()> {
    let db = postgres_db().await?;
    sqlx::query(
        "INSERT INTO documents (id, unit, state, version, title, subject, publisher, \
         date_formed, attribute, column_code, body, summary, validity, created_by, created_at, \
         updated_at, confidential_findings, late, timeliness_provisional, search_seq) \
         SELECT 'bulk-' || n, '340823.jyj', 'published', 1, '标题', '教育', '县教育局', \
         '2026-03-02', 'proactive', 'gzzj', '正文', '摘要', 'valid', 'zhang', 0, 0, '[]', 0, 0, n \
         FROM generate_series(1, 5000) AS n",
    )
    .execute(db.write())
    .await?;
    sqlx::query("ANALYZE documents").execute(db.write()).await?;
    let mut d = doc("g1", "340823.jyj");
    d.state = State::Published;
    let history = publish_history();
    // Both shapes: a group changing no fields, and one changing some.
    for fields_changed in [false, true] {
        let change = store::Change {
            doc: &d,
            expect_state: State::Approved,
            expect_updated_at: 1,
            fields_changed,
            version: Some(("published", "bob")),
            history: &history,
            events: &[],
        };
        let (sql, docs, events) = store::group_statement_pg(&[change]);
        let plan: Vec<String> = sqlx::query_scalar(sqlx::AssertSqlSafe(format!("EXPLAIN {sql}")))
            .bind(docs)
            .bind(events)
            .fetch_all(db.read())
            .await?;
        let plan = plan.join("\n");
        assert!(
            !plan.contains("Seq Scan on documents"),
            "the group write (fields changed: {fields_changed}) scans documents:\n{plan}"
        );
        assert!(plan.contains("documents_pkey"), "{plan}");
    }
    db.close().await;
    Ok(())
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

/// The history row of a publication by bob.
fn publish_history() -> store::HistoryRow {
    store::HistoryRow {
        action: "publish".into(),
        actor: "bob".into(),
        from_state: "approved".into(),
        to_state: "published".into(),
        comment: String::new(),
        at: 1,
    }
}

/// Every document in `published` reads back as it is, and the versions,
/// history entries and outbox rows number `counts`.
async fn assert_published(db: &Db, published: &[DocRow], counts: (i64, i64, i64)) -> Result<()> {
    for d in published {
        assert_eq!(get(db, &d.id).await?.as_ref(), Some(d));
    }
    let found = (
        scalar(db, "SELECT COUNT(*) FROM document_versions").await?,
        scalar(db, "SELECT COUNT(*) FROM document_history").await?,
        scalar(db, "SELECT COUNT(*) FROM gk_outbox").await?,
    );
    assert_eq!(found, counts, "versions, history, outbox");
    Ok(())
}

fn ymd(y: i32, m: u32, d: u32) -> NaiveDate {
    NaiveDate::from_ymd_opt(y, m, d).expect("valid test date")
}

/// A draft with every optional field empty.
fn doc(id: &str, unit: &str) -> DocRow {
    let fields = Fields {
        title: format!("文件 {id}"),
        doc_number: None,
        subject: "政务公开".to_owned(),
        publisher: "南陵县教育局".to_owned(),
        date_formed: ymd(2026, 3, 2),
        attribute: Attribute::Proactive,
        withheld_reason: None,
        column: "gzzj".to_owned(),
        body: "正文".to_owned(),
        summary: "摘要".to_owned(),
        valid_until: None,
    };
    let mut d = DocRow::draft(
        id.to_owned(),
        unit.to_owned(),
        fields,
        "alice".to_owned(),
        1_767_225_600_000,
    );
    d.validity = "有效".to_owned();
    d
}

/// A document with every optional field set, Chinese text and a body of
/// exactly 1 MiB.
fn full_doc(id: &str, unit: &str) -> DocRow {
    let line = "一、强化组织领导。\n\t将政务公开工作纳入目标考核体系！";
    let mut body = String::with_capacity(1 << 20);
    while body.len() + line.len() <= 1 << 20 {
        body.push_str(line);
    }
    while body.len() < 1 << 20 {
        body.push('x');
    }
    let mut d = doc(id, unit);
    d.state = State::Abolished;
    d.version = 7;
    d.fields = Fields {
        title: "南陵县教育局关于2026年政务公开工作的通知（“十五五”）".to_owned(),
        doc_number: Some("南教〔2026〕6号".to_owned()),
        subject: "教育 · 政务公开 'quoted' \"double\" \\ back".to_owned(),
        publisher: "南陵县教育局".to_owned(),
        date_formed: ymd(2024, 2, 29),
        attribute: Attribute::Withheld,
        withheld_reason: Some("条例第十四条：国家秘密".to_owned()),
        column: "zcwj".to_owned(),
        body,
        summary: "一、强化组织领导 将政务公开工作纳入目标考核体系…".to_owned(),
        valid_until: Some(ymd(2029, 2, 28)),
    };
    d.index_no = Some("003159085/2026-00042".to_owned());
    d.date_published = Some(ymd(2024, 12, 31));
    d.validity = "已废止".to_owned();
    d.created_by = "张三".to_owned();
    d.created_at = 1_709_164_800_123;
    d.updated_at = 1_767_225_600_999;
    d.interprets = Some("doc-policy-1".to_owned());
    d.interpretation = Some("doc-interp-1".to_owned());
    d.confidential_findings = r#"[{"kind":"身份证号","field":"body","at":12}]"#.to_owned();
    d.timeliness_days = Some(23);
    d.late = true;
    d.timeliness_provisional = true;
    d.abolished_on = Some(ymd(2026, 1, 1));
    d.abolish_reason = Some("被《新办法》替代".to_owned());
    d.search_seq = 9_007_199_254_740_993; // beyond f64's exact integers
    d
}

/// `d` as published on 2026-03-03 with index number `index_seq` and search
/// sequence `search_seq`, one stamp after the row as read.
fn as_published(d: &DocRow, index_seq: i64, search_seq: i64) -> DocRow {
    let mut p = d.clone();
    p.state = State::Published;
    p.index_no = Some(format!("X/2026-{index_seq:05}"));
    p.date_published = Some(ymd(2026, 3, 3));
    p.updated_at += 1;
    p.search_seq = search_seq;
    p
}

async fn insert(db: &Db, d: &DocRow) -> Result<(), sqlx::Error> {
    let mut conn = db.write().acquire().await?;
    store::insert_document(&mut conn, d).await
}

async fn get(db: &Db, id: &str) -> Result<Option<DocRow>> {
    let mut conn = db.read().acquire().await?;
    Ok(store::get_document(&mut conn, id).await?)
}

fn ids(rows: &[DocRow]) -> Vec<&str> {
    rows.iter().map(|d| d.id.as_str()).collect()
}

fn expect_unique_violation(e: &sqlx::Error, what: &str) -> String {
    assert!(
        is_unique_violation(e),
        "{what}: expected a unique violation, got {e:?}"
    );
    violated_constraint(e)
}

fn changed(id: &str, unit: &str, version: i64, title: &str) -> DocumentChanged {
    DocumentChanged {
        document_id: id.to_owned(),
        unit: unit.to_owned(),
        unit_name: "籍山镇".to_owned(),
        index_no: "003159085/2026-00001".to_owned(),
        title: title.to_owned(),
        doc_number: "籍政〔2026〕1号".to_owned(),
        subject: "乡村振兴".to_owned(),
        publisher: "籍山镇人民政府".to_owned(),
        date_formed: "2026-03-02".to_owned(),
        date_published: "2026-03-05".to_owned(),
        validity: "有效".to_owned(),
        column: "zcwj".to_owned(),
        summary: "关于乡村振兴的通知".to_owned(),
        version,
        abolished_on: String::new(),
        abolish_reason: String::new(),
        body_chars: 1234,
        valid_until: "2031-03-01".to_owned(),
    }
}

fn event(kind: &str, unit: &str, time: i64, payload: Vec<u8>) -> Event {
    Event {
        id: uuid::Uuid::now_v7().to_string(),
        unit: unit.to_owned(),
        r#type: kind.to_owned(),
        time_unix_ms: time,
        payload_type: "gongkai.v1.DocumentChanged".to_owned(),
        payload,
    }
}

fn cat(id: &str, unit: &str, date_published: &str, version: i64, time: i64) -> CatalogRow {
    CatalogRow {
        document_id: id.to_owned(),
        unit: unit.to_owned(),
        unit_name: format!("单位 {unit}"),
        index_no: format!("IDX-{id}"),
        title: format!("标题 {id}"),
        summary: "摘要".to_owned(),
        date_formed: "2026-01-02".to_owned(),
        date_published: date_published.to_owned(),
        validity: "有效".to_owned(),
        column: "zcwj".to_owned(),
        version,
        valid_until: String::new(),
        event_time: time,
    }
}

async fn upsert(db: &Db, c: &CatalogRow) -> Result<bool> {
    let mut conn = db.write().acquire().await?;
    Ok(store::upsert_catalog(&mut conn, c).await?)
}

async fn catalog(db: &Db, prefix: &str, offset: i64, limit: i64) -> Result<(Vec<CatalogRow>, i64)> {
    let mut conn = db.read().acquire().await?;
    Ok(store::list_catalog(&mut conn, prefix, offset, limit).await?)
}

async fn catalog_row(db: &Db, id: &str) -> Result<Option<CatalogRow>> {
    // list_catalog filters by unit: read the table through the roots the
    // cases use.
    let mut all = Vec::new();
    for root in ["340823", "340824", "3408231"] {
        all.extend(catalog(db, root, 0, 1000).await?.0);
    }
    Ok(all.into_iter().find(|c| c.document_id == id))
}

async fn scalar(db: &Db, sql: &'static str) -> Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(db.read()).await?)
}

// ---------------------------------------------------------------------------
// Cases
// ---------------------------------------------------------------------------

async fn case_document_round_trip(db: &Db) -> Result<()> {
    let full = full_doc("d-full", "340823.jyj");
    assert_eq!(full.fields.body.len(), 1 << 20);
    let bare = doc("d-bare", "340823.jyj");
    insert(db, &full).await?;
    insert(db, &bare).await?;

    let got = get(db, "d-full").await?.context("full document missing")?;
    assert_eq!(got.fields.body.len(), 1 << 20);
    assert_eq!(got, full);
    let got = get(db, "d-bare").await?.context("bare document missing")?;
    assert_eq!(got, bare);
    assert_eq!(got.fields.doc_number, None);
    assert_eq!(got.date_published, None);
    assert_eq!(got.timeliness_days, None);
    assert!(!got.late && !got.timeliness_provisional);

    assert_eq!(get(db, "d-none").await?, None);

    let mut conn = db.read().acquire().await?;
    let by_index = store::find_by_index_no(&mut conn, "003159085/2026-00042").await?;
    assert_eq!(by_index.map(|d| d.id), Some("d-full".to_owned()));
    assert_eq!(store::find_by_index_no(&mut conn, "nope").await?, None);
    Ok(())
}

async fn case_update_document(db: &Db) -> Result<()> {
    let original = doc("d1", "340823.jyj");
    let bystander = doc("d2", "340823.jyj");
    insert(db, &original).await?;
    insert(db, &bystander).await?;

    let mut changed = full_doc("d1", "340823.jyj");
    changed.state = State::Published;
    changed.version = 2;
    changed.abolished_on = None;
    changed.abolish_reason = None;
    changed.late = false;
    changed.timeliness_days = Some(0);
    // Never written by an update.
    changed.created_by = "mallory".to_owned();
    changed.created_at = 1;
    {
        let mut conn = db.write().acquire().await?;
        let expect = (original.state, original.updated_at);
        // Read in another state, or at another stamp: nothing is written.
        let stale_state = (State::Submitted, original.updated_at);
        let stale_stamp = (original.state, original.updated_at - 1);
        for stale in [stale_state, stale_stamp] {
            assert!(!store::update_document(&mut conn, &changed, stale).await?);
        }
        assert!(store::update_document(&mut conn, &changed, expect).await?);
    }
    let mut expected = changed.clone();
    expected.created_by = original.created_by.clone();
    expected.created_at = original.created_at;
    assert_eq!(get(db, "d1").await?, Some(expected.clone()));
    assert_eq!(get(db, "d2").await?, Some(bystander));

    // Back to empty optionals.
    let mut cleared = original.clone();
    cleared.version = 3;
    cleared.updated_at += 5;
    {
        let mut conn = db.write().acquire().await?;
        // The first write changed state and stamp: what was read before it
        // no longer matches.
        let before = (original.state, original.updated_at);
        assert!(!store::update_document(&mut conn, &cleared, before).await?);
        assert_eq!(get(db, "d1").await?, Some(expected.clone()));
        let now = (changed.state, changed.updated_at);
        assert!(store::update_document(&mut conn, &cleared, now).await?);
    }
    assert_eq!(get(db, "d1").await?, Some(cleared));

    let mut conn = db.write().acquire().await?;
    let missing = doc("d-missing", "340823.jyj");
    let expect = (missing.state, missing.updated_at);
    assert!(!store::update_document(&mut conn, &missing, expect).await?);
    drop(conn);
    assert_eq!(get(db, "d-missing").await?, None);
    Ok(())
}

async fn case_unique_doc_number(db: &Db) -> Result<()> {
    let number = "南教〔2026〕6号";
    let mut a = doc("a", "340823.jyj");
    a.fields.doc_number = Some(number.to_owned());
    insert(db, &a).await?;

    let mut b = doc("b", "340823.jyj");
    b.fields.doc_number = Some(number.to_owned());
    let e = insert(db, &b)
        .await
        .expect_err("same doc_number in the same unit must fail");
    let constraint = expect_unique_violation(&e, "duplicate doc_number");
    assert!(
        constraint.contains("doc_number"),
        "violated_constraint does not name doc_number: {constraint:?}"
    );
    match db.backend() {
        Backend::Postgres => assert_eq!(constraint, "documents_doc_number"),
        Backend::Sqlite => assert!(
            constraint.contains("UNIQUE constraint failed: documents.unit, documents.doc_number"),
            "{constraint:?}"
        ),
    }
    assert_eq!(get(db, "b").await?, None);

    // Same number in another unit.
    let mut c = doc("c", "340823.jishan");
    c.fields.doc_number = Some(number.to_owned());
    insert(db, &c).await?;

    // Documents without a number do not collide.
    insert(db, &doc("n1", "340823.jyj")).await?;
    insert(db, &doc("n2", "340823.jyj")).await?;
    assert!(get(db, "n1").await?.is_some() && get(db, "n2").await?.is_some());

    // The index number is unique per unit too.
    let mut i1 = doc("i1", "340823.jyj");
    i1.index_no = Some("IDX-1".to_owned());
    insert(db, &i1).await?;
    let mut i2 = doc("i2", "340823.jyj");
    i2.index_no = Some("IDX-1".to_owned());
    let e = insert(db, &i2).await.expect_err("duplicate index_no");
    let constraint = expect_unique_violation(&e, "duplicate index_no");
    assert!(constraint.contains("index_no"), "{constraint:?}");

    // A primary-key clash is a unique violation as well.
    let e = insert(db, &doc("a", "340823.jishan"))
        .await
        .expect_err("duplicate id");
    expect_unique_violation(&e, "duplicate id");

    // Other errors are not.
    let mut conn = db.write().acquire().await?;
    let e = sqlx::query("INSERT INTO no_such_table (x) VALUES (1)")
        .execute(&mut *conn)
        .await
        .expect_err("missing table");
    assert!(!is_unique_violation(&e), "{e:?}");
    assert!(!is_unique_violation(&sqlx::Error::RowNotFound));
    Ok(())
}

/// Numbers stored as typed (as rows written before numbers were spelled
/// on the way in) take their standard spelling once; a public one is
/// indexed again; one whose standard spelling is taken is left and told.
async fn case_standardize_doc_numbers(db: &Db) -> Result<()> {
    let with_number = |id: &str, number: &str| {
        let mut d = doc(id, "u1");
        d.fields.doc_number = Some(number.into());
        d
    };
    let mut public = with_number("a-public", "宜政办发[2017]06号");
    public.state = State::Published;
    public.search_seq = 1;
    insert(db, &public).await?;
    insert(db, &with_number("b-draft", "宜政办发（2018） 第3号")).await?;
    insert(db, &with_number("c-holder", "宜政办发〔2019〕1号")).await?;
    insert(db, &with_number("d-clash", "宜政办发[2019]01号")).await?;
    insert(db, &with_number("e-standard", "宜政办发〔2020〕2号")).await?;
    sqlx::query("UPDATE counters SET value = 1 WHERE name = 'search'")
        .execute(db.write())
        .await?;

    let clashes = store::standardize_doc_numbers(db).await?;
    ensure!(
        clashes
            == [store::DocNumberClash {
                id: "d-clash".into(),
                unit: "u1".into(),
                stored: "宜政办发[2019]01号".into(),
                standard: "宜政办发〔2019〕1号".into(),
                holder: "c-holder".into(),
            }],
        "{clashes:?}"
    );
    let number = |d: Option<DocRow>| d.and_then(|d| d.fields.doc_number);
    let a = get(db, "a-public").await?.context("a-public")?;
    ensure!(
        a.fields.doc_number.as_deref() == Some("宜政办发〔2017〕6号"),
        "{a:?}"
    );
    // Indexed again: a sequence after every one taken before.
    ensure!(a.search_seq == 2, "search_seq {}", a.search_seq);
    ensure!(scalar(db, "SELECT value FROM counters WHERE name = 'search'").await? == 2);
    let b = get(db, "b-draft").await?.context("b-draft")?;
    ensure!(b.fields.doc_number.as_deref() == Some("宜政办发〔2018〕3号"));
    ensure!(
        b.search_seq == 0,
        "a draft is not indexed: {}",
        b.search_seq
    );
    ensure!(number(get(db, "d-clash").await?).as_deref() == Some("宜政办发[2019]01号"));
    ensure!(number(get(db, "e-standard").await?).as_deref() == Some("宜政办发〔2020〕2号"));

    // Once per database: a number stored as typed afterwards (by hand, say)
    // is not looked at again.
    insert(db, &with_number("f-later", "宜政办发[2021]07号")).await?;
    ensure!(store::standardize_doc_numbers(db).await?.is_empty());
    ensure!(number(get(db, "f-later").await?).as_deref() == Some("宜政办发[2021]07号"));
    Ok(())
}

async fn enqueue_changed(conn: &mut AnyConnection, d: &DocRow) -> Result<String> {
    let unit = UnitPath::parse(&d.unit)?;
    let payload = changed(&d.id, &d.unit, d.version, &d.fields.title);
    Ok(outbox::enqueue(
        conn,
        NewEvent {
            service: "publishing",
            entity: "document",
            verb: "published",
            unit: &unit,
            payload_type: "gongkai.v1.DocumentChanged",
            payload: &payload,
        },
    )
    .await?)
}

async fn case_failed_transaction_leaves_nothing(db: &Db) -> Result<()> {
    let mut existing = doc("existing", "340823.jyj");
    existing.fields.doc_number = Some("号1".to_owned());
    insert(db, &existing).await?;
    assert_eq!(outbox::pending_count(db).await?, 0);

    // Explicit rollback.
    let mut tx = db.begin().await?;
    store::insert_document(&mut tx, &doc("new", "340823.jyj")).await?;
    enqueue_changed(&mut tx, &doc("new", "340823.jyj")).await?;
    // Inside the transaction both writes are visible...
    assert!(store::get_document(&mut tx, "new").await?.is_some());
    let in_tx: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gk_outbox")
        .fetch_one(&mut *tx)
        .await?;
    assert_eq!(in_tx, 1);
    // ...then a unique violation fails the operation.
    let mut clash = doc("clash", "340823.jyj");
    clash.fields.doc_number = Some("号1".to_owned());
    let e = store::insert_document(&mut tx, &clash)
        .await
        .expect_err("duplicate doc_number");
    expect_unique_violation(&e, "clash in transaction");
    tx.rollback().await?;
    assert_eq!(get(db, "new").await?, None);
    assert_eq!(get(db, "clash").await?, None);
    assert_eq!(outbox::pending_count(db).await?, 0);

    // A transaction dropped on the error path (`?`) rolls back too.
    let attempt = async {
        let mut tx = db.begin().await?;
        store::insert_document(&mut tx, &doc("new2", "340823.jyj")).await?;
        enqueue_changed(&mut tx, &doc("new2", "340823.jyj")).await?;
        store::insert_document(&mut tx, &clash).await?;
        tx.commit().await?;
        anyhow::Ok(())
    };
    let e = attempt.await.expect_err("clash must fail the attempt");
    assert!(
        e.downcast_ref::<sqlx::Error>()
            .is_some_and(is_unique_violation),
        "{e:?}"
    );
    assert_eq!(get(db, "new2").await?, None);
    assert_eq!(outbox::pending_count(db).await?, 0);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM documents").await?, 1);

    // Control: the same writes committed are all there.
    let mut tx = db.begin().await?;
    store::insert_document(&mut tx, &doc("new3", "340823.jyj")).await?;
    enqueue_changed(&mut tx, &doc("new3", "340823.jyj")).await?;
    tx.commit().await?;
    assert!(get(db, "new3").await?.is_some());
    assert_eq!(outbox::pending_count(db).await?, 1);
    Ok(())
}

/// The index-number half of `store::take_seqs`, the statement publications use.
async fn index_seq(
    conn: &mut sqlx::AnyConnection,
    backend: gongkai_kernel::db::Backend,
    unit: &str,
    year: i32,
    scope: &str,
) -> Result<i64> {
    let (seq, _) = store::take_seqs(conn, backend, Some((unit, year, scope))).await?;
    seq.ok_or_else(|| anyhow::anyhow!("no index sequence returned"))
}

async fn take_seq(db: &Db, unit: &str, year: i32, scope: &str) -> Result<i64> {
    let mut tx = db.begin().await?;
    let n = index_seq(&mut tx, db.backend(), unit, year, scope).await?;
    tx.commit().await?;
    Ok(n)
}

async fn case_index_seq(db: &Db) -> Result<()> {
    for want in 1..=3 {
        assert_eq!(take_seq(db, "340823.jyj", 2026, "").await?, want);
    }
    assert_eq!(take_seq(db, "340823.jyj", 2027, "").await?, 1);
    assert_eq!(take_seq(db, "340823.jyj", 2025, "").await?, 1);
    assert_eq!(take_seq(db, "340823.jishan", 2026, "").await?, 1);
    assert_eq!(take_seq(db, "340823.jyj", 2026, "zcwj").await?, 1);
    assert_eq!(take_seq(db, "340823.jyj", 2026, "zcwj").await?, 2);
    assert_eq!(take_seq(db, "340823.jyj", 2026, "").await?, 4);
    assert_eq!(take_seq(db, "340823.jyj", 2027, "").await?, 2);

    // A rolled back transaction gives its number back.
    let mut tx = db.begin().await?;
    assert_eq!(
        index_seq(&mut tx, db.backend(), "340823.jyj", 2026, "").await?,
        5
    );
    tx.rollback().await?;
    assert_eq!(take_seq(db, "340823.jyj", 2026, "").await?, 5);

    // Also when the row was created by the rolled back transaction.
    let mut tx = db.begin().await?;
    assert_eq!(
        index_seq(&mut tx, db.backend(), "340823.new", 2026, "").await?,
        1
    );
    tx.rollback().await?;
    assert_eq!(take_seq(db, "340823.new", 2026, "").await?, 1);
    assert_eq!(take_seq(db, "340823.new", 2026, "").await?, 2);
    Ok(())
}

async fn case_index_seq_concurrent(db: &Db) -> Result<()> {
    const TASKS: usize = 20;
    for round in 0..2 {
        // Round 0 races on a counter row that does not exist yet, round 1
        // on one that does.
        let year = 2026 + round;
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..TASKS {
            let db = db.clone();
            let barrier = barrier.clone();
            tasks.spawn(async move {
                barrier.wait().await;
                let mut tx = db.begin().await?;
                let n = index_seq(&mut tx, db.backend(), "340823.jyj", year, "").await?;
                // Hold the transaction a moment so that the others pile up.
                tokio::time::sleep(Duration::from_millis(5)).await;
                tx.commit().await?;
                anyhow::Ok(n)
            });
        }
        let mut got = Vec::new();
        while let Some(joined) = tasks.join_next().await {
            got.push(joined??);
        }
        got.sort_unstable();
        // Round 1 follows the one number taken to create the row.
        let first = 1 + i64::from(round);
        let want: Vec<i64> = (first..first + TASKS as i64).collect();
        assert_eq!(got, want, "round {round}");
        if round == 0 {
            // Prime the row for round 1.
            assert_eq!(take_seq(db, "340823.jyj", 2027, "").await?, 1);
        }
    }
    assert_eq!(take_seq(db, "340823.jyj", 2026, "").await?, 21);
    assert_eq!(take_seq(db, "340823.jyj", 2027, "").await?, 22);
    Ok(())
}

async fn case_search_seq_and_changed_since(db: &Db) -> Result<()> {
    {
        let mut conn = db.read().acquire().await?;
        assert_eq!(store::max_search_seq(&mut conn).await?, 0);
    }
    let mut taken = Vec::new();
    for _ in 0..5 {
        let mut tx = db.begin().await?;
        taken.push(store::take_seqs(&mut tx, db.backend(), None).await?.1);
        tx.commit().await?;
    }
    assert_eq!(taken, [1, 2, 3, 4, 5]);
    // A rolled back take does not advance the watermark.
    let mut tx = db.begin().await?;
    assert_eq!(store::take_seqs(&mut tx, db.backend(), None).await?.1, 6);
    tx.rollback().await?;
    {
        let mut conn = db.read().acquire().await?;
        assert_eq!(store::max_search_seq(&mut conn).await?, 5);
    }

    // Rows inserted out of order; drafts (seq 0) never show.
    for (id, seq) in [("e", 5), ("b", 2), ("d", 4), ("a", 1), ("c", 3), ("z", 0)] {
        let mut d = doc(id, if seq % 2 == 0 { "340823.jyj" } else { "340824" });
        d.search_seq = seq;
        insert(db, &d).await?;
    }
    let mut conn = db.read().acquire().await?;
    let seqs = |rows: Vec<DocRow>| rows.iter().map(|d| d.search_seq).collect::<Vec<_>>();
    assert_eq!(
        seqs(store::changed_since(&mut conn, 0, 100).await?),
        [1, 2, 3, 4, 5]
    );
    assert_eq!(
        ids(&store::changed_since(&mut conn, 0, 100).await?),
        ["a", "b", "c", "d", "e"]
    );
    assert_eq!(
        seqs(store::changed_since(&mut conn, 2, 100).await?),
        [3, 4, 5]
    );
    assert_eq!(seqs(store::changed_since(&mut conn, 0, 2).await?), [1, 2]);
    assert_eq!(seqs(store::changed_since(&mut conn, 3, 1).await?), [4]);
    assert!(store::changed_since(&mut conn, 5, 100).await?.is_empty());
    // Not even below every watermark: a draft has no search position.
    assert_eq!(
        seqs(store::changed_since(&mut conn, -1, 100).await?),
        [1, 2, 3, 4, 5]
    );
    Ok(())
}

async fn case_list_documents(db: &Db) -> Result<()> {
    let unit = "340823.jyj";
    // (id, state, column, updated_at)
    let rows = [
        ("d1", State::Draft, "gzzj", 100),
        ("d2", State::Published, "zcwj", 300),
        ("d3", State::Published, "gzzj", 200),
        ("d4", State::Submitted, "zcwj", 400),
        ("d5", State::Published, "zcwj", 300), // ties with d2: by id
        ("d6", State::Abolished, "zcwj", 50),
    ];
    for (id, state, column, updated_at) in rows {
        let mut d = doc(id, unit);
        d.state = state;
        d.fields.column = column.to_owned();
        d.updated_at = updated_at;
        insert(db, &d).await?;
    }
    for id in ["o1", "o2"] {
        let mut d = doc(id, "340823.jishan");
        d.state = State::Published;
        d.fields.column = "zcwj".to_owned();
        d.updated_at = 1000;
        insert(db, &d).await?;
    }
    // A child unit is another unit too.
    let mut d = doc("child", "340823.jyj.school01");
    d.state = State::Published;
    insert(db, &d).await?;

    let mut conn = db.read().acquire().await?;
    let filter = |state, column, offset, limit| ListFilter {
        unit,
        state,
        column,
        offset,
        limit,
    };
    let (all, total) = store::list_documents(&mut conn, &filter(None, None, 0, 100)).await?;
    assert_eq!(total, 6);
    assert_eq!(ids(&all), ["d4", "d2", "d5", "d3", "d1", "d6"]);
    assert!(all.iter().all(|d| d.unit == unit));

    let (published, total) =
        store::list_documents(&mut conn, &filter(Some(State::Published), None, 0, 100)).await?;
    assert_eq!((ids(&published), total), (vec!["d2", "d5", "d3"], 3));
    assert!(published.iter().all(|d| d.state == State::Published));

    let (zcwj, total) =
        store::list_documents(&mut conn, &filter(None, Some("zcwj"), 0, 100)).await?;
    assert_eq!((ids(&zcwj), total), (vec!["d4", "d2", "d5", "d6"], 4));

    let (both, total) = store::list_documents(
        &mut conn,
        &filter(Some(State::Published), Some("zcwj"), 0, 100),
    )
    .await?;
    assert_eq!((ids(&both), total), (vec!["d2", "d5"], 2));

    let (none, total) =
        store::list_documents(&mut conn, &filter(Some(State::Rejected), None, 0, 100)).await?;
    assert_eq!((none.len(), total), (0, 0));
    let (none, total) =
        store::list_documents(&mut conn, &filter(None, Some("nope"), 0, 100)).await?;
    assert_eq!((none.len(), total), (0, 0));

    // Paging: the total is the full count on every page.
    let mut paged = Vec::new();
    for offset in [0, 4] {
        let (page, total) =
            store::list_documents(&mut conn, &filter(None, None, offset, 4)).await?;
        assert_eq!(total, 6);
        paged.extend(page.into_iter().map(|d| d.id));
    }
    assert_eq!(paged, ["d4", "d2", "d5", "d3", "d1", "d6"]);
    let (page, total) = store::list_documents(&mut conn, &filter(None, None, 2, 2)).await?;
    assert_eq!((ids(&page), total), (vec!["d5", "d3"], 6));
    let (page, total) = store::list_documents(&mut conn, &filter(None, None, 10, 2)).await?;
    assert_eq!((page.len(), total), (0, 6));

    let other = ListFilter {
        unit: "340823.jishan",
        state: None,
        column: None,
        offset: 0,
        limit: 100,
    };
    let (rows, total) = store::list_documents(&mut conn, &other).await?;
    assert_eq!((ids(&rows), total), (vec!["o1", "o2"], 2));
    Ok(())
}

async fn case_public_page(db: &Db) -> Result<()> {
    let unit = "340823.jyj";
    // Inserted out of id order.
    let docs = [
        ("p07", State::Published),
        ("p02", State::Published),
        ("x03", State::Draft),
        ("p05", State::Published),
        ("p04", State::Abolished),
        ("p01", State::Published),
        ("p09", State::Published),
        ("x08", State::Approved),
        ("p06", State::Published),
    ];
    for (id, state) in docs {
        let mut d = doc(id, unit);
        d.state = state;
        insert(db, &d).await?;
    }
    let mut d = doc("p00", "340823.jishan");
    d.state = State::Published;
    insert(db, &d).await?;

    let mut conn = db.read().acquire().await?;
    let mut pages = Vec::new();
    let mut after = String::new();
    loop {
        let page = store::public_page(&mut conn, unit, &after, 2).await?;
        assert!(page.len() <= 2);
        assert!(page.iter().all(|d| d.state.is_public() && d.unit == unit));
        let Some(last) = page.last() else { break };
        after = last.id.clone();
        pages.push(ids(&page).join(","));
        if pages.len() > 10 {
            bail!("paging does not end: {pages:?}");
        }
    }
    assert_eq!(pages, ["p01,p02", "p04,p05", "p06,p07", "p09"]);
    let page = store::public_page(&mut conn, unit, "p05", 100).await?;
    assert_eq!(ids(&page), ["p06", "p07", "p09"]);
    assert!(
        store::public_page(&mut conn, unit, "p09", 100)
            .await?
            .is_empty()
    );
    assert!(
        store::public_page(&mut conn, "340824", "", 100)
            .await?
            .is_empty()
    );
    Ok(())
}

async fn case_provisional_timeliness_page(db: &Db) -> Result<()> {
    let unit = "340823.jyj";
    // (id, unit, provisional), inserted out of id order.
    let docs = [
        ("t04", unit, true),
        ("t01", unit, true),
        ("f02", unit, false),
        ("t03", unit, true),
        ("t00", "340823.jishan", true),
    ];
    for (id, u, provisional) in docs {
        let mut d = doc(id, u);
        d.state = State::Published;
        d.timeliness_days = Some(22);
        d.timeliness_provisional = provisional;
        insert(db, &d).await?;
    }
    let mut conn = db.read().acquire().await?;
    let first = store::provisional_timeliness_page(&mut conn, unit, "", 2).await?;
    assert_eq!(ids(&first), ["t01", "t03"]);
    assert!(first.iter().all(|d| d.timeliness_provisional));
    let rest = store::provisional_timeliness_page(&mut conn, unit, "t03", 2).await?;
    assert_eq!(ids(&rest), ["t04"]);
    // Settled, it leaves the set.
    let mut settled = rest[0].clone();
    settled.timeliness_provisional = false;
    settled.updated_at += 1;
    drop(conn);
    let mut conn = db.write().acquire().await?;
    assert!(
        store::update_document(&mut conn, &settled, (State::Published, rest[0].updated_at)).await?
    );
    let all = store::provisional_timeliness_page(&mut conn, unit, "", 100).await?;
    assert_eq!(ids(&all), ["t01", "t03"]);
    Ok(())
}

async fn case_expiring_page(db: &Db) -> Result<()> {
    let unit = "340823.jyj";
    // (id, unit, state, validity, last day in force)
    let docs = [
        (
            "e3",
            unit,
            State::Published,
            "valid",
            Some(ymd(2026, 9, 30)),
        ),
        (
            "e1",
            unit,
            State::Published,
            "valid",
            Some(ymd(2026, 6, 30)),
        ),
        (
            "e2",
            unit,
            State::Published,
            "valid",
            Some(ymd(2026, 9, 29)),
        ),
        // The last day itself is still in force.
        (
            "k1",
            unit,
            State::Published,
            "valid",
            Some(ymd(2026, 10, 1)),
        ),
        ("k2", unit, State::Published, "valid", None),
        (
            "k3",
            unit,
            State::Published,
            "expired",
            Some(ymd(2026, 6, 30)),
        ),
        ("k4", unit, State::Approved, "valid", Some(ymd(2026, 6, 30))),
        (
            "k5",
            "340823.jishan",
            State::Published,
            "valid",
            Some(ymd(2026, 6, 30)),
        ),
    ];
    for (id, u, state, validity, until) in docs {
        let mut d = doc(id, u);
        d.state = state;
        d.validity = validity.into();
        d.fields.valid_until = until;
        insert(db, &d).await?;
    }
    let today = ymd(2026, 10, 1);
    let mut conn = db.read().acquire().await?;
    let first = store::expiring_page(&mut conn, unit, today, "", 2).await?;
    assert_eq!(ids(&first), ["e1", "e2"]);
    assert_eq!(first[0].fields.valid_until, Some(ymd(2026, 6, 30)));
    let rest = store::expiring_page(&mut conn, unit, today, "e2", 2).await?;
    assert_eq!(ids(&rest), ["e3"]);
    Ok(())
}

async fn case_interpretations_ahead(db: &Db) -> Result<()> {
    let unit = "340823.jyj";
    let day = |s: &str| NaiveDate::parse_from_str(s, "%Y-%m-%d");
    // (policy, interpretation, policy published, interpretation released)
    let pairs = [
        ("p1", "i1", "2026-09-28", Some("2026-10-12")),
        ("p2", "i2", "2026-10-09", None),
        // Released together: nothing to judge.
        ("p3", "i3", "2026-10-09", Some("2026-10-09")),
        // Released first: nothing to judge.
        ("p4", "i4", "2026-10-09", Some("2026-10-01")),
    ];
    for (p, i, published, released) in pairs {
        let mut interp = doc(i, unit);
        interp.interprets = Some(p.into());
        interp.fields.title = format!("{p} 解读");
        match released {
            Some(r) => {
                interp.state = State::Published;
                interp.date_published = Some(day(r)?);
            }
            None => interp.state = State::Approved,
        }
        let mut policy = doc(p, unit);
        policy.state = State::Published;
        policy.date_published = Some(day(published)?);
        policy.interpretation = Some(i.into());
        insert(db, &policy).await?;
        insert(db, &interp).await?;
    }
    // Another unit's, and an abolished one: never listed.
    for (p, u, state) in [
        ("q1", "340823.jishan", State::Published),
        ("q2", unit, State::Abolished),
    ] {
        let i = format!("{p}-i");
        let mut interp = doc(&i, u);
        interp.state = State::Approved;
        interp.interprets = Some(p.into());
        let mut policy = doc(p, u);
        policy.state = state;
        policy.date_published = Some(day("2026-10-09")?);
        policy.interpretation = Some(i);
        insert(db, &policy).await?;
        insert(db, &interp).await?;
    }
    let mut conn = db.read().acquire().await?;
    let unjudged = store::unjudged_page(&mut conn, unit, "", 100).await?;
    let got: Vec<_> = unjudged
        .iter()
        .map(|p| {
            (
                p.policy_id.as_str(),
                p.interpretation_id.as_str(),
                p.interpretation_state,
                p.interpretation_released.map(|d| d.to_string()),
                p.outcome.clone(),
            )
        })
        .collect();
    assert_eq!(
        got,
        [
            (
                "p1",
                "i1",
                State::Published,
                Some("2026-10-12".into()),
                None
            ),
            ("p2", "i2", State::Approved, None, None),
        ]
    );
    assert_eq!(unjudged[1].policy_published, day("2026-10-09")?);
    assert_eq!(unjudged[1].interpretation_title, "p2 解读");
    assert_eq!(
        ids_of(&store::unjudged_page(&mut conn, unit, "p1", 100).await?),
        ["p2"]
    );
    drop(conn);

    // Judged once: the second judgement of the same policy writes nothing,
    // and a judged policy leaves the unjudged set but stays outstanding
    // while its interpretation is unreleased.
    let mut conn = db.write().acquire().await?;
    let judgement = |id: &'static str, interp: &'static str| store::Judgement {
        policy_id: id,
        interpretation_id: interp,
        due_on: ymd(2026, 10, 13),
        released_on: None,
        late: true,
        at: 1,
    };
    assert!(store::record_judgement(&mut conn, &judgement("p2", "i2")).await?);
    assert!(!store::record_judgement(&mut conn, &judgement("p2", "i2")).await?);
    assert_eq!(
        ids_of(&store::unjudged_page(&mut conn, unit, "", 100).await?),
        ["p1"]
    );
    let outstanding = store::outstanding_page(&mut conn, unit, "", 100).await?;
    assert_eq!(ids_of(&outstanding), ["p2"]);
    assert_eq!(outstanding[0].outcome.as_deref(), Some("late"));
    Ok(())
}

fn ids_of(rows: &[store::PolicyAhead]) -> Vec<&str> {
    rows.iter().map(|p| p.policy_id.as_str()).collect()
}

async fn case_versions_and_history(db: &Db) -> Result<()> {
    let base = doc("d1", "340823.jyj");
    insert(db, &base).await?;
    insert(db, &doc("d2", "340823.jyj")).await?;

    let mut v1 = base.clone();
    v1.fields.doc_number = Some("南教〔2026〕6号".to_owned());
    let mut v2 = full_doc("d1", "340823.jyj");
    v2.version = 2;
    let mut v3 = base.clone();
    v3.version = 3;
    v3.fields.title = "第三版".to_owned();

    let before = now_ms();
    let mut tx = db.begin().await?;
    // Out of order on purpose.
    store::insert_version(&mut tx, &v2, "revised", "李四").await?;
    store::insert_version(&mut tx, &v1, "published", "alice").await?;
    store::insert_version(&mut tx, &v3, "修订：更正错字", "王五").await?;
    tx.commit().await?;
    let after = now_ms();

    let mut conn = db.write().acquire().await?;
    let e = store::insert_version(&mut conn, &v1, "again", "alice")
        .await
        .expect_err("duplicate (document, version)");
    expect_unique_violation(&e, "duplicate version");
    drop(conn);

    let mut conn = db.read().acquire().await?;
    let got = store::versions(&mut conn, "d1").await?;
    assert_eq!(
        got.iter()
            .map(|v| (v.version, v.reason.as_str(), v.created_by.as_str()))
            .collect::<Vec<_>>(),
        [
            (1, "published", "alice"),
            (2, "revised", "李四"),
            (3, "修订：更正错字", "王五")
        ]
    );
    assert_eq!(got[0].fields, v1.fields);
    assert_eq!(got[1].fields, v2.fields);
    assert_eq!(got[1].fields.body.len(), 1 << 20);
    assert_eq!(got[2].fields, v3.fields);
    for v in &got {
        assert!(
            (before..=after).contains(&v.created_at),
            "created_at {} not in {before}..={after}",
            v.created_at
        );
    }
    assert!(store::versions(&mut conn, "d2").await?.is_empty());
    drop(conn);

    let entries = [
        ("create", "alice", "", "draft", "", 300),
        ("submit", "alice", "draft", "submitted", "请审核", 100),
        ("reject", "张三", "submitted", "rejected", "文号有误", 200),
        ("submit", "alice", "rejected", "submitted", "", 200),
    ];
    let entries: Vec<HistoryRow> = entries
        .iter()
        .map(|&(action, actor, from, to, comment, at)| HistoryRow {
            action: action.to_owned(),
            actor: actor.to_owned(),
            from_state: from.to_owned(),
            to_state: to.to_owned(),
            comment: comment.to_owned(),
            at,
        })
        .collect();
    let mut tx = db.begin().await?;
    for (i, h) in entries.iter().enumerate() {
        store::add_history(&mut tx, "d1", h).await?;
        if i == 1 {
            // Interleave another document's history.
            store::add_history(&mut tx, "d2", &entries[0]).await?;
        }
    }
    tx.commit().await?;
    let mut conn = db.read().acquire().await?;
    assert_eq!(store::history(&mut conn, "d1").await?, entries);
    assert_eq!(store::history(&mut conn, "d2").await?, entries[..1]);
    assert!(store::history(&mut conn, "d-none").await?.is_empty());
    drop(conn);

    // Foreign keys hold on both backends.
    let mut conn = db.write().acquire().await?;
    let e = store::add_history(&mut conn, "d-none", &entries[0]).await;
    assert!(e.is_err(), "history of a missing document was accepted");
    let e = store::insert_version(&mut conn, &doc("d-none", "340823.jyj"), "x", "y").await;
    assert!(e.is_err(), "version of a missing document was accepted");
    Ok(())
}

async fn case_custom_columns(db: &Db) -> Result<()> {
    let col =
        |code: &str, name: &str, parent: &str, policy, interpretation, kind: &str| ColumnDef {
            code: code.to_owned(),
            name: name.to_owned(),
            parent: parent.to_owned(),
            policy,
            interpretation,
            report_kind: kind.to_owned(),
            custom: true,
        };
    // Inserted in an order that differs from code order; created_at orders them.
    let ours = [
        col("zz-local", "本地专栏", "", false, false, ""),
        col(
            "aa_policy",
            "乡镇政策文件",
            "zz-local",
            true,
            false,
            "行政规范性文件",
        ),
        col("mm", "政策解读（本级）", "zz-local", false, true, ""),
    ];
    for c in &ours {
        let mut conn = db.write().acquire().await?;
        store::insert_custom_column(&mut conn, "340823.jyj", c).await?;
        drop(conn);
        tokio::time::sleep(Duration::from_millis(3)).await;
    }
    let theirs = col("zz-local", "别的单位", "", false, false, "规章");
    let mut conn = db.write().acquire().await?;
    store::insert_custom_column(&mut conn, "340823.jishan", &theirs).await?;

    let e = store::insert_custom_column(
        &mut conn,
        "340823.jyj",
        &col("mm", "重复", "", false, false, ""),
    )
    .await
    .expect_err("duplicate (unit, code)");
    expect_unique_violation(&e, "duplicate custom column");
    drop(conn);

    let mut conn = db.read().acquire().await?;
    assert_eq!(store::custom_columns(&mut conn, "340823.jyj").await?, ours);
    assert_eq!(
        store::custom_columns(&mut conn, "340823.jishan").await?,
        [theirs]
    );
    assert!(store::custom_columns(&mut conn, "340824").await?.is_empty());
    Ok(())
}

async fn case_stat_rows(db: &Db) -> Result<()> {
    let unit = "340823.jyj";
    let put = |id: &str, unit: &str, state, published: Option<NaiveDate>| {
        let mut d = doc(id, unit);
        d.state = state;
        d.date_published = published;
        d.fields.column = format!("col-{id}");
        d
    };
    let mut docs = vec![
        put("pub", unit, State::Published, Some(ymd(2026, 3, 5))),
        put("abol", unit, State::Abolished, Some(ymd(2025, 12, 31))),
        put("pub-nodate", unit, State::Published, None),
        put("draft-dated", unit, State::Draft, Some(ymd(2026, 1, 1))),
        put(
            "approved-dated",
            unit,
            State::Approved,
            Some(ymd(2026, 1, 1)),
        ),
        put(
            "rejected-dated",
            unit,
            State::Rejected,
            Some(ymd(2026, 1, 1)),
        ),
        put("submitted", unit, State::Submitted, None),
        put(
            "other-unit",
            "340823.jishan",
            State::Published,
            Some(ymd(2026, 3, 5)),
        ),
    ];
    docs[0].late = true;
    docs[1].abolished_on = Some(ymd(2026, 2, 1));
    for d in &docs {
        insert(db, d).await?;
    }
    let mut conn = db.read().acquire().await?;
    let mut got: Vec<_> = store::stat_rows(&mut conn, unit)
        .await?
        .into_iter()
        .map(|r| (r.column, r.date_published, r.abolished_on, r.late))
        .collect();
    got.sort();
    assert_eq!(
        got,
        [
            (
                "col-abol".to_owned(),
                ymd(2025, 12, 31),
                Some(ymd(2026, 2, 1)),
                false
            ),
            ("col-pub".to_owned(), ymd(2026, 3, 5), None, true),
        ]
    );
    assert!(store::stat_rows(&mut conn, "340824").await?.is_empty());
    Ok(())
}

async fn case_upsert_catalog(db: &Db) -> Result<()> {
    let unit = "340823.jishan";
    let v1 = cat("doc1", unit, "2026-03-05", 1, 1000);
    assert!(upsert(db, &v1).await?, "first insert");
    assert_eq!(catalog_row(db, "doc1").await?, Some(v1.clone()));

    // A newer version replaces, even with an older event time.
    let mut v2 = cat("doc1", unit, "2026-03-05", 2, 900);
    v2.title = "第二版标题".to_owned();
    v2.summary = "修订后的摘要".to_owned();
    assert!(upsert(db, &v2).await?, "newer version");
    assert_eq!(catalog_row(db, "doc1").await?, Some(v2.clone()));

    // An older version is ignored, even with a later event time.
    let mut stale = cat("doc1", unit, "2026-01-01", 1, 5000);
    stale.title = "旧标题".to_owned();
    assert!(!upsert(db, &stale).await?, "older version must be ignored");
    assert_eq!(catalog_row(db, "doc1").await?, Some(v2.clone()));

    // Same version, later event: abolished after published.
    let mut abolished = v2.clone();
    abolished.validity = "已废止".to_owned();
    abolished.event_time = 950;
    assert!(upsert(db, &abolished).await?, "same version, later time");
    assert_eq!(catalog_row(db, "doc1").await?, Some(abolished.clone()));

    // Same version, earlier event: ignored.
    let mut earlier = v2.clone();
    earlier.validity = "有效".to_owned();
    earlier.event_time = 920;
    assert!(!upsert(db, &earlier).await?, "same version, earlier time");
    assert_eq!(catalog_row(db, "doc1").await?, Some(abolished.clone()));

    // Another document is independent.
    let other = cat("doc2", "340823.jyj", "2026-02-01", 1, 10);
    assert!(upsert(db, &other).await?);
    assert_eq!(catalog_row(db, "doc2").await?, Some(other));
    assert_eq!(catalog_row(db, "doc1").await?, Some(abolished));
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM subtree_catalog").await?, 2);
    Ok(())
}

async fn case_list_catalog_subtree(db: &Db) -> Result<()> {
    let rows = [
        ("c-root", "340823", "2026-01-10"),
        ("c-a", "340823.a", "2026-03-01"),
        ("c-ab", "340823.a.b", "2026-02-01"),
        ("c-under", "340823.a_b", "2026-02-15"),
        ("c-under-child", "340823.a_b.c", "2026-02-15"),
        ("c-axb", "340823.axb", "2026-04-01"),
        // Matched by "340823.a_b.%" if '_' were a wildcard.
        ("c-axb-child", "340823.axb.c", "2026-04-01"),
        ("c-sibling", "3408231", "2026-05-01"),
        ("c-sibling-child", "3408231.a", "2026-05-01"),
        ("c-other", "340824", "2026-05-01"),
        ("c-ab2", "340823.a.b", "2026-02-01"),
    ];
    for (i, (id, unit, published)) in rows.iter().enumerate() {
        assert!(upsert(db, &cat(id, unit, published, 1, i as i64)).await?);
    }
    let ids = |rows: &[CatalogRow]| {
        rows.iter()
            .map(|c| c.document_id.clone())
            .collect::<Vec<_>>()
    };

    let (all, total) = catalog(db, "340823", 0, 100).await?;
    // Ordered by date_published desc, then document id.
    assert_eq!(
        ids(&all),
        [
            "c-axb",
            "c-axb-child",
            "c-a",
            "c-under",
            "c-under-child",
            "c-ab",
            "c-ab2",
            "c-root"
        ]
    );
    assert_eq!(total, 8);

    let (a, total) = catalog(db, "340823.a", 0, 100).await?;
    assert_eq!(
        (ids(&a), total),
        (vec!["c-a".to_owned(), "c-ab".into(), "c-ab2".into()], 3)
    );

    // '_' is literal: "340823.a_b" must not match "340823.axb".
    let (under, total) = catalog(db, "340823.a_b", 0, 100).await?;
    assert_eq!(
        (ids(&under), total),
        (vec!["c-under".to_owned(), "c-under-child".into()], 2)
    );

    let (sib, total) = catalog(db, "3408231", 0, 100).await?;
    assert_eq!(
        (ids(&sib), total),
        (vec!["c-sibling".to_owned(), "c-sibling-child".into()], 2)
    );
    let (leaf, total) = catalog(db, "340823.a.b", 0, 100).await?;
    assert_eq!(
        (ids(&leaf), total),
        (vec!["c-ab".to_owned(), "c-ab2".into()], 2)
    );
    let (none, total) = catalog(db, "34082", 0, 100).await?;
    assert_eq!((none.len(), total), (0, 0));

    // Paging keeps the total.
    let mut paged = Vec::new();
    for offset in (0..8).step_by(3) {
        let (page, total) = catalog(db, "340823", offset, 3).await?;
        assert_eq!(total, 8);
        assert!(page.len() <= 3);
        paged.extend(ids(&page));
    }
    assert_eq!(paged, ids(&all));

    let units: BTreeSet<String> = all.into_iter().map(|c| c.unit).collect();
    assert!(!units.contains("3408231") && !units.contains("340824"));
    Ok(())
}

async fn catalog_title(db: &Db, id: &str) -> Result<Option<String>> {
    Ok(catalog_row(db, id).await?.map(|c| c.title))
}

async fn case_idempotent_consumer(db: &Db) -> Result<()> {
    let unit = "340823.jishan";
    let payload = changed("ev-doc", unit, 3, "关于乡村振兴的通知");
    let ev = event(
        "publishing.document.published",
        unit,
        1_767_225_600_500,
        payload.encode_to_vec(),
    );

    assert_eq!(
        apply_once(db, "c1", &CatalogBuilder, &ev).await?,
        Applied::Done
    );
    let row = catalog_row(db, "ev-doc")
        .await?
        .context("catalog row missing")?;
    assert_eq!(
        row,
        CatalogRow {
            document_id: "ev-doc".to_owned(),
            unit: unit.to_owned(),
            unit_name: "籍山镇".to_owned(),
            index_no: "003159085/2026-00001".to_owned(),
            title: "关于乡村振兴的通知".to_owned(),
            summary: "关于乡村振兴的通知".to_owned(),
            date_formed: "2026-03-02".to_owned(),
            date_published: "2026-03-05".to_owned(),
            validity: "有效".to_owned(),
            column: "zcwj".to_owned(),
            version: 3,
            valid_until: "2031-03-01".to_owned(),
            event_time: 1_767_225_600_500,
        }
    );

    // Mark the row so that a second application would show.
    sqlx::query("UPDATE subtree_catalog SET title = 'marker' WHERE document_id = 'ev-doc'")
        .execute(db.write())
        .await?;
    assert_eq!(
        apply_once(db, "c1", &CatalogBuilder, &ev).await?,
        Applied::AlreadyProcessed
    );
    assert_eq!(
        catalog_title(db, "ev-doc").await?.as_deref(),
        Some("marker")
    );

    // Another consumer has its own record and applies it again.
    assert_eq!(
        apply_once(db, "c2", &CatalogBuilder, &ev).await?,
        Applied::Done
    );
    assert_eq!(
        catalog_title(db, "ev-doc").await?.as_deref(),
        Some("关于乡村振兴的通知")
    );
    assert_eq!(
        apply_once(db, "c2", &CatalogBuilder, &ev).await?,
        Applied::AlreadyProcessed
    );
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM gk_processed_events").await?,
        2
    );

    // Verbs the builder ignores are still recorded as processed.
    let late = event(
        "publishing.document.late",
        unit,
        1,
        changed("late-doc", unit, 1, "x").encode_to_vec(),
    );
    assert_eq!(
        apply_once(db, "c1", &CatalogBuilder, &late).await?,
        Applied::Done
    );
    assert_eq!(catalog_row(db, "late-doc").await?, None);
    assert_eq!(
        apply_once(db, "c1", &CatalogBuilder, &late).await?,
        Applied::AlreadyProcessed
    );

    // A failing handler records nothing, so redelivery tries again.
    let broken = event(
        "publishing.document.revised",
        unit,
        2,
        vec![0xff, 0xff, 0xff],
    );
    assert!(
        apply_once(db, "c1", &CatalogBuilder, &broken)
            .await
            .is_err()
    );
    let recorded: i64 =
        sqlx::query_scalar("SELECT COUNT(*) FROM gk_processed_events WHERE event_id = $1")
            .bind(&broken.id)
            .fetch_one(db.read())
            .await?;
    assert_eq!(recorded, 0);
    assert!(
        apply_once(db, "c1", &CatalogBuilder, &broken)
            .await
            .is_err()
    );
    ensure!(
        scalar(db, "SELECT COUNT(*) FROM gk_processed_events").await? == 3,
        "processed events after the failures"
    );
    Ok(())
}

/// A group written expecting the counters' values: written with the counters
/// advanced when they and the documents are as expected; otherwise nothing
/// at all (no counter, row, version, history or event).
async fn case_write_changes_expecting(db: &Db) -> Result<()> {
    use gongkai_kernel::outbox::OutboxRow;
    let (key, index_next, search_next) = first_publication_counters(db).await?;

    let history = publish_history();
    let mut approved = Vec::new();
    for id in ["e1", "e2"] {
        let mut d = doc(id, "340823.jyj");
        d.state = State::Approved;
        insert(db, &d).await?;
        approved.push(d);
    }
    let published: Vec<DocRow> = approved
        .iter()
        .enumerate()
        .map(|(i, d)| as_published(d, index_next + i as i64, search_next + i as i64))
        .collect();
    let events: Vec<Vec<OutboxRow>> = published
        .iter()
        .map(|d| {
            vec![OutboxRow {
                event_id: format!("ev-{}", d.id),
                subject: "gk.publishing.document.published.340823.jyj".into(),
                payload: vec![1, 2, 3],
                traceparent: None,
                created_at: 7,
            }]
        })
        .collect();
    let changes: Vec<store::Change<'_>> = published
        .iter()
        .zip(&approved)
        .zip(&events)
        .map(|((p, d), e)| store::Change {
            doc: p,
            expect_state: State::Approved,
            expect_updated_at: d.updated_at,
            fields_changed: false,
            version: Some(("published", "bob")),
            history: &history,
            events: e,
        })
        .collect();
    let advance = |search: i64, index: i64| store::SeqAdvance {
        search: (search, search + 2),
        index: vec![(key.clone(), index, index + 2)],
    };
    let counters = |db: &Db| {
        let db = db.clone();
        async move {
            // The row holds the last search sequence taken.
            let s = scalar(&db, "SELECT value + 1 FROM counters WHERE name = 'search'").await?;
            let i = scalar(&db, "SELECT next_seq FROM index_counters").await?;
            anyhow::Ok((s, i))
        }
    };
    let nothing_written = |db: &Db| {
        let db = db.clone();
        async move {
            for t in [
                "SELECT COUNT(*) FROM document_versions",
                "SELECT COUNT(*) FROM document_history",
                "SELECT COUNT(*) FROM gk_outbox",
                "SELECT COUNT(*) FROM documents WHERE state <> 'approved'",
            ] {
                ensure!(scalar(&db, t).await? == 0, "{t} after a refused write");
            }
            anyhow::Ok(())
        }
    };

    // A stale search counter, then a stale index counter: nothing happens.
    for stale in [
        advance(search_next - 1, index_next),
        advance(search_next, index_next + 1),
    ] {
        assert!(!store::write_changes_expecting(db, &mut None, &changes, &stale).await?);
        assert_eq!(counters(db).await?, (search_next, index_next));
        nothing_written(db).await?;
    }
    // A stale document: nothing happens either.
    let stale_doc: Vec<store::Change<'_>> = changes
        .iter()
        .enumerate()
        .map(|(i, c)| store::Change {
            expect_updated_at: c.expect_updated_at - i64::from(i == 1),
            ..*c
        })
        .collect();
    assert!(
        !store::write_changes_expecting(
            db,
            &mut None,
            &stale_doc,
            &advance(search_next, index_next)
        )
        .await?
    );
    assert_eq!(counters(db).await?, (search_next, index_next));
    nothing_written(db).await?;

    // A write failing for another reason (the second document already has
    // a row for the version it would add) is an error, not a conflict, and
    // leaves nothing either; on SQLite the batch's transaction is not left
    // open behind it.
    let mut tx = db.begin().await?;
    store::insert_version(&mut tx, &published[1], "in the way", "x").await?;
    tx.commit().await?;
    let e =
        store::write_changes_expecting(db, &mut None, &changes, &advance(search_next, index_next))
            .await
            .expect_err("a version already there must fail the write");
    assert!(is_unique_violation(&e), "{e}");
    sqlx::query("DELETE FROM document_versions WHERE reason = 'in the way'")
        .execute(db.write())
        .await?;
    assert_eq!(counters(db).await?, (search_next, index_next));
    nothing_written(db).await?;

    // As expected: everything lands and the counters move on.
    assert!(
        store::write_changes_expecting(db, &mut None, &changes, &advance(search_next, index_next))
            .await?
    );
    assert_eq!(counters(db).await?, (search_next + 2, index_next + 2));
    assert_published(db, &published, (2, 2, 2)).await?;
    Ok(())
}

/// A single publication written expecting the counters (the common case
/// with one caller, which PostgreSQL writes with a statement of its own):
/// a stale counter or document writes nothing; as expected, it lands, with
/// an index number taken or, for a document that has one, without.
async fn case_write_one_expecting(db: &Db) -> Result<()> {
    use gongkai_kernel::outbox::OutboxRow;
    let (key, index_next, search_next) = first_publication_counters(db).await?;
    let counters = || async {
        let s = scalar(db, "SELECT value + 1 FROM counters WHERE name = 'search'").await?;
        let i = scalar(db, "SELECT next_seq FROM index_counters").await?;
        anyhow::Ok((s, i))
    };
    let history = publish_history();
    let events = |id: &str| {
        vec![OutboxRow {
            event_id: format!("ev-{id}"),
            subject: "gk.publishing.document.published.340823.jyj".into(),
            payload: vec![1, 2, 3],
            traceparent: None,
            created_at: 7,
        }]
    };

    let mut approved = doc("s1", "340823.jyj");
    approved.state = State::Approved;
    insert(db, &approved).await?;
    let published = as_published(&approved, index_next, search_next);
    let ev = events("s1");
    let change = |expect_updated_at: i64| store::Change {
        doc: &published,
        expect_state: State::Approved,
        expect_updated_at,
        fields_changed: false,
        version: Some(("published", "bob")),
        history: &history,
        events: &ev,
    };
    let advance = |search: i64, index: i64| store::SeqAdvance {
        search: (search, search + 1),
        index: vec![(key.clone(), index, index + 1)],
    };
    for (stale, at) in [
        (advance(search_next - 1, index_next), approved.updated_at),
        (advance(search_next, index_next + 1), approved.updated_at),
        (advance(search_next, index_next), approved.updated_at - 1),
    ] {
        assert!(!store::write_changes_expecting(db, &mut None, &[change(at)], &stale).await?);
        assert_eq!(counters().await?, (search_next, index_next));
        assert_eq!(get(db, "s1").await?.as_ref(), Some(&approved));
        for t in [
            "SELECT COUNT(*) FROM document_versions",
            "SELECT COUNT(*) FROM document_history",
            "SELECT COUNT(*) FROM gk_outbox",
        ] {
            assert_eq!(scalar(db, t).await?, 0, "{t} after a refused write");
        }
    }
    assert!(
        store::write_changes_expecting(
            db,
            &mut None,
            &[change(approved.updated_at)],
            &advance(search_next, index_next)
        )
        .await?
    );
    assert_eq!(counters().await?, (search_next + 1, index_next + 1));
    assert_published(db, std::slice::from_ref(&published), (1, 1, 1)).await?;

    // A document keeping the index number it has takes none.
    let mut numbered = doc("s2", "340823.jyj");
    numbered.state = State::Approved;
    numbered.index_no = Some("X/2026-00001".into());
    insert(db, &numbered).await?;
    let mut republished = as_published(&numbered, 0, search_next + 1);
    republished.index_no = numbered.index_no.clone();
    let ev = events("s2");
    let change = store::Change {
        doc: &republished,
        expect_state: State::Approved,
        expect_updated_at: numbered.updated_at,
        fields_changed: false,
        version: Some(("published", "bob")),
        history: &history,
        events: &ev,
    };
    let advance = store::SeqAdvance {
        search: (search_next + 1, search_next + 2),
        index: vec![],
    };
    assert!(store::write_changes_expecting(db, &mut None, &[change], &advance).await?);
    assert_eq!(counters().await?, (search_next + 2, index_next + 1));
    assert_published(db, &[published, republished], (2, 2, 2)).await?;
    Ok(())
}

/// The counters as a first publication under lock leaves them: the unit's
/// index-number counter for 2026, and the next index and search numbers.
async fn first_publication_counters(db: &Db) -> Result<(store::CounterKey, i64, i64)> {
    let key = ("340823.jyj".to_owned(), 2026, String::new());
    let mut tx = db.begin().await?;
    let (firsts, search_first) =
        store::take_seq_ranges(&mut tx, db.backend(), std::slice::from_ref(&key), 1).await?;
    tx.commit().await?;
    let index_next = firsts[&key] + 1;
    Ok((key, index_next, search_first + 1))
}

/// The one version of document `id`, as the store reads it.
async fn only_version(db: &Db, id: &str) -> Result<store::VersionRow> {
    let mut conn = db.read().acquire().await?;
    let mut v = store::versions(&mut conn, id).await?;
    ensure!(v.len() == 1, "{id}: {} versions", v.len());
    Ok(v.remove(0))
}

/// A group of publications written in one round trip: everything lands, and
/// a stale read turns the whole call into `false`. Changes that leave the
/// fields alone do not send them: the row keeps its own and the version
/// copies them from it; one that changes them writes them to the row, and
/// its version reads them there.
async fn case_write_changes_group(db: &Db) -> Result<()> {
    use gongkai_kernel::outbox::OutboxRow;
    let ids = ["g1", "g2", "g3"];
    for id in ids {
        let mut d = doc(id, "340823.jyj");
        d.state = State::Approved;
        insert(db, &d).await?;
    }
    let published: Vec<DocRow> = ids
        .iter()
        .enumerate()
        .map(|(i, id)| {
            let mut d = as_published(&doc(id, "340823.jyj"), i as i64 + 1, i as i64 + 1);
            if *id == "g1" {
                d.fields.title = "改后的标题".into();
                d.fields.body = "改后的正文".into();
            }
            d
        })
        .collect();
    let history = publish_history();
    let events: Vec<Vec<OutboxRow>> = ids
        .iter()
        .map(|id| {
            (0..if *id == "g2" { 2 } else { 1 })
                .map(|k| OutboxRow {
                    event_id: format!("ev-{id}-{k}"),
                    subject: "gk.publishing.document.published.340823.jyj".into(),
                    payload: vec![0, 159, 146, 150, k as u8],
                    traceparent: (k == 0).then(|| {
                        "00-0af7651916cd43dd8448eb211c80319c-b7ad6b7169203331-01".to_owned()
                    }),
                    created_at: 7,
                })
                .collect()
        })
        .collect();
    let changes: Vec<store::Change<'_>> = published
        .iter()
        .zip(&events)
        .map(|(d, e)| store::Change {
            doc: d,
            expect_state: State::Approved,
            expect_updated_at: 1_767_225_600_000,
            fields_changed: d.id == "g1",
            version: Some(("published", "bob")),
            history: &history,
            events: e,
        })
        .collect();
    let mut tx = db.begin().await?;
    assert!(store::write_changes(&mut tx, db.backend(), &changes).await?);
    tx.commit().await?;
    assert_published(db, &published, (3, 3, 4)).await?;
    let payload: Vec<u8> =
        sqlx::query_scalar("SELECT payload FROM gk_outbox WHERE event_id = 'ev-g2-1'")
            .fetch_one(db.read())
            .await?;
    assert_eq!(payload, vec![0, 159, 146, 150, 1], "bytes survive the trip");
    for d in &published {
        let v = only_version(db, &d.id).await?;
        assert_eq!(
            (&v.fields.title, &v.fields.body),
            (&d.fields.title, &d.fields.body),
            "{}",
            d.id
        );
    }

    // Alone (one change: its own statement shape), leaving the fields.
    let mut d = doc("g4", "340823.jyj");
    d.state = State::Approved;
    insert(db, &d).await?;
    let p = as_published(&d, 4, 4);
    let mut sent = p.clone();
    // Not sent: a stale copy of the fields must not reach the row.
    sent.fields.body = "不应写入".into();
    let mut tx = db.begin().await?;
    assert!(
        store::write_change(
            &mut tx,
            db.backend(),
            &store::Change {
                doc: &sent,
                expect_state: State::Approved,
                expect_updated_at: d.updated_at,
                fields_changed: false,
                version: Some(("published", "bob")),
                history: &history,
                events: &[],
            },
        )
        .await?
    );
    tx.commit().await?;
    assert_eq!(get(db, "g4").await?.as_ref(), Some(&p));
    assert_eq!(only_version(db, "g4").await?.fields.body, d.fields.body);

    // Read before the write above: every change is stale now.
    let mut tx = db.begin().await?;
    let stale: Vec<store::Change<'_>> = changes
        .iter()
        .map(|c| store::Change { events: &[], ..*c })
        .collect();
    assert!(!store::write_changes(&mut tx, db.backend(), &stale).await?);
    tx.rollback().await?;
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM document_history").await?,
        4
    );
    Ok(())
}

/// Bodies of the versions whose rows hold their own (the others share the
/// document's), by version.
async fn own_bodies(db: &Db, id: &str) -> Result<Vec<(i64, Option<String>)>> {
    Ok(sqlx::query_as(
        "SELECT version, body FROM document_versions WHERE document_id = $1 ORDER BY version",
    )
    .bind(id)
    .fetch_all(db.read())
    .await?)
}

/// `prev` as a write of `next` expects to find it.
fn change_of<'a>(
    next: &'a DocRow,
    prev: &DocRow,
    fields_changed: bool,
    reason: &'a str,
    history: &'a HistoryRow,
) -> store::Change<'a> {
    store::Change {
        doc: next,
        expect_state: prev.state,
        expect_updated_at: prev.updated_at,
        fields_changed,
        version: Some((reason, "bob")),
        history,
        events: &[],
    }
}

/// `prev` revised: its next version, with `body`.
fn revised(prev: &DocRow, body: &str) -> DocRow {
    let mut d = prev.clone();
    d.version += 1;
    d.updated_at += 1;
    d.fields.body = body.to_owned();
    d
}

/// A published version keeps no second copy of the body its document row
/// holds; a change of the fields first gives the versions sharing it a
/// copy of their own, so every version still reads as it was, through
/// each write path (one change, a group, a group expecting its counters).
async fn case_versions_share_the_current_body(db: &Db) -> Result<()> {
    let h = publish_history();
    let mut approved = Vec::new();
    for id in ["s1", "s2"] {
        let mut d = doc(id, "340823.jyj");
        d.state = State::Approved;
        d.fields.body = format!("{id} 第一版正文");
        insert(db, &d).await?;
        approved.push(d);
    }
    // Published together, expecting the counters as a fresh store has them.
    let v1: Vec<DocRow> = approved
        .iter()
        .enumerate()
        .map(|(i, a)| as_published(a, i as i64 + 1, i as i64 + 1))
        .collect();
    let changes: Vec<_> = v1
        .iter()
        .zip(&approved)
        .map(|(d, a)| change_of(d, a, false, "published", &h))
        .collect();
    let advance = store::SeqAdvance {
        search: (1, 3),
        index: Vec::new(),
    };
    ensure!(store::write_changes_expecting(db, &mut None, &changes, &advance).await?);
    for d in &v1 {
        assert_eq!(own_bodies(db, &d.id).await?, [(1, None)], "{}", d.id);
        assert_eq!(only_version(db, &d.id).await?.fields.body, d.fields.body);
    }

    // Revised alone, then both revised in one group.
    let s1v2 = revised(&v1[0], "s1 第二版正文");
    let mut tx = db.begin().await?;
    let c = change_of(&s1v2, &v1[0], true, "revised", &h);
    ensure!(store::write_change(&mut tx, db.backend(), &c).await?);
    tx.commit().await?;
    assert_eq!(
        own_bodies(db, "s1").await?,
        [(1, Some("s1 第一版正文".to_owned())), (2, None)]
    );
    assert_eq!(own_bodies(db, "s2").await?, [(1, None)], "s2 untouched");

    let s1v3 = revised(&s1v2, "s1 第三版正文");
    let s2v2 = revised(&v1[1], "s2 第二版正文");
    let group = [
        change_of(&s1v3, &s1v2, true, "revised", &h),
        change_of(&s2v2, &v1[1], true, "revised", &h),
    ];
    let mut tx = db.begin().await?;
    ensure!(store::write_changes(&mut tx, db.backend(), &group).await?);
    tx.commit().await?;
    assert_eq!(
        own_bodies(db, "s1").await?,
        [
            (1, Some("s1 第一版正文".to_owned())),
            (2, Some("s1 第二版正文".to_owned())),
            (3, None)
        ]
    );
    assert_eq!(
        own_bodies(db, "s2").await?,
        [(1, Some("s2 第一版正文".to_owned())), (2, None)]
    );
    let mut conn = db.read().acquire().await?;
    let read: Vec<(i64, String)> = store::versions(&mut conn, "s1")
        .await?
        .into_iter()
        .map(|v| (v.version, v.fields.body))
        .collect();
    drop(conn);
    assert_eq!(
        read,
        [
            (1, "s1 第一版正文".to_owned()),
            (2, "s1 第二版正文".to_owned()),
            (3, "s1 第三版正文".to_owned())
        ]
    );

    // Revised again in a group expecting its counters: the version it
    // leaves behind gets its copy there too.
    let s2v3 = revised(&s2v2, "s2 第三版正文");
    let advance = store::SeqAdvance {
        search: (3, 4),
        index: Vec::new(),
    };
    let c = change_of(&s2v3, &s2v2, true, "revised", &h);
    ensure!(store::write_changes_expecting(db, &mut None, &[c], &advance).await?);
    assert_eq!(
        own_bodies(db, "s2").await?,
        [
            (1, Some("s2 第一版正文".to_owned())),
            (2, Some("s2 第二版正文".to_owned())),
            (3, None)
        ]
    );
    let mut conn = db.read().acquire().await?;
    let body = store::get_document(&mut conn, "s2")
        .await?
        .map(|d| d.fields.body);
    drop(conn);
    assert_eq!(body.as_deref(), Some("s2 第三版正文"));

    // A stale revision writes nothing, the copy of the body included.
    let stale = revised(&s2v3, "过时的修订");
    let mut tx = db.begin().await?;
    let c = change_of(&stale, &v1[1], true, "revised", &h);
    ensure!(!store::write_change(&mut tx, db.backend(), &c).await?);
    tx.rollback().await?;
    assert_eq!(
        own_bodies(db, "s2").await?,
        [
            (1, Some("s2 第一版正文".to_owned())),
            (2, Some("s2 第二版正文".to_owned())),
            (3, None)
        ]
    );
    Ok(())
}
