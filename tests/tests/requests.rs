//! The requests service over gRPC with NATS events: intake and the query
//! code, the statutory clock, replies, fees, signals, queues, annual tables.

use gongkai_kernel::auth::Role;
use gongkai_proto::v1 as pb;
use gongkai_tests::*;
use prost::Message as _;
use tonic::Code;

const NAME: &str = "张三丰";
const ID: &str = "11010519491231002X";
const PHONE: &str = "13912345678";

fn submission(description: &str, received_on: &str) -> pb::SubmitRequestRequest {
    pb::SubmitRequestRequest {
        applicant: Some(pb::Applicant {
            r#type: "natural_person".into(),
            name: NAME.into(),
            id_type: "resident_id".into(),
            id_number: ID.into(),
            phone: PHONE.into(),
            ..Default::default()
        }),
        description: description.into(),
        delivery_form: "electronic".into(),
        channel: "online".into(),
        received_on: received_on.into(),
    }
}

/// Submits `description` received on `day` and returns its tracking number
/// and the id the office sees it under.
async fn received(
    public: &mut RequestsClient,
    office: &mut RequestsClient,
    description: &str,
    day: &str,
) -> anyhow::Result<(String, String)> {
    let tracking_no = public
        .submit_request(submission(description, day))
        .await?
        .into_inner()
        .tracking_no;
    let id = office
        .get_request(pb::GetRequestRequest {
            request_id: String::new(),
            tracking_no: tracking_no.clone(),
        })
        .await?
        .into_inner()
        .id;
    Ok((tracking_no, id))
}

fn act(id: &str, day: &str, action: pb::act_request::Action) -> pb::ActRequest {
    pb::ActRequest {
        request_id: id.into(),
        day: day.into(),
        reason: String::new(),
        action: Some(action),
    }
}

