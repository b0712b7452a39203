//! Publishing throughput and latency over real gRPC, against its baselines.
//!
//! For each backend (SQLite file in a temporary directory; PostgreSQL from
//! `gongkai_testkit::Postgres`, which honours `DATABASE_URL`) this starts the
//! publishing service on a real socket with a real `nats-server`, then times,
//! with 1, 16 and 64 concurrent clients (each its own tonic `Channel`):
//!
//! * **empty call** — `grpc.health.v1.Health/Check` on the same server;
//! * **raw insert** — `BEGIN; INSERT one row; COMMIT` on a separate database
//!   of the same backend, opened with `Db::connect` (same pool settings);
//! * **Publish** — `PublishDocument` of a pre-approved document (approved →
//!   published with its version, history and outbox rows; search indexing
//!   runs in the background indexer);
//! * **whole document** — Create → Submit → Review → Publish, timed as one.
//!
//! ```text
//! cargo bench -p gongkai-tests --bench publish
//! GONGKAI_BENCH_N=300 GONGKAI_BENCH_BACKENDS=sqlite cargo bench -p gongkai-tests --bench publish
//! ```
//!
//! Environment:
//! - `GONGKAI_BENCH_N`: operations per row (default 2,000; ten times as many
//!   for the cheap baselines); as many approved documents are prepared,
//!   untimed, for each Publish row.
//! - `GONGKAI_BENCH_SECS`: a row stops taking new operations after this many
//!   seconds (default 10), so slow rows do not stretch the run.
//! - `GONGKAI_BENCH_CLIENTS`: concurrency levels (default `1,16,64`).
//! - `GONGKAI_BENCH_BACKENDS`: `sqlite`, `postgres` or both (default both).
//! - `DATABASE_URL`: an existing PostgreSQL server to use instead of a
//!   temporary cluster.
//!
//! Telemetry is deliberately not initialised, so logging costs nothing.

use std::future::Future;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, anyhow, bail, ensure};
use gongkai_kernel::UnitPath;
use gongkai_kernel::auth::{Claims, Role, TokenKey};
use gongkai_kernel::bus::Bus;
use gongkai_kernel::calendar::Calendar;
use gongkai_kernel::config::{NatsConfig, NodeConfig};
use gongkai_kernel::db::{Db, sqlite_url, today_cst};
use gongkai_kernel::outbox;
use gongkai_kernel::runtime::Runtime;
use gongkai_proto::v1 as pb;
use gongkai_proto::v1::publishing_client::PublishingClient;
use gongkai_publishing::Running;
use gongkai_publishing::search::SearchQuery;
use gongkai_testkit::{Nats, Postgres, workspace_root};
use hdrhistogram::Histogram;
use tonic::Request;
use tonic::metadata::{Ascii, MetadataValue};
use tonic::transport::{Channel, Endpoint};
use tonic_health::pb::HealthCheckRequest;
use tonic_health::pb::health_client::HealthClient;

const DEFAULT_N: usize = 2_000;
/// A row stops taking new operations after this long.
const DEFAULT_SECS: u64 = 10;
const DEFAULT_CLIENTS: &[usize] = &[1, 16, 64];
/// The baselines are cheap: their rows run this many times `N` operations
/// (still within the time limit) so that they last long enough to measure.
const BASELINE_FACTOR: usize = 10;
/// Untimed operations before each kind is measured.
const WARMUP: usize = 200;
/// Concurrency of the untimed preparation.
const PREP_CLIENTS: usize = 64;
/// Concurrency of the warm-ups.
const WARMUP_CLIENTS: usize = 16;
const UNIT: &str = "340823.edu";
const UNIT_NAME: &str = "南陵县教育局";
const ORG_CODE: &str = "11340823MB1234567X";
/// 工作总结: a plain column (no policy interpretation needed).
const COLUMN: &str = "gzzj";
/// How long to wait for the outbox and the search index to catch up.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(120);

