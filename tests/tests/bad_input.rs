//! Refusals of bad input on both backends, beyond the first ones in
//! api.rs: oversized requests, text PostgreSQL cannot store, a 文号 typed
//! another way, ids in another spelling, revisions that would contradict
//! the record, filters nothing can match, another unit's token, and the
//! catalogue under concurrent additions. Each refusal names its field,
//! carries the right code and leaves every table and counter as it was.

use gongkai_kernel::auth::Role;
use gongkai_kernel::db::Db;
use gongkai_proto::v1 as pb;
use gongkai_tests::*;
use tonic::Code;

/// Rows in every table a call could write to, and the counters' values.
async fn snapshot(db: &Db) -> anyhow::Result<Vec<(&'static str, i64)>> {
    let mut out = Vec::new();
    for (name, sql) in [
        ("documents", "SELECT COUNT(*) FROM documents"),
        ("versions", "SELECT COUNT(*) FROM document_versions"),
        ("history", "SELECT COUNT(*) FROM document_history"),
        ("outbox", "SELECT COUNT(*) FROM gk_outbox"),
        ("columns", "SELECT COUNT(*) FROM custom_columns"),
        (
            "index numbers",
            "SELECT CAST(COALESCE(SUM(next_seq), 0) AS BIGINT) FROM index_counters",
        ),
        (
            "search sequence",
            "SELECT CAST(COALESCE(SUM(value), 0) AS BIGINT) FROM counters",
        ),
    ] {
        let n: i64 = sqlx::query_scalar(sql).fetch_one(db.read()).await?;
        out.push((name, n));
    }
    Ok(out)
}

/// The call was refused with `code`, its message naming `field`; the
/// message.
#[track_caller]
fn refused<T: std::fmt::Debug>(r: Result<T, tonic::Status>, code: Code, field: &str) -> String {
    let e = match r {
        Ok(v) => panic!("expected {code:?} naming {field}, got {v:?}"),
        Err(e) => e,
    };
    assert_eq!(e.code(), code, "{}", e.message());
    assert!(
        e.message().contains(field),
        "{:?} should name {field}",
        e.message()
    );
    e.message().to_owned()
}

