//! Requests service benchmarks.
//!
//! a. Deadline computations per second over the real working-day calendar:
//!    `Calendar::deadline(received, 20, NextDay)` for every receipt day of
//!    2026, and the full reply clock (`Request::reply_clock` / `next_due`) of
//!    requests with a correction restart, a consultation pause and an
//!    extension.
//! b. The overdue queue at 1,000,000 stored requests of one unit (plus 10 %
//!    of another unit), on SQLite and on PostgreSQL: `store::queue` first page
//!    and deep pages through the cursor, against a primary-key lookup on the
//!    same pool. Target: p99 under 50 ms.
//!
//! ```text
//! GONGKAI_BENCH_REQUESTS=100000 cargo bench -p gongkai-requests --bench requests
//! ```
//!
//! Environment:
//! - `GONGKAI_BENCH_REQUESTS`: requests of the measured unit (default 1,000,000).
//! - `GONGKAI_BENCH_BACKENDS`: `sqlite`, `postgres` or both, comma-separated
//!   (default both).
//! - `DATABASE_URL`: a PostgreSQL server to use instead of a temporary one
//!   (a fresh database is created on it).

use std::hint::black_box;
use std::path::Path;
use std::time::{Duration, Instant};

use anyhow::{Context as _, Result, bail, ensure};
use chrono::{Datelike as _, NaiveDate};
use gongkai_kernel::calendar::{Calendar, FirstDay};
use gongkai_kernel::db::{Backend, Db, sqlite_url, today_cst};
use gongkai_requests::domain::clock::ClockConfig;
use gongkai_requests::domain::fees::FeeSchedule;
use gongkai_requests::domain::lifecycle::{Action, ConsultKind, Request, Status};
use gongkai_requests::store::{self, RequestRow};
use hdrhistogram::Histogram;
use rand::rngs::StdRng;
use rand::{Rng as _, SeedableRng as _};
use sqlx::Row as _;

const DEFAULT_REQUESTS: usize = 1_000_000;
const UNIT: &str = "340823.jyj";
const OTHER_UNIT: &str = "340823.jishan";
const ROWS_PER_STATEMENT: usize = 500;
const ROWS_PER_TRANSACTION: usize = 50_000;
const MEASURED: usize = 1_000;
const WARMUP: usize = 50;
const PAGE: i64 = 50;
const TARGET_P99: Duration = Duration::from_millis(50);

fn main() -> Result<()> {
    machine();
    let workspace = Path::new(env!("CARGO_MANIFEST_DIR")).join("../..");
    let calendar = Calendar::load_dir(&workspace.join("deploy/calendar"))
        .context("loading deploy/calendar")?;
    println!("calendar years loaded: {:?}", calendar.years());
    println!();

    deadlines(&calendar)?;
    reply_clocks(&calendar)?;

    let n = env_usize("GONGKAI_BENCH_REQUESTS", DEFAULT_REQUESTS)?;
    let backends =
        std::env::var("GONGKAI_BENCH_BACKENDS").unwrap_or_else(|_| "sqlite,postgres".to_owned());
    let rt = tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()?;
    for b in backends.split(',').map(str::trim).filter(|b| !b.is_empty()) {
        let backend = match b {
            "sqlite" => Backend::Sqlite,
            "postgres" => Backend::Postgres,
            other => bail!("GONGKAI_BENCH_BACKENDS: unknown backend {other:?}"),
        };
        rt.block_on(queue_bench(backend, n))?;
    }
    Ok(())
}

// ---------------------------------------------------------------------------
// Machine
// ---------------------------------------------------------------------------

fn machine() {
    let cpus = std::thread::available_parallelism().map_or(0, usize::from);
    let cpuinfo = std::fs::read_to_string("/proc/cpuinfo").unwrap_or_default();
    let model = cpuinfo
        .lines()
        .find_map(|l| l.strip_prefix("model name"))
        .and_then(|l| l.split_once(':'))
        .map_or("unknown", |(_, v)| v.trim());
    let meminfo = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let mem = meminfo
        .lines()
        .find_map(|l| l.strip_prefix("MemTotal:"))
        .map_or("unknown", str::trim);
    println!("machine: nproc {cpus}, CPU {model}, MemTotal {mem}");
    println!(
        "build: {}",
        if cfg!(debug_assertions) {
            "debug (numbers are not representative)"
        } else {
            "release"
        }
    );
}

fn env_usize(key: &str, default: usize) -> Result<usize> {
    match std::env::var(key) {
        Ok(v) => v
            .replace('_', "")
            .parse()
            .with_context(|| format!("{key}={v:?} is not a count")),
        Err(_) => Ok(default),
    }
}

fn per_sec(ops: usize, took: Duration) -> String {
    let rate = ops as f64 / took.as_secs_f64();
    format!(
        "{ops} in {:.3} s = {:.2} M ops/s ({:.1} ns/op)",
        took.as_secs_f64(),
        rate / 1e6,
        1e9 / rate
    )
}

