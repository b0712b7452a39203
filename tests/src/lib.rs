//! Harness for the end-to-end tests: real nats-server processes, real
//! services on port 0 (in this process, or as the `gongkai` binary in a
//! child process that can be killed), and real gRPC clients.

use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::Duration;

use anyhow::Context as _;
use gongkai_kernel::UnitPath;
use gongkai_kernel::auth::{Claims, Role, TokenKey};
use gongkai_kernel::bus::Bus;
use gongkai_kernel::calendar::Calendar;
use gongkai_kernel::config::{NatsConfig, NodeConfig};
use gongkai_kernel::runtime::Runtime;
use gongkai_proto::v1::publishing_client::PublishingClient;
use gongkai_testkit::workspace_root;
use tokio::io::AsyncBufReadExt as _;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

pub use gongkai_testkit::{Nats, Postgres};

pub const ORG: &str = "11340823MB1234567X";

pub fn node_config(unit: &str, name: &str, data_dir: &Path) -> NodeConfig {
    NodeConfig {
        unit: UnitPath::parse(unit).expect("test unit path"),
        name: name.into(),
        org_code: ORG.into(),
        data_dir: data_dir.to_path_buf(),
        calendar_dir: workspace_root().join("deploy/calendar"),
        tls_cert: None,
        tls_key: None,
        tls_ca: None,
    }
}

pub fn publishing_config(database_url: &str) -> gongkai_publishing::Config {
    gongkai_publishing::Config {
        listen: "127.0.0.1:0".into(),
        database_url: database_url.into(),
        catalog_file: workspace_root().join("deploy/catalog/default.toml"),
        search_commit_ms: 50,
        ..Default::default()
    }
}

/// A node's publishing service running in this process.
pub struct Node {
    pub unit: UnitPath,
    pub keys: TokenKey,
    pub addr: std::net::SocketAddr,
    pub requests_addr: std::net::SocketAddr,
    pub running: Option<gongkai_publishing::Running>,
    pub requests: Option<gongkai_requests::Running>,
    pub data: tempfile::TempDir,
}

impl Node {
    pub async fn start(unit: &str, nats: &Nats) -> anyhow::Result<Node> {
        Self::start_with(unit, nats, publishing_config("")).await
    }

    pub async fn start_with(
        unit: &str,
        nats: &Nats,
        cfg: gongkai_publishing::Config,
    ) -> anyhow::Result<Node> {
        let data = tempfile::tempdir()?;
        Self::start_in(unit, nats, cfg, data).await
    }

    pub async fn start_in(
        unit: &str,
        nats: &Nats,
        cfg: gongkai_publishing::Config,
        data: tempfile::TempDir,
    ) -> anyhow::Result<Node> {
        Self::start_custom(unit, nats, cfg, data, |_| {}).await
    }

    /// As `start_in`, with a last word on the node's configuration.
    /// A node reading its working-day calendars from `calendar_dir`, where
    /// a year may be missing (RULES §6).
    pub async fn start_with_calendar(
        unit: &str,
        nats: &Nats,
        cfg: gongkai_publishing::Config,
        data: tempfile::TempDir,
        calendar_dir: &Path,
    ) -> anyhow::Result<Node> {
        let cal = calendar_dir.to_path_buf();
        Self::start_custom(unit, nats, cfg, data, move |n| n.calendar_dir = cal).await
    }

    pub async fn start_custom(
        unit: &str,
        nats: &Nats,
        cfg: gongkai_publishing::Config,
        data: tempfile::TempDir,
        adjust: impl FnOnce(&mut NodeConfig),
    ) -> anyhow::Result<Node> {
        // As `gongkai node run` does: spans give events their trace context.
        let _ = gongkai_kernel::telemetry::init(
            "gongkai-e2e",
            &gongkai_kernel::config::TelemetryConfig {
                filter: "warn".into(),
                ..Default::default()
            },
        );
        let mut node = node_config(unit, "南陵县教育局", data.path());
        adjust(&mut node);
        let nats_cfg = NatsConfig {
            url: nats.url.clone(),
            ..Default::default()
        };
        let keys = TokenKey::load_or_create(&data.path().join("node.key"))?;
        let rt = Runtime {
            calendar: Calendar::load_dir(&node.calendar_dir)?,
            keys: keys.clone(),
            bus: Bus::connect(&nats_cfg, "e2e").await?,
            node,
        };
        let running = gongkai_publishing::start(rt.clone(), cfg).await?;
        let scheme = if rt.node.tls_cert.is_some() {
            "https"
        } else {
            "http"
        };
        let requests = gongkai_requests::start(
            rt,
            gongkai_requests::Config {
                listen: "127.0.0.1:0".into(),
                publishing_url: format!("{scheme}://{}", running.addr),
                // The tests drive the scheduler themselves.
                scheduler_interval_secs: 86_400,
                ..Default::default()
            },
        )
        .await?;
        Ok(Node {
            unit: UnitPath::parse(unit)?,
            keys,
            addr: running.addr,
            requests_addr: requests.addr,
            running: Some(running),
            requests: Some(requests),
            data,
        })
    }