/// A work summary of ordinary length, free of personal data (no phone or ID
/// numbers) and of confidentiality keywords, so the scans pass.
const BODY_PARAGRAPH: &str = "今年以来，县教育局坚持以习近平新时代中国特色社会主义思想为指导，\
    认真贯彻落实政府信息公开条例，围绕群众关切和教育重点工作，扎实推进政务公开标准化规范化建设。\
    一是健全工作机制，明确分管领导和信息员职责，落实公开前审查和定期检查制度；\
    二是丰富公开内容，及时发布招生入学、学生资助、教师招聘、校园安全等信息；\
    三是强化政策解读，通过图文解读、问答等形式回应社会关切；\
    四是规范依申请公开办理，严格按照法定时限答复，做到件件有回音。\
    下一步，我局将继续加强队伍建设和业务培训，不断提升政务公开工作质效。\n";

fn body() -> String {
    BODY_PARAGRAPH.repeat(4)
}

fn main() -> Result<()> {
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
        .context("building the tokio runtime")?;
    rt.block_on(run())
}

struct Settings {
    n: usize,
    limit: Duration,
    clients: Vec<usize>,
    backends: Vec<Backend>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Backend {
    Sqlite,
    Postgres,
}

fn env_usize(name: &str, default: usize) -> Result<usize> {
    match std::env::var(name) {
        Ok(v) if !v.trim().is_empty() => v
            .trim()
            .parse()
            .with_context(|| format!("{name}={v:?}: not a number")),
        _ => Ok(default),
    }
}

fn settings() -> Result<Settings> {
    let n = env_usize("GONGKAI_BENCH_N", DEFAULT_N)?;
    ensure!(n > 0, "GONGKAI_BENCH_N must be positive");
    let secs = env_usize("GONGKAI_BENCH_SECS", DEFAULT_SECS as usize)?;
    ensure!(secs > 0, "GONGKAI_BENCH_SECS must be positive");
    let clients = match std::env::var("GONGKAI_BENCH_CLIENTS") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|c| {
                c.trim()
                    .parse::<usize>()
                    .ok()
                    .filter(|&c| c > 0)
                    .ok_or_else(|| anyhow!("GONGKAI_BENCH_CLIENTS: {c:?} is not a positive number"))
            })
            .collect::<Result<Vec<_>>>()?,
        _ => DEFAULT_CLIENTS.to_vec(),
    };
    let backends = match std::env::var("GONGKAI_BENCH_BACKENDS") {
        Ok(v) if !v.trim().is_empty() => v
            .split(',')
            .map(|b| match b.trim() {
                "sqlite" => Ok(Backend::Sqlite),
                "postgres" | "postgresql" | "pg" => Ok(Backend::Postgres),
                other => bail!("GONGKAI_BENCH_BACKENDS: {other:?} is not sqlite or postgres"),
            })
            .collect::<Result<Vec<_>>>()?,
        _ => vec![Backend::Sqlite, Backend::Postgres],
    };
    Ok(Settings {
        n,
        limit: Duration::from_secs(secs as u64),
        clients,
        backends,
    })
}

async fn run() -> Result<()> {
    let s = settings()?;
    println!("Gongkai publish benchmark");
    println!("machine: {}", machine());
    println!(
        "rows: up to {} operations ({} for the baselines) or {} s each; clients {:?}; server, clients, nats-server and database share this machine",
        s.n,
        BASELINE_FACTOR * s.n,
        s.limit.as_secs(),
        s.clients
    );
    println!("(release build, telemetry off; latency is per operation as the client sees it)");
    let t0 = Instant::now();
    for backend in &s.backends {
        println!();
        let report = bench_backend(*backend, &s)
            .await
            .with_context(|| format!("{backend:?} benchmark"))?;
        report.print(&s.clients);
    }
    println!();
    println!(
        "publish benchmark done in {:.0} s",
        t0.elapsed().as_secs_f64()
    );
    Ok(())
}