async fn refusals_leave_nothing(database_url: &str) -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut cfg = publishing_config(database_url);
    cfg.body_max_bytes = 2048;
    let mut node = Node::start_with("340823.edu", &nats, cfg).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let mut public = node.client("").await?;
    let mut sibling = node
        .client(&token_for(
            &node.keys,
            &gongkai_kernel::UnitPath::parse("340823.other")?,
            "wang",
            Role::Admin,
        ))
        .await?;

    // What the refused calls below act on.
    let existing = publish_new(
        &mut editor,
        &mut reviewer,
        pb::DocumentFields {
            doc_number: "南教〔2026〕6号".into(),
            date_formed: "2026-09-01".into(),
            ..summary_fields("已有文件", "政务公开。")
        },
        "2026-09-15",
    )
    .await?;
    assert_eq!(
        existing.fields.as_ref().map(|f| f.date_formed.as_str()),
        Some("2026-09-01")
    );
    let draft = editor
        .create_document(pb::CreateDocumentRequest {
            fields: Some(summary_fields("草稿", "内容。")),
        })
        .await?
        .into_inner();
    let (policy, interp) = approved_policy_pair(&mut editor, &mut reviewer, "校外培训规定").await?;
    editor
        .publish_document(pb::PublishDocumentRequest {
            document_id: policy.clone(),
            date_published: "2026-09-20".into(),
        })
        .await?;
    let before = snapshot(node.db()).await?;

    // A body over the limit is refused by the service, naming the field,
    // even far over it; a request larger than any body could make it is
    // refused before it is read, still as bad input.
    for (body, field) in [
        ("字".repeat(34_000), "fields.body"),
        ("字".repeat(700_000), "request: "),
    ] {
        refused(
            editor
                .create_document(pb::CreateDocumentRequest {
                    fields: Some(summary_fields("x", &body)),
                })
                .await,
            Code::InvalidArgument,
            field,
        );
    }

    let create = |f: pb::DocumentFields| pb::CreateDocumentRequest { fields: Some(f) };
    let bad_fields: Vec<(pb::DocumentFields, Code, &str)> = vec![
        // PostgreSQL cannot store NUL: refused before it is tried.
        (
            pb::DocumentFields {
                subject: "教育\u{0}".into(),
                ..summary_fields("x", "y")
            },
            Code::InvalidArgument,
            "fields.subject",
        ),
        (
            pb::DocumentFields {
                publisher: "县教育局\n办公室".into(),
                ..summary_fields("x", "y")
            },
            Code::InvalidArgument,
            "fields.publisher",
        ),
        (
            pb::DocumentFields {
                subject: "类".repeat(101),
                ..summary_fields("x", "y")
            },
            Code::InvalidArgument,
            "fields.subject",
        ),
        // The same 文号 typed with other brackets, 第 and a padded number.
        (
            pb::DocumentFields {
                doc_number: "南教[2026]第06号".into(),
                ..summary_fields("x", "y")
            },
            Code::AlreadyExists,
            "fields.doc_number",
        ),
    ];
    for (f, code, field) in bad_fields {
        refused(editor.create_document(create(f)).await, code, field);
    }

    // Another unit's token is refused whatever else is wrong.
    refused(
        sibling
            .update_draft(pb::UpdateDraftRequest {
                document_id: draft.id.clone(),
                fields: Some(summary_fields("", "")),
            })
            .await,
        Code::PermissionDenied,
        "may not act for unit 340823.edu",
    );
    refused(
        sibling
            .update_draft(pb::UpdateDraftRequest {
                document_id: uuid::Uuid::now_v7().to_string(),
                fields: Some(summary_fields("x", "y")),
            })
            .await,
        Code::PermissionDenied,
        "may not act for unit 340823.edu",
    );

    // Ids are taken in the spelling they are given out in.
    refused(
        editor
            .update_draft(pb::UpdateDraftRequest {
                document_id: draft.id.to_uppercase(),
                fields: Some(summary_fields("x", "y")),
            })
            .await,
        Code::InvalidArgument,
        "document_id",
    );
    refused(
        editor
            .link_interpretation(pb::LinkInterpretationRequest {
                policy_document_id: draft.id.clone(),
                interpretation_document_id: "x".into(),
            })
            .await,
        Code::InvalidArgument,
        "interpretation_document_id",
    );
    refused(
        editor
            .link_interpretation(pb::LinkInterpretationRequest {
                policy_document_id: String::new(),
                interpretation_document_id: String::new(),
            })
            .await,
        Code::InvalidArgument,
        "policy_document_id: required",
    );
    refused(
        editor
            .link_interpretation(pb::LinkInterpretationRequest {
                policy_document_id: uuid::Uuid::now_v7().to_string(),
                interpretation_document_id: interp.clone(),
            })
            .await,
        Code::NotFound,
        "policy_document_id",
    );

    // A revision may not contradict the record.
    let revise = |id: &str, f: pb::DocumentFields| pb::ReviseDocumentRequest {
        document_id: id.to_owned(),
        fields: Some(f),
        reason: "更正".into(),
        confidentiality_cleared: true,
    };
    refused(
        reviewer
            .revise_document(revise(
                &existing.id,
                pb::DocumentFields {
                    date_formed: "2026-09-16".into(),
                    ..summary_fields("已有文件", "政务公开。")
                },
            ))
            .await,
        Code::InvalidArgument,
        "fields.date_formed: 2026-09-16 is after the date published 2026-09-15",
    );
    for (id, column) in [(&policy, "gzzj"), (&interp, "gzzj")] {
        let mut f = summary_fields("改栏目", "关于规范校外培训的若干规定。");
        f.date_formed = "2026-09-01".into();
        f.column = column.into();
        refused(
            reviewer.revise_document(revise(id, f)).await,
            Code::FailedPrecondition,
            "fields.column",
        );
    }
    refused(
        reviewer
            .revise_document(pb::ReviseDocumentRequest {
                reason: "理".repeat(2001),
                ..revise(&existing.id, summary_fields("已有文件", "政务公开。"))
            })
            .await,
        Code::InvalidArgument,
        "reason: at most 2000 characters",
    );

    // The 文号 is unique on every path that writes it.
    let mut taken = summary_fields("草稿", "内容。");
    taken.doc_number = "南教（2026）6号".into();
    refused(
        editor
            .update_draft(pb::UpdateDraftRequest {
                document_id: draft.id.clone(),
                fields: Some(taken),
            })
            .await,
        Code::AlreadyExists,
        "fields.doc_number",
    );
    let mut taken = summary_fields("校外培训规定", "关于规范校外培训的若干规定。");
    taken.column = "gfxwj".into();
    taken.date_formed = "2026-09-01".into();
    taken.doc_number = "南教【2026】6号".into();
    refused(
        reviewer.revise_document(revise(&policy, taken)).await,
        Code::AlreadyExists,
        "fields.doc_number",
    );

    // Dates that cannot be.
    let publish = |date: &str| pb::PublishDocumentRequest {
        document_id: draft.id.clone(),
        date_published: date.into(),
    };
    for (date, rule) in [
        ("2999-01-01", "in the future"),
        ("2026-13-01", "not a real calendar date"),
        ("2026/10/01", "YYYY-MM-DD"),
    ] {
        let m = refused(
            editor.publish_document(publish(date)).await,
            Code::InvalidArgument,
            "date_published",
        );
        assert!(m.contains(rule), "{m}");
        let m = refused(
            reviewer
                .abolish_document(pb::AbolishDocumentRequest {
                    document_id: existing.id.clone(),
                    reason: "废止".into(),
                    date: date.into(),
                })
                .await,
            Code::InvalidArgument,
            "date",
        );
        assert!(m.contains(rule), "{m}");
    }
    refused(
        reviewer
            .abolish_document(pb::AbolishDocumentRequest {
                document_id: existing.id.clone(),
                reason: "废止".into(),
                date: "2026-09-14".into(),
            })
            .await,
        Code::InvalidArgument,
        "date: 2026-09-14 is before the date published 2026-09-15",
    );
    for year in [0, 1900, 10_000] {
        refused(
            public
                .get_statistics(pb::GetStatisticsRequest {
                    unit: String::new(),
                    year,
                })
                .await,
            Code::InvalidArgument,
            "year",
        );
    }
    refused(
        public
            .get_statistics(pb::GetStatisticsRequest {
                unit: "340823..x".into(),
                year: 2026,
            })
            .await,
        Code::InvalidArgument,
        "unit",
    );
    refused(
        editor
            .list_subtree_catalog(pb::ListSubtreeCatalogRequest {
                unit: "340823/edu".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "unit",
    );

    // Filters nothing could match are pointed out.
    let search = |f: &dyn Fn(&mut pb::SearchRequest)| {
        let mut r = pb::SearchRequest {
            text: "公开".into(),
            ..Default::default()
        };
        f(&mut r);
        r
    };
    for (req, field) in [
        (search(&|r| r.column = "nope".into()), "column"),
        (search(&|r| r.validity = "bogus".into()), "validity"),
        (search(&|r| r.year = -5), "year"),
        (search(&|r| r.year = 99_999), "year"),
    ] {
        refused(public.search(req).await, Code::InvalidArgument, field);
    }
    refused(
        editor
            .list_documents(pb::ListDocumentsRequest {
                column: "nope".into(),
                ..Default::default()
            })
            .await,
        Code::InvalidArgument,
        "column",
    );
    refused(
        public
            .list_columns(pb::ListColumnsRequest {
                unit: "340823..x".into(),
            })
            .await,
        Code::InvalidArgument,
        "unit",
    );
    refused(
        public
            .list_columns(pb::ListColumnsRequest {
                unit: "340823.other".into(),
            })
            .await,
        Code::NotFound,
        "unit",
    );

    assert_eq!(
        snapshot(node.db()).await?,
        before,
        "no row, no event and no number taken"
    );

    // The filters as they should be still answer (once indexed).
    let wanted = search(&|r| {
        r.column = "gzzj".into();
        r.validity = "valid".into();
        r.year = 2026;
    });
    eventually(10, || {
        let mut public = public.clone();
        let wanted = wanted.clone();
        let id = existing.id.clone();
        async move {
            let found = public.search(wanted).await?.into_inner();
            Ok(found.hits.iter().any(|h| h.document_id == id).then_some(()))
        }
    })
    .await?;
    let own = public
        .list_columns(pb::ListColumnsRequest {
            unit: "340823.edu".into(),
        })
        .await?
        .into_inner();
    assert!(own.columns.iter().any(|c| c.code == "gzzj"));
    node.stop().await?;
    Ok(())
}

#[tokio::test]
async fn refusals_leave_nothing_sqlite() -> anyhow::Result<()> {
    refusals_leave_nothing("").await
}

#[tokio::test]
async fn refusals_leave_nothing_postgres() -> anyhow::Result<()> {
    let url = Postgres::start().await?.fresh_database().await?;
    refusals_leave_nothing(&url).await
}

/// Columns added at the same moment all stay in the catalogue; refused
/// additions change nothing.
#[tokio::test]
async fn columns_added_together_all_stay() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let admin = node.client(&node.token("zhao", Role::Admin)).await?;
    let column = |code: &str| pb::AddColumnRequest {
        column: Some(pb::Column {
            code: code.into(),
            name: format!("栏目{code}"),
            parent: "gzzj".into(),
            ..Default::default()
        }),
    };
    let adds = (0..8).map(|i| {
        let mut admin = admin.clone();
        let req = column(&format!("col{i}"));
        async move { admin.add_column(req).await }
    });
    for r in futures::future::join_all(adds).await {
        r?;
    }
    let listed = node
        .client("")
        .await?
        .list_columns(pb::ListColumnsRequest::default())
        .await?
        .into_inner();
    for i in 0..8 {
        let code = format!("col{i}");
        assert!(
            listed.columns.iter().any(|c| c.code == code && c.custom),
            "{code} missing from the catalogue"
        );
    }
    // A document can be filed under each of them at once.
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    for i in 0..8 {
        let mut f = summary_fields("栏目文件", "内容。");
        f.column = format!("col{i}");
        editor
            .create_document(pb::CreateDocumentRequest { fields: Some(f) })
            .await?;
    }

    let before = snapshot(node.db()).await?;
    let mut admin = admin.clone();
    let mut long_name = column("named");
    if let Some(c) = long_name.column.as_mut() {
        c.name = "名".repeat(51);
    }
    for (req, code, field) in [
        (column("Bad Code"), Code::InvalidArgument, "column"),
        (column("col3"), Code::AlreadyExists, "column.code"),
        (long_name, Code::InvalidArgument, "name of named"),
    ] {
        refused(admin.add_column(req).await, code, field);
    }
    let mut editor_adds = node.client(&node.token("zhang", Role::Editor)).await?;
    refused(
        editor_adds.add_column(column("mine")).await,
        Code::PermissionDenied,
        "add columns",
    );
    refused(
        node.client("").await?.add_column(column("anon")).await,
        Code::Unauthenticated,
        "authorization",
    );
    assert_eq!(snapshot(node.db()).await?, before);
    node.stop().await?;
    Ok(())
}

