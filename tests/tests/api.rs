//! The publishing API over gRPC: workflow, privacy, search, statistics,
//! interpretations, the subtree catalogue, and refusals of bad input.

use anyhow::Context as _;
use gongkai_kernel::auth::Role;
use gongkai_proto::v1 as pb;
use gongkai_tests::*;
use tonic::Code;

fn fields(title: &str, body: &str) -> pb::DocumentFields {
    summary_fields(title, body)
}

#[tokio::test]
async fn workflow_privacy_versions_and_search() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let mut public = node.client("").await?;

    // A resident ID number blocks the submission, with position and mask.
    let body = "联系人身份证号11010519491231002X，请核实。";
    let d = editor
        .create_document(pb::CreateDocumentRequest {
            fields: Some(fields("财政资金公开情况", body)),
        })
        .await?
        .into_inner();
    let s = editor
        .submit_document(pb::SubmitDocumentRequest {
            document_id: d.id.clone(),
        })
        .await?
        .into_inner();
    assert!(s.blocked);
    assert_eq!(s.findings.len(), 1);
    let f = &s.findings[0];
    assert_eq!(
        (f.kind.as_str(), f.field.as_str(), f.start, f.end),
        ("resident_id", "body", 7, 25)
    );
    assert_eq!(f.suggested_mask, "110105********002X");
    assert!(!f.excerpt.contains("19491231"), "the excerpt is masked");
    assert_eq!(s.document.unwrap().state, pb::DocumentState::Draft as i32);

    // Masked, it goes through; a confidentiality keyword goes to the reviewer.
    let clean = "联系人身份证号110105********002X。本文件不含内部资料以外的内容。";
    editor
        .update_draft(pb::UpdateDraftRequest {
            document_id: d.id.clone(),
            fields: Some(fields("财政资金公开情况", clean)),
        })
        .await?;
    let s = editor
        .submit_document(pb::SubmitDocumentRequest {
            document_id: d.id.clone(),
        })
        .await?
        .into_inner();
    assert!(!s.blocked);
    assert_eq!(s.findings.len(), 1);
    assert_eq!(s.findings[0].kind, "confidential");

    // Nobody reviews their own draft; approval needs the 保密审查 confirmed.
    let mut self_reviewer = node.client(&node.token("zhang", Role::Reviewer)).await?;
    let own = self_reviewer.review_document(pb::ReviewDocumentRequest {
        document_id: d.id.clone(),
        approve: true,
        comment: String::new(),
        confidentiality_cleared: true,
    });
    assert_eq!(own.await.unwrap_err().code(), Code::PermissionDenied);
    let uncleared = reviewer
        .review_document(pb::ReviewDocumentRequest {
            document_id: d.id.clone(),
            approve: true,
            comment: String::new(),
            confidentiality_cleared: false,
        })
        .await
        .unwrap_err();
    assert_eq!(uncleared.code(), Code::FailedPrecondition);
    assert!(uncleared.message().contains("confidentiality_cleared"));
    // Publishing before approval is refused, naming the state.
    let early = editor
        .publish_document(pb::PublishDocumentRequest {
            document_id: d.id.clone(),
            date_published: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(early.code(), Code::FailedPrecondition);
    assert!(early.message().contains("submitted"), "{}", early.message());
    reviewer
        .review_document(pb::ReviewDocumentRequest {
            document_id: d.id.clone(),
            approve: true,
            comment: "同意".into(),
            confidentiality_cleared: true,
        })
        .await?;
    let p = editor
        .publish_document(pb::PublishDocumentRequest {
            document_id: d.id.clone(),
            date_published: String::new(),
        })
        .await?
        .into_inner();
    let doc = p.document.unwrap();
    let year = gongkai_kernel::db::today_cst().format("%Y").to_string();
    assert_eq!(doc.index_no, format!("{ORG}/{year}-00001"));
    let second = publish_new(
        &mut editor,
        &mut reviewer,
        fields("政务公开工作要点", "推进政务公开标准化。"),
        "",
    )
    .await?;
    assert_eq!(second.index_no, format!("{ORG}/{year}-00002"));

    // Revision keeps history; the public reads it without a token.
    let revised = reviewer
        .revise_document(pb::ReviseDocumentRequest {
            document_id: d.id.clone(),
            fields: Some(fields("财政资金公开情况（修订）", "预算公开、决算公开。")),
            reason: "更正数据".into(),
            confidentiality_cleared: false,
        })
        .await?
        .into_inner();
    assert!(!revised.blocked);
    let shown = public
        .get_document(pb::GetDocumentRequest {
            document_id: d.id.clone(),
            index_no: String::new(),
            with_history: true,
        })
        .await?
        .into_inner();
    assert_eq!(shown.version, 2);
    assert_eq!(shown.versions.len(), 2);
    assert_eq!(
        shown.versions[0].fields.as_ref().unwrap().title,
        "财政资金公开情况"
    );
    assert_eq!(shown.versions[1].reason, "更正数据");
    let actions: Vec<&str> = shown.history.iter().map(|h| h.action.as_str()).collect();
    assert_eq!(
        actions,
        ["edit", "edit", "submit", "approve", "publish", "revise"]
    );
    let by_index = public
        .get_document(pb::GetDocumentRequest {
            document_id: String::new(),
            index_no: doc.index_no.clone(),
            with_history: false,
        })
        .await?
        .into_inner();
    assert_eq!(by_index.id, d.id);

    // Search: two-character words hit; abolished documents stay, marked.
    reviewer
        .abolish_document(pb::AbolishDocumentRequest {
            document_id: second.id.clone(),
            reason: "已废止".into(),
            date: String::new(),
        })
        .await?;
    let hits = eventually(10, || {
        let mut public = public.clone();
        async move {
            let r = public
                .search(pb::SearchRequest {
                    text: "公开".into(),
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok((r.total == 2 && r.hits.iter().any(|h| h.validity == "abolished")).then_some(r))
        }
    })
    .await?;
    assert!(
        hits.hits
            .iter()
            .all(|h| h.snippet_html.contains("<em>") || h.title_html.contains("<em>"))
    );
    let finance = public
        .search(pb::SearchRequest {
            text: "财政".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(finance.total, 1);
    assert_eq!(finance.hits[0].document_id, d.id);
    assert_eq!(finance.hits[0].title, "财政资金公开情况（修订）");
    let valid_only = public
        .search(pb::SearchRequest {
            text: "公开".into(),
            validity: "valid".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    assert_eq!(valid_only.total, 1);

    // Statistics count what was published this year.
    let stats = public
        .get_statistics(pb::GetStatisticsRequest {
            unit: String::new(),
            year: year.parse()?,
        })
        .await?
        .into_inner();
    assert_eq!(
        stats.by_column,
        vec![pb::CountByKey {
            key: "gzzj".into(),
            count: 2
        }]
    );
    node.stop().await?;
    Ok(())
}

#[tokio::test]
async fn bad_input_gets_the_right_code_and_leaves_nothing() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut cfg = publishing_config("");
    cfg.body_max_bytes = 2048;
    let mut node = Node::start_with("340823.edu", &nats, cfg).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let mut anonymous = node.client("").await?;
    let mut sibling = node
        .client(&token_for(
            &node.keys,
            &gongkai_kernel::UnitPath::parse("340823.other")?,
            "wang",
            Role::Editor,
        ))
        .await?;

    let existing = publish_new(
        &mut editor,
        &mut reviewer,
        pb::DocumentFields {
            doc_number: "南教〔2026〕6号".into(),
            ..fields("已有文件", "政务公开。")
        },
        "",
    )
    .await?;
    let count = |db: gongkai_kernel::db::Db| async move {
        let docs: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM documents")
            .fetch_one(db.read())
            .await?;
        let events: i64 = sqlx::query_scalar("SELECT COUNT(*) FROM gk_outbox")
            .fetch_one(db.read())
            .await?;
        anyhow::Ok((docs, events))
    };
    let before = count(node.db().clone()).await?;

    let cases: Vec<(pb::DocumentFields, Code, &str)> = vec![
        (
            pb::DocumentFields {
                column: "nope".into(),
                ..fields("x", "y")
            },
            Code::InvalidArgument,
            "fields.column",
        ),
        (
            pb::DocumentFields {
                date_formed: "2026-02-30".into(),
                ..fields("x", "y")
            },
            Code::InvalidArgument,
            "fields.date_formed",
        ),
        (
            pb::DocumentFields {
                date_formed: "2999-01-01".into(),
                ..fields("x", "y")
            },
            Code::InvalidArgument,
            "future",
        ),
        (
            pb::DocumentFields {
                date_formed: "26-1-1".into(),
                ..fields("x", "y")
            },
            Code::InvalidArgument,
            "YYYY-MM-DD",
        ),
        (
            pb::DocumentFields {
                doc_number: "南教〔2026〕6号".into(),
                ..fields("x", "y")
            },
            Code::AlreadyExists,
            "fields.doc_number",
        ),
        (
            fields("x", &"字".repeat(1000)),
            Code::InvalidArgument,
            "fields.body",
        ),
        (fields("", "y"), Code::InvalidArgument, "fields.title"),
        (
            pb::DocumentFields {
                attribute: 0,
                ..fields("x", "y")
            },
            Code::InvalidArgument,
            "fields.attribute",
        ),
        (
            pb::DocumentFields {
                attribute: 3,
                ..fields("x", "y")
            },
            Code::InvalidArgument,
            "fields.withheld_reason",
        ),
    ];
    for (f, code, field) in cases {
        let e = editor
            .create_document(pb::CreateDocumentRequest { fields: Some(f) })
            .await
            .unwrap_err();
        assert_eq!(e.code(), code, "{}", e.message());
        assert!(
            e.message().contains(field),
            "{} should name {field}",
            e.message()
        );
    }
    let e = anonymous
        .create_document(pb::CreateDocumentRequest {
            fields: Some(fields("x", "y")),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::Unauthenticated);
    let e = reviewer
        .create_document(pb::CreateDocumentRequest {
            fields: Some(fields("x", "y")),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    assert!(e.message().contains("reviewer"));
    let e = sibling
        .create_document(pb::CreateDocumentRequest {
            fields: Some(fields("x", "y")),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = sibling
        .abolish_document(pb::AbolishDocumentRequest {
            document_id: existing.id.clone(),
            reason: "x".into(),
            date: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied);
    let e = editor
        .abolish_document(pb::AbolishDocumentRequest {
            document_id: "not-a-uuid".into(),
            reason: "x".into(),
            date: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "role is checked first");
    let e = reviewer
        .abolish_document(pb::AbolishDocumentRequest {
            document_id: "not-a-uuid".into(),
            reason: "x".into(),
            date: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("document_id"));
    let e = reviewer
        .abolish_document(pb::AbolishDocumentRequest {
            document_id: existing.id.clone(),
            reason: " ".into(),
            date: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().starts_with("reason"));
    let e = anonymous
        .search(pb::SearchRequest {
            text: "公开".into(),
            unit: "340823..x".into(),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::InvalidArgument);
    assert!(e.message().contains("unit"));
    assert_eq!(
        count(node.db().clone()).await?,
        before,
        "no row and no event left behind"
    );

    // Only 主动公开 is published.
    let mut f = fields("依申请公开的文件", "内容。");
    f.attribute = pb::DisclosureAttribute::OnRequest as i32;
    let d = editor
        .create_document(pb::CreateDocumentRequest { fields: Some(f) })
        .await?
        .into_inner();
    editor
        .submit_document(pb::SubmitDocumentRequest {
            document_id: d.id.clone(),
        })
        .await?;
    reviewer
        .review_document(pb::ReviewDocumentRequest {
            document_id: d.id.clone(),
            approve: true,
            comment: String::new(),
            confidentiality_cleared: false,
        })
        .await?;
    let before = count(node.db().clone()).await?;
    let e = editor
        .publish_document(pb::PublishDocumentRequest {
            document_id: d.id.clone(),
            date_published: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("主动公开"));
    assert_eq!(count(node.db().clone()).await?, before);
    // Unpublished documents are not public: without a token one reads
    // exactly as an id that names nothing, so its existence does not show.
    let get = |id: &str| pb::GetDocumentRequest {
        document_id: id.to_owned(),
        index_no: String::new(),
        with_history: false,
    };
    let unpublished = anonymous.get_document(get(&d.id)).await.unwrap_err();
    let missing_id = uuid::Uuid::new_v4().to_string();
    let missing = anonymous.get_document(get(&missing_id)).await.unwrap_err();
    assert_eq!(unpublished.code(), Code::NotFound);
    assert_eq!(missing.code(), Code::NotFound);
    assert_eq!(
        unpublished.message().replace(&d.id, "ID"),
        missing.message().replace(&missing_id, "ID")
    );
    assert!(unpublished.message().contains("document_id"));
    // With the unit's token it is there.
    let got = editor.get_document(get(&d.id)).await?.into_inner();
    assert_eq!(got.id, d.id);
    node.stop().await?;
    Ok(())
}

#[tokio::test]
async fn policy_documents_are_released_with_their_interpretation() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let create = |column: &str, title: &str| {
        let mut f = fields(title, "关于规范校外培训的若干规定。");
        f.column = column.into();
        f
    };
    let policy = editor
        .create_document(pb::CreateDocumentRequest {
            fields: Some(create("gfxwj", "南陵县校外培训管理办法")),
        })
        .await?
        .into_inner();
    let e = editor
        .submit_document(pb::SubmitDocumentRequest {
            document_id: policy.id.clone(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    assert!(e.message().contains("interpretation"), "{}", e.message());

    let interp = editor
        .create_document(pb::CreateDocumentRequest {
            fields: Some(create("zcjd", "《南陵县校外培训管理办法》政策解读")),
        })
        .await?
        .into_inner();
    let linked = editor
        .link_interpretation(pb::LinkInterpretationRequest {
            policy_document_id: policy.id.clone(),
            interpretation_document_id: interp.id.clone(),
        })
        .await?
        .into_inner();
    assert_eq!(linked.interpretation, interp.id);
    for id in [&policy.id, &interp.id] {
        editor
            .submit_document(pb::SubmitDocumentRequest {
                document_id: id.clone(),
            })
            .await?;
    }
    reviewer
        .review_document(pb::ReviewDocumentRequest {
            document_id: policy.id.clone(),
            approve: true,
            comment: String::new(),
            confidentiality_cleared: false,
        })
        .await?;
    // Interpretation not yet approved: the policy document waits.
    let e = editor
        .publish_document(pb::PublishDocumentRequest {
            document_id: policy.id.clone(),
            date_published: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition);
    reviewer
        .review_document(pb::ReviewDocumentRequest {
            document_id: interp.id.clone(),
            approve: true,
            comment: String::new(),
            confidentiality_cleared: false,
        })
        .await?;
    // Both approved: the interpretation does not go out alone, before it.
    let e = editor
        .publish_document(pb::PublishDocumentRequest {
            document_id: interp.id.clone(),
            date_published: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(
        e.message()
            .contains(&format!("publishing {} releases both together", policy.id)),
        "{}",
        e.message()
    );
    editor
        .publish_document(pb::PublishDocumentRequest {
            document_id: policy.id.clone(),
            date_published: String::new(),
        })
        .await?;
    let mut public = node.client("").await?;
    let i = public
        .get_document(pb::GetDocumentRequest {
            document_id: interp.id.clone(),
            index_no: String::new(),
            with_history: false,
        })
        .await?
        .into_inner();
    assert_eq!(
        i.state,
        pb::DocumentState::Published as i32,
        "released together"
    );
    assert_eq!(i.interprets, policy.id);
    let year: i32 = gongkai_kernel::db::today_cst()
        .format("%Y")
        .to_string()
        .parse()?;
    let stats = public
        .get_statistics(pb::GetStatisticsRequest {
            unit: String::new(),
            year,
        })
        .await?
        .into_inner();
    let gf = stats
        .table_two
        .iter()
        .find(|f| f.kind == "行政规范性文件")
        .unwrap();
    assert_eq!((gf.issued, gf.abolished, gf.in_force), (1, 0, 1));
    node.stop().await?;
    Ok(())
}

/// With a lag allowed (`interpretation_lag_days` > 0) the policy document
/// goes out once its interpretation is approved, and the interpretation
/// follows on its own.
#[tokio::test]
async fn with_a_lag_the_interpretation_follows_its_policy_document() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let cfg = gongkai_publishing::Config {
        interpretation_lag_days: 3,
        ..publishing_config("")
    };
    let mut node = Node::start_with("340823.edu", &nats, cfg).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let (policy, interp) =
        approved_policy_pair(&mut editor, &mut reviewer, "南陵县校外培训管理办法").await?;
    let publish = |id: &str| pb::PublishDocumentRequest {
        document_id: id.into(),
        date_published: String::new(),
    };
    // It follows its policy document, never precedes it.
    let e = editor.publish_document(publish(&interp)).await.unwrap_err();
    assert_eq!(e.code(), Code::FailedPrecondition, "{}", e.message());
    assert!(
        e.message().contains(&format!("publish {policy} first")),
        "{}",
        e.message()
    );
    editor.publish_document(publish(&policy)).await?;
    let mut public = node.client("").await?;
    let get = |id: &str| pb::GetDocumentRequest {
        document_id: id.into(),
        ..Default::default()
    };
    let i = editor.get_document(get(&interp)).await?.into_inner();
    assert_eq!(
        i.state,
        pb::DocumentState::Approved as i32,
        "not released with the policy document when a lag is allowed"
    );
    let i = editor
        .publish_document(publish(&interp))
        .await?
        .into_inner();
    let i = i.document.context("document")?;
    assert_eq!(i.state, pb::DocumentState::Published as i32);
    assert_eq!(i.interprets, policy);
    let p = public.get_document(get(&policy)).await?.into_inner();
    assert_eq!(
        (p.state, p.interpretation.as_str()),
        (pb::DocumentState::Published as i32, interp.as_str())
    );
    node.stop().await?;
    Ok(())
}

#[tokio::test]
async fn the_parent_sees_its_subtree_catalogue() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut county = Node::start("340823", &nats).await?;
    let mut bureau = Node::start("340823.edu", &nats).await?;
    let mut editor = bureau.client(&bureau.token("zhang", Role::Editor)).await?;
    let mut reviewer = bureau.client(&bureau.token("li", Role::Reviewer)).await?;
    let doc = publish_new(
        &mut editor,
        &mut reviewer,
        fields("教育局工作动态", "政务公开。"),
        "",
    )
    .await?;
    // A revision reaches the parent as the entry's new title and version.
    reviewer
        .revise_document(pb::ReviseDocumentRequest {
            document_id: doc.id.clone(),
            fields: Some(fields("教育局工作动态（修订）", "政务公开。")),
            reason: "标题更正".into(),
            confidentiality_cleared: false,
        })
        .await?;
    let public = county.client("").await?;
    let revised = eventually(20, || {
        let mut public = public.clone();
        async move {
            let r = public
                .list_subtree_catalog(pb::ListSubtreeCatalogRequest::default())
                .await?
                .into_inner();
            Ok(r.entries.into_iter().find(|e| e.version == 2))
        }
    })
    .await?;
    assert_eq!(
        (revised.document_id.as_str(), revised.title.as_str()),
        (doc.id.as_str(), "教育局工作动态（修订）")
    );
    reviewer
        .abolish_document(pb::AbolishDocumentRequest {
            document_id: doc.id.clone(),
            reason: "过期".into(),
            date: String::new(),
        })
        .await?;
    let entry = eventually(20, || {
        let mut public = public.clone();
        async move {
            let r = public
                .list_subtree_catalog(pb::ListSubtreeCatalogRequest::default())
                .await?
                .into_inner();
            Ok(r.entries.into_iter().find(|e| e.validity == "abolished"))
        }
    })
    .await?;
    assert_eq!(entry.document_id, doc.id);
    assert_eq!(entry.unit, "340823.edu");
    assert_eq!(entry.unit_name, "南陵县教育局");
    assert_eq!(entry.index_no, doc.index_no);
    bureau.stop().await?;
    county.stop().await?;
    Ok(())
}

#[tokio::test]
async fn health_and_reflection_are_served() -> anyhow::Result<()> {
    use tonic_health::pb::health_check_response::ServingStatus;
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let channel = tonic::transport::Channel::from_shared(format!("http://{}", node.addr))?
        .connect()
        .await?;
    let mut health = tonic_health::pb::health_client::HealthClient::new(channel.clone());
    let r = health
        .check(tonic_health::pb::HealthCheckRequest {
            service: "gongkai.v1.Publishing".into(),
        })
        .await?
        .into_inner();
    assert_eq!(r.status, ServingStatus::Serving as i32);

    use tonic_reflection::pb::v1::server_reflection_client::ServerReflectionClient;
    use tonic_reflection::pb::v1::server_reflection_request::MessageRequest;
    use tonic_reflection::pb::v1::server_reflection_response::MessageResponse;
    let mut reflection = ServerReflectionClient::new(channel);
    let req = tonic_reflection::pb::v1::ServerReflectionRequest {
        host: String::new(),
        message_request: Some(MessageRequest::ListServices(String::new())),
    };
    let mut stream = reflection
        .server_reflection_info(futures::stream::iter([req]))
        .await?
        .into_inner();
    let resp = stream.message().await?.expect("a reflection answer");
    let Some(MessageResponse::ListServicesResponse(list)) = resp.message_response else {
        anyhow::bail!("unexpected reflection answer");
    };
    let names: Vec<String> = list.service.into_iter().map(|s| s.name).collect();
    assert!(
        names.contains(&"gongkai.v1.Publishing".to_owned()),
        "{names:?}"
    );
    assert!(
        names.contains(&"grpc.health.v1.Health".to_owned()),
        "{names:?}"
    );
    node.stop().await?;
    Ok(())
}

/// Publishes `ids` all at once; their index numbers, sorted.
async fn publish_all(editor: &Client, ids: &[String]) -> anyhow::Result<Vec<String>> {
    let calls = ids.iter().map(|id| {
        let mut c = editor.clone();
        let id = id.clone();
        async move {
            c.publish_document(pb::PublishDocumentRequest {
                document_id: id,
                date_published: String::new(),
            })
            .await
            .map(|r| r.into_inner().document.unwrap_or_default().index_no)
        }
    });
    let mut numbers: Vec<String> = futures::future::try_join_all(calls).await?;
    numbers.sort();
    Ok(numbers)
}

/// Many publications at once share transactions (group commit); index
/// numbers stay gap-free and unique, and each gets exactly one event. The
/// group writer remembers the counters between groups; a revision and an
/// abolition taking search sequences on their own paths in between make it
/// find out and take them anew, still without a gap or a repeat.
async fn concurrent_publications_get_consecutive_index_numbers(
    database_url: &str,
) -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start_with("340823.edu", &nats, publishing_config(database_url)).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let ids = approved_documents(&mut editor, &mut reviewer, "并发发布", 40).await?;
    let numbers = publish_all(&editor, &ids).await?;
    let year = gongkai_kernel::db::today_cst().format("%Y").to_string();
    let expected: Vec<String> = (1..=40).map(|n| format!("{ORG}/{year}-{n:05}")).collect();
    assert_eq!(numbers, expected);

    let more = approved_documents(&mut editor, &mut reviewer, "随后发布", 20).await?;
    reviewer
        .revise_document(pb::ReviseDocumentRequest {
            document_id: ids[1].clone(),
            fields: Some(fields("并发发布1（修订）", "政务公开，修订。")),
            reason: "更正".into(),
            confidentiality_cleared: false,
        })
        .await?;
    reviewer
        .abolish_document(pb::AbolishDocumentRequest {
            document_id: ids[2].clone(),
            reason: "已被替代".into(),
            date: String::new(),
        })
        .await?;
    let numbers = publish_all(&editor, &more).await?;
    let expected: Vec<String> = (41..=60).map(|n| format!("{ORG}/{year}-{n:05}")).collect();
    assert_eq!(numbers, expected);
    // Every public change has a search sequence of its own.
    let (changes, distinct): (i64, i64) = sqlx::query_as(
        "SELECT COUNT(*), COUNT(DISTINCT search_seq) FROM documents WHERE search_seq > 0",
    )
    .fetch_one(node.db().read())
    .await?;
    assert_eq!((changes, distinct), (60, 60));
    // Publishing one of them again is refused and takes no number.
    let Err(e) = editor
        .publish_document(pb::PublishDocumentRequest {
            document_id: ids[0].clone(),
            date_published: String::new(),
        })
        .await
    else {
        anyhow::bail!("a published document was published again");
    };
    assert_eq!(e.code(), Code::FailedPrecondition);
    let events: i64 = sqlx::query_scalar(
        "SELECT COUNT(*) FROM gk_outbox WHERE subject LIKE 'gk.publishing.document.published.%'",
    )
    .fetch_one(node.db().read())
    .await?;
    assert_eq!(events, 60);
    node.stop().await?;
    Ok(())
}

#[tokio::test]
async fn concurrent_publications_sqlite() -> anyhow::Result<()> {
    concurrent_publications_get_consecutive_index_numbers("").await
}

#[tokio::test]
async fn concurrent_publications_postgres() -> anyhow::Result<()> {
    let url = Postgres::start().await?.fresh_database().await?;
    concurrent_publications_get_consecutive_index_numbers(&url).await
}

/// Reviewers deciding on the same submission at the same moment: exactly one
/// decision is taken and recorded; the others are refused with nothing
/// written (on PostgreSQL each call reads the row without a lock, so the
/// write itself must check that the row is still as read).
async fn concurrent_reviews_take_one_decision(database_url: &str) -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start_with("340823.edu", &nats, publishing_config(database_url)).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewers = Vec::new();
    for n in 0..8 {
        reviewers.push(
            node.client(&node.token(&format!("reviewer{n}"), Role::Reviewer))
                .await?,
        );
    }
    for round in 0..5 {
        let d = editor
            .create_document(pb::CreateDocumentRequest {
                fields: Some(fields(&format!("同时审核{round}"), "推进政务公开。")),
            })
            .await?
            .into_inner();
        editor
            .submit_document(pb::SubmitDocumentRequest {
                document_id: d.id.clone(),
            })
            .await?;
        let calls = reviewers.iter().enumerate().map(|(n, r)| {
            let mut r = r.clone();
            let id = d.id.clone();
            async move {
                r.review_document(pb::ReviewDocumentRequest {
                    document_id: id,
                    approve: n % 2 == 0,
                    comment: format!("意见{n}"),
                    confidentiality_cleared: false,
                })
                .await
                .map(|r| r.into_inner().state)
            }
        });
        let answers = futures::future::join_all(calls).await;
        let taken: Vec<i32> = answers
            .iter()
            .filter_map(|a| a.as_ref().ok())
            .copied()
            .collect();
        assert_eq!(taken.len(), 1, "round {round}: {answers:?}");
        for refused in answers.iter().filter_map(|a| a.as_ref().err()) {
            assert_eq!(refused.code(), Code::FailedPrecondition, "{refused:?}");
        }
        let (state, reviews): (String, i64) = sqlx::query_as(
            "SELECT d.state, (SELECT COUNT(*) FROM document_history h \
             WHERE h.document_id = d.id AND h.action IN ('approve', 'reject')) \
             FROM documents d WHERE d.id = $1",
        )
        .bind(&d.id)
        .fetch_one(node.db().read())
        .await?;
        let expected = if taken[0] == pb::DocumentState::Approved as i32 {
            "approved"
        } else {
            "rejected"
        };
        assert_eq!((state.as_str(), reviews), (expected, 1), "round {round}");
    }
    node.stop().await?;
    Ok(())
}

#[tokio::test]
async fn concurrent_reviews_sqlite() -> anyhow::Result<()> {
    concurrent_reviews_take_one_decision("").await
}

#[tokio::test]
async fn concurrent_reviews_postgres() -> anyhow::Result<()> {
    let url = Postgres::start().await?.fresh_database().await?;
    concurrent_reviews_take_one_decision(&url).await
}

/// A document approved here is kept in memory for its publication; when
/// the row changes behind the service's back (another process, an
/// operator's repair), the copy is not published: the publication finds
/// the row changed, reads it and publishes what is stored.
#[tokio::test]
async fn publication_uses_the_stored_row_when_the_kept_copy_is_stale() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let ids = approved_documents(&mut editor, &mut reviewer, "保留副本", 3).await?;
    // Changed in the database alone, as another writer would.
    let done = sqlx::query(
        "UPDATE documents SET title = '库中标题', updated_at = updated_at + 1 WHERE id = $1",
    )
    .bind(&ids[1])
    .execute(node.db().write())
    .await?;
    assert_eq!(done.rows_affected(), 1);
    // Another unit may not publish it, kept copy or not; its own unit then
    // publishes it as usual.
    let mut sibling = node
        .client(&token_for(
            &node.keys,
            &gongkai_kernel::UnitPath::parse("340823.other")?,
            "qian",
            Role::Reviewer,
        ))
        .await?;
    let e = sibling
        .publish_document(pb::PublishDocumentRequest {
            document_id: ids[0].clone(),
            date_published: String::new(),
        })
        .await
        .unwrap_err();
    assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());
    let published = publish_all_docs(&editor, &ids).await?;
    let titles: Vec<&str> = published
        .iter()
        .map(|d| d.fields.as_ref().map_or("", |f| f.title.as_str()))
        .collect();
    assert_eq!(titles, ["保留副本0", "库中标题", "保留副本2"]);
    let stored: String =
        sqlx::query_scalar("SELECT title FROM document_versions WHERE document_id = $1")
            .bind(&ids[1])
            .fetch_one(node.db().read())
            .await?;
    assert_eq!(stored, "库中标题");
    node.stop().await?;
    Ok(())
}

async fn publish_all_docs(editor: &Client, ids: &[String]) -> anyhow::Result<Vec<pb::Document>> {
    let calls = ids.iter().map(|id| {
        let mut c = editor.clone();
        let id = id.clone();
        async move {
            c.publish_document(pb::PublishDocumentRequest {
                document_id: id,
                date_published: String::new(),
            })
            .await
            .map(|r| r.into_inner().document.unwrap_or_default())
        }
    });
    Ok(futures::future::try_join_all(calls).await?)
}

/// The rectification list covers every text the public can read: abolished
/// documents and the earlier versions shown in a document's history, not
/// only the texts now in force.
#[tokio::test]
async fn the_scan_reads_every_public_text() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let address = "请到住址：南街12号领取。";
    let revised = publish_new(&mut editor, &mut reviewer, fields("领取通知", address), "").await?;
    reviewer
        .revise_document(pb::ReviseDocumentRequest {
            document_id: revised.id.clone(),
            fields: Some(fields("领取通知", "请到学校办公室领取。")),
            reason: "删去住址".into(),
            confidentiality_cleared: false,
        })
        .await?;
    let abolished = publish_new(&mut editor, &mut reviewer, fields("旧通知", address), "").await?;
    reviewer
        .abolish_document(pb::AbolishDocumentRequest {
            document_id: abolished.id.clone(),
            reason: "已过时".into(),
            date: String::new(),
        })
        .await?;
    publish_new(
        &mut editor,
        &mut reviewer,
        fields("干净的通知", "政务公开。"),
        "",
    )
    .await?;
    node.stop().await?;

    // A rule for addresses comes in.
    let mut cfg = publishing_config("");
    cfg.privacy
        .extra_patterns
        .push(gongkai_publishing::domain::privacy::ExtraPattern {
            name: "address".into(),
            regex: "住址：[^，。]+".into(),
            keep_head: 3,
            keep_tail: 0,
        });
    let mut node = Node::start_custom("340823.edu", &nats, cfg, node.data, |_| {}).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let scan = reviewer
        .scan_published(pb::ScanPublishedRequest {})
        .await?
        .into_inner();
    assert_eq!(scan.documents_scanned, 3);
    let mut found: Vec<(String, i64, bool, String)> = scan
        .items
        .iter()
        .map(|i| {
            (
                i.document_id.clone(),
                i.version,
                i.earlier_version,
                i.state.clone(),
            )
        })
        .collect();
    found.sort();
    let mut expected = vec![
        (revised.id.clone(), 1, true, "published".to_owned()),
        (abolished.id.clone(), 1, false, "abolished".to_owned()),
    ];
    expected.sort();
    assert_eq!(found, expected);
    assert!(scan.items.iter().all(|i| {
        i.finding
            .as_ref()
            .is_some_and(|f| f.kind == "pattern:address")
    }));
    node.stop().await?;
    Ok(())
}

/// Whoever wrote any of a draft's text does not review it: an admin who
/// edited an editor's draft cannot approve it; another reviewer can.
#[tokio::test]
async fn nobody_approves_a_draft_they_edited() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut node = Node::start("340823.edu", &nats).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut admin = node.client(&node.token("zhao", Role::Admin)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let d = editor
        .create_document(pb::CreateDocumentRequest {
            fields: Some(fields("招生通知", "政务公开。")),
        })
        .await?
        .into_inner();
    admin
        .update_draft(pb::UpdateDraftRequest {
            document_id: d.id.clone(),
            fields: Some(fields("招生通知", "政务公开，由管理员改写。")),
        })
        .await?;
    editor
        .submit_document(pb::SubmitDocumentRequest {
            document_id: d.id.clone(),
        })
        .await?;
    let review = |approve: bool| pb::ReviewDocumentRequest {
        document_id: d.id.clone(),
        approve,
        comment: "改".into(),
        confidentiality_cleared: false,
    };
    for approve in [true, false] {
        let e = admin.review_document(review(approve)).await.unwrap_err();
        assert_eq!(e.code(), Code::PermissionDenied, "{}", e.message());
        assert!(
            e.message().contains("zhao edited this draft"),
            "{}",
            e.message()
        );
    }
    let approved = reviewer.review_document(review(true)).await?.into_inner();
    assert_eq!(approved.state, pb::DocumentState::Approved as i32);
    node.stop().await?;
    Ok(())
}