/// nproc, CPU model and memory, from /proc.
fn machine() -> String {
    let nproc = std::thread::available_parallelism().map_or(0, |n| n.get());
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| {
            let (k, v) = l.split_once(':')?;
            (k.trim() == "model name").then(|| v.trim().to_owned())
        })
        .unwrap_or_else(|| "unknown CPU".into());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .map_or_else(|| "unknown".into(), |v| v.trim().to_owned());
    let kernel = std::fs::read_to_string("/proc/sys/kernel/osrelease").unwrap_or_default();
    let load = std::fs::read_to_string("/proc/loadavg").unwrap_or_default();
    let load: Vec<&str> = load.split_whitespace().take(3).collect();
    format!(
        "nproc {nproc}; model name {model}; MemTotal {mem}; Linux {}; load average at start {}",
        kernel.trim(),
        load.join(" ")
    )
}

// ---------------------------------------------------------------------------
// Measurement
// ---------------------------------------------------------------------------

/// One client's work: an operation per call, `Ok(false)` when there is none left.
trait Worker: Send + 'static {
    fn op(&mut self) -> impl Future<Output = Result<bool>> + Send;
}

#[derive(Debug, Clone, Copy)]
struct Figures {
    ops: u64,
    per_sec: f64,
    p50_us: u64,
    p99_us: u64,
    /// One client's rate is the inverse of this, not of the median: a rare
    /// slow call (a checkpoint, a merge) weighs on the rate by its length.
    mean_us: f64,
}

fn histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 120_000_000, 3)?)
}

/// Runs all workers at once until their work runs out or, with a `limit`,
/// until that long has passed (an operation under way is finished). Wall
/// time runs from a common start, after every client is connected, to the
/// last worker's end.
async fn measure<W: Worker>(workers: Vec<W>, limit: Option<Duration>) -> Result<Figures> {
    let clients = workers.len();
    let start = Arc::new(tokio::sync::Barrier::new(workers.len() + 1));
    let mut tasks = Vec::with_capacity(workers.len());
    for mut w in workers {
        let start = start.clone();
        tasks.push(tokio::spawn(async move {
            let mut h = histogram()?;
            start.wait().await;
            let deadline = limit.map(|l| Instant::now() + l);
            loop {
                if deadline.is_some_and(|d| Instant::now() >= d) {
                    break;
                }
                let t0 = Instant::now();
                if !w.op().await? {
                    break;
                }
                h.saturating_record(u64::try_from(t0.elapsed().as_micros()).unwrap_or(u64::MAX));
            }
            anyhow::Ok(h)
        }));
    }
    start.wait().await;
    eprintln!("  {clients} client(s)");
    let t0 = Instant::now();
    let mut parts = Vec::with_capacity(tasks.len());
    for t in tasks {
        parts.push(t.await.context("a client task panicked")?);
    }
    let wall = t0.elapsed();
    eprintln!("  {clients} client(s) done in {:.2} s", wall.as_secs_f64());
    let mut all = histogram()?;
    for p in parts {
        all.add(p?)?;
    }
    let ops = all.len();
    Ok(Figures {
        ops,
        per_sec: ops as f64 / wall.as_secs_f64(),
        p50_us: all.value_at_quantile(0.50),
        p99_us: all.value_at_quantile(0.99),
        mean_us: all.mean(),
    })
}

/// Tells someone watching a long run (or a profiler waiting for a row)
/// what starts now; the figures themselves go to standard output.
fn progress(what: &str) {
    eprintln!("{what}");
}

/// Takes one unit of work from a shared budget.
fn take(budget: &AtomicUsize) -> bool {
    budget
        .fetch_update(Ordering::Relaxed, Ordering::Relaxed, |n| n.checked_sub(1))
        .is_ok()
}

// ---------------------------------------------------------------------------
// Workers
// ---------------------------------------------------------------------------

