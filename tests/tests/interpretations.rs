//! Interpretations released after their policy document where a lag is
//! allowed (RULES §1): the due date by the working-day calendar (RULES §6),
//! the list of those still to come, and each release judged and reported
//! once.

use anyhow::Context as _;
use gongkai_kernel::auth::Role;
use gongkai_kernel::calendar::Calendar;
use gongkai_kernel::db::today_cst;
use gongkai_proto::v1 as pb;
use gongkai_tests::*;
use prost::Message as _;

const LATE: &str = "gk.publishing.document.interpretation_late.340823.edu";

fn calendar() -> anyhow::Result<Calendar> {
    Ok(Calendar::load_dir(
        &gongkai_testkit::workspace_root().join("deploy/calendar"),
    )?)
}

async fn publish(client: &mut Client, id: &str, date: &str) -> anyhow::Result<()> {
    let r = client
        .publish_document(pb::PublishDocumentRequest {
            document_id: id.into(),
            date_published: date.into(),
        })
        .await?
        .into_inner();
    anyhow::ensure!(!r.blocked, "publish blocked: {:?}", r.findings);
    Ok(())
}

/// The unit's interpretations still to come, as its editor lists them.
async fn still_to_come(editor: &mut Client) -> anyhow::Result<Vec<pb::InterpretationDue>> {
    Ok(editor
        .list_interpretations_due(pb::ListInterpretationsDueRequest::default())
        .await?
        .into_inner()
        .items)
}

async fn last_history(client: &mut Client, id: &str) -> anyhow::Result<(String, String)> {
    let d = client
        .get_document(pb::GetDocumentRequest {
            document_id: id.into(),
            with_history: true,
            ..Default::default()
        })
        .await?
        .into_inner();
    let h = d.history.last().context("history")?;
    Ok((h.action.clone(), h.comment.clone()))
}

#[tokio::test]
async fn interpretations_released_late_are_reported_once() -> anyhow::Result<()> {
    interpretations_judged("").await
}

#[tokio::test]
async fn interpretations_released_late_are_reported_once_on_postgres() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    interpretations_judged(&pg.fresh_database().await?).await
}