#[tokio::test]
async fn intake_query_code_and_personal_data_stays_home() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let mut public = node.requests_client("").await?;
    let done = public
        .submit_request(submission("2026年义务教育阶段招生计划", "2026-09-30"))
        .await?
        .into_inner();
    assert_eq!(done.tracking_no, "YSQ-2026-000001");
    assert_eq!(done.query_code.len(), 10);
    // RULES §2 golden case: received the day before 国庆 → due 2026-11-03.
    assert_eq!(done.reply_due, "2026-11-03");
    assert!(!done.due_provisional);

    let st = public
        .get_request_status(pb::GetRequestStatusRequest {
            tracking_no: done.tracking_no.clone(),
            query_code: done.query_code.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(
        (st.status.as_str(), st.due_kind.as_str(), st.due_on.as_str()),
        ("received", "reply", "2026-11-03")
    );

    // Wrong codes: refused alike for unknown numbers; then rate-limited.
    for tracking in [done.tracking_no.as_str(), "YSQ-2026-999999"] {
        let e = public
            .get_request_status(pb::GetRequestStatusRequest {
                tracking_no: tracking.into(),
                query_code: "AAAAAAAAAA".into(),
            })
            .await
            .unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied);
    }
    for _ in 0..4 {
        let _ = public
            .get_request_status(pb::GetRequestStatusRequest {
                tracking_no: done.tracking_no.clone(),
                query_code: "BBBBBBBBBB".into(),
            })
            .await;
    }
    let e = public
        .get_request_status(pb::GetRequestStatusRequest {
            tracking_no: done.tracking_no.clone(),
            query_code: done.query_code.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(
        e.code(),
        Code::ResourceExhausted,
        "even the right code waits after 5 misses"
    );

    // The event carries type, channel and dates; never name, ID or phone.
    let got = eventually(10, || async {
        let m = stream_messages(&nats.url, "gk.requests.request.received.340823.edu").await?;
        Ok((!m.is_empty()).then_some(m))
    })
    .await?;
    let raw = &got[0].payload;
    for secret in [NAME, ID, PHONE] {
        assert!(
            !raw.windows(secret.len()).any(|w| w == secret.as_bytes()),
            "{secret} leaked into the event"
        );
    }
    let e = pb::Event::decode(raw.clone())?;
    let p = pb::RequestChanged::decode(e.payload.as_slice())?;
    assert_eq!(
        (
            p.applicant_type.as_str(),
            p.channel.as_str(),
            p.due_on.as_str()
        ),
        ("natural_person", "online", "2026-11-03")
    );

    // The applicant withdraws with the code (after the limiter window? a fresh number).
    let other = public
        .submit_request(submission("学校食堂承包合同", ""))
        .await?
        .into_inner();
    let w = public
        .withdraw_request(pb::WithdrawRequestRequest {
            tracking_no: other.tracking_no.clone(),
            query_code: other.query_code.clone(),
            reason: "不再需要".into(),
        })
        .await?
        .into_inner();
    assert_eq!(w.status, "withdrawn");
    node.stop().await?;
    Ok(())
}

#[tokio::test]
async fn bad_requests_name_the_field_and_store_nothing() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let mut public = node.requests_client("").await?;
    type Mutate = Box<dyn Fn(&mut pb::SubmitRequestRequest)>;
    let cases: Vec<(Mutate, &str)> = vec![
        (Box::new(|r| r.description = "  ".into()), "description"),
        (
            Box::new(|r| {
                let a = r.applicant.as_mut().unwrap();
                a.phone.clear();
            }),
            "applicant.phone",
        ),
        (
            Box::new(|r| r.applicant.as_mut().unwrap().r#type = "alien".into()),
            "applicant.type",
        ),
        (Box::new(|r| r.channel = "pigeon".into()), "channel"),
        (
            Box::new(|r| r.received_on = "2999-01-01".into()),
            "received_on",
        ),
        (
            Box::new(|r| r.received_on = "2026-02-30".into()),
            "received_on",
        ),
        (
            Box::new(|r| r.applicant.as_mut().unwrap().id_number = "110105194912310021".into()),
            "applicant.id_number",
        ),
        (
            Box::new(|r| r.applicant.as_mut().unwrap().name = String::new()),
            "applicant.name",
        ),
    ];
    for (mutate, field) in cases {
        let mut r = submission("财政预算", "");
        mutate(&mut r);
        let e = public.submit_request(r).await.unwrap_err();
        assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
        assert!(
            e.message().starts_with(field),
            "{} should name {field}",
            e.message()
        );
    }
    let db = node.requests_service().db().clone();
    let rows: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM requests")
        .fetch_one(db.read())
        .await?;
    let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gk_outbox")
        .fetch_one(db.read())
        .await?;
    assert_eq!((rows, events), (0, 0));

    // A refused reply leaves no transition and no event.
    let done = public
        .submit_request(submission("财政预算", ""))
        .await?
        .into_inner();
    let mut office = node
        .requests_client(&node.token("wang", Role::Editor))
        .await?;
    let req = office
        .get_request(pb::GetRequestRequest {
            request_id: String::new(),
            tracking_no: done.tracking_no.clone(),
        })
        .await?
        .into_inner();
    let before: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_transitions")
        .fetch_one(db.read())
        .await?;
    let before_events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gk_outbox")
        .fetch_one(db.read())
        .await?;
    let withheld = pb::Reply {
        category: "withheld.state_secret".into(),
        text: "不予公开".into(),
        ..Default::default()
    };
    let e = office
        .act(act(&req.id, "", pb::act_request::Action::Reply(withheld)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("reply.legal_basis"), "{}", e.message());
    let unknown = pb::Reply {
        category: "maybe".into(),
        text: "x".into(),
        ..Default::default()
    };
    let e = office
        .act(act(&req.id, "", pb::act_request::Action::Reply(unknown)))
        .await
        .unwrap_err();
    assert!(e.message().starts_with("reply.category"), "{}", e.message());
    let e = office
        .act(act(
            &req.id,
            "",
            pb::act_request::Action::Close(pb::Empty {}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(
        e.message().contains("being handled"),
        "names the current state: {}",
        e.message()
    );
    let after: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM request_transitions")
        .fetch_one(db.read())
        .await?;
    let after_events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gk_outbox")
        .fetch_one(db.read())
        .await?;
    assert_eq!((after, after_events), (before, before_events));
    // A parent's admin sees figures, never an applicant's identity.
    let parent = token_for(
        &node.keys,
        &gongkai_kernel::UnitPath::parse("340823")?,
        "county",
        Role::Admin,
    );
    let mut county = node.requests_client(&parent).await?;
    let e = county
        .get_request(pb::GetRequestRequest {
            request_id: req.id.clone(),
            tracking_no: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let figures = county
        .get_annual_report(pb::GetAnnualReportRequest { year: 2026 })
        .await?
        .into_inner();
    assert_eq!(figures.unit, "340823.edu");
    let mut anonymous = node.requests_client("").await?;
    let e = anonymous
        .act(act(
            &req.id,
            "",
            pb::act_request::Action::Close(pb::Empty {}),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    node.stop().await?;
    Ok(())
}

#[tokio::test]
async fn the_clock_replies_fees_appeals_and_annual_tables() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let doc = publish_new(
        &mut editor,
        &mut reviewer,
        summary_fields("2026年部门预算", "部门预算公开。"),
        "",
    )
    .await?;

    let mut public = node.requests_client("").await?;
    let mut office = node
        .requests_client(&node.token("wang", Role::Editor))
        .await?;
    let mut head = node
        .requests_client(&node.token("zhao", Role::Admin))
        .await?;
    use pb::act_request::Action as A;

    // Correction within 7 working days restarts the clock (劳动节 in between).
    let (_, id1) = received(&mut public, &mut office, "有关招生的文件", "2026-04-27").await?;
    let late = office
        .act(act(
            &id1,
            "2026-05-11",
            A::RequestCorrection(pb::RequestCorrection {
                what: "请明确年份".into(),
                due_on: String::new(),
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(late.code(), Code::InvalidArgument, "{}", late.message());
    let c = office
        .act(act(
            &id1,
            "2026-04-29",
            A::RequestCorrection(pb::RequestCorrection {
                what: "请明确年份".into(),
                due_on: String::new(),
            }),
        ))
        .await?
        .into_inner();
    assert_eq!(
        (c.status.as_str(), c.due_kind.as_str()),
        ("correction_requested", "correction")
    );
    let c = office
        .act(act(&id1, "2026-05-11", A::Correct(pb::Empty {})))
        .await?
        .into_inner();
    assert_eq!(
        (c.due_kind.as_str(), c.due_on.as_str()),
        ("reply", "2026-06-08")
    );
    // Extension: the head of the office only, once.
    let e = office
        .act(act(
            &id1,
            "2026-05-20",
            A::Extend(pb::Extend {
                days: 20,
                approver: String::new(),
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let mut ext = act(
        &id1,
        "2026-05-20",
        A::Extend(pb::Extend {
            days: 20,
            approver: "赵局长".into(),
        }),
    );
    ext.reason = "需调取档案".into();
    let x = head.act(ext.clone()).await?.into_inner();
    assert!(x.extended);
    // 06-08 + 20 working days: Jun 9–12, 15–18 (19th is 端午), 22–26, 29–30,
    // Jul 1–3, 6, 7.
    assert_eq!(x.due_on, "2026-07-07");
    let twice = head.act(ext).await.unwrap_err();
    assert_eq!(twice.code(), Code::InvalidArgument);
    assert!(twice.message().contains("only once"), "{}", twice.message());

    // A reply linking a published document (checked with publishing).
    let bad = pb::Reply {
        category: "disclosed".into(),
        text: "见附件".into(),
        document_index_nos: vec!["NOPE/2026-00099".into()],
        ..Default::default()
    };
    let e = office
        .act(act(&id1, "2026-06-01", A::Reply(bad)))
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument, "{}", e.message());
    let good = pb::Reply {
        category: "disclosed".into(),
        text: "见已公开文件".into(),
        document_index_nos: vec![doc.index_no.clone()],
        ..Default::default()
    };
    let replied = office
        .act(act(&id1, "2026-06-01", A::Reply(good)))
        .await?
        .into_inner();
    assert_eq!(replied.status, "replied");
    assert_eq!(replied.reply.as_ref().unwrap().label, "予以公开");
    assert_eq!(
        replied.reply.as_ref().unwrap().document_index_nos,
        vec![doc.index_no.clone()]
    );
    let appeal = pb::Appeal {
        kind: "reconsideration".into(),
        outcome: "upheld".into(),
        filed_on: "2026-06-15".into(),
        decided_on: "2026-08-01".into(),
        note: String::new(),
    };
    let with_appeal = office
        .record_appeal(pb::RecordAppealRequest {
            request_id: id1.clone(),
            appeal: Some(appeal),
        })
        .await?
        .into_inner();
    assert_eq!(with_appeal.appeals.len(), 1);

    // Fees per volume: 250 pages = 4,700 yuan (RULES §2); the wait pauses the clock.
    let (_, id2) = received(&mut public, &mut office, "全部会议纪要复印件", "2026-11-02").await?;
    let f = office
        .act(act(
            &id2,
            "2026-11-05",
            A::NoticeFee(pb::NoticeFee {
                basis: "per_volume".into(),
                pages: 250,
            }),
        ))
        .await?
        .into_inner();
    assert_eq!(
        (f.status.as_str(), f.fee_yuan, f.due_kind.as_str()),
        ("fee_notified", 4700, "payment")
    );
    let both = office
        .act(act(
            &id2,
            "2026-11-05",
            A::NoticeFee(pb::NoticeFee {
                basis: "per_request".into(),
                pages: 3,
            }),
        ))
        .await
        .unwrap_err();
    assert_eq!(both.code(), Code::InvalidArgument);
    let paid = office
        .act(act(&id2, "2026-11-10", A::Pay(pb::Empty {})))
        .await?
        .into_inner();
    assert_eq!(
        (paid.status.as_str(), paid.due_kind.as_str()),
        ("received", "reply")
    );
    let withheld = pb::Reply {
        category: "withheld.process_info".into(),
        legal_basis: "《条例》第十六条第二款".into(),
        text: "属于过程性信息".into(),
        ..Default::default()
    };
    office
        .act(act(&id2, "2026-11-20", A::Reply(withheld)))
        .await?;

    // Annual tables for 2026: consistent with what happened.
    let report = head
        .get_annual_report(pb::GetAnnualReportRequest { year: 2026 })
        .await?
        .into_inner();
    let row = |label: &str| {
        report
            .table_three
            .iter()
            .find(|r| r.label.contains(label))
            .map(|r| r.cells.clone())
    };
    let new = row("本年新收").expect("row 一");
    assert_eq!(new[0], 2, "自然人");
    assert_eq!(new[6], 2, "总计");
    assert_eq!(row("予以公开").unwrap()[6], 1);
    assert_eq!(row("过程性").unwrap()[6], 1);
    assert_eq!(row("结转下年度").unwrap()[6], 0);
    assert_eq!(report.table_four[0].cells, vec![1, 0, 0, 0, 1]);
    assert_eq!(report.fees_collected_yuan, 4700);
    let e = office
        .get_annual_report(pb::GetAnnualReportRequest { year: 20260 })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    node.stop().await?;
    Ok(())
}

#[tokio::test]
async fn signals_queues_and_the_scheduler() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let mut public = node.requests_client("").await?;
    let mut office = node
        .requests_client(&node.token("wang", Role::Editor))
        .await?;
    use pb::act_request::Action as A;

    // Three applicants ask for the same information: suggest proactive
    // disclosure (Art. 44); the editors see it in publishing.
    for (i, name) in ["甲", "乙", "丙"].iter().enumerate() {
        let mut s = submission("2026年 学区划分方案！", "");
        let a = s.applicant.as_mut().unwrap();
        a.name = (*name).into();
        a.id_type = String::new();
        a.id_number = String::new();
        a.phone = format!("1391234567{i}");
        public.submit_request(s).await?;
    }
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let suggestions = eventually(20, || {
        let mut editor = editor.clone();
        async move {
            let r = editor
                .list_suggestions(pb::ListSuggestionsRequest { limit: 10 })
                .await?
                .into_inner();
            Ok((!r.suggestions.is_empty()).then_some(r))
        }
    })
    .await?;
    assert_eq!(suggestions.suggestions.len(), 1);
    assert_eq!(suggestions.suggestions[0].applicants, 3);
    assert_eq!(suggestions.suggestions[0].tracking_nos.len(), 3);
    let e = editor.list_suggestions(pb::ListSuggestionsRequest { limit: 0 });
    drop(e);

    // The same applicant asks again for what was answered: 重复申请.
    let (first_no, id) = received(&mut public, &mut office, "教师招聘公告", "2026-10-09").await?;
    office
        .act(act(
            &id,
            "2026-10-12",
            A::Reply(pb::Reply {
                category: "disclosed".into(),
                text: "见附件".into(),
                ..Default::default()
            }),
        ))
        .await?;
    let again = public
        .submit_request(submission("教师招聘公告。", ""))
        .await?
        .into_inner();
    let again = office
        .get_request(pb::GetRequestRequest {
            request_id: String::new(),
            tracking_no: again.tracking_no,
        })
        .await?
        .into_inner();
    assert_eq!(again.suggested_category, "not_processed.repeated");
    assert_eq!(again.duplicate_of, first_no);

    // Overdue queue, oldest first; the scheduler notifies once.
    let old = public
        .submit_request(submission("2025年决算", "2026-01-05"))
        .await?
        .into_inner();
    let older = public
        .submit_request(submission("2024年决算", "2026-01-02"))
        .await?
        .into_inner();
    let q = office
        .list_queue(pb::ListQueueRequest {
            queue: "overdue".into(),
            limit: 10,
            ..Default::default()
        })
        .await?
        .into_inner();
    let order: Vec<&str> = q.entries.iter().map(|e| e.tracking_no.as_str()).collect();
    assert_eq!(
        order,
        [older.tracking_no.as_str(), old.tracking_no.as_str()]
    );
    let page = office
        .list_queue(pb::ListQueueRequest {
            queue: "overdue".into(),
            limit: 10,
            after_due_on: q.entries[0].due_on.clone(),
            after_id: q.entries[0].request_id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(page.entries.len(), 1);
    assert_eq!(page.entries[0].tracking_no, old.tracking_no);
    let today = gongkai_kernel::db::today_cst();
    let svc = node.requests_service();
    let sent = svc.scheduler_tick(today).await?;
    assert!(sent >= 2, "overdue notices: {sent}");
    assert_eq!(svc.scheduler_tick(today).await?, 0, "each notice once");
    let overdue = eventually(10, || async {
        let m = stream_messages(&nats.url, "gk.requests.request.overdue.340823.edu").await?;
        Ok((m.len() >= 2).then_some(m))
    })
    .await?;
    let e = pb::Event::decode(overdue[0].payload.clone())?;
    let d = pb::RequestDue::decode(e.payload.as_slice())?;
    assert!(d.working_days_left < 0);
    let e = office
        .list_queue(pb::ListQueueRequest {
            queue: "later".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    node.stop().await?;
    Ok(())
}

/// RULES §6: a deadline that falls in a year without a calendar file is
/// provisional, and recomputed once the year's file is there.
#[tokio::test]
async fn provisional_deadlines_are_recomputed_when_the_year_arrives() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let calendars = tempfile::tempdir()?;
    let dir = calendars.path().to_path_buf();
    add_calendar_year(&dir, 2026)?;
    let mut node = Node::start_with_calendar(
        "340823.edu",
        &nats,
        publishing_config(""),
        tempfile::tempdir()?,
        &dir,
    )
    .await?;
    let mut public = node.requests_client("").await?;
    let done = public
        .submit_request(submission("需要延期的申请", "2026-11-20"))
        .await?
        .into_inner();
    // Nov 23–27, Nov 30–Dec 4, Dec 7–11, Dec 14–18: due Dec 18, within 2026.
    assert_eq!(done.reply_due, "2026-12-18");
    assert!(!done.due_provisional);
    let mut head = node
        .requests_client(&node.token("zhao", Role::Admin))
        .await?;
    let id = head
        .get_request(pb::GetRequestRequest {
            request_id: String::new(),
            tracking_no: done.tracking_no.clone(),
        })
        .await?
        .into_inner()
        .id;
    let mut extend = act(
        &id,
        "2026-11-25",
        pb::act_request::Action::Extend(pb::Extend {
            days: 20,
            approver: "赵局长".into(),
        }),
    );
    extend.reason = "需要调取档案".into();
    let extended = head.act(extend).await?.into_inner();
    // Dec 21–25, 28–31 (9), then 2027 by the weekday rule: Jan 1 (10),
    // Jan 4–8 (15), Jan 11–15 (20).
    assert!(extended.due_provisional);
    assert_eq!(extended.due_on, "2027-01-15");
    node.stop().await?;

    // The 2027 notice arrives: 元旦 Jan 1–3 off (an illustrative file).
    std::fs::write(
        dir.join("2027.toml"),
        "year = 2027\nsource = \"test\"\n[[holiday]]\nname = \"元旦\"\noff = [\"2027-01-01\", \"2027-01-03\"]\n",
    )?;
    let mut node =
        Node::start_with_calendar("340823.edu", &nats, publishing_config(""), node.data, &dir)
            .await?;
    let mut public = node.requests_client("").await?;
    let st = public
        .get_request_status(pb::GetRequestStatusRequest {
            tracking_no: done.tracking_no,
            query_code: done.query_code,
        })
        .await?
        .into_inner();
    assert!(!st.due_provisional);
    assert_eq!(
        st.due_on, "2027-01-18",
        "Jan 1 is a holiday now: one working day later"
    );
    node.stop().await?;
    Ok(())
}