// ---------------------------------------------------------------------------
// a. Deadlines
// ---------------------------------------------------------------------------

fn days_of(year: i32) -> Result<Vec<NaiveDate>> {
    let first = NaiveDate::from_ymd_opt(year, 1, 1).context("jan 1")?;
    Ok(first.iter_days().take_while(|d| d.year() == year).collect())
}

/// Times `deadline` over `days`, repeated until at least `min_ops` calls.
fn time_deadlines(cal: &Calendar, days: &[NaiveDate], min_ops: usize) -> (usize, Duration, u64) {
    let reps = min_ops.div_ceil(days.len().max(1));
    let mut check = 0u64;
    // Warm-up.
    for d in days {
        check += u64::from(cal.deadline(*d, 20, FirstDay::NextDay).value.ordinal());
    }
    let started = Instant::now();
    for _ in 0..reps {
        for d in days {
            let due = cal.deadline(black_box(*d), black_box(20), FirstDay::NextDay);
            check = check.wrapping_add(u64::from(due.value.ordinal()) + u64::from(due.provisional));
        }
    }
    (reps * days.len(), started.elapsed(), black_box(check))
}

fn deadlines(cal: &Calendar) -> Result<()> {
    println!("== a(i) Calendar::deadline(received, 20, NextDay), every receipt day of 2026");
    let days = days_of(2026)?;
    let provisional: Vec<NaiveDate> = days
        .iter()
        .copied()
        .filter(|d| cal.deadline(*d, 20, FirstDay::NextDay).provisional)
        .collect();
    let exact: Vec<NaiveDate> = days
        .iter()
        .copied()
        .filter(|d| !provisional.contains(d))
        .collect();
    // Spot checks against the 2026 file (National Day, Spring Festival).
    let d = |s: &str| s.parse::<NaiveDate>().context("date");
    ensure!(
        cal.deadline(d("2026-09-25")?, 20, FirstDay::NextDay).value > d("2026-10-23")?,
        "National Day holidays not applied"
    );
    println!(
        "receipt days: {} ({} with a deadline in 2027, which has no calendar file: provisional)",
        days.len(),
        provisional.len()
    );
    let (ops, took, _) = time_deadlines(cal, &days, 1_000_000);
    println!("all receipt days:        {}", per_sec(ops, took));
    let (ops, took, _) = time_deadlines(cal, &exact, 1_000_000);
    println!("exact (within 2026):     {}", per_sec(ops, took));
    if !provisional.is_empty() {
        let (ops, took, _) = time_deadlines(cal, &provisional, 1_000_000);
        println!("provisional (into 2027): {}", per_sec(ops, took));
    }
    println!();
    Ok(())
}

/// A request received on `received` that was corrected (the term restarts),
/// went through a third-party consultation (the clock pauses) and was
/// extended by 20 working days.
fn eventful_request(
    cal: &Calendar,
    cfg: &ClockConfig,
    fees: &FeeSchedule,
    received: NaiveDate,
) -> Result<Request> {
    let wd = |from: NaiveDate, n: u32| cal.add_working_days(from, n).value;
    let asked = wd(received, 2);
    let corrected = wd(received, 5);
    let consult = wd(corrected, 3);
    let answered = wd(consult, 10);
    let extended = wd(answered, 1);
    let actions = [
        Action::RequestCorrection {
            day: asked,
            what: "请写明所需信息的文号或名称".into(),
            due: None,
        },
        Action::Correct { day: corrected },
        Action::StartConsultation {
            day: consult,
            kind: ConsultKind::ThirdParty,
            party: "南陵县某建材有限公司".into(),
        },
        Action::EndConsultation {
            day: answered,
            outcome: "第三方同意公开".into(),
        },
        Action::Extend {
            day: extended,
            approver: "张主任".into(),
            reason: "涉及档案调取，需延长答复期限".into(),
            days: 20,
        },
    ];
    let mut r = Request::new(received);
    for a in actions {
        r = r
            .apply(a.clone(), cal, cfg, fees)
            .map_err(|e| anyhow::anyhow!("{a:?} refused for a request of {received}: {e}"))?;
    }
    ensure!(r.status == Status::Received && r.extended);
    Ok(r)
}

