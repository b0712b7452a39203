//! TLS is a configuration switch: with a certificate the services speak
//! only TLS, and the node's own client (requests → publishing) trusts the
//! configured CA.

use gongkai_kernel::auth::Role;
use gongkai_proto::v1 as pb;
use gongkai_tests::*;

/// A CA and a server certificate it signed for 127.0.0.1; returns (ca, cert, key).
fn certificates(
    dir: &std::path::Path,
) -> anyhow::Result<(std::path::PathBuf, std::path::PathBuf, std::path::PathBuf)> {
    let run = |args: &[&str]| -> anyhow::Result<()> {
        let out = std::process::Command::new("openssl")
            .args(args)
            .current_dir(dir)
            .output()?;
        anyhow::ensure!(
            out.status.success(),
            "openssl {args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(())
    };
    let ec = [
        "-newkey",
        "ec",
        "-pkeyopt",
        "ec_paramgen_curve:prime256v1",
        "-nodes",
    ];
    run(&[
        &["req", "-x509"][..],
        &ec,
        &[
            "-days",
            "2",
            "-subj",
            "/CN=Gongkai test CA",
            "-keyout",
            "ca.key",
            "-out",
            "ca.pem",
        ],
    ]
    .concat())?;
    run(&[
        &["req"][..],
        &ec,
        &[
            "-subj",
            "/CN=localhost",
            "-keyout",
            "key.pem",
            "-out",
            "req.csr",
        ],
    ]
    .concat())?;
    std::fs::write(
        dir.join("ext.cnf"),
        "subjectAltName=IP:127.0.0.1,DNS:localhost\nbasicConstraints=CA:FALSE\n",
    )?;
    run(&[
        "x509",
        "-req",
        "-in",
        "req.csr",
        "-CA",
        "ca.pem",
        "-CAkey",
        "ca.key",
        "-CAcreateserial",
        "-days",
        "2",
        "-extfile",
        "ext.cnf",
        "-out",
        "cert.pem",
    ])?;
    Ok((
        dir.join("ca.pem"),
        dir.join("cert.pem"),
        dir.join("key.pem"),
    ))
}

#[tokio::test]
async fn grpc_over_tls_when_configured() -> anyhow::Result<()> {
    let nats = Nats::start().await?;
    let data = tempfile::tempdir()?;
    let (ca, cert, key) = certificates(data.path())?;
    let ca_for_node = ca.clone();
    let mut node = Node::start_custom("340823.edu", &nats, publishing_config(""), data, move |n| {
        n.tls_cert = Some(cert);
        n.tls_key = Some(key);
        n.tls_ca = Some(ca_for_node);
    })
    .await?;

    // Plain HTTP/2 is refused.
    let plain = async {
        let mut c = client(&format!("http://{}", node.addr), "").await?;
        c.search(pb::SearchRequest {
            text: "公开".into(),
            ..Default::default()
        })
        .await?;
        anyhow::Ok(())
    };
    assert!(plain.await.is_err(), "a plain client must not get through");

    // With the CA, calls work, including requests → publishing over TLS.
    let ep = gongkai_kernel::grpc::endpoint(&format!("https://{}", node.addr), Some(&ca))?;
    let channel = ep
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("connect: {e:?}"))?;
    let bearer = |t: String| Bearer(Some(format!("Bearer {t}").parse().expect("ascii token")));
    let mut editor = gongkai_proto::v1::publishing_client::PublishingClient::with_interceptor(
        channel.clone(),
        bearer(node.token("zhang", Role::Editor)),
    );
    let mut reviewer = gongkai_proto::v1::publishing_client::PublishingClient::with_interceptor(
        channel,
        bearer(node.token("li", Role::Reviewer)),
    );
    let doc = publish_new(
        &mut editor,
        &mut reviewer,
        summary_fields("加密传输", "政务公开。"),
        "",
    )
    .await?;

    let rch =
        gongkai_kernel::grpc::endpoint(&format!("https://{}", node.requests_addr), Some(&ca))?
            .connect()
            .await?;
    let mut public = gongkai_proto::v1::requests_client::RequestsClient::new(rch.clone());
    let done = public
        .submit_request(pb::SubmitRequestRequest {
            applicant: Some(pb::Applicant {
                r#type: "commercial".into(),
                name: "某公司".into(),
                email: "a@example.com".into(),
                ..Default::default()
            }),
            description: "预算".into(),
            channel: "online".into(),
            ..Default::default()
        })
        .await?
        .into_inner();
    let mut office = gongkai_proto::v1::requests_client::RequestsClient::with_interceptor(
        rch,
        bearer(node.token("wang", Role::Editor)),
    );
    let id = office
        .get_request(pb::GetRequestRequest {
            request_id: String::new(),
            tracking_no: done.tracking_no,
        })
        .await?
        .into_inner()
        .id;
    let replied = office
        .act(pb::ActRequest {
            request_id: id,
            day: String::new(),
            reason: String::new(),
            action: Some(pb::act_request::Action::Reply(pb::Reply {
                category: "disclosed".into(),
                text: "见已公开文件".into(),
                document_index_nos: vec![doc.index_no.clone()],
                ..Default::default()
            })),
        })
        .await?
        .into_inner();
    assert_eq!(
        replied.status, "replied",
        "the document was checked with publishing over TLS"
    );
    node.stop().await?;
    Ok(())
}