#[derive(Clone)]
struct Tokens {
    editor: MetadataValue<Ascii>,
    reviewer: MetadataValue<Ascii>,
}

impl Tokens {
    fn issue(key: &TokenKey, unit: &UnitPath) -> Result<Tokens> {
        let exp = chrono::Utc::now().timestamp() + 24 * 3600;
        let bearer = |sub: &str, role: Role| -> Result<MetadataValue<Ascii>> {
            let token = key.issue(&Claims {
                sub: sub.into(),
                unit: unit.clone(),
                role,
                exp,
            });
            format!("Bearer {token}")
                .parse()
                .map_err(|_| anyhow!("token is not a valid header value"))
        };
        Ok(Tokens {
            // The reviewer must not be the drafter.
            editor: bearer("信息员", Role::Editor)?,
            reviewer: bearer("审核员", Role::Reviewer)?,
        })
    }
}

fn authed<T>(msg: T, token: &MetadataValue<Ascii>) -> Request<T> {
    let mut r = Request::new(msg);
    r.metadata_mut().insert("authorization", token.clone());
    r
}

/// Everything a gRPC worker shares with the others.
#[derive(Clone)]
struct Shared {
    tokens: Tokens,
    body: Arc<str>,
    today: String,
    /// Numbers the documents' titles.
    serial: Arc<AtomicUsize>,
}

impl Shared {
    fn fields(&self) -> pb::DocumentFields {
        let n = self.serial.fetch_add(1, Ordering::Relaxed) + 1;
        pb::DocumentFields {
            title: format!("{UNIT_NAME}政务公开工作总结（基准第{n}篇）"),
            subject: "教育".into(),
            date_formed: self.today.clone(),
            attribute: pb::DisclosureAttribute::Proactive as i32,
            column: COLUMN.into(),
            body: self.body.to_string(),
            ..Default::default()
        }
    }
}

/// Create → Submit → Review (approve); returns the document id.
async fn create_and_approve(c: &mut PublishingClient<Channel>, s: &Shared) -> Result<String> {
    let doc = c
        .create_document(authed(
            pb::CreateDocumentRequest {
                fields: Some(s.fields()),
            },
            &s.tokens.editor,
        ))
        .await
        .context("CreateDocument")?
        .into_inner();
    let submitted = c
        .submit_document(authed(
            pb::SubmitDocumentRequest {
                document_id: doc.id.clone(),
            },
            &s.tokens.editor,
        ))
        .await
        .context("SubmitDocument")?
        .into_inner();
    ensure!(
        !submitted.blocked,
        "SubmitDocument blocked by the privacy scan: {:?}",
        submitted.findings
    );
    let reviewed = c
        .review_document(authed(
            pb::ReviewDocumentRequest {
                document_id: doc.id.clone(),
                approve: true,
                comment: "同意公开".into(),
                confidentiality_cleared: false,
            },
            &s.tokens.reviewer,
        ))
        .await
        .context("ReviewDocument")?
        .into_inner();
    ensure!(
        reviewed.state == pb::DocumentState::Approved as i32,
        "ReviewDocument left state {}",
        reviewed.state
    );
    Ok(doc.id)
}

async fn publish(c: &mut PublishingClient<Channel>, s: &Shared, id: String) -> Result<()> {
    let out = c
        .publish_document(authed(
            pb::PublishDocumentRequest {
                document_id: id,
                date_published: String::new(),
            },
            &s.tokens.reviewer,
        ))
        .await
        .context("PublishDocument")?
        .into_inner();
    ensure!(
        !out.blocked,
        "PublishDocument blocked by the privacy scan: {:?}",
        out.findings
    );
    let state = out.document.map(|d| d.state);
    ensure!(
        state == Some(pb::DocumentState::Published as i32),
        "PublishDocument left state {state:?}"
    );
    Ok(())
}

/// Prepares approved documents (untimed).
struct Prepare {
    client: PublishingClient<Channel>,
    shared: Shared,
    budget: Arc<AtomicUsize>,
    out: Arc<Mutex<Vec<String>>>,
}