    pub fn token(&self, sub: &str, role: Role) -> String {
        token_for(&self.keys, &self.unit, sub, role)
    }

    pub async fn client(&self, token: &str) -> anyhow::Result<Client> {
        client(&format!("http://{}", self.addr), token).await
    }

    pub async fn stop(&mut self) -> anyhow::Result<()> {
        if let Some(r) = self.requests.take() {
            r.shutdown().await?;
        }
        if let Some(r) = self.running.take() {
            r.shutdown().await?;
        }
        Ok(())
    }

    pub async fn requests_client(&self, token: &str) -> anyhow::Result<RequestsClient> {
        let channel = Channel::from_shared(format!("http://{}", self.requests_addr))?
            .connect()
            .await?;
        let bearer = if token.is_empty() {
            None
        } else {
            Some(format!("Bearer {token}").parse()?)
        };
        Ok(
            gongkai_proto::v1::requests_client::RequestsClient::with_interceptor(
                channel,
                Bearer(bearer),
            ),
        )
    }

    pub fn requests_service(&self) -> &gongkai_requests::service::RequestsService {
        &self.requests.as_ref().expect("requests running").service
    }

    pub fn db(&self) -> &gongkai_kernel::db::Db {
        self.running.as_ref().expect("node running").service.db()
    }
}

pub fn token_for(keys: &TokenKey, unit: &UnitPath, sub: &str, role: Role) -> String {
    keys.issue(&Claims {
        sub: sub.into(),
        unit: unit.clone(),
        role,
        exp: chrono::Utc::now().timestamp() + 3600,
    })
}

#[derive(Clone)]
pub struct Bearer(pub Option<MetadataValue<tonic::metadata::Ascii>>);

impl tonic::service::Interceptor for Bearer {
    fn call(&mut self, mut req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        if let Some(t) = &self.0 {
            req.metadata_mut().insert("authorization", t.clone());
        }
        Ok(req)
    }
}

pub type Client = PublishingClient<InterceptedService<Channel, Bearer>>;
pub type RequestsClient =
    gongkai_proto::v1::requests_client::RequestsClient<InterceptedService<Channel, Bearer>>;

pub async fn client(url: &str, token: &str) -> anyhow::Result<Client> {
    let channel = Channel::from_shared(url.to_owned())?.connect().await?;
    let bearer = if token.is_empty() {
        None
    } else {
        Some(format!("Bearer {token}").parse()?)
    };
    Ok(PublishingClient::with_interceptor(channel, Bearer(bearer)))
}

/// A node run as the real `gongkai` binary in a child process.
pub struct NodeProcess {
    bin: PathBuf,
    pub dir: PathBuf,
    pub config: PathBuf,
    pub addr: Option<std::net::SocketAddr>,
    pub requests_addr: Option<std::net::SocketAddr>,
    child: Option<tokio::process::Child>,
}