async fn interpretations_judged(database_url: &str) -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let cfg = gongkai_publishing::Config {
        interpretation_lag_days: 3,
        // Passes are made by the test, after each setting-up: the pass at
        // start finds nothing, and none comes while the pairs are being
        // published (a pass between a policy document's backdated
        // publication and its interpretation's would judge the
        // interpretation overdue, rightly, as things stood then).
        scheduler_interval_secs: 3600,
        ..publishing_config(database_url)
    };
    let mut node = Node::start_with("340823.edu", &nats, cfg.clone()).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;

    // Published Mon 2026-09-28 with 3 working days allowed: 09-29, 09-30,
    // then 国庆 and 中秋 (10-01 … 10-07) and the weekend, so 10-08 is the
    // third (RULES §6). Counted on weekdays it would be 10-01.
    let (on_time, on_time_i) = approved_policy_pair(&mut editor, &mut reviewer, "按期解读").await?;
    publish(&mut editor, &on_time, "2026-09-28").await?;
    publish(&mut editor, &on_time_i, "2026-10-08").await?;
    // Due 10-08 as well; released Mon 10-12: Fri 10-09, the make-up
    // Saturday 10-10 and 10-12 make 3 working days late.
    let (late, late_i) = approved_policy_pair(&mut editor, &mut reviewer, "逾期解读").await?;
    publish(&mut editor, &late, "2026-09-28").await?;
    publish(&mut editor, &late_i, "2026-10-12").await?;
    // Published Fri 10-09: due Tue 10-13 (Sat 10-10 works), never released.
    let (overdue, overdue_i) = approved_policy_pair(&mut editor, &mut reviewer, "未解读").await?;
    publish(&mut editor, &overdue, "2026-10-09").await?;
    // Published today: not due yet.
    let (pending, pending_i) = approved_policy_pair(&mut editor, &mut reviewer, "待解读").await?;
    publish(&mut editor, &pending, "").await?;

    let today = today_cst();
    let svc = &node.running.as_ref().context("running")?.service;
    assert_eq!(svc.judge_interpretations(today).await?, 2);
    let reports = eventually(20, || async {
        let m = stream_messages(&nats.url, LATE).await?;
        Ok((m.len() >= 2).then_some(m))
    })
    .await?;
    let mut got = Vec::new();
    for m in &reports {
        let e = pb::Event::decode(m.payload.clone())?;
        assert_eq!(e.r#type, "publishing.document.interpretation_late");
        got.push(pb::InterpretationLate::decode(e.payload.as_slice())?);
    }
    got.sort_by(|a, b| a.due_on.cmp(&b.due_on));
    let cal = calendar()?;
    let due = |d: &str| chrono::NaiveDate::parse_from_str(d, "%Y-%m-%d");
    let overdue_days = i64::from(cal.working_days_between(due("2026-10-13")?, today).value);
    let summary: Vec<_> = got
        .iter()
        .map(|p| {
            (
                p.document_id.as_str(),
                p.interpretation_document_id.as_str(),
                p.date_published.as_str(),
                p.due_on.as_str(),
                p.released_on.as_str(),
                p.lag_days,
                p.working_days_late,
            )
        })
        .collect();
    assert_eq!(
        summary,
        [
            (
                late.as_str(),
                late_i.as_str(),
                "2026-09-28",
                "2026-10-08",
                "2026-10-12",
                3,
                3
            ),
            (
                overdue.as_str(),
                overdue_i.as_str(),
                "2026-10-09",
                "2026-10-13",
                "",
                3,
                overdue_days
            ),
        ]
    );
    assert!(got.iter().all(|p| p.unit == "340823.edu"));
    assert_eq!(got[0].title, "逾期解读");

    // Each judgement is in the policy document's history.
    let mut admin = node.client(&node.token("wang", Role::Admin)).await?;
    let entries = [
        last_history(&mut admin, &on_time).await?,
        last_history(&mut admin, &late).await?,
        last_history(&mut admin, &overdue).await?,
    ];
    assert_eq!(
        entries,
        [
            (
                "interpretation_on_time".to_owned(),
                "interpretation released 2026-10-08, due 2026-10-08".to_owned()
            ),
            (
                "interpretation_late".to_owned(),
                "interpretation released 2026-10-12, due 2026-10-08: 3 working day(s) late"
                    .to_owned()
            ),
            (
                "interpretation_late".to_owned(),
                format!(
                    "interpretation not released by 2026-10-13: {overdue_days} working day(s) late on {today}"
                )
            ),
        ]
    );
    assert_eq!(
        last_history(&mut admin, &pending).await?.0,
        "publish",
        "not due yet: nothing judged"
    );

    // Still to come: the overdue one first, then the one published today.
    let list = still_to_come(&mut editor).await?;
    let pending_due = cal.add_working_days(today, 3);
    let rows: Vec<_> = list
        .iter()
        .map(|d| {
            (
                d.policy_document_id.as_str(),
                d.interpretation_document_id.as_str(),
                d.interpretation_state,
                d.due_on.clone(),
                d.due_provisional,
                d.working_days_late,
                d.late_reported,
            )
        })
        .collect();
    assert_eq!(
        rows,
        [
            (
                overdue.as_str(),
                overdue_i.as_str(),
                pb::DocumentState::Approved as i32,
                "2026-10-13".to_owned(),
                false,
                overdue_days,
                true
            ),
            (
                pending.as_str(),
                pending_i.as_str(),
                pb::DocumentState::Approved as i32,
                pending_due.value.to_string(),
                pending_due.provisional,
                0,
                false
            ),
        ]
    );
    assert_eq!(list[0].policy_title, "未解读");
    assert_eq!(list[0].interpretation_title, "《未解读》政策解读");
    assert_eq!(list[0].policy_date_published, "2026-10-09");

    // The list is for the unit's own staff.
    let code = |r: Result<_, tonic::Status>| r.err().map(|s| s.code());
    let mut public = node.client("").await?;
    assert_eq!(
        code(
            public
                .list_interpretations_due(pb::ListInterpretationsDueRequest::default())
                .await
        ),
        Some(tonic::Code::Unauthenticated)
    );

    // Released at last: off the list, and not reported a second time; a
    // pass finds nothing more to judge, and neither does a restart.
    publish(&mut editor, &overdue_i, "").await?;
    let list = still_to_come(&mut editor).await?;
    assert_eq!(list.len(), 1);
    assert_eq!(list[0].policy_document_id, pending);
    assert_eq!(svc.judge_interpretations(today).await?, 0);
    node.stop().await?;
    let mut node = Node::start_custom("340823.edu", &nats, cfg, node.data, |_| {}).await?;
    let svc = &node.running.as_ref().context("running")?.service;
    assert_eq!(svc.judge_interpretations(today).await?, 0);
    let checks: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM interpretation_checks")
        .fetch_one(node.db().read())
        .await?;
    assert_eq!(checks, 3, "on time, late, overdue: each judged once");
    assert_eq!(stream_messages(&nats.url, LATE).await?.len(), 2);
    node.stop().await?;
    Ok(())
}