impl Worker for Prepare {
    async fn op(&mut self) -> Result<bool> {
        if !take(&self.budget) {
            return Ok(false);
        }
        let id = create_and_approve(&mut self.client, &self.shared).await?;
        self.out
            .lock()
            .map_err(|_| anyhow!("poisoned id list"))?
            .push(id);
        Ok(true)
    }
}

/// Publishes pre-approved documents pulled from a shared queue.
struct Publish {
    client: PublishingClient<Channel>,
    shared: Shared,
    queue: Arc<Mutex<Vec<String>>>,
}

impl Worker for Publish {
    async fn op(&mut self) -> Result<bool> {
        let next = self
            .queue
            .lock()
            .map_err(|_| anyhow!("poisoned id queue"))?
            .pop();
        let Some(id) = next else {
            return Ok(false);
        };
        publish(&mut self.client, &self.shared, id).await?;
        Ok(true)
    }
}

/// Create → Submit → Review → Publish, as one operation.
struct Whole {
    client: PublishingClient<Channel>,
    shared: Shared,
    budget: Arc<AtomicUsize>,
}

impl Worker for Whole {
    async fn op(&mut self) -> Result<bool> {
        if !take(&self.budget) {
            return Ok(false);
        }
        let id = create_and_approve(&mut self.client, &self.shared).await?;
        publish(&mut self.client, &self.shared, id).await?;
        Ok(true)
    }
}

/// `grpc.health.v1.Health/Check` on the same server.
struct Health {
    client: HealthClient<Channel>,
    budget: Arc<AtomicUsize>,
}

impl Worker for Health {
    async fn op(&mut self) -> Result<bool> {
        if !take(&self.budget) {
            return Ok(false);
        }
        let r = self
            .client
            .check(HealthCheckRequest {
                service: String::new(),
            })
            .await
            .context("Health/Check")?
            .into_inner();
        ensure!(r.status == 1, "health status {} (not SERVING)", r.status);
        Ok(true)
    }
}

/// `BEGIN; INSERT one row; COMMIT` straight on a `Db`.
struct RawInsert {
    db: Db,
    body: Arc<str>,
    budget: Arc<AtomicUsize>,
}

impl Worker for RawInsert {
    async fn op(&mut self) -> Result<bool> {
        if !take(&self.budget) {
            return Ok(false);
        }
        let mut tx = self.db.begin().await?;
        sqlx::query("INSERT INTO bench_raw (id, body) VALUES ($1, $2)")
            .bind(uuid::Uuid::now_v7().to_string())
            .bind(&*self.body)
            .execute(&mut *tx)
            .await?;
        tx.commit().await?;
        Ok(true)
    }
}

// ---------------------------------------------------------------------------
// One backend
// ---------------------------------------------------------------------------

#[derive(Default)]
struct Report {
    title: String,
    empty: Vec<(usize, Figures)>,
    raw: Vec<(usize, Figures)>,
    publish: Vec<(usize, Figures)>,
    whole: Vec<(usize, Figures)>,
    notes: Vec<String>,
}

fn at(rows: &[(usize, Figures)], clients: usize) -> Option<Figures> {
    rows.iter().find(|r| r.0 == clients).map(|r| r.1)
}