fn reply_clocks(cal: &Calendar) -> Result<()> {
    println!(
        "== a(ii) Request::reply_clock / next_due (correction restart + consultation pause + extension)"
    );
    let cfg = ClockConfig::default();
    let fees = FeeSchedule::default();
    // Working receipt days Jan–Aug 2026, so every deadline rests on 2026's file.
    let requests: Vec<Request> = days_of(2026)?
        .into_iter()
        .filter(|d| d.month() <= 8 && cal.is_working_day(*d).value)
        .map(|d| eventful_request(cal, &cfg, &fees, d))
        .collect::<Result<_>>()?;
    let provisional = requests
        .iter()
        .filter(|r| r.reply_clock(cal, &cfg).provisional)
        .count();
    let sample = &requests[0];
    let clock = sample.reply_clock(cal, &cfg);
    println!(
        "{} requests ({} provisional); e.g. received {}: {} clock events, counting from {:?}, \
         {} paused + {} extension working days, reply due {:?}",
        requests.len(),
        provisional,
        sample.received,
        sample.clock.len(),
        clock.counting_from,
        clock.paused_days,
        clock.extension_days,
        clock.due.map(|d| d.value)
    );
    // Reference: the same request without any event.
    let plain: Vec<Request> = requests.iter().map(|r| Request::new(r.received)).collect();

    let reps = 1_000_000usize.div_ceil(requests.len());
    let mut check = 0u64;
    let mut run = |label: &str, set: &[Request], f: &dyn Fn(&Request) -> u64| {
        for r in set {
            check = check.wrapping_add(f(r));
        }
        let started = Instant::now();
        for _ in 0..reps {
            for r in set {
                check = check.wrapping_add(f(black_box(r)));
            }
        }
        println!("{label} {}", per_sec(reps * set.len(), started.elapsed()));
    };
    let reply_clock = |r: &Request| {
        r.reply_clock(cal, &cfg)
            .due
            .map_or(0, |d| u64::from(d.value.ordinal()))
    };
    let next_due = |r: &Request| {
        r.next_due(cal, &cfg)
            .map_or(0, |d| u64::from(d.date.value.ordinal()))
    };
    run("reply_clock, eventful:   ", &requests, &reply_clock);
    run("next_due, eventful:      ", &requests, &next_due);
    run("next_due, just received: ", &plain, &next_due);
    black_box(check);
    println!();
    Ok(())
}

// ---------------------------------------------------------------------------
// b. The overdue queue
// ---------------------------------------------------------------------------

fn iso(d: NaiveDate) -> String {
    d.format("%Y-%m-%d").to_string()
}

const SURNAMES: &[&str] = &[
    "王", "李", "张", "刘", "陈", "杨", "黄", "赵", "吴", "周", "徐", "孙", "马", "朱", "胡",
];
const GIVEN: &[&str] = &[
    "伟", "芳", "娜", "秀英", "敏", "静", "丽", "强", "磊", "军", "洋", "勇", "艳", "杰", "涛",
];
const TOPICS: &[&str] = &[
    "2025年度部门预算及三公经费",
    "城区污水处理厂运行监测数据",
    "籍山镇棚户区改造项目征收补偿方案",
    "县教育局义务教育学校划片方案",
    "某建设项目环境影响评价文件及批复",
    "农村低保对象审批名单",
    "政府采购合同及中标公告",
    "行政处罚决定书",
    "国有土地使用权出让合同",
    "道路改扩建工程立项批复",
];
const CLOSED_STATUSES: &[(&str, &str)] = &[
    ("replied", "disclosed"),
    ("closed", "disclosed"),
    ("closed", "partly"),
    ("closed", "withheld.third_party_rights"),
    ("closed", "cannot_provide.not_held"),
    ("closed", "not_processed.repeated"),
    ("withdrawn", "other.other"),
    ("abandoned", "other.correction_overdue"),
];
const OPEN_STATUSES: &[(&str, &str)] = &[
    ("received", "reply"),
    ("received", "reply"),
    ("received", "reply"),
    ("received", "reply"),
    ("correction_requested", "correction"),
    ("consulting", "consultation"),
    ("fee_notified", "payment"),
];

/// Deterministic synthetic requests: received over 2025 up to today, ~70 %
/// concluded (no due date), the rest open with due dates from 60 days before
/// to 30 days after today, so about two thirds of the open ones are overdue.
struct Generator {
    rng: StdRng,
    today: NaiveDate,
    first: NaiveDate,
    span_days: i64,
    seq: std::collections::HashMap<(bool, i32), i64>,
    state_json: String,
}

impl Generator {
    fn new(today: NaiveDate) -> Result<Self> {
        let first = NaiveDate::from_ymd_opt(2025, 1, 1).context("2025-01-01")?;
        let state = Request::new(today);
        Ok(Self {
            rng: StdRng::seed_from_u64(0x6b6f_6e67_6b61_6931),
            today,
            first,
            span_days: (today - first).num_days().max(1),
            seq: Default::default(),
            state_json: serde_json::to_string(&state)?,
        })
    }

    fn token(&mut self, len: usize) -> String {
        const B64: &[u8] = b"ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_";
        (0..len)
            .map(|_| char::from(B64[self.rng.gen_range(0..B64.len())]))
            .collect()
    }