impl NodeProcess {
    /// `node init` into `dir` with the given NATS url. `bin` is the node
    /// binary (`env!("CARGO_BIN_EXE_gongkai-e2e-node")` in a test).
    pub async fn init(
        bin: &str,
        dir: &Path,
        unit: &str,
        nats_url: &str,
    ) -> anyhow::Result<NodeProcess> {
        let root = workspace_root();
        let out = tokio::process::Command::new(bin)
            .args([
                "node",
                "init",
                "--unit",
                unit,
                "--name",
                "测试单位",
                "--org-code",
                ORG,
            ])
            .arg("--data-dir")
            .arg(dir)
            .args([
                "--nats-url",
                nats_url,
                "--listen",
                "127.0.0.1:0",
                "--requests-listen",
                "127.0.0.1:0",
            ])
            .arg("--calendar-dir")
            .arg(root.join("deploy/calendar"))
            .arg("--catalog-file")
            .arg(root.join("deploy/catalog/default.toml"))
            .output()
            .await?;
        anyhow::ensure!(
            out.status.success(),
            "node init: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        Ok(NodeProcess {
            bin: PathBuf::from(bin),
            dir: dir.to_path_buf(),
            config: dir.join("node.toml"),
            addr: None,
            requests_addr: None,
            child: None,
        })
    }

    pub async fn start(&mut self) -> anyhow::Result<std::net::SocketAddr> {
        self.start_with_env(&[]).await
    }

    /// `start` with extra environment variables for the node process.
    pub async fn start_with_env(
        &mut self,
        env: &[(&str, &str)],
    ) -> anyhow::Result<std::net::SocketAddr> {
        let mut child = tokio::process::Command::new(&self.bin)
            .args(["node", "run", "--config"])
            .arg(&self.config)
            .envs(env.iter().copied())
            .env("GONGKAI__PUBLISHING__SEARCH_COMMIT_MS", "50")
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()?;
        let stdout = child.stdout.take().context("child stdout")?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let (addr, requests) = tokio::time::timeout(Duration::from_secs(30), async {
            while let Some(line) = lines.next_line().await? {
                if let Some(rest) = line.strip_prefix("gongkai node ready: ") {
                    let mut addrs = std::collections::HashMap::new();
                    for part in rest.split_whitespace() {
                        if let Some((k, v)) = part.split_once('=') {
                            addrs.insert(k.to_owned(), v.parse::<std::net::SocketAddr>()?);
                        }
                    }
                    let p = *addrs.get("publishing").context("publishing address")?;
                    let r = *addrs.get("requests").context("requests address")?;
                    return Ok::<_, anyhow::Error>((p, r));
                }
            }
            anyhow::bail!("node exited before it was ready")
        })
        .await
        .context("node did not become ready in 30 s")??;
        // Keep draining stdout so the child never blocks on a full pipe.
        tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
        self.child = Some(child);
        self.addr = Some(addr);
        self.requests_addr = Some(requests);
        Ok(addr)
    }

    /// SIGTERM, then waits for the exit status: the graceful path.
    pub async fn terminate(&mut self) -> anyhow::Result<std::process::ExitStatus> {
        let mut c = self.child.take().context("node not running")?;
        let pid = c.id().context("child pid")?;
        let kill = tokio::process::Command::new("kill")
            .args(["-TERM", &pid.to_string()])
            .status()
            .await?;
        anyhow::ensure!(kill.success(), "kill -TERM {pid}");
        Ok(tokio::time::timeout(Duration::from_secs(30), c.wait()).await??)
    }

    /// SIGKILL: no graceful shutdown, no outbox flush.
    pub async fn kill(&mut self) -> anyhow::Result<()> {
        if let Some(mut c) = self.child.take() {
            c.kill().await?;
        }
        Ok(())
    }

    pub fn keys(&self) -> anyhow::Result<TokenKey> {
        Ok(TokenKey::load_or_create(&self.dir.join("node.key"))?)
    }

    pub fn db_url(&self) -> String {
        gongkai_kernel::db::sqlite_url(&self.dir.join("publishing.db"))
    }
}