/// A due date in a year without calendar data is shown as provisional and
/// not judged (RULES §6: never silently guessed); once the year's file is
/// there, the next start judges it by the real calendar.
#[tokio::test]
async fn a_due_date_without_the_years_calendar_waits_for_it() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let calendars = tempfile::tempdir()?;
    let dir = calendars.path().to_path_buf();
    let cfg = gongkai_publishing::Config {
        interpretation_lag_days: 3,
        // The pass at start, after the year's file arrives, is the one
        // that judges.
        scheduler_interval_secs: 3600,
        ..publishing_config("")
    };
    let start = |data| Node::start_with_calendar("340823.edu", &nats, cfg.clone(), data, &dir);
    let mut node = start(tempfile::tempdir()?).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let (policy, _) = approved_policy_pair(&mut editor, &mut reviewer, "未解读").await?;
    // Fri 10-09 plus 3 weekdays: Wed 10-14; the calendar makes Sat 10-10 a
    // working day, so really Tue 10-13.
    publish(&mut editor, &policy, "2026-10-09").await?;
    let listed = |d: &pb::InterpretationDue| {
        (
            d.policy_document_id.clone(),
            d.due_on.clone(),
            d.due_provisional,
            d.late_reported,
        )
    };
    let list = still_to_come(&mut editor).await?;
    assert_eq!(
        list.iter().map(listed).collect::<Vec<_>>(),
        [(policy.clone(), "2026-10-14".to_owned(), true, false)]
    );
    let svc = &node.running.as_ref().context("running")?.service;
    assert_eq!(
        svc.judge_interpretations(today_cst()).await?,
        0,
        "not judged on a guess"
    );
    node.stop().await?;

    add_calendar_year(&dir, 2026)?;
    let mut node = start(node.data).await?;
    let reports = eventually(20, || async {
        let m = stream_messages(&nats.url, LATE).await?;
        Ok((!m.is_empty()).then_some(m))
    })
    .await?;
    assert_eq!(reports.len(), 1);
    let e = pb::Event::decode(reports[0].payload.clone())?;
    let p = pb::InterpretationLate::decode(e.payload.as_slice())?;
    assert_eq!(
        (
            p.document_id.as_str(),
            p.due_on.as_str(),
            p.released_on.as_str()
        ),
        (policy.as_str(), "2026-10-13", "")
    );
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let list = still_to_come(&mut editor).await?;
    assert_eq!(
        list.iter().map(listed).collect::<Vec<_>>(),
        [(policy.clone(), "2026-10-13".to_owned(), false, true)]
    );
    node.stop().await?;
    Ok(())
}
