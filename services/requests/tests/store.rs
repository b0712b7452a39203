//! Conformance suite of the requests store: every case runs once against
//! SQLite (a fresh file in a temporary directory) and once against
//! PostgreSQL (a fresh database on the testkit server), with the same
//! assertions, so that the single `Any` code path behaves the same on both.
//! The last cases drive `RequestsService` itself (with a real NATS for the
//! outbox relay) to check that a refused step leaves nothing behind.

use std::collections::BTreeSet;
use std::sync::Arc;
use std::time::Duration;

use anyhow::{Context as _, Result};
use gongkai_kernel::UnitPath;
use gongkai_kernel::auth::{Claims, Role};
use gongkai_kernel::bus::Bus;
use gongkai_kernel::calendar::Calendar;
use gongkai_kernel::config::NatsConfig;
use gongkai_kernel::db::{Backend, Db, is_unique_violation};
use gongkai_kernel::{ApiError, outbox};
use gongkai_requests::Config;
use gongkai_requests::service::{DocumentLookup, ReplyInput, RequestsService, Step, Submission};
use gongkai_requests::store::{self, AppealRow, QueueRow, RequestRow, TransitionRow};
use tokio::sync::watch;

// ---------------------------------------------------------------------------
// Harness
// ---------------------------------------------------------------------------

/// Upper bound for one case; a lock-up (e.g. a writer waiting on itself)
/// fails the test instead of hanging the run.
const CASE_TIMEOUT: Duration = Duration::from_secs(120);

async fn sqlite_db(dir: &tempfile::TempDir) -> Result<Db> {
    let url = gongkai_kernel::db::sqlite_url(&dir.path().join("requests.db"));
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
    round_trip_every_column => case_round_trip_every_column,
    by_tracking_no => case_by_tracking_no,
    unique_tracking_no => case_unique_tracking_no,
    update => case_update,
    update_missing_writes_nothing => case_update_missing_writes_nothing,
    tracking_seq => case_tracking_seq,
    tracking_seq_concurrent => case_tracking_seq_concurrent,
    transitions_and_appeals => case_transitions_and_appeals,
    queue_selection_and_order => case_queue_selection_and_order,
    queue_cursor_paging => case_queue_cursor_paging,
    annual_facts => case_annual_facts,
    fees_paid_between => case_fees_paid_between,
    nth_in_period => case_nth_in_period,
    earlier_answered => case_earlier_answered,
    same_information_since => case_same_information_since,
    record_suggestion => case_record_suggestion,
    record_suggestion_concurrent => case_record_suggestion_concurrent,
    record_notice => case_record_notice,
    provisional_open => case_provisional_open,
    service_refused_step_leaves_nothing => case_service_refused_step_leaves_nothing,
    service_concurrent_steps_take_one => case_service_concurrent_steps_take_one,
}

// ---------------------------------------------------------------------------
// Helpers
// ---------------------------------------------------------------------------

const UNIT: &str = "340823.jyj";
const OTHER_UNIT: &str = "340823.jishan";

/// An open request awaiting the reply, optional columns empty.
fn row(id: &str, unit: &str, tracking_no: &str) -> RequestRow {
    RequestRow {
        id: id.to_owned(),
        unit: unit.to_owned(),
        tracking_no: tracking_no.to_owned(),
        query_code_hash: "c2FsdA$aGFzaA".to_owned(),
        applicant_type: "natural_person".to_owned(),
        applicant_name: "张三".to_owned(),
        id_type: String::new(),
        id_number: String::new(),
        phone: "13800000000".to_owned(),
        email: String::new(),
        address: String::new(),
        description: "请公开2025年度部门预算".to_owned(),
        delivery_form: "电子邮件".to_owned(),
        channel: "online".to_owned(),
        received_on: "2026-03-02".to_owned(),
        status: "received".to_owned(),
        state_json: "{}".to_owned(),
        open: true,
        due_kind: Some("reply".to_owned()),
        due_on: Some("2026-03-30".to_owned()),
        due_provisional: false,
        reply_category: None,
        replied_on: None,
        concluded_on: None,
        reply_json: None,
        fee_basis: None,
        fee_yuan: 0,
        fee_paid_on: None,
        extended: false,
        applicant_key: "applicant-1".to_owned(),
        info_key: "info-1".to_owned(),
        suggested_category: String::new(),
        duplicate_of: String::new(),
        created_at: 1_772_409_600_000,
        updated_at: 1_772_409_600_000,
    }
}

/// A request as the projection leaves it once concluded: no due date.
fn closed(mut r: RequestRow, category: &str, concluded_on: &str) -> RequestRow {
    r.status = "replied".to_owned();
    r.open = false;
    r.due_kind = None;
    r.due_on = None;
    r.reply_category = Some(category.to_owned());
    r.replied_on = Some(concluded_on.to_owned());
    r.concluded_on = Some(concluded_on.to_owned());
    r
}