impl Report {
    fn print(&self, clients: &[usize]) {
        println!("== {} ==", self.title);
        println!(
            "{:<32} {:>7} {:>6} {:>9} {:>9} {:>9} {:>9} {:>7} {:>7}",
            "operation",
            "clients",
            "ops",
            "ops/s",
            "p50 µs",
            "p99 µs",
            "mean µs",
            "÷ raw",
            "÷ empty"
        );
        let row = |name: &str, c: usize, f: Figures, ratios: Option<(f64, f64)>| {
            let (r, e) = ratios.map_or((String::new(), String::new()), |(r, e)| {
                (format!("{r:.2}"), format!("{e:.2}"))
            });
            println!(
                "{name:<32} {c:>7} {:>6} {:>9.1} {:>9} {:>9} {:>9.0} {r:>7} {e:>7}",
                f.ops, f.per_sec, f.p50_us, f.p99_us, f.mean_us
            );
        };
        for (name, rows) in [
            ("empty call (Health/Check)", &self.empty),
            ("raw insert (BEGIN;INSERT;COMMIT)", &self.raw),
        ] {
            for &(c, f) in rows {
                row(name, c, f, None);
            }
        }
        for &(c, f) in &self.publish {
            let ratios = match (at(&self.raw, c), at(&self.empty, c)) {
                (Some(r), Some(e)) => Some((f.per_sec / r.per_sec, f.per_sec / e.per_sec)),
                _ => None,
            };
            row("Publish", c, f, ratios);
        }
        for &(c, f) in &self.whole {
            row("whole document (4 calls)", c, f, None);
        }
        let mut met = Vec::new();
        let mut missed = Vec::new();
        for &c in clients {
            if let (Some(p), Some(r)) = (at(&self.publish, c), at(&self.raw, c)) {
                if p.per_sec >= 0.5 * r.per_sec {
                    met.push(c.to_string());
                } else {
                    missed.push(c.to_string());
                }
            }
        }
        println!(
            "target Publish ops/s ≥ 0.5 × raw insert ops/s: met at {} client(s); missed at {} client(s)",
            if met.is_empty() {
                "no".into()
            } else {
                met.join(", ")
            },
            if missed.is_empty() {
                "no".into()
            } else {
                missed.join(", ")
            },
        );
        println!("(whole document: ops/s is documents/s; latency is the four calls together)");
        for n in &self.notes {
            println!("note: {n}");
        }
    }
}

struct Infra {
    /// Kept alive for the service's lifetime.
    _nats: Nats,
    _dir: tempfile::TempDir,
    running: Running,
    raw: Db,
    title: String,
    /// The runtime's bus, flushed at the end.
    bus: Bus,
    /// The node's signing key: tokens must be signed with it.
    keys: TokenKey,
    unit: UnitPath,
}

async fn start(backend: Backend) -> Result<Infra> {
    let root = workspace_root();
    let nats = Nats::start().await.context("starting nats-server")?;
    let dir = tempfile::Builder::new()
        .prefix("gk-bench-")
        .tempdir()
        .context("temporary directory")?;
    let (service_url, raw_url) = match backend {
        Backend::Sqlite => (String::new(), sqlite_url(&dir.path().join("raw.db"))),
        Backend::Postgres => {
            let pg = Postgres::start().await.context("starting PostgreSQL")?;
            (pg.fresh_database().await?, pg.fresh_database().await?)
        }
    };
    let raw = Db::connect(&raw_url, &gongkai_publishing::store::MIGRATIONS)
        .await
        .context("raw-insert database")?;
    sqlx::query("CREATE TABLE bench_raw (id TEXT PRIMARY KEY, body TEXT NOT NULL)")
        .execute(raw.write())
        .await
        .context("creating bench_raw")?;
    let title = match backend {
        Backend::Sqlite => {
            let v: String = sqlx::query_scalar("SELECT sqlite_version()")
                .fetch_one(raw.read())
                .await?;
            format!("SQLite {v} (file in a temporary directory, WAL, synchronous=NORMAL)")
        }
        Backend::Postgres => {
            let v: String = sqlx::query_scalar("SHOW server_version")
                .fetch_one(raw.read())
                .await?;
            let whence = if std::env::var("DATABASE_URL").is_ok_and(|u| !u.is_empty()) {
                "server at DATABASE_URL"
            } else {
                "temporary cluster: fsync=off, synchronous_commit=off"
            };
            format!("PostgreSQL {v} ({whence})")
        }
    };

    let node = NodeConfig {
        unit: UnitPath::parse(UNIT).map_err(|e| anyhow!("unit: {e}"))?,
        name: UNIT_NAME.into(),
        org_code: ORG_CODE.into(),
        data_dir: dir.path().join("node"),
        calendar_dir: root.join("deploy/calendar"),
        tls_cert: None,
        tls_key: None,
        tls_ca: None,
    };
    std::fs::create_dir_all(&node.data_dir)?;
    let calendar = Calendar::load_dir(&node.calendar_dir).map_err(|e| anyhow!("calendar: {e}"))?;
    let bus = Bus::connect(
        &NatsConfig {
            url: nats.url.clone(),
            ..Default::default()
        },
        "bench",
    )
    .await
    .context("connecting to NATS")?;
    let rt = Runtime {
        node,
        calendar,
        keys: TokenKey::generate(),
        bus: bus.clone(),
    };
    let cfg = gongkai_publishing::Config {
        listen: "127.0.0.1:0".into(),
        database_url: service_url,
        catalog_file: root.join("deploy/catalog/default.toml"),
        ..Default::default()
    };
    let running = gongkai_publishing::start(rt.clone(), cfg)
        .await
        .context("starting the publishing service")?;
    Ok(Infra {
        _nats: nats,
        _dir: dir,
        running,
        raw,
        title,
        bus,
        keys: rt.keys,
        unit: rt.node.unit,
    })
}