/// Waits until `f` returns `Some`, polling, for at most `secs`.
pub async fn eventually<T, F, Fut>(secs: u64, mut f: F) -> anyhow::Result<T>
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = anyhow::Result<Option<T>>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = f().await? {
            return Ok(v);
        }
        if tokio::time::Instant::now() > deadline {
            anyhow::bail!("condition not met within {secs} s");
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Fields of a publishable work summary, formed today (so never late).
pub fn summary_fields(title: &str, body: &str) -> gongkai_proto::v1::DocumentFields {
    gongkai_proto::v1::DocumentFields {
        title: title.into(),
        column: "gzzj".into(),
        date_formed: gongkai_kernel::db::today_cst().to_string(),
        attribute: gongkai_proto::v1::DisclosureAttribute::Proactive as i32,
        body: body.into(),
        ..Default::default()
    }
}

/// Takes a new document from draft to approved (editor "zhang", reviewer
/// "li"); its id. A draft the privacy scan blocks is an error.
pub async fn approve_new(
    editor: &mut Client,
    reviewer: &mut Client,
    fields: gongkai_proto::v1::DocumentFields,
) -> anyhow::Result<String> {
    use gongkai_proto::v1 as pb;
    let d = editor
        .create_document(pb::CreateDocumentRequest {
            fields: Some(fields),
        })
        .await?
        .into_inner();
    let s = editor
        .submit_document(pb::SubmitDocumentRequest {
            document_id: d.id.clone(),
        })
        .await?
        .into_inner();
    anyhow::ensure!(!s.blocked, "submit blocked: {:?}", s.findings);
    reviewer
        .review_document(pb::ReviewDocumentRequest {
            document_id: d.id.clone(),
            approve: true,
            comment: "ok".into(),
            confidentiality_cleared: true,
        })
        .await?;
    Ok(d.id)
}

/// Takes a document from draft to published (editor "zhang", reviewer "li").
pub async fn publish_new(
    editor: &mut Client,
    reviewer: &mut Client,
    fields: gongkai_proto::v1::DocumentFields,
    date_published: &str,
) -> anyhow::Result<gongkai_proto::v1::Document> {
    let id = approve_new(editor, reviewer, fields).await?;
    let p = editor
        .publish_document(gongkai_proto::v1::PublishDocumentRequest {
            document_id: id,
            date_published: date_published.into(),
        })
        .await?
        .into_inner();
    anyhow::ensure!(!p.blocked, "publish blocked: {:?}", p.findings);
    p.document.context("document in response")
}

/// Approved documents ready to publish, titled `{prefix}{i}` (editor
/// "zhang", reviewer "li").
pub async fn approved_documents(
    editor: &mut Client,
    reviewer: &mut Client,
    prefix: &str,
    n: usize,
) -> anyhow::Result<Vec<String>> {
    let mut ids = Vec::new();
    for i in 0..n {
        let f = summary_fields(&format!("{prefix}{i}"), "政务公开。");
        ids.push(approve_new(editor, reviewer, f).await?);
    }
    Ok(ids)
}

/// Waits (up to `secs`) until every event in `db`'s outbox is sent.
pub async fn outbox_drained(db: &gongkai_kernel::db::Db, secs: u64) -> anyhow::Result<()> {
    eventually(secs, || async {
        Ok((gongkai_kernel::outbox::pending_count(db).await? == 0).then_some(()))
    })
    .await
}

/// The year's notice arrives: `deploy/calendar/<year>.toml` copied into
/// the calendar directory `dir`.
pub fn add_calendar_year(dir: &Path, year: i32) -> std::io::Result<()> {
    let file = format!("{year}.toml");
    std::fs::copy(
        gongkai_testkit::workspace_root()
            .join("deploy/calendar")
            .join(&file),
        dir.join(file),
    )
    .map(|_| ())
}

/// A policy document (column 规范性文件) and its interpretation (政策解读),
/// formed 2026-09-01, linked, submitted and approved; their ids.
pub async fn approved_policy_pair(
    editor: &mut Client,
    reviewer: &mut Client,
    title: &str,
) -> anyhow::Result<(String, String)> {
    approved_policy_pair_with(editor, reviewer, title, |_| {}).await
}

/// [`approved_policy_pair`] with the policy document's fields changed by
/// `policy` first.
pub async fn approved_policy_pair_with(
    editor: &mut Client,
    reviewer: &mut Client,
    title: &str,
    policy: impl Fn(&mut gongkai_proto::v1::DocumentFields),
) -> anyhow::Result<(String, String)> {
    use gongkai_proto::v1 as pb;
    let mut create = async |column: &str, title: String| {
        let mut f = summary_fields(&title, "关于规范校外培训的若干规定。");
        f.column = column.into();
        f.date_formed = "2026-09-01".into();
        if column == "gfxwj" {
            policy(&mut f);
        }
        editor
            .create_document(pb::CreateDocumentRequest { fields: Some(f) })
            .await
            .map(|r| r.into_inner().id)
    };
    let policy = create("gfxwj", title.to_owned()).await?;
    let interp = create("zcjd", format!("《{title}》政策解读")).await?;
    editor
        .link_interpretation(pb::LinkInterpretationRequest {
            policy_document_id: policy.clone(),
            interpretation_document_id: interp.clone(),
        })
        .await?;
    for id in [&policy, &interp] {
        editor
            .submit_document(pb::SubmitDocumentRequest {
                document_id: id.clone(),
            })
            .await?;
        reviewer
            .review_document(pb::ReviewDocumentRequest {
                document_id: id.clone(),
                approve: true,
                comment: String::new(),
                confidentiality_cleared: true,
            })
            .await?;
    }
    Ok((policy, interp))
}

/// Every message the stream holds on `subject`, read through an ephemeral
/// ordered consumer.
pub async fn stream_messages(
    nats_url: &str,
    subject: &str,
) -> anyhow::Result<Vec<async_nats::Message>> {
    let client = async_nats::connect(nats_url).await?;
    let js = async_nats::jetstream::new(client);
    let stream = js.get_stream("GONGKAI").await?;
    let consumer = stream
        .create_consumer(async_nats::jetstream::consumer::pull::OrderedConfig {
            filter_subject: subject.into(),
            ..Default::default()
        })
        .await?;
    let pending = consumer.cached_info().num_pending as usize;
    let mut out = Vec::new();
    if pending == 0 {
        return Ok(out);
    }
    let mut msgs = consumer.messages().await?;
    while out.len() < pending {
        match tokio::time::timeout(Duration::from_secs(5), futures::StreamExt::next(&mut msgs))
            .await
        {
            Ok(Some(m)) => out.push(m?.message),
            _ => break,
        }
    }
    Ok(out)
}
