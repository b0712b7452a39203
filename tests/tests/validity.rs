//! A document's last day in force (有效期至): the day after, the document is
//! expired — in its validity, the search index, its events, the parent's
//! catalogue and the annual report's table 二 — and a new version in force
//! renews it.

use anyhow::Context as _;
use gongkai_kernel::auth::Role;
use gongkai_kernel::db::today_cst;
use gongkai_proto::v1 as pb;
use gongkai_tests::*;
use prost::Message as _;

const EXPIRED: &str = "gk.publishing.document.expired.340823.edu";

#[tokio::test]
async fn documents_expire_after_their_last_day_in_force() -> anyhow::Result<()> {
    documents_expire("").await
}

#[tokio::test]
async fn documents_expire_on_postgres_too() -> anyhow::Result<()> {
    let pg = Postgres::start().await?;
    documents_expire(&pg.fresh_database().await?).await
}

async fn documents_expire(database_url: &str) -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let mut county = Node::start("340823", &nats).await?;
    let cfg = gongkai_publishing::Config {
        // Only the pass at start, after the restart below.
        scheduler_interval_secs: 3600,
        ..publishing_config(database_url)
    };
    let mut node = Node::start_with("340823.edu", &nats, cfg.clone()).await?;
    let mut editor = node.client(&node.token("zhang", Role::Editor)).await?;
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;

    // A normative document (行政规范性文件) must not end before it is formed.
    let mut bad = summary_fields("有效期有误", "正文。");
    bad.date_formed = "2026-09-01".into();
    bad.valid_until = "2026-08-31".into();
    let e = editor
        .create_document(pb::CreateDocumentRequest { fields: Some(bad) })
        .await
        .expect_err("refused");
    assert_eq!(e.code(), tonic::Code::InvalidArgument);
    assert!(
        e.message().contains("fields.valid_until")
            && e.message().contains("before the date formed"),
        "{}",
        e.message()
    );

    // Three normative documents, each released with its interpretation.
    let mut published = Vec::new();
    for (title, until) in [
        ("已到期的管理办法", "2026-09-30"),
        ("长期有效的管理办法", "2099-12-31"),
        ("未定有效期的管理办法", ""),
    ] {
        let (policy, _) = approved_policy_pair_with(&mut editor, &mut reviewer, title, |f| {
            f.valid_until = until.into();
        })
        .await?;
        editor
            .publish_document(pb::PublishDocumentRequest {
                document_id: policy.clone(),
                date_published: "2026-09-02".into(),
            })
            .await?;
        published.push(policy);
    }
    let [ended, lasting, open] = published.as_slice() else {
        anyhow::bail!("three documents");
    };

    // The next start's pass expires the first.
    node.stop().await?;
    let mut node = Node::start_custom("340823.edu", &nats, cfg, node.data, |_| {}).await?;
    let events = eventually(20, || async {
        let m = stream_messages(&nats.url, EXPIRED).await?;
        Ok((!m.is_empty()).then_some(m))
    })
    .await?;
    let svc = &node.running.as_ref().context("running")?.service;
    let today = today_cst();
    assert_eq!(svc.expire_documents(today).await?, 0, "expired once");

    let mut admin = node.client(&node.token("wang", Role::Admin)).await?;
    let mut validity = Vec::new();
    for id in [ended, lasting, open] {
        let d = admin
            .get_document(pb::GetDocumentRequest {
                document_id: id.clone(),
                with_history: true,
                ..Default::default()
            })
            .await?
            .into_inner();
        validity.push(d.validity.clone());
        if id == ended {
            let h = d.history.last().context("history")?;
            assert_eq!(
                (h.action.as_str(), h.actor.as_str(), h.comment.as_str()),
                ("expire", "calendar", "in force until 2026-09-30")
            );
            assert_eq!(
                d.fields.context("fields")?.valid_until,
                "2026-09-30",
                "kept as given"
            );
        }
    }
    assert_eq!(validity, ["expired", "valid", "valid"]);

    // One event, carrying the new validity.
    assert_eq!(stream_messages(&nats.url, EXPIRED).await?.len(), 1);
    // The pass is traced: its event carries the trace.
    let traced = events[0]
        .headers
        .as_ref()
        .and_then(|h| h.get("traceparent"))
        .map(|v| v.as_str().to_owned());
    assert!(
        traced.as_deref().is_some_and(|t| t.starts_with("00-")),
        "{traced:?}"
    );
    let e = pb::Event::decode(events[0].payload.clone())?;
    let p = pb::DocumentChanged::decode(e.payload.as_slice())?;
    assert_eq!(
        (
            p.document_id.as_str(),
            p.validity.as_str(),
            p.valid_until.as_str()
        ),
        (ended.as_str(), "expired", "2026-09-30")
    );

    // Search finds it under its new validity.
    let mut public = node.client("").await?;
    let hits = eventually(20, || {
        let mut public = public.clone();
        async move {
            let r = public
                .search(pb::SearchRequest {
                    validity: "expired".into(),
                    limit: 10,
                    ..Default::default()
                })
                .await?
                .into_inner();
            Ok((r.total > 0).then_some(r.hits))
        }
    })
    .await?;
    assert_eq!(
        hits.iter()
            .map(|h| h.document_id.as_str())
            .collect::<Vec<_>>(),
        [ended.as_str()]
    );
    assert_eq!(hits[0].validity, "expired");

    // The parent's catalogue follows.
    let county_public = county.client("").await?;
    let entry_until = eventually(20, || {
        let mut c = county_public.clone();
        let ended = ended.clone();
        async move {
            let r = c
                .list_subtree_catalog(pb::ListSubtreeCatalogRequest::default())
                .await?
                .into_inner();
            Ok(r.entries
                .into_iter()
                .find(|e| e.document_id == ended && e.validity == "expired"))
        }
    })
    .await?
    .valid_until;
    assert_eq!(entry_until, "2026-09-30");

    // Table 二: issued three this year, none abolished, two in force at
    // the year's end.
    let stats = public
        .get_statistics(pb::GetStatisticsRequest {
            unit: String::new(),
            year: 2026,
        })
        .await?
        .into_inner();
    let row = stats
        .table_two
        .iter()
        .find(|r| r.kind == "行政规范性文件")
        .context("table 二 row")?;
    assert_eq!((row.issued, row.abolished, row.in_force), (3, 0, 2));

    // A new version in force again renews it.
    let mut renewed = summary_fields("已到期的管理办法", "修订后继续施行。");
    renewed.column = "gfxwj".into();
    renewed.date_formed = "2026-09-01".into();
    renewed.valid_until = "2031-09-30".into();
    let mut reviewer = node.client(&node.token("li", Role::Reviewer)).await?;
    let r = reviewer
        .revise_document(pb::ReviseDocumentRequest {
            document_id: ended.clone(),
            fields: Some(renewed),
            reason: "延长有效期".into(),
            confidentiality_cleared: false,
        })
        .await?
        .into_inner();
    let d = r.document.context("document")?;
    assert_eq!(d.validity, "valid");
    assert_eq!(d.fields.context("fields")?.valid_until, "2031-09-30");
    assert_eq!(svc.expire_documents(today).await?, 0);

    node.stop().await?;
    county.stop().await?;
    Ok(())
}