    fn row(&mut self, other_unit: bool, population: usize) -> RequestRow {
        let days = |n: i64| chrono::Duration::days(n);
        let open = self.rng.gen_bool(0.3);
        let (received, due) = if open {
            let due = self.today + days(self.rng.gen_range(-60..=30));
            let received = (due - days(self.rng.gen_range(28..=45))).min(self.today);
            (received, Some(due))
        } else {
            (
                self.first + days(self.rng.gen_range(0..=self.span_days)),
                None,
            )
        };
        let secs = received
            .and_hms_opt(8, 0, 0)
            .map_or(0, |t| t.and_utc().timestamp())
            .max(0) as u64
            + self.rng.gen_range(0..36_000);
        let millis = secs * 1000 + self.rng.gen_range(0..1000);
        let id = uuid::Builder::from_unix_timestamp_millis(millis, &self.rng.r#gen())
            .into_uuid()
            .to_string();
        let seq = self.seq.entry((other_unit, received.year())).or_insert(0);
        *seq += 1;
        let tracking_no = format!(
            "{}-{}-{:07}",
            if other_unit { "JSZ" } else { "YSQ" },
            received.year(),
            seq
        );
        let name = format!(
            "{}{}",
            SURNAMES[self.rng.gen_range(0..SURNAMES.len())],
            GIVEN[self.rng.gen_range(0..GIVEN.len())]
        );
        let topic = TOPICS[self.rng.gen_range(0..TOPICS.len())];
        let description = format!(
            "申请公开{topic}（{}年{}月），用于{}。",
            received.year() - i32::from(self.rng.gen_bool(0.5)),
            self.rng.gen_range(1..=12),
            ["本人权益保护", "学术研究", "监督政府工作", "生产经营需要"][self.rng.gen_range(0..4)]
        );
        let applicant = self.rng.gen_range(0..population.max(3) / 3);
        let info = self.rng.gen_range(0..population.max(2) / 2);
        let at = secs as i64 * 1000;
        let mut r = RequestRow {
            id,
            unit: if other_unit { OTHER_UNIT } else { UNIT }.to_owned(),
            tracking_no,
            query_code_hash: format!("{}${}", self.token(22), self.token(43)),
            applicant_type: if self.rng.gen_bool(0.85) {
                "natural_person"
            } else {
                "commercial"
            }
            .to_owned(),
            applicant_name: name,
            id_type: "resident_id".to_owned(),
            id_number: format!(
                "34082319{:02}0101{:04}",
                self.rng.gen_range(50..99),
                self.rng.gen_range(0..10_000)
            ),
            phone: format!("139{:08}", self.rng.gen_range(0..100_000_000)),
            email: String::new(),
            address: "安徽省芜湖市南陵县籍山镇".to_owned(),
            description,
            delivery_form: "电子邮件".to_owned(),
            channel: "online".to_owned(),
            received_on: iso(received),
            status: String::new(),
            state_json: self.state_json.clone(),
            open,
            due_kind: None,
            due_on: due.map(iso),
            due_provisional: due.is_some_and(|d| d.year() > 2026),
            reply_category: None,
            replied_on: None,
            concluded_on: None,
            reply_json: None,
            fee_basis: None,
            fee_yuan: 0,
            fee_paid_on: None,
            extended: open && self.rng.gen_bool(0.1),
            applicant_key: format!("ap{applicant:022}"),
            info_key: format!("in{info:022}"),
            suggested_category: String::new(),
            duplicate_of: String::new(),
            created_at: at,
            updated_at: at,
        };
        if open {
            let (status, kind) = OPEN_STATUSES[self.rng.gen_range(0..OPEN_STATUSES.len())];
            r.status = status.to_owned();
            r.due_kind = Some(kind.to_owned());
        } else {
            let (status, category) = CLOSED_STATUSES[self.rng.gen_range(0..CLOSED_STATUSES.len())];
            let concluded = (received + days(self.rng.gen_range(3..=40))).min(self.today);
            r.status = status.to_owned();
            r.reply_category = Some(category.to_owned());
            r.concluded_on = Some(iso(concluded));
            r.replied_on = Some(iso(concluded));
            r.reply_json = Some(format!(
                r#"{{"reply":{{"category":"{category}","legal_basis":"","responsible_body":null,"text":"经审查，现答复如下。"}},"document_index_nos":[]}}"#
            ));
        }
        r
    }
}

const COLUMNS: usize = 35;

/// A multi-row INSERT. SQLite gets anonymous `?` placeholders: with `$N`
/// ones, sqlx binds each argument after looking its name up with
/// `sqlite3_bind_parameter_name`, a linear scan of the statement's
/// parameter list, which makes a 17,500-parameter statement quadratic
/// (about 0.4 s per statement, 1,400 rows/s).
fn insert_sql(backend: Backend, rows: usize) -> String {
    let mut sql = String::from(
        "INSERT INTO requests (id, unit, tracking_no, query_code_hash, applicant_type, \
         applicant_name, id_type, id_number, phone, email, address, description, delivery_form, \
         channel, received_on, status, state_json, open, due_kind, due_on, due_provisional, \
         reply_category, replied_on, concluded_on, reply_json, fee_basis, fee_yuan, fee_paid_on, \
         extended, applicant_key, info_key, suggested_category, duplicate_of, created_at, \
         updated_at) VALUES ",
    );
    for r in 0..rows {
        if r > 0 {
            sql.push(',');
        }
        sql.push('(');
        for c in 0..COLUMNS {
            if c > 0 {
                sql.push(',');
            }
            match backend {
                Backend::Sqlite => sql.push('?'),
                Backend::Postgres => {
                    sql.push('$');
                    sql.push_str(&(r * COLUMNS + c + 1).to_string());
                }
            }
        }
        sql.push(')');
    }
    sql
}

async fn insert_rows(conn: &mut sqlx::AnyConnection, sql: &str, rows: &[RequestRow]) -> Result<()> {
    let mut q = sqlx::query(sqlx::AssertSqlSafe(sql.to_owned()));
    for r in rows {
        q = q
            .bind(&r.id)
            .bind(&r.unit)
            .bind(&r.tracking_no)
            .bind(&r.query_code_hash)
            .bind(&r.applicant_type)
            .bind(&r.applicant_name)
            .bind(&r.id_type)
            .bind(&r.id_number)
            .bind(&r.phone)
            .bind(&r.email)
            .bind(&r.address)
            .bind(&r.description)
            .bind(&r.delivery_form)
            .bind(&r.channel)
            .bind(&r.received_on)
            .bind(&r.status)
            .bind(&r.state_json)
            .bind(i64::from(r.open))
            .bind(&r.due_kind)
            .bind(&r.due_on)
            .bind(i64::from(r.due_provisional))
            .bind(&r.reply_category)
            .bind(&r.replied_on)
            .bind(&r.concluded_on)
            .bind(&r.reply_json)
            .bind(&r.fee_basis)
            .bind(r.fee_yuan)
            .bind(&r.fee_paid_on)
            .bind(i64::from(r.extended))
            .bind(&r.applicant_key)
            .bind(&r.info_key)
            .bind(&r.suggested_category)
            .bind(&r.duplicate_of)
            .bind(r.created_at)
            .bind(r.updated_at);
    }
    let done = q.execute(conn).await?;
    ensure!(done.rows_affected() == rows.len() as u64, "short insert");
    Ok(())
}

struct Loaded {
    unit_rows: usize,
    other_rows: usize,
    open_overdue: usize,
    /// Ids sampled uniformly from the unit's rows, for the baseline.
    sample_ids: Vec<String>,
}

/// `n` requests of UNIT and one of OTHER_UNIT after every tenth.
async fn load(db: &Db, n: usize, today: NaiveDate) -> Result<Loaded> {
    let mut generator = Generator::new(today)?;
    let yesterday = iso(today.pred_opt().context("yesterday")?);
    let full_sql = insert_sql(db.backend(), ROWS_PER_STATEMENT);
    let sample_every = (n / 5_000).max(1);
    let mut loaded = Loaded {
        unit_rows: 0,
        other_rows: 0,
        open_overdue: 0,
        sample_ids: Vec::new(),
    };
    let mut batch: Vec<RequestRow> = Vec::with_capacity(ROWS_PER_STATEMENT);
    let started = Instant::now();
    let mut last_report = Instant::now();
    let mut i = 0usize;
    while loaded.unit_rows < n {
        // One transaction of ROWS_PER_TRANSACTION rows.
        let mut tx = db.begin().await?;
        let mut in_tx = 0usize;
        while in_tx < ROWS_PER_TRANSACTION && loaded.unit_rows < n {
            let other = i % 11 == 10;
            i += 1;
            let r = generator.row(other, n);
            if other {
                loaded.other_rows += 1;
            } else {
                if r.open && r.due_on.as_deref().is_some_and(|d| d <= yesterday.as_str()) {
                    loaded.open_overdue += 1;
                }
                if loaded.unit_rows.is_multiple_of(sample_every) {
                    loaded.sample_ids.push(r.id.clone());
                }
                loaded.unit_rows += 1;
            }
            batch.push(r);
            if batch.len() == ROWS_PER_STATEMENT || loaded.unit_rows == n {
                let sql = if batch.len() == ROWS_PER_STATEMENT {
                    &full_sql
                } else {
                    &insert_sql(db.backend(), batch.len())
                };
                insert_rows(&mut tx, sql, &batch).await?;
                in_tx += batch.len();
                batch.clear();
            }
        }
        tx.commit().await?;
        if last_report.elapsed() > Duration::from_secs(20) {
            last_report = Instant::now();
            let done = loaded.unit_rows + loaded.other_rows;
            eprintln!(
                "  … {done} rows in {:.0} s ({:.0} rows/s)",
                started.elapsed().as_secs_f64(),
                done as f64 / started.elapsed().as_secs_f64()
            );
        }
    }
    Ok(loaded)
}

fn histogram() -> Result<Histogram<u64>> {
    Ok(Histogram::new_with_bounds(1, 120_000_000, 3)?)
}

fn record(h: &mut Histogram<u64>, took: Duration) -> Result<()> {
    h.record(u64::try_from(took.as_micros()).unwrap_or(u64::MAX).max(1))?;
    Ok(())
}

fn ms(us: u64) -> String {
    format!("{:.3} ms", us as f64 / 1000.0)
}

fn summary(label: &str, h: &Histogram<u64>, base: Option<&Histogram<u64>>) -> String {
    let mut s = format!(
        "{label:<38} p50 {:>10}  p90 {:>10}  p99 {:>10}  max {:>10}",
        ms(h.value_at_quantile(0.5)),
        ms(h.value_at_quantile(0.9)),
        ms(h.value_at_quantile(0.99)),
        ms(h.max()),
    );
    if let Some(b) = base {
        s.push_str(&format!(
            "  ×baseline p50 {:.1}, p99 {:.1}",
            h.value_at_quantile(0.5) as f64 / b.value_at_quantile(0.5).max(1) as f64,
            h.value_at_quantile(0.99) as f64 / b.value_at_quantile(0.99).max(1) as f64,
        ));
    }
    s
}

/// The store's queue query with one redundant term, `due_on >= $4`, which
/// both OR branches of the cursor imply: it lets the index range start at
/// the cursor instead of at `from`. Measured only as a candidate fix.
const QUEUE_WITH_CURSOR_BOUND: &str = "SELECT id, tracking_no, status, due_kind, due_on, received_on FROM requests \
     WHERE unit = $1 AND open = 1 AND due_on >= $2 AND due_on <= $3 AND due_on >= $4 \
     AND (due_on > $4 OR (due_on = $4 AND id > $5)) \
     ORDER BY due_on, id LIMIT $6";

/// The same with the cursor as a row-value comparison, which both backends
/// turn into an index range on `(unit, due_on, id)`.
const QUEUE_WITH_ROW_VALUE: &str = "SELECT id, tracking_no, status, due_kind, due_on, received_on FROM requests \
     WHERE unit = $1 AND open = 1 AND due_on >= $2 AND due_on <= $3 \
     AND (due_on, id) > ($4, $5) \
     ORDER BY due_on, id LIMIT $6";

/// Both: the row value for PostgreSQL's index condition, the plain bound
/// for SQLite's range.
const QUEUE_WITH_BOTH: &str = "SELECT id, tracking_no, status, due_kind, due_on, received_on FROM requests \
     WHERE unit = $1 AND open = 1 AND due_on >= $2 AND due_on <= $3 \
     AND due_on >= $4 AND (due_on, id) > ($4, $5) \
     ORDER BY due_on, id LIMIT $6";

/// The store's query text, with literals, for EXPLAIN.
fn queue_sql_literal(
    from: &str,
    to: &str,
    after: (&str, &str),
    limit: i64,
    row_value: bool,
) -> String {
    let (a, b) = after;
    let cursor = if row_value {
        format!("(due_on, id) > ('{a}', '{b}')")
    } else {
        format!("(due_on > '{a}' OR (due_on = '{a}' AND id > '{b}'))")
    };
    format!(
        "SELECT id, tracking_no, status, due_kind, due_on, received_on FROM requests \
         WHERE unit = '{UNIT}' AND open = 1 AND due_on >= '{from}' AND due_on <= '{to}' \
         AND {cursor} ORDER BY due_on, id LIMIT {limit}"
    )
}

async fn explain(db: &Db, sql: &str) -> Result<Vec<String>> {
    let (prefix, column) = match db.backend() {
        Backend::Sqlite => ("EXPLAIN QUERY PLAN ", "detail"),
        Backend::Postgres => ("EXPLAIN (ANALYZE, BUFFERS, COSTS OFF) ", "QUERY PLAN"),
    };
    let rows = sqlx::query(sqlx::AssertSqlSafe(format!("{prefix}{sql}")))
        .fetch_all(db.read())
        .await?;
    rows.iter()
        .map(|r| Ok(r.try_get::<String, _>(column)?))
        .collect()
}

async fn queue_bench(backend: Backend, n: usize) -> Result<()> {
    let name = match backend {
        Backend::Sqlite => "SQLite",
        Backend::Postgres => "PostgreSQL",
    };
    println!("== b. overdue queue, {name}, {n} requests of one unit");
    let dir = tempfile::tempdir()?;
    let url = match backend {
        Backend::Sqlite => sqlite_url(&dir.path().join("requests.db")),
        Backend::Postgres => {
            gongkai_testkit::Postgres::start()
                .await?
                .fresh_database()
                .await?
        }
    };
    let db = store::connect(&url).await?;
    let version: String = match backend {
        Backend::Sqlite => sqlx::query_scalar("SELECT sqlite_version()"),
        Backend::Postgres => sqlx::query_scalar("SELECT version()"),
    }
    .fetch_one(db.read())
    .await?;
    println!("server: {version}");
    let today = today_cst();
    let yesterday = iso(today.pred_opt().context("yesterday")?);

    let started = Instant::now();
    let loaded = load(&db, n, today).await?;
    let load_took = started.elapsed();
    let total = loaded.unit_rows + loaded.other_rows;
    println!(
        "bulk load: {} rows ({} of {UNIT}, {} of {OTHER_UNIT}) in {:.1} s = {:.0} rows/s \
         ({ROWS_PER_STATEMENT} rows per INSERT, {ROWS_PER_TRANSACTION} per transaction)",
        total,
        loaded.unit_rows,
        loaded.other_rows,
        load_took.as_secs_f64(),
        total as f64 / load_took.as_secs_f64()
    );
    if backend == Backend::Postgres {
        let started = Instant::now();
        sqlx::query("ANALYZE").execute(db.write()).await?;
        println!("ANALYZE: {:.1} s", started.elapsed().as_secs_f64());
        let size: String = sqlx::query_scalar(
            "SELECT pg_size_pretty(pg_total_relation_size('requests')) || ' (table + indexes), queue index ' || pg_size_pretty(pg_relation_size('requests_queue'))",
        )
        .fetch_one(db.read())
        .await?;
        println!("size: {size}");
    } else {
        let bytes: u64 = std::fs::read_dir(dir.path())?
            .filter_map(|e| e.ok()?.metadata().ok())
            .map(|m| m.len())
            .sum();
        println!(
            "size: {:.0} MiB (database file + WAL)",
            bytes as f64 / (1 << 20) as f64
        );
    }

    // The whole overdue queue, in order: cursors for the deep pages and the
    // expected first row after each.
    let keys: Vec<(String, String)> = sqlx::query(
        "SELECT due_on, id FROM requests WHERE unit = $1 AND open = 1 AND due_on >= $2 \
         AND due_on <= $3 ORDER BY due_on, id",
    )
    .bind(UNIT)
    .bind("0000-01-01")
    .bind(&yesterday)
    .fetch_all(db.read())
    .await?
    .iter()
    .map(|r| Ok((r.try_get("due_on")?, r.try_get("id")?)))
    .collect::<Result<_, sqlx::Error>>()?;
    ensure!(
        keys.len() == loaded.open_overdue,
        "overdue rows: generated {}, found {}",
        loaded.open_overdue,
        keys.len()
    );
    ensure!(keys.len() > PAGE as usize, "too few overdue rows to page");
    println!(
        "overdue (open, due ≤ {yesterday}): {} rows of {UNIT}; queue = store::queue(unit, \
         \"0000-01-01\", \"{yesterday}\", after_due, after_id, {PAGE})",
        keys.len()
    );

    let mut rng = StdRng::seed_from_u64(7);
    let plan: Vec<(usize, String)> = (0..WARMUP + MEASURED)
        .map(|_| {
            let depth = rng.gen_range(0..keys.len() - 1);
            let id = loaded.sample_ids[rng.gen_range(0..loaded.sample_ids.len())].clone();
            (depth, id)
        })
        .collect();

    let mut first = histogram()?;
    let mut deep = histogram()?;
    let mut deep_tail = histogram()?;
    let mut fixed_deep = histogram()?;
    let mut row_value_deep = histogram()?;
    let mut both_deep = histogram()?;
    let mut baseline = histogram()?;
    let tail_from = keys.len() * 9 / 10;
    for (i, (depth, id)) in plan.iter().enumerate() {
        let measured = i >= WARMUP;
        // First page.
        let t = Instant::now();
        let page = {
            let mut conn = db.read().acquire().await?;
            store::queue(&mut conn, UNIT, "0000-01-01", &yesterday, "", "", PAGE).await?
        };
        let took = t.elapsed();
        ensure!(
            page.len() == PAGE as usize && page[0].id == keys[0].1,
            "first page wrong"
        );
        if measured {
            record(&mut first, took)?;
        }
        // A deep page: the cursor of a random row of the queue.
        let (after_due, after_id) = &keys[*depth];
        let t = Instant::now();
        let page = {
            let mut conn = db.read().acquire().await?;
            store::queue(
                &mut conn,
                UNIT,
                "0000-01-01",
                &yesterday,
                after_due,
                after_id,
                PAGE,
            )
            .await?
        };
        let took = t.elapsed();
        let want = (keys.len() - depth - 1).min(PAGE as usize);
        ensure!(
            page.len() == want && page[0].id == keys[depth + 1].1,
            "deep page after {depth} wrong"
        );
        if measured {
            record(&mut deep, took)?;
            if *depth >= tail_from {
                record(&mut deep_tail, took)?;
            }
        }
        // Candidate fixes, same cursor.
        for (sql, h) in [
            (QUEUE_WITH_CURSOR_BOUND, &mut fixed_deep),
            (QUEUE_WITH_ROW_VALUE, &mut row_value_deep),
            (QUEUE_WITH_BOTH, &mut both_deep),
        ] {
            let t = Instant::now();
            let rows = {
                let mut conn = db.read().acquire().await?;
                sqlx::query(sql)
                    .bind(UNIT)
                    .bind("0000-01-01")
                    .bind(&yesterday)
                    .bind(after_due)
                    .bind(after_id)
                    .bind(PAGE)
                    .fetch_all(&mut *conn)
                    .await?
            };
            let took = t.elapsed();
            ensure!(
                rows.len() == want && rows[0].try_get::<String, _>("id")? == keys[depth + 1].1,
                "candidate query: wrong page"
            );
            if measured {
                record(h, took)?;
            }
        }
        // Baseline: primary key.
        let t = Instant::now();
        let got: Option<String> = {
            let mut conn = db.read().acquire().await?;
            sqlx::query_scalar("SELECT id FROM requests WHERE id = $1")
                .bind(id)
                .fetch_optional(&mut *conn)
                .await?
        };
        let took = t.elapsed();
        ensure!(got.as_deref() == Some(id.as_str()), "baseline row missing");
        if measured {
            record(&mut baseline, took)?;
        }
    }
    println!(
        "{MEASURED} measured queries each (after {WARMUP} warm-up), interleaved; times include the pool acquire:"
    );
    println!(
        "{}",
        summary("baseline: SELECT id WHERE id = $1", &baseline, None)
    );
    println!("{}", summary("queue, first page", &first, Some(&baseline)));
    println!(
        "{}",
        summary("queue, deep page (uniform depth)", &deep, Some(&baseline))
    );
    println!(
        "{}",
        summary(
            &format!("queue, deepest 10 % ({} runs)", deep_tail.len()),
            &deep_tail,
            Some(&baseline)
        )
    );
    let verdict = |h: &Histogram<u64>| {
        if h.value_at_quantile(0.99) < TARGET_P99.as_micros() as u64 {
            "meets"
        } else {
            "MISSES"
        }
    };
    println!(
        "target p99 < {} ms: first page {}, deep pages {}",
        TARGET_P99.as_millis(),
        verdict(&first),
        verdict(&deep)
    );
    println!(
        "{}",
        summary(
            "candidate: + `AND due_on >= $4`",
            &fixed_deep,
            Some(&baseline)
        )
    );
    println!(
        "{}",
        summary(
            "candidate: `(due_on, id) > ($4, $5)`",
            &row_value_deep,
            Some(&baseline)
        )
    );
    println!(
        "{}",
        summary("candidate: both of the above", &both_deep, Some(&baseline))
    );

    // A scheduler pass: the whole overdue queue by cursor, 500 a page.
    let t = Instant::now();
    let mut walk = histogram()?;
    let (mut after_due, mut after_id) = (String::new(), String::new());
    let mut seen = 0usize;
    loop {
        let p = Instant::now();
        let page = {
            let mut conn = db.read().acquire().await?;
            store::queue(
                &mut conn,
                UNIT,
                "0000-01-01",
                &yesterday,
                &after_due,
                &after_id,
                500,
            )
            .await?
        };
        record(&mut walk, p.elapsed())?;
        let Some(last) = page.last() else { break };
        ensure!(page[0].id == keys[seen].1, "walk skipped or repeated rows");
        seen += page.len();
        after_due = last.due_on.clone();
        after_id = last.id.clone();
        if t.elapsed() > Duration::from_secs(60) {
            println!("(walk stopped after 60 s)");
            break;
        }
    }
    println!(
        "full walk of the overdue queue, 500 per page (the scheduler's read path): {} rows in {} \
         pages, {:.2} s; per page p50 {} p99 {} max {}",
        seen,
        walk.len(),
        t.elapsed().as_secs_f64(),
        ms(walk.value_at_quantile(0.5)),
        ms(walk.value_at_quantile(0.99)),
        ms(walk.max())
    );

    let mid = &keys[keys.len() / 2];
    let last = &keys[keys.len() - PAGE as usize - 1];
    for (label, after, row_value) in [
        ("first page", ("", ""), false),
        (
            "cursor at the middle",
            (mid.0.as_str(), mid.1.as_str()),
            false,
        ),
        (
            "cursor near the end",
            (last.0.as_str(), last.1.as_str()),
            false,
        ),
        (
            "candidate (due_on, id) > (…), cursor at the middle",
            (mid.0.as_str(), mid.1.as_str()),
            true,
        ),
    ] {
        println!("plan, {label}:");
        let sql = queue_sql_literal("0000-01-01", &yesterday, after, PAGE, row_value);
        for line in explain(&db, &sql).await? {
            println!("    {line}");
        }
    }
    db.close().await;
    println!();
    Ok(())
}