/// Every optional column set, every flag true, text with Chinese,
/// quotes, backslashes, control whitespace and characters outside the BMP.
fn full_row(id: &str) -> RequestRow {
    RequestRow {
        id: id.to_owned(),
        unit: UNIT.to_owned(),
        tracking_no: "YSQ-2026-000042".to_owned(),
        query_code_hash: "q1w2e3$r4t5y6u7i8o9p0".to_owned(),
        applicant_type: "public_interest".to_owned(),
        applicant_name: "南陵县“绿水青山”环保志愿者协会 'O\\Brien'".to_owned(),
        id_type: "business_license".to_owned(),
        id_number: "91340823MA2N0X1234".to_owned(),
        phone: "+86 553-6812345 转 8001".to_owned(),
        email: "xiehui@example.cn".to_owned(),
        address: "安徽省芜湖市南陵县籍山镇春谷路 88 号\n二楼 201 室".to_owned(),
        description:
            "请公开：\n\t一、2025 年度城区污水处理厂运行监测数据；\n\t二、相关执法记录 🌊 \"全文\""
                .to_owned(),
        delivery_form: "纸质件·邮寄".to_owned(),
        channel: "post".to_owned(),
        received_on: "2024-02-29".to_owned(),
        status: "closed".to_owned(),
        state_json: r#"{"status":"closed","note":"含“引号”与\\反斜杠"}"#.to_owned(),
        open: true,
        due_kind: Some("payment".to_owned()),
        due_on: Some("2024-03-28".to_owned()),
        due_provisional: true,
        reply_category: Some("withheld.third_party_rights".to_owned()),
        replied_on: Some("2024-03-27".to_owned()),
        concluded_on: Some("2024-03-27".to_owned()),
        reply_json: Some(r#"{"reply":{"category":"partly","text":"部分公开"}}"#.to_owned()),
        fee_basis: Some("per_volume".to_owned()),
        fee_yuan: 9_007_199_254_740_993, // beyond f64's exact integers
        fee_paid_on: Some("2024-03-20".to_owned()),
        extended: true,
        applicant_key: "k3y+/=".to_owned(),
        info_key: "inf0+/=".to_owned(),
        suggested_category: "not_processed.repeated".to_owned(),
        duplicate_of: "YSQ-2025-000007".to_owned(),
        created_at: 1_709_164_800_123,
        updated_at: -1,
    }
}

async fn insert(db: &Db, r: &RequestRow) -> Result<(), sqlx::Error> {
    let mut conn = db.write().acquire().await?;
    store::insert(&mut conn, r).await
}

async fn insert_all(db: &Db, rows: &[RequestRow]) -> Result<()> {
    let mut tx = db.begin().await?;
    for r in rows {
        store::insert(&mut tx, r).await?;
    }
    tx.commit().await?;
    Ok(())
}

async fn get(db: &Db, id: &str) -> Result<Option<RequestRow>> {
    let mut conn = db.read().acquire().await?;
    Ok(store::get(&mut conn, id).await?)
}

async fn scalar(db: &Db, sql: &'static str) -> Result<i64> {
    Ok(sqlx::query_scalar(sql).fetch_one(db.read()).await?)
}

async fn queue(
    db: &Db,
    unit: &str,
    from: &str,
    to: &str,
    after: (&str, &str),
    limit: i64,
) -> Result<Vec<QueueRow>> {
    let mut conn = db.read().acquire().await?;
    Ok(store::queue(&mut conn, unit, from, to, after.0, after.1, limit).await?)
}

fn queue_ids(rows: &[QueueRow]) -> Vec<String> {
    rows.iter().map(|q| q.id.clone()).collect()
}

async fn take_seq(db: &Db, unit: &str, year: i32) -> Result<i64> {
    let mut tx = db.begin().await?;
    let n = store::next_tracking_seq(&mut tx, unit, year).await?;
    tx.commit().await?;
    Ok(n)
}

fn transition(action: &str, from: &str, to: &str, day: &str, at: i64) -> TransitionRow {
    TransitionRow {
        action: action.to_owned(),
        from_status: from.to_owned(),
        to_status: to.to_owned(),
        day: day.to_owned(),
        actor: "王科长".to_owned(),
        reason: format!("{action}：依条例办理"),
        at,
    }
}

fn appeal(kind: &str, outcome: &str, filed_on: &str, decided_on: &str) -> AppealRow {
    AppealRow {
        kind: kind.to_owned(),
        outcome: outcome.to_owned(),
        filed_on: filed_on.to_owned(),
        decided_on: decided_on.to_owned(),
        note: format!("{kind} 于 {filed_on} 提起"),
    }
}

// ---------------------------------------------------------------------------
// Rows
// ---------------------------------------------------------------------------

async fn case_round_trip_every_column(db: &Db) -> Result<()> {
    let full = full_row("018f0000-0000-7000-8000-000000000001");
    let bare = row(
        "018f0000-0000-7000-8000-000000000002",
        UNIT,
        "YSQ-2026-000001",
    );
    // A closed row: every flag false, every option None.
    let mut none = row(
        "018f0000-0000-7000-8000-000000000003",
        UNIT,
        "YSQ-2026-000002",
    );
    none.open = false;
    none.due_kind = None;
    none.due_on = None;
    none.created_at = 0;
    none.updated_at = i64::MAX;
    insert(db, &full).await?;
    insert(db, &bare).await?;
    insert(db, &none).await?;

    for want in [&full, &bare, &none] {
        let got = get(db, &want.id).await?.context("row missing")?;
        assert_eq!(&got, want, "round trip of {}", want.id);
    }
    // Some("") stays distinct from None.
    let mut empty = row(
        "018f0000-0000-7000-8000-000000000004",
        UNIT,
        "YSQ-2026-000003",
    );
    empty.reply_json = Some(String::new());
    empty.fee_basis = Some(String::new());
    insert(db, &empty).await?;
    assert_eq!(get(db, &empty.id).await?.as_ref(), Some(&empty));

    assert_eq!(get(db, "018f0000-0000-7000-8000-0000000000ff").await?, None);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM requests").await?, 4);
    Ok(())
}

async fn case_by_tracking_no(db: &Db) -> Result<()> {
    let a = row("a", UNIT, "YSQ-2026-000001");
    let b = row("b", OTHER_UNIT, "YSQ-2026-000002");
    insert(db, &a).await?;
    insert(db, &b).await?;
    let mut conn = db.read().acquire().await?;
    assert_eq!(
        store::by_tracking_no(&mut conn, "YSQ-2026-000001").await?,
        Some(a)
    );
    assert_eq!(
        store::by_tracking_no(&mut conn, "YSQ-2026-000002").await?,
        Some(b)
    );
    assert_eq!(
        store::by_tracking_no(&mut conn, "YSQ-2026-000003").await?,
        None
    );
    // Exact match only: no prefix or case folding.
    assert_eq!(
        store::by_tracking_no(&mut conn, "YSQ-2026-00000").await?,
        None
    );
    assert_eq!(
        store::by_tracking_no(&mut conn, "ysq-2026-000001").await?,
        None
    );
    Ok(())
}

async fn case_unique_tracking_no(db: &Db) -> Result<()> {
    insert(db, &row("a", UNIT, "YSQ-2026-000001")).await?;
    // The tracking number is unique across units, not per unit.
    let e = insert(db, &row("b", OTHER_UNIT, "YSQ-2026-000001"))
        .await
        .expect_err("duplicate tracking_no must be refused");
    assert!(is_unique_violation(&e), "tracking_no clash: {e:?}");
    // And the primary key.
    let e = insert(db, &row("a", UNIT, "YSQ-2026-000009"))
        .await
        .expect_err("duplicate id must be refused");
    assert!(is_unique_violation(&e), "id clash: {e:?}");
    assert!(!is_unique_violation(&sqlx::Error::RowNotFound));

    // Inside a transaction the failure rolls back the earlier insert too.
    let attempt = async {
        let mut tx = db.begin().await?;
        store::insert(&mut tx, &row("c", UNIT, "YSQ-2026-000003")).await?;
        store::insert(&mut tx, &row("d", UNIT, "YSQ-2026-000001")).await?;
        tx.commit().await?;
        anyhow::Ok(())
    };
    let e = attempt.await.expect_err("clash must fail the transaction");
    assert!(
        e.downcast_ref::<sqlx::Error>()
            .is_some_and(is_unique_violation),
        "{e:?}"
    );
    assert_eq!(get(db, "c").await?, None);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM requests").await?, 1);
    Ok(())
}

async fn case_update(db: &Db) -> Result<()> {
    let before = row("a", UNIT, "YSQ-2026-000001");
    insert(db, &before).await?;
    insert(db, &row("b", UNIT, "YSQ-2026-000002")).await?;
    // Change every column; only those a step may change are written.
    let mut changed = full_row("a");
    changed.status = "fee_notified".to_owned();
    let mut conn = db.write().acquire().await?;
    // Read at another stamp: nothing is written.
    assert!(!store::update(&mut conn, &changed, before.updated_at - 1).await?);
    assert_eq!(get(db, "a").await?.as_ref(), Some(&before));
    assert!(store::update(&mut conn, &changed, before.updated_at).await?);
    drop(conn);
    let got = get(db, "a").await?.context("row a")?;
    let want = RequestRow {
        status: changed.status.clone(),
        state_json: changed.state_json.clone(),
        open: changed.open,
        due_kind: changed.due_kind.clone(),
        due_on: changed.due_on.clone(),
        due_provisional: changed.due_provisional,
        reply_category: changed.reply_category.clone(),
        replied_on: changed.replied_on.clone(),
        concluded_on: changed.concluded_on.clone(),
        reply_json: changed.reply_json.clone(),
        fee_basis: changed.fee_basis.clone(),
        fee_yuan: changed.fee_yuan,
        fee_paid_on: changed.fee_paid_on.clone(),
        extended: changed.extended,
        updated_at: changed.updated_at,
        ..before.clone()
    };
    assert_eq!(got, want);
    // And back to None / false.
    let mut conn = db.write().acquire().await?;
    assert!(store::update(&mut conn, &before, changed.updated_at).await?);
    drop(conn);
    assert_eq!(get(db, "a").await?.as_ref(), Some(&before));
    // The other row is untouched.
    assert_eq!(get(db, "b").await?, Some(row("b", UNIT, "YSQ-2026-000002")));
    Ok(())
}

async fn case_update_missing_writes_nothing(db: &Db) -> Result<()> {
    insert(db, &row("a", UNIT, "YSQ-2026-000001")).await?;
    let mut tx = db.begin().await?;
    let missing = row("missing", UNIT, "YSQ-2026-000001");
    let written = store::update(&mut tx, &missing, missing.updated_at).await?;
    assert!(!written, "update of a missing id");
    tx.rollback().await?;
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM requests").await?, 1);
    assert_eq!(get(db, "missing").await?, None);
    Ok(())
}

// ---------------------------------------------------------------------------
// Tracking numbers
// ---------------------------------------------------------------------------

async fn case_tracking_seq(db: &Db) -> Result<()> {
    for want in 1..=3 {
        assert_eq!(take_seq(db, UNIT, 2026).await?, want);
    }
    assert_eq!(take_seq(db, UNIT, 2027).await?, 1);
    assert_eq!(take_seq(db, UNIT, 2025).await?, 1);
    assert_eq!(take_seq(db, OTHER_UNIT, 2026).await?, 1);
    assert_eq!(take_seq(db, UNIT, 2026).await?, 4);
    assert_eq!(take_seq(db, UNIT, 2027).await?, 2);

    // A rolled back transaction gives its number back.
    let mut tx = db.begin().await?;
    assert_eq!(store::next_tracking_seq(&mut tx, UNIT, 2026).await?, 5);
    assert_eq!(store::next_tracking_seq(&mut tx, UNIT, 2026).await?, 6);
    tx.rollback().await?;
    assert_eq!(take_seq(db, UNIT, 2026).await?, 5);

    // Also when the rolled back transaction created the counter row.
    let mut tx = db.begin().await?;
    assert_eq!(
        store::next_tracking_seq(&mut tx, "340823.new", 2026).await?,
        1
    );
    tx.rollback().await?;
    assert_eq!(take_seq(db, "340823.new", 2026).await?, 1);
    assert_eq!(take_seq(db, "340823.new", 2026).await?, 2);

    // A dropped (not committed) transaction rolls back as well.
    {
        let mut tx = db.begin().await?;
        assert_eq!(store::next_tracking_seq(&mut tx, UNIT, 2026).await?, 6);
    }
    assert_eq!(take_seq(db, UNIT, 2026).await?, 6);
    Ok(())
}

async fn case_tracking_seq_concurrent(db: &Db) -> Result<()> {
    const TASKS: i64 = 20;
    for round in 0..2i32 {
        // Round 0 races on a counter row that does not exist yet, round 1
        // on one that does.
        let year = 2026 + round;
        let barrier = Arc::new(tokio::sync::Barrier::new(TASKS as usize));
        let mut tasks = tokio::task::JoinSet::new();
        for _ in 0..TASKS {
            let db = db.clone();
            let barrier = barrier.clone();
            tasks.spawn(async move {
                barrier.wait().await;
                let mut tx = db.begin().await?;
                let n = store::next_tracking_seq(&mut tx, UNIT, year).await?;
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
        let first = 1 + i64::from(round);
        let want: Vec<i64> = (first..first + TASKS).collect();
        assert_eq!(got, want, "round {round}");
        if round == 0 {
            // Create 2027's row so that round 1 races on an existing row.
            assert_eq!(take_seq(db, UNIT, 2027).await?, 1);
        }
    }
    assert_eq!(take_seq(db, UNIT, 2026).await?, TASKS + 1);
    assert_eq!(take_seq(db, UNIT, 2027).await?, TASKS + 2);
    Ok(())
}

// ---------------------------------------------------------------------------
// Transitions and appeals
// ---------------------------------------------------------------------------

async fn case_transitions_and_appeals(db: &Db) -> Result<()> {
    insert(db, &row("a", UNIT, "YSQ-2026-000001")).await?;
    insert(db, &row("b", UNIT, "YSQ-2026-000002")).await?;
    insert(db, &row("c", OTHER_UNIT, "JS-2026-000001")).await?;
    let ta = [
        transition("receive", "", "received", "2026-03-02", 30),
        transition(
            "request_correction",
            "received",
            "correction_requested",
            "2026-03-03",
            10,
        ),
        transition(
            "correct",
            "correction_requested",
            "received",
            "2026-03-09",
            20,
        ),
        transition("reply", "received", "replied", "2026-03-20", 20),
    ];
    let tb = [
        transition("receive", "", "received", "2026-03-05", 1),
        transition("withdraw", "received", "withdrawn", "2026-03-06", 2),
    ];
    // Interleaved, with `at` out of order: the order is the insertion order.
    let mut tx = db.begin().await?;
    store::add_transition(&mut tx, "a", &ta[0]).await?;
    store::add_transition(&mut tx, "b", &tb[0]).await?;
    store::add_transition(&mut tx, "a", &ta[1]).await?;
    store::add_transition(&mut tx, "a", &ta[2]).await?;
    store::add_transition(&mut tx, "b", &tb[1]).await?;
    store::add_transition(&mut tx, "a", &ta[3]).await?;
    tx.commit().await?;
    {
        let mut conn = db.read().acquire().await?;
        assert_eq!(store::transitions(&mut conn, "a").await?, ta.to_vec());
        assert_eq!(store::transitions(&mut conn, "b").await?, tb.to_vec());
        assert_eq!(store::transitions(&mut conn, "c").await?, vec![]);
        assert_eq!(store::transitions(&mut conn, "missing").await?, vec![]);
    }
    // A transition of a request that does not exist is refused (FK).
    {
        let mut conn = db.write().acquire().await?;
        let e = store::add_transition(&mut conn, "missing", &ta[0])
            .await
            .expect_err("transition of a missing request");
        assert!(matches!(e, sqlx::Error::Database(_)), "{e:?}");
    }
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM request_transitions").await?,
        6
    );

    let aa = [
        appeal("reconsideration", "upheld", "2026-04-01", "2026-05-30"),
        appeal(
            "litigation_after_reconsideration",
            "pending",
            "2026-06-15",
            "",
        ),
    ];
    let ab = appeal("litigation_direct", "corrected", "2025-12-31", "2026-02-01");
    let ac = appeal("reconsideration", "other", "2026-07-01", "2026-08-01");
    let mut tx = db.begin().await?;
    store::add_appeal(&mut tx, "a", UNIT, &aa[0], 100).await?;
    store::add_appeal(&mut tx, "b", UNIT, &ab, 50).await?;
    store::add_appeal(&mut tx, "c", OTHER_UNIT, &ac, 60).await?;
    store::add_appeal(&mut tx, "a", UNIT, &aa[1], 10).await?;
    tx.commit().await?;
    let mut conn = db.read().acquire().await?;
    assert_eq!(store::appeals_of(&mut conn, "a").await?, aa.to_vec());
    assert_eq!(store::appeals_of(&mut conn, "b").await?, vec![ab.clone()]);
    assert_eq!(store::appeals_of(&mut conn, "missing").await?, vec![]);

    // Filed in [from, to], both ends included, own unit only.
    let sorted = |mut v: Vec<AppealRow>| {
        v.sort_by(|x, y| x.filed_on.cmp(&y.filed_on));
        v
    };
    let in_2026 = store::appeals_filed_between(&mut conn, UNIT, "2026-01-01", "2026-12-31").await?;
    assert_eq!(sorted(in_2026), aa.to_vec());
    let edges = store::appeals_filed_between(&mut conn, UNIT, "2025-12-31", "2026-04-01").await?;
    assert_eq!(sorted(edges), vec![ab.clone(), aa[0].clone()]);
    let inner = store::appeals_filed_between(&mut conn, UNIT, "2026-04-02", "2026-06-14").await?;
    assert_eq!(inner, vec![]);
    let other =
        store::appeals_filed_between(&mut conn, OTHER_UNIT, "2026-01-01", "2026-12-31").await?;
    assert_eq!(other, vec![ac]);
    Ok(())
}

// ---------------------------------------------------------------------------
// Queues
// ---------------------------------------------------------------------------

/// Unit rows of the queue cases: open ones with due dates (ties included),
/// closed ones, open ones of another unit.
fn queue_fixture() -> Vec<RequestRow> {
    let mut rows = Vec::new();
    let mut n = 0;
    let mut open = |id: &str, unit: &str, due: &str, kind: &str, status: &str| {
        n += 1;
        let mut r = row(id, unit, &format!("YSQ-2026-{n:06}"));
        r.due_on = Some(due.to_owned());
        r.due_kind = Some(kind.to_owned());
        r.status = status.to_owned();
        r.received_on = format!("2026-01-{:02}", n % 28 + 1);
        r
    };
    // Ids deliberately not in due order nor insertion order.
    rows.push(open("q07", UNIT, "2026-03-10", "reply", "received"));
    rows.push(open(
        "q02",
        UNIT,
        "2026-03-10",
        "correction",
        "correction_requested",
    ));
    rows.push(open("q05", UNIT, "2026-03-10", "reply", "received"));
    rows.push(open(
        "q01",
        UNIT,
        "2026-03-12",
        "consultation",
        "consulting",
    ));
    rows.push(open("q09", UNIT, "2026-02-27", "payment", "fee_notified"));
    rows.push(open("q03", UNIT, "2026-03-31", "reply", "received"));
    rows.push(open("q08", UNIT, "2026-04-01", "reply", "received"));
    rows.push(open("q04", UNIT, "2026-02-26", "reply", "received"));
    rows.push(open("q06", UNIT, "2025-12-31", "reply", "received"));
    // Another unit, due in range.
    rows.push(open("q00", OTHER_UNIT, "2026-03-10", "reply", "received"));
    rows.push(open("q10", OTHER_UNIT, "2026-03-01", "reply", "received"));
    // Closed rows: one as projected (no due date), one that kept a due date
    // in range; neither is in a queue.
    let c1 = open("c01", UNIT, "2026-03-10", "reply", "replied");
    rows.push(closed(c1, "disclosed", "2026-03-09"));
    let mut c2 = open("c02", UNIT, "2026-03-11", "reply", "closed");
    c2.open = false;
    rows.push(c2);
    rows
}

async fn case_queue_selection_and_order(db: &Db) -> Result<()> {
    let rows = queue_fixture();
    insert_all(db, &rows).await?;
    let all = queue(db, UNIT, "2026-01-01", "2026-03-31", ("", ""), 100).await?;
    assert_eq!(
        queue_ids(&all),
        ["q04", "q09", "q02", "q05", "q07", "q01", "q03"],
        "open rows due in [from, to], by (due_on, id)"
    );
    // Every field of a queue row comes from its request.
    for q in &all {
        let r = rows.iter().find(|r| r.id == q.id).context("fixture row")?;
        assert_eq!(
            q,
            &QueueRow {
                id: r.id.clone(),
                tracking_no: r.tracking_no.clone(),
                status: r.status.clone(),
                due_kind: r.due_kind.clone().unwrap_or_default(),
                due_on: r.due_on.clone().unwrap_or_default(),
                received_on: r.received_on.clone(),
            }
        );
    }
    // Both ends are included.
    let day = queue(db, UNIT, "2026-03-10", "2026-03-10", ("", ""), 100).await?;
    assert_eq!(queue_ids(&day), ["q02", "q05", "q07"]);
    let edges = queue(db, UNIT, "2025-12-31", "2026-02-26", ("", ""), 100).await?;
    assert_eq!(queue_ids(&edges), ["q06", "q04"]);
    // The overdue queue as the service asks for it.
    let overdue = queue(db, UNIT, "0000-01-01", "2026-03-10", ("", ""), 100).await?;
    assert_eq!(
        queue_ids(&overdue),
        ["q06", "q04", "q09", "q02", "q05", "q07"]
    );
    // The limit cuts after the order.
    let two = queue(db, UNIT, "0000-01-01", "9999-12-31", ("", ""), 2).await?;
    assert_eq!(queue_ids(&two), ["q06", "q04"]);
    // Nothing in range, and a unit with nothing open.
    assert!(
        queue(db, UNIT, "2026-03-13", "2026-03-30", ("", ""), 100)
            .await?
            .is_empty()
    );
    assert!(
        queue(db, "340823.none", "0000-01-01", "9999-12-31", ("", ""), 100)
            .await?
            .is_empty()
    );
    // The other unit sees only its own.
    let other = queue(db, OTHER_UNIT, "0000-01-01", "9999-12-31", ("", ""), 100).await?;
    assert_eq!(queue_ids(&other), ["q10", "q00"]);
    Ok(())
}

async fn case_queue_cursor_paging(db: &Db) -> Result<()> {
    let mut rows = queue_fixture();
    // Many ties on one day, so pages break inside a run of equal due dates.
    for i in 0..23 {
        let mut r = row(
            &format!("t{:02}", (i * 7) % 23),
            UNIT,
            &format!("TIE-{i:04}"),
        );
        r.due_on = Some("2026-03-10".to_owned());
        rows.push(r);
    }
    insert_all(db, &rows).await?;
    let (from, to) = ("0000-01-01", "2026-03-31");
    let full = queue(db, UNIT, from, to, ("", ""), 1000).await?;
    let mut want: Vec<(String, String)> = rows
        .iter()
        .filter(|r| r.unit == UNIT && r.open)
        .filter_map(|r| r.due_on.clone().map(|d| (d, r.id.clone())))
        .filter(|(d, _)| d.as_str() >= from && d.as_str() <= to)
        .collect();
    want.sort();
    let got: Vec<(String, String)> = full
        .iter()
        .map(|q| (q.due_on.clone(), q.id.clone()))
        .collect();
    assert_eq!(got, want);
    assert_eq!(full.len(), 31);

    for limit in [1, 2, 3, 5, 50] {
        let mut seen = Vec::new();
        let mut cursor = (String::new(), String::new());
        let mut pages = 0;
        loop {
            let page = queue(db, UNIT, from, to, (&cursor.0, &cursor.1), limit).await?;
            assert!(page.len() as i64 <= limit);
            let Some(last) = page.last() else { break };
            cursor = (last.due_on.clone(), last.id.clone());
            seen.extend(page.iter().map(|q| (q.due_on.clone(), q.id.clone())));
            pages += 1;
            assert!(pages <= 100, "paging does not end (limit {limit})");
        }
        assert_eq!(seen, want, "limit {limit}: each row exactly once, in order");
        let distinct: BTreeSet<_> = seen.iter().collect();
        assert_eq!(distinct.len(), seen.len(), "limit {limit}: no repeats");
    }

    // A cursor in the middle of a tie continues with the next id of that day.
    let page = queue(db, UNIT, from, to, ("2026-03-10", "q05"), 3).await?;
    assert_eq!(queue_ids(&page), ["q07", "t00", "t01"]);
    // A cursor before the range starts at the range.
    let page = queue(db, UNIT, "2026-03-12", to, ("2026-01-01", "zzz"), 10).await?;
    assert_eq!(queue_ids(&page), ["q01", "q03"]);
    // A cursor after the last row gives nothing.
    let page = queue(db, UNIT, from, to, ("2026-03-31", "q03"), 10).await?;
    assert!(page.is_empty(), "{page:?}");
    Ok(())
}

// ---------------------------------------------------------------------------
// Annual figures
// ---------------------------------------------------------------------------

async fn case_annual_facts(db: &Db) -> Result<()> {
    let mut rows = Vec::new();
    let mut add = |id: &str, unit: &str, received: &str, concluded: Option<&str>| {
        let mut r = row(id, unit, &format!("T-{id}"));
        r.received_on = received.to_owned();
        r.applicant_type = format!("type-{id}");
        if let Some(c) = concluded {
            r = closed(r, &format!("cat-{id}"), c);
        }
        rows.push(r);
    };
    add("carried", UNIT, "2025-12-30", None); // open across the year end
    add("carried_done", UNIT, "2025-12-15", Some("2026-01-20"));
    add("edge_from", UNIT, "2025-12-20", Some("2026-01-01")); // concluded on `from`
    add("done_before", UNIT, "2025-11-03", Some("2025-12-31")); // concluded the day before
    add("in_year", UNIT, "2026-06-01", Some("2026-06-20"));
    add("open_in_year", UNIT, "2026-11-02", None);
    add("edge_to", UNIT, "2026-12-31", None); // received on `to`
    add("next_year", UNIT, "2027-01-01", None);
    add("late_reply", UNIT, "2026-12-20", Some("2027-01-15")); // concluded after `to`
    add("other_unit", OTHER_UNIT, "2026-06-01", None);
    insert_all(db, &rows).await?;

    let mut conn = db.read().acquire().await?;
    let facts = store::annual_facts(&mut conn, UNIT, "2026-01-01", "2026-12-31").await?;
    let mut got: Vec<(String, String, Option<String>, Option<String>)> = facts
        .into_iter()
        .map(|f| {
            (
                f.applicant_type,
                f.received_on,
                f.concluded_on,
                f.reply_category,
            )
        })
        .collect();
    got.sort();
    let mut want: Vec<(String, String, Option<String>, Option<String>)> = [
        "carried",
        "carried_done",
        "edge_from",
        "in_year",
        "open_in_year",
        "edge_to",
        "late_reply",
    ]
    .iter()
    .map(|id| {
        let r = rows
            .iter()
            .find(|r| r.id == *id)
            .expect("fixture row exists");
        (
            r.applicant_type.clone(),
            r.received_on.clone(),
            r.concluded_on.clone(),
            r.reply_category.clone(),
        )
    })
    .collect();
    want.sort();
    assert_eq!(got, want);
    assert!(
        store::annual_facts(&mut conn, "340823.none", "2026-01-01", "2026-12-31")
            .await?
            .is_empty()
    );
    Ok(())
}

async fn case_fees_paid_between(db: &Db) -> Result<()> {
    {
        let mut conn = db.read().acquire().await?;
        assert_eq!(
            store::fees_paid_between(&mut conn, UNIT, "2026-01-01", "2026-12-31").await?,
            0,
            "no rows: 0, not NULL"
        );
    }
    let mut rows = Vec::new();
    let mut add = |id: &str, unit: &str, yuan: i64, paid: Option<&str>| {
        let mut r = row(id, unit, &format!("T-{id}"));
        r.fee_basis = Some("per_request".to_owned());
        r.fee_yuan = yuan;
        r.fee_paid_on = paid.map(str::to_owned);
        rows.push(r);
    };
    add("first_day", UNIT, 100, Some("2026-01-01"));
    add("mid", UNIT, 200, Some("2026-06-30"));
    add("last_day", UNIT, 400, Some("2026-12-31"));
    add("before", UNIT, 1_000, Some("2025-12-31"));
    add("after", UNIT, 2_000, Some("2027-01-01"));
    add("unpaid", UNIT, 4_000, None);
    add("other_unit", OTHER_UNIT, 8_000, Some("2026-06-30"));
    insert_all(db, &rows).await?;
    let mut conn = db.read().acquire().await?;
    assert_eq!(
        store::fees_paid_between(&mut conn, UNIT, "2026-01-01", "2026-12-31").await?,
        700
    );
    assert_eq!(
        store::fees_paid_between(&mut conn, UNIT, "2026-01-02", "2026-12-30").await?,
        200
    );
    assert_eq!(
        store::fees_paid_between(&mut conn, UNIT, "2025-01-01", "2027-12-31").await?,
        3_700
    );
    assert_eq!(
        store::fees_paid_between(&mut conn, OTHER_UNIT, "2026-01-01", "2026-12-31").await?,
        8_000
    );
    assert_eq!(
        store::fees_paid_between(&mut conn, UNIT, "2026-07-01", "2026-12-30").await?,
        0
    );
    Ok(())
}

// ---------------------------------------------------------------------------
// Per-applicant and per-information lookups
// ---------------------------------------------------------------------------

async fn case_nth_in_period(db: &Db) -> Result<()> {
    let mut rows = Vec::new();
    let mut add = |id: &str, unit: &str, applicant: &str, received: &str| {
        let mut r = row(id, unit, &format!("T-{id}"));
        r.applicant_key = applicant.to_owned();
        r.received_on = received.to_owned();
        rows.push(r);
    };
    // Inserted out of order; "m-c" before "m-a" on the same day.
    add("m-c", UNIT, "k1", "2026-03-05");
    add("m-b", UNIT, "k1", "2026-03-01");
    add("m-a", UNIT, "k1", "2026-03-05");
    add("m-z", UNIT, "k1", "2026-03-31");
    add("feb", UNIT, "k1", "2026-02-28");
    add("apr", UNIT, "k1", "2026-04-01");
    add("m-0", UNIT, "k2", "2026-03-01"); // another applicant
    add("m-1", OTHER_UNIT, "k1", "2026-03-01"); // another unit
    insert_all(db, &rows).await?;

    let mut conn = db.read().acquire().await?;
    let march = ("2026-03-01", "2026-03-31");
    for (id, received, want) in [
        ("m-b", "2026-03-01", 1),
        ("m-a", "2026-03-05", 2),
        ("m-c", "2026-03-05", 3),
        ("m-z", "2026-03-31", 4),
    ] {
        let n = store::nth_in_period(&mut conn, UNIT, "k1", march.0, march.1, received, id).await?;
        assert_eq!(n, want, "{id}");
    }
    assert_eq!(
        store::nth_in_period(
            &mut conn,
            UNIT,
            "k1",
            "2026-04-01",
            "2026-04-30",
            "2026-04-01",
            "apr"
        )
        .await?,
        1
    );
    assert_eq!(
        store::nth_in_period(&mut conn, UNIT, "k2", march.0, march.1, "2026-03-01", "m-0").await?,
        1
    );
    assert_eq!(
        store::nth_in_period(
            &mut conn,
            OTHER_UNIT,
            "k1",
            march.0,
            march.1,
            "2026-03-01",
            "m-1"
        )
        .await?,
        1
    );
    Ok(())
}

async fn case_earlier_answered(db: &Db) -> Result<()> {
    let mut rows = Vec::new();
    let mut add =
        |id: &str, unit: &str, who: &str, info: &str, received: &str, cat: Option<&str>| {
            let mut r = row(id, unit, &format!("T-{id}"));
            r.applicant_key = who.to_owned();
            r.info_key = info.to_owned();
            r.received_on = received.to_owned();
            if let Some(c) = cat {
                r = closed(r, c, received);
            }
            rows.push(r);
        };
    add("e1", UNIT, "k1", "i1", "2026-01-10", Some("disclosed"));
    add("e2", UNIT, "k1", "i1", "2026-02-01", Some("partly"));
    add(
        "e3",
        UNIT,
        "k1",
        "i1",
        "2026-03-01",
        Some("withheld.state_secret"),
    );
    add("e4", UNIT, "k1", "i1", "2026-04-01", Some("other.other"));
    add("e5", UNIT, "k1", "i1", "2026-05-01", None); // still open
    add("e6", UNIT, "k2", "i1", "2026-06-01", Some("disclosed")); // another applicant
    add("e7", UNIT, "k1", "i2", "2026-06-01", Some("disclosed")); // other information
    add(
        "e8",
        OTHER_UNIT,
        "k1",
        "i1",
        "2026-06-01",
        Some("disclosed"),
    ); // other unit
    add(
        "e9",
        UNIT,
        "k3",
        "i1",
        "2026-02-01",
        Some("cannot_provide.not_held"),
    );
    // Two answers on one day: the larger id wins.
    add("f1", UNIT, "k4", "i1", "2026-02-01", Some("disclosed"));
    add("f2", UNIT, "k4", "i1", "2026-02-01", Some("partly"));
    insert_all(db, &rows).await?;

    let mut conn = db.read().acquire().await?;
    assert_eq!(
        store::earlier_answered(&mut conn, UNIT, "k1", "i1").await?,
        Some("T-e2".to_owned()),
        "latest disclosed or partly reply"
    );
    assert_eq!(
        store::earlier_answered(&mut conn, UNIT, "k2", "i1").await?,
        Some("T-e6".to_owned())
    );
    assert_eq!(
        store::earlier_answered(&mut conn, UNIT, "k1", "i2").await?,
        Some("T-e7".to_owned())
    );
    assert_eq!(
        store::earlier_answered(&mut conn, UNIT, "k3", "i1").await?,
        None,
        "not held is no answer"
    );
    assert_eq!(
        store::earlier_answered(&mut conn, UNIT, "k4", "i1").await?,
        Some("T-f2".to_owned())
    );
    assert_eq!(
        store::earlier_answered(&mut conn, OTHER_UNIT, "k1", "i1").await?,
        Some("T-e8".to_owned())
    );
    assert_eq!(
        store::earlier_answered(&mut conn, UNIT, "k9", "i1").await?,
        None
    );
    assert_eq!(
        store::earlier_answered(&mut conn, OTHER_UNIT, "k1", "i2").await?,
        None
    );
    Ok(())
}

async fn case_same_information_since(db: &Db) -> Result<()> {
    let mut rows = Vec::new();
    let mut add = |id: &str, unit: &str, who: &str, info: &str, received: &str| {
        let mut r = row(id, unit, &format!("T-{id}"));
        r.applicant_key = who.to_owned();
        r.info_key = info.to_owned();
        r.received_on = received.to_owned();
        rows.push(r);
    };
    add("s3", UNIT, "k1", "i1", "2026-03-01");
    add("s1", UNIT, "k1", "i1", "2026-02-01");
    add("s2", UNIT, "k2", "i1", "2026-01-01"); // on `since`
    add("s4", UNIT, "k1", "i1", "2026-03-01"); // k1 again, same day
    add("s0", UNIT, "k3", "i1", "2025-12-31"); // before `since`
    add("s5", UNIT, "k4", "i2", "2026-03-01"); // other information
    add("s6", OTHER_UNIT, "k5", "i1", "2026-03-01"); // other unit
    insert_all(db, &rows).await?;

    let mut conn = db.read().acquire().await?;
    let (applicants, tracking) =
        store::same_information_since(&mut conn, UNIT, "i1", "2026-01-01").await?;
    assert_eq!(applicants, 2, "k1 and k2, each once");
    assert_eq!(tracking, ["T-s2", "T-s1", "T-s3", "T-s4"]);
    let (applicants, tracking) =
        store::same_information_since(&mut conn, UNIT, "i1", "2025-01-01").await?;
    assert_eq!(applicants, 3);
    assert_eq!(tracking.len(), 5);
    let (applicants, tracking) =
        store::same_information_since(&mut conn, UNIT, "i1", "2026-03-02").await?;
    assert_eq!((applicants, tracking.len()), (0, 0));
    let (applicants, _) =
        store::same_information_since(&mut conn, OTHER_UNIT, "i1", "2026-01-01").await?;
    assert_eq!(applicants, 1);

    // The tracking list is capped at 100, the count is not.
    drop(conn);
    let mut many = Vec::new();
    for i in 0..120 {
        let mut r = row(&format!("m{i:03}"), UNIT, &format!("M-{i:03}"));
        r.applicant_key = format!("many-{}", i % 110);
        r.info_key = "i3".to_owned();
        many.push(r);
    }
    insert_all(db, &many).await?;
    let mut conn = db.read().acquire().await?;
    let (applicants, tracking) =
        store::same_information_since(&mut conn, UNIT, "i3", "2026-01-01").await?;
    assert_eq!(applicants, 110);
    assert_eq!(tracking.len(), 100);
    Ok(())
}

async fn case_record_suggestion(db: &Db) -> Result<()> {
    let mut conn = db.write().acquire().await?;
    let mut suggest = async |info: &str, since: &str, day: &str| {
        store::record_suggestion(&mut conn, UNIT, info, since, day, 3, 1).await
    };
    assert!(suggest("i1", "2025-12-02", "2026-03-02").await?, "first");
    assert!(
        !suggest("i1", "2025-12-02", "2026-03-02").await?,
        "same call again"
    );
    assert!(
        !suggest("i1", "2025-12-03", "2026-03-03").await?,
        "next day, still within the period"
    );
    assert!(
        suggest("i2", "2025-12-03", "2026-03-03").await?,
        "other info"
    );
    assert!(
        suggest("i1", "2026-03-03", "2026-06-01").await?,
        "a new period after the last suggestion"
    );
    drop(conn);
    {
        let mut conn = db.write().acquire().await?;
        assert!(
            store::record_suggestion(
                &mut conn,
                OTHER_UNIT,
                "i1",
                "2025-12-02",
                "2026-03-02",
                3,
                1
            )
            .await?,
            "other unit"
        );
    }
    // One row per (unit, information): the latest suggestion.
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM proactive_suggestions").await?,
        3
    );
    Ok(())
}

/// Two requests for the same information committed at the same time must
/// not both suggest proactive disclosure (each suggestion is an event).
async fn case_record_suggestion_concurrent(db: &Db) -> Result<()> {
    const TASKS: usize = 4;
    let barrier = Arc::new(tokio::sync::Barrier::new(TASKS));
    let mut tasks = tokio::task::JoinSet::new();
    for _ in 0..TASKS {
        let db = db.clone();
        let barrier = barrier.clone();
        tasks.spawn(async move {
            barrier.wait().await;
            let mut tx = db.begin().await?;
            let recorded =
                store::record_suggestion(&mut tx, UNIT, "i1", "2025-12-02", "2026-03-02", 3, 1)
                    .await?;
            tokio::time::sleep(Duration::from_millis(20)).await;
            tx.commit().await?;
            anyhow::Ok(recorded)
        });
    }
    let mut recorded = 0;
    while let Some(joined) = tasks.join_next().await {
        recorded += usize::from(joined??);
    }
    assert_eq!(
        scalar(db, "SELECT COUNT(*) FROM proactive_suggestions").await?,
        1
    );
    assert_eq!(recorded, 1, "exactly one of {TASKS} racing calls records");
    Ok(())
}

async fn case_record_notice(db: &Db) -> Result<()> {
    let mut conn = db.write().acquire().await?;
    let mut notice = async |id: &str, kind: &str, due: &str, level: &str| {
        store::record_notice(&mut conn, id, kind, due, level, 1).await
    };
    assert!(notice("a", "reply", "2026-03-30", "due_soon").await?);
    assert!(!notice("a", "reply", "2026-03-30", "due_soon").await?);
    assert!(notice("a", "reply", "2026-03-30", "overdue").await?);
    assert!(!notice("a", "reply", "2026-03-30", "overdue").await?);
    // A new due date (extension) or kind is a new notice.
    assert!(notice("a", "reply", "2026-04-28", "due_soon").await?);
    assert!(notice("a", "payment", "2026-03-30", "due_soon").await?);
    assert!(notice("b", "reply", "2026-03-30", "due_soon").await?);
    assert!(!notice("b", "reply", "2026-03-30", "due_soon").await?);
    drop(conn);
    assert_eq!(scalar(db, "SELECT COUNT(*) FROM due_notices").await?, 5);
    Ok(())
}

async fn case_provisional_open(db: &Db) -> Result<()> {
    let mut rows = Vec::new();
    let mut add = |id: &str, unit: &str, open: bool, provisional: bool| {
        let mut r = row(id, unit, &format!("T-{id}"));
        r.due_provisional = provisional;
        r.due_on = Some("2027-01-20".to_owned());
        if !open {
            r.open = false;
            r.status = "replied".to_owned();
        }
        rows.push(r);
    };
    add("p3", UNIT, true, true);
    add("p1", UNIT, true, true);
    add("p2", UNIT, true, false); // exact
    add("p4", UNIT, false, true); // closed
    add("p5", OTHER_UNIT, true, true); // another unit
    add("p0", UNIT, true, true);
    insert_all(db, &rows).await?;
    let by_id = |id: &str| {
        rows.iter()
            .find(|r| r.id == id)
            .cloned()
            .expect("fixture row exists")
    };
    let mut conn = db.read().acquire().await?;
    let got = store::provisional_open(&mut conn, UNIT, 100).await?;
    assert_eq!(got, vec![by_id("p0"), by_id("p1"), by_id("p3")]);
    let got = store::provisional_open(&mut conn, UNIT, 2).await?;
    assert_eq!(got, vec![by_id("p0"), by_id("p1")]);
    let got = store::provisional_open(&mut conn, OTHER_UNIT, 100).await?;
    assert_eq!(got, vec![by_id("p5")]);
    Ok(())
}

// ---------------------------------------------------------------------------
// Service: a refused step leaves nothing behind
// ---------------------------------------------------------------------------

const PUBLISHED_INDEX_NO: &str = "003159085/2026-00001";

/// Publishing stand-in: one document is published, nothing else.
struct FixedLookup;

#[async_trait::async_trait]
impl DocumentLookup for FixedLookup {
    async fn is_published(&self, index_no: &str) -> Result<bool, String> {
        Ok(index_no == PUBLISHED_INDEX_NO)
    }
}

async fn counts(db: &Db) -> Result<(i64, i64)> {
    Ok((
        scalar(db, "SELECT COUNT(*) FROM request_transitions").await?,
        scalar(db, "SELECT COUNT(*) FROM gk_outbox").await?,
    ))
}

fn reply(category: &str) -> Step {
    Step::Reply(ReplyInput {
        category: category.to_owned(),
        legal_basis: String::new(),
        responsible_body: String::new(),
        text: "经审查，现予以答复。".to_owned(),
        document_index_nos: Vec::new(),
    })
}

/// The service on `db` with a real NATS for its relay, for `body`.
async fn with_service<F, Fut>(db: &Db, body: F) -> Result<()>
where
    F: FnOnce(Arc<RequestsService>, UnitPath) -> Fut,
    Fut: std::future::Future<Output = Result<()>>,
{
    let nats = gongkai_testkit::Nats::start().await?;
    let bus = Bus::connect(
        &NatsConfig {
            url: nats.url.clone(),
            ..Default::default()
        },
        "requests-store-test",
    )
    .await?;
    let (stop, stop_rx) = watch::channel(false);
    let (relay, relay_task) = outbox::spawn(db.clone(), bus, stop_rx, Duration::from_secs(5));
    let calendar = Calendar::load_dir(&gongkai_testkit::workspace_root().join("deploy/calendar"))?;
    let unit = UnitPath::parse(UNIT)?;
    let svc = Arc::new(RequestsService::new(
        db.clone(),
        unit.clone(),
        calendar,
        Config::default(),
        relay,
        Box::new(FixedLookup),
    ));
    let result = body(svc, unit).await;
    let _ = stop.send(true);
    relay_task.await?;
    result
}

/// Office staff replying to one request at the same moment: one reply is
/// taken, with one transition and one event; the others are refused and
/// write nothing (on PostgreSQL each step reads the row without a lock, so
/// the write itself checks that the row is still as read).
async fn case_service_concurrent_steps_take_one(db: &Db) -> Result<()> {
    with_service(db, async |svc, unit| {
        for round in 0..5 {
            let submitted = svc
                .submit(&Submission {
                    applicant_type: "natural_person".to_owned(),
                    name: "李四".to_owned(),
                    phone: "13900000000".to_owned(),
                    description: format!("请公开本单位2025年度部门决算（{round}）"),
                    channel: "online".to_owned(),
                    ..Default::default()
                })
                .await?;
            let id = submitted.row.id.clone();
            let before = counts(db).await?;
            let steps = (0..8).map(|n| {
                let svc = svc.clone();
                let id = id.clone();
                let claims = Claims {
                    sub: format!("办理人{n}"),
                    unit: unit.clone(),
                    role: Role::Editor,
                    exp: i64::MAX,
                };
                tokio::spawn(async move { svc.act(&claims, &id, "", "", reply("disclosed")).await })
            });
            let mut taken = Vec::new();
            for answer in futures::future::join_all(steps).await {
                match answer? {
                    Ok(row) => taken.push(row),
                    Err(e) => assert!(matches!(e, ApiError::FailedPrecondition(_)), "{e:?}"),
                }
            }
            assert_eq!(taken.len(), 1, "round {round}");
            assert_eq!(
                counts(db).await?,
                (before.0 + 1, before.1 + 1),
                "round {round}: one transition, one event"
            );
            let stored = get(db, &id).await?.context("the request")?;
            assert_eq!(stored, taken[0], "round {round}");
        }
        Ok(())
    })
    .await
}

async fn case_service_refused_step_leaves_nothing(db: &Db) -> Result<()> {
    with_service(db, async |svc, unit| refused_steps(db, &svc, &unit).await).await
}

async fn refused_steps(db: &Db, svc: &RequestsService, unit: &UnitPath) -> Result<()> {
    let admin = Claims {
        sub: "王科长".to_owned(),
        unit: unit.clone(),
        role: Role::Admin,
        exp: i64::MAX,
    };
    let editor = Claims {
        role: Role::Editor,
        ..admin.clone()
    };
    let submitted = svc
        .submit(&Submission {
            applicant_type: "natural_person".to_owned(),
            name: "李四".to_owned(),
            phone: "13900000000".to_owned(),
            description: "请公开本单位2025年度部门决算".to_owned(),
            channel: "online".to_owned(),
            ..Default::default()
        })
        .await?;
    let id = submitted.row.id.clone();
    assert_eq!(
        counts(db).await?,
        (1, 1),
        "receipt: one transition, one event"
    );

    // Each refused step: the error expected, and neither the row nor the
    // transition and outbox tables change.
    let refuse = async |claims: &Claims,
                        step: Step,
                        day: &str,
                        check: &dyn Fn(&ApiError) -> bool|
           -> Result<()> {
        let before_counts = counts(db).await?;
        let before_row = get(db, &id).await?;
        let what = format!("{step:?} on {day:?}");
        match svc.act(claims, &id, day, "理由", step).await {
            Ok(r) => anyhow::bail!("{what}: accepted, status {}", r.status),
            Err(e) => assert!(check(&e), "{what}: unexpected error {e:?}"),
        }
        assert_eq!(counts(db).await?, before_counts, "{what}: rows left behind");
        assert_eq!(get(db, &id).await?, before_row, "{what}: request changed");
        Ok(())
    };
    let invalid = |field: &'static str| move |e: &ApiError| matches!(e, ApiError::Invalid { field: f, .. } if f == field);
    let precondition = |e: &ApiError| matches!(e, ApiError::FailedPrecondition(_));

    // Refused before the transaction: an unknown reply category, a link to
    // an unpublished document.
    refuse(
        &admin,
        reply("no_such_category"),
        "",
        &invalid("reply.category"),
    )
    .await?;
    let mut linked = ReplyInput {
        category: "disclosed".to_owned(),
        text: "予以公开，见所附文件。".to_owned(),
        document_index_nos: vec![
            PUBLISHED_INDEX_NO.to_owned(),
            "003159085/2026-09999".to_owned(),
        ],
        ..Default::default()
    };
    refuse(
        &admin,
        Step::Reply(linked.clone()),
        "",
        &invalid("reply.document_index_nos"),
    )
    .await?;
    // Refused inside the transaction, by the lifecycle: illegal transitions
    // and actions whose data break a rule.
    refuse(&admin, Step::Close, "", &precondition).await?;
    refuse(&admin, Step::Pay, "", &precondition).await?;
    refuse(&admin, Step::Correct, "", &precondition).await?;
    refuse(
        &admin,
        reply("other.correction_overdue"),
        "",
        &invalid("reply.category"),
    )
    .await?;
    refuse(
        &admin,
        Step::Extend {
            days: 99,
            approver: "张局长".to_owned(),
        },
        "",
        &invalid("days"),
    )
    .await?;
    refuse(
        &admin,
        Step::RequestCorrection {
            what: String::new(),
            due_on: String::new(),
        },
        "",
        &invalid("what"),
    )
    .await?;
    // Refused for the caller: an editor may not extend.
    refuse(
        &editor,
        Step::Extend {
            days: 5,
            approver: String::new(),
        },
        "",
        &|e| matches!(e, ApiError::PermissionDenied(_)),
    )
    .await?;

    // Control: an accepted step writes exactly one transition and one event.
    let before = counts(db).await?;
    let corrected = svc
        .act(
            &admin,
            &id,
            "",
            "",
            Step::RequestCorrection {
                what: "请写明所需决算的具体科目".to_owned(),
                due_on: String::new(),
            },
        )
        .await?;
    assert_eq!(corrected.status, "correction_requested");
    assert_eq!(counts(db).await?, (before.0 + 1, before.1 + 1));
    // ... and refusals after it still leave nothing.
    refuse(&admin, reply("disclosed"), "", &precondition).await?;
    let received_again = svc.act(&admin, &id, "", "", Step::Correct).await?;
    assert_eq!(received_again.status, "received");
    refuse(
        &admin,
        Step::RequestCorrection {
            what: "再次补正".to_owned(),
            due_on: String::new(),
        },
        "",
        &invalid("correction"),
    )
    .await?;
    // A day before the previous step.
    let yesterday = gongkai_kernel::db::today_cst()
        .pred_opt()
        .context("yesterday")?
        .format("%Y-%m-%d")
        .to_string();
    refuse(&admin, reply("disclosed"), &yesterday, &invalid("day")).await?;
    // A request that does not exist.
    let missing = uuid::Uuid::now_v7().to_string();
    let before = counts(db).await?;
    let e = svc
        .act(&admin, &missing, "", "", Step::Close)
        .await
        .expect_err("no such request");
    assert!(matches!(e, ApiError::NotFound(_)), "{e:?}");
    assert_eq!(counts(db).await?, before);

    // The linked reply goes through once every document is published.
    linked.document_index_nos.pop();
    let replied = svc.act(&admin, &id, "", "", Step::Reply(linked)).await?;
    assert_eq!(replied.status, "replied");
    assert_eq!(replied.reply_category.as_deref(), Some("disclosed"));
    assert!(!replied.open);
    let (transitions, events) = counts(db).await?;
    assert_eq!((transitions, events), (4, 4));
    {
        let mut conn = db.read().acquire().await?;
        let actions: Vec<String> = store::transitions(&mut conn, &id)
            .await?
            .into_iter()
            .map(|t| t.action)
            .collect();
        assert_eq!(
            actions,
            ["receive", "request_correction", "correct", "reply"]
        );
    }
    // The relay publishes them all.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(20);
    while outbox::pending_count(db).await? > 0 {
        anyhow::ensure!(
            tokio::time::Instant::now() < deadline,
            "outbox not drained by the relay"
        );
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    Ok(())
}