/// A document approved before a privacy rule came in, then published with
/// a date before it was formed: the date is refused and nothing recorded,
/// no privacy block among it; published properly, it is blocked.
#[tokio::test]
async fn a_refused_publication_records_no_privacy_block() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let mut f = summary_fields("学籍通知", "请学号XS20260001的学生到教务处领取学籍卡。");
    f.date_formed = "2026-09-01".into();
    let id = approve_new(&mut editor, &mut reviewer, f).await?;
    node.stop().await?;

    let mut cfg = publishing_config("");
    cfg.privacy
        .extra_patterns
        .push(gongkai_publishing::domain::privacy::ExtraPattern {
            name: "学号".into(),
            regex: r"XS\d{8}".into(),
            keep_head: 2,
            keep_tail: 0,
        });
    let mut node = Node::start_custom("340823.edu", &nats, cfg, node.data, |_| {}).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let before = snapshot(node.db()).await?;
    let publish = |date: &str| pb::PublishDocumentRequest {
        document_id: id.clone(),
        date_published: date.into(),
    };
    refused(
        editor.publish_document(publish("2026-08-31")).await,
        Code::InvalidArgument,
        "date_published: 2026-08-31 is before the date formed 2026-09-01",
    );
    assert_eq!(snapshot(node.db()).await?, before, "no block recorded");

    let out = editor.publish_document(publish("")).await?.into_inner();
    assert!(out.blocked);
    assert!(
        out.findings.iter().any(|f| f.kind == "pattern:学号"),
        "{:?}",
        out.findings
    );
    let blocks: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM gk_outbox WHERE subject LIKE '%.privacy_blocked.%'",
    )
    .fetch_one(node.db().read())
    .await?;
    assert_eq!(blocks, 1);
    node.stop().await?;
    Ok(())
}