async fn channels(addr: SocketAddr, n: usize) -> Result<Vec<Channel>> {
    let endpoint = Endpoint::from_shared(format!("http://{addr}"))?;
    let mut out = Vec::with_capacity(n);
    for _ in 0..n {
        out.push(endpoint.connect().await.context("connecting a client")?);
    }
    Ok(out)
}

/// Waits until every event is relayed to JetStream and the search index has
/// every published document, so one row's backlog does not slow the next.
async fn settle(running: &Running, published: usize, notes: &mut Vec<String>) -> Result<()> {
    let deadline = Instant::now() + SETTLE_TIMEOUT;
    loop {
        let pending = outbox::pending_count(running.service.db()).await?;
        let indexed = running
            .service
            .search(&SearchQuery {
                column: Some(COLUMN.into()),
                limit: 1,
                ..Default::default()
            })
            .map_err(|e| anyhow!("search: {e}"))?
            .total;
        if pending == 0 && indexed >= published {
            return Ok(());
        }
        if Instant::now() >= deadline {
            let note = format!(
                "after {SETTLE_TIMEOUT:?}: {pending} events still in the outbox, {indexed} of {published} documents indexed"
            );
            println!("warning: {note}");
            notes.push(note);
            return Ok(());
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

async fn bench_backend(backend: Backend, s: &Settings) -> Result<Report> {
    let infra = start(backend).await?;
    let mut report = Report {
        title: infra.title.clone(),
        ..Default::default()
    };
    let max_clients = s
        .clients
        .iter()
        .copied()
        .max()
        .unwrap_or(1)
        .max(PREP_CLIENTS);
    let chans = channels(infra.running.addr, max_clients).await?;
    let body: Arc<str> = body().into();
    let shared = Shared {
        tokens: Tokens::issue(&infra.keys, &infra.unit)?,
        body: body.clone(),
        today: today_cst().to_string(),
        serial: Arc::new(AtomicUsize::new(0)),
    };
    let publishing = |i: usize| PublishingClient::new(chans[i].clone());
    let budget = |n: usize| Arc::new(AtomicUsize::new(n));

    // Approved documents for every Publish row and its warm-up (untimed).
    let levels = s.clients.len();
    let approved = Arc::new(Mutex::new(Vec::new()));
    let t0 = Instant::now();
    progress("preparing approved documents");
    let prep_budget = budget(WARMUP + levels * s.n);
    measure(
        (0..PREP_CLIENTS)
            .map(|i| Prepare {
                client: publishing(i),
                shared: shared.clone(),
                budget: prep_budget.clone(),
                out: approved.clone(),
            })
            .collect(),
        None,
    )
    .await
    .context("preparing approved documents")?;
    let mut approved =
        std::mem::take(&mut *approved.lock().map_err(|_| anyhow!("poisoned id list"))?);
    ensure!(
        approved.len() == WARMUP + levels * s.n,
        "preparation fell short"
    );
    report.notes.push(format!(
        "prepared {} approved documents in {:.1} s (untimed)",
        approved.len(),
        t0.elapsed().as_secs_f64()
    ));

    // Empty call.
    let health = |c: usize, n: usize| {
        let b = budget(n);
        (0..c)
            .map(|i| Health {
                client: HealthClient::new(chans[i].clone()),
                budget: b.clone(),
            })
            .collect::<Vec<_>>()
    };
    progress("empty call");
    measure(health(WARMUP_CLIENTS, WARMUP), None).await?;
    for &c in &s.clients {
        report.empty.push((
            c,
            measure(health(c, BASELINE_FACTOR * s.n), Some(s.limit)).await?,
        ));
    }

    // Raw insert.
    let raw = |c: usize, n: usize| {
        let b = budget(n);
        (0..c)
            .map(|_| RawInsert {
                db: infra.raw.clone(),
                body: body.clone(),
                budget: b.clone(),
            })
            .collect::<Vec<_>>()
    };
    progress("raw insert");
    measure(raw(WARMUP_CLIENTS, WARMUP), None).await?;
    for &c in &s.clients {
        report.raw.push((
            c,
            measure(raw(c, BASELINE_FACTOR * s.n), Some(s.limit)).await?,
        ));
    }

    // Publish: each row pulls from its own queue of approved documents.
    let mut published = 0;
    let publish_level = |c: usize, ids: Vec<String>| {
        let queue = Arc::new(Mutex::new(ids));
        (0..c)
            .map(|i| Publish {
                client: publishing(i),
                shared: shared.clone(),
                queue: queue.clone(),
            })
            .collect::<Vec<_>>()
    };
    progress("Publish");
    let warm = approved.split_off(approved.len() - WARMUP);
    measure(publish_level(WARMUP_CLIENTS, warm), None).await?;
    published += WARMUP;
    settle(&infra.running, published, &mut report.notes).await?;
    for &c in &s.clients {
        let ids = approved.split_off(approved.len() - s.n);
        let f = measure(publish_level(c, ids), Some(s.limit)).await?;
        published += usize::try_from(f.ops)?;
        report.publish.push((c, f));
        settle(&infra.running, published, &mut report.notes).await?;
    }

    // Whole document.
    progress("whole document");
    for &c in &s.clients {
        let b = budget(s.n);
        let f = measure(
            (0..c)
                .map(|i| Whole {
                    client: publishing(i),
                    shared: shared.clone(),
                    budget: b.clone(),
                })
                .collect(),
            Some(s.limit),
        )
        .await?;
        published += usize::try_from(f.ops)?;
        report.whole.push((c, f));
        settle(&infra.running, published, &mut report.notes).await?;
    }

    // Every publication is in the database, relayed and indexed.
    let listed = PublishingClient::new(chans[0].clone())
        .list_documents(authed(
            pb::ListDocumentsRequest {
                state: pb::DocumentState::Published as i32,
                limit: 1,
                ..Default::default()
            },
            &shared.tokens.editor,
        ))
        .await
        .context("ListDocuments")?
        .into_inner()
        .total;
    ensure!(
        usize::try_from(listed)? == published,
        "{listed} documents published, expected {published}"
    );

    drop(chans);
    let t0 = Instant::now();
    infra
        .running
        .shutdown()
        .await
        .context("graceful shutdown")?;
    infra.bus.flush().await;
    infra.raw.close().await;
    report.notes.push(format!(
        "{published} documents published and indexed; graceful shutdown took {:.2} s",
        t0.elapsed().as_secs_f64()
    ));
    Ok(report)
}
