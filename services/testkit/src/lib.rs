//! Test helpers that start *real* infrastructure for integration tests.
//!
//! * [`Nats`] — a private `nats-server` with JetStream on a free port, its
//!   store in a temporary directory; it can be stopped and restarted on the
//!   same port with the same store.
//! * [`Postgres`] — a PostgreSQL server: the one at `DATABASE_URL` when that
//!   is set, otherwise one temporary cluster per test process (made with
//!   `initdb`/`pg_ctl`), with [`Postgres::fresh_database`] giving each test an
//!   empty database of its own.
//!
//! Everything a test starts is cleaned up when the test process ends, even
//! when it is killed: each server has a small watchdog shell (in its own
//! process group) that waits for EOF on a pipe whose only writer is the test
//! process, then stops the server and removes its directory.

use std::collections::HashSet;
use std::ffi::OsStr;
use std::fs::{self, OpenOptions};
use std::net::{Ipv4Addr, TcpListener};
use std::os::unix::fs::PermissionsExt;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::Mutex;
use std::time::{Duration, Instant};

use anyhow::{Context, Result, anyhow, bail};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::net::TcpStream;

/// How long [`Nats::start`] / [`Nats::restart`] wait for the port to accept connections.
const NATS_START_TIMEOUT: Duration = Duration::from_secs(10);
/// How many times a start is retried when the chosen port turned out to be taken.
const START_ATTEMPTS: usize = 5;

const INSTALL_HINT: &str = "run `make deps` (deploy/scripts/install-deps.sh) to install it";

// ---------------------------------------------------------------------------
// Generic helpers
// ---------------------------------------------------------------------------

/// A TCP port on 127.0.0.1 that was free a moment ago.
///
/// Ports are never handed out twice within one process, so two servers started
/// by the same test process cannot race for the same port.
pub fn free_port() -> u16 {
    static HANDED_OUT: Mutex<Option<HashSet<u16>>> = Mutex::new(None);
    let mut handed_out = HANDED_OUT
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let handed_out = handed_out.get_or_insert_with(HashSet::new);
    loop {
        let listener = TcpListener::bind((Ipv4Addr::LOCALHOST, 0))
            .expect("binding an ephemeral port on 127.0.0.1 must work");
        let port = listener
            .local_addr()
            .expect("a bound listener has a local address")
            .port();
        if handed_out.insert(port) {
            return port;
        }
    }
}

/// The workspace root (the directory holding the top-level `Cargo.toml`).
pub fn workspace_root() -> PathBuf {
    let manifest_dir = Path::new(env!("CARGO_MANIFEST_DIR"));
    manifest_dir
        .ancestors()
        .nth(2)
        .unwrap_or(manifest_dir)
        .to_path_buf()
}

fn is_executable(path: &Path) -> bool {
    fs::metadata(path).is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o111 != 0)
}

fn path_dirs() -> Vec<PathBuf> {
    std::env::var_os("PATH")
        .map(|p| std::env::split_paths(&p).collect())
        .unwrap_or_default()
}

fn find_in(dirs: &[PathBuf], name: &str) -> Option<PathBuf> {
    dirs.iter().map(|d| d.join(name)).find(|p| is_executable(p))
}

/// The last `n` lines of a (log) file, for error messages.
fn tail(path: &Path, n: usize) -> String {
    match fs::read_to_string(path) {
        Ok(text) => {
            let lines: Vec<&str> = text.lines().collect();
            lines[lines.len().saturating_sub(n)..].join("\n")
        }
        Err(e) => format!("(could not read {}: {e})", path.display()),
    }
}

fn running_as_root() -> Result<bool> {
    let out = Command::new("id")
        .arg("-u")
        .output()
        .context("running `id -u`")?;
    if !out.status.success() {
        bail!("`id -u` failed: {}", String::from_utf8_lossy(&out.stderr));
    }
    Ok(String::from_utf8_lossy(&out.stdout).trim() == "0")
}

/// Run a short-lived command to completion; its stdout on success, an error
/// holding its output otherwise.
async fn run(cmd: &mut tokio::process::Command, what: &str) -> Result<String> {
    let out = cmd
        .stdin(Stdio::null())
        .kill_on_drop(true)
        .output()
        .await
        .with_context(|| format!("could not run {what}"))?;
    if !out.status.success() {
        bail!(
            "{what} failed ({}):\n{}{}",
            out.status,
            String::from_utf8_lossy(&out.stdout),
            String::from_utf8_lossy(&out.stderr)
        );
    }
    Ok(String::from_utf8_lossy(&out.stdout).into_owned())
}

/// A shell that runs `script` (after `read`) once its stdin reaches EOF: when
/// the test process ends, however it ends, or when fired explicitly.
#[derive(Debug)]
struct Watchdog {
    child: Child,
    stdin: Option<ChildStdin>,
}

impl Watchdog {
    fn spawn(cleanup: &str, args: &[&OsStr]) -> Result<Watchdog> {
        let script = format!("read _ignored\n{cleanup}\n");
        let mut child = Command::new("/bin/sh")
            .arg("-c")
            .arg(script)
            .arg("gk-testkit-watchdog")
            .args(args)
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .current_dir("/")
            // Own process group: survives a Ctrl-C or a group kill of the tests.
            .process_group(0)
            .spawn()
            .context("could not spawn the cleanup watchdog (/bin/sh)")?;
        let stdin = child.stdin.take();
        Ok(Watchdog { child, stdin })
    }

    /// Kill the watchdog without running its cleanup.
    fn cancel(mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }

    /// Run the cleanup now and wait for it to finish.
    fn fire(mut self) {
        drop(self.stdin.take());
        let _ = self.child.wait();
    }
}

// ---------------------------------------------------------------------------
// NATS
// ---------------------------------------------------------------------------

fn nats_server_bin() -> Result<PathBuf> {
    if let Some(bin) = std::env::var_os("NATS_SERVER_BIN").filter(|b| !b.is_empty()) {
        let bin = PathBuf::from(bin);
        if is_executable(&bin) {
            return Ok(bin);
        }
        bail!(
            "NATS_SERVER_BIN={} is not an executable file",
            bin.display()
        );
    }
    let mut dirs = path_dirs();
    dirs.extend(["/usr/sbin", "/usr/bin", "/usr/local/bin"].map(PathBuf::from));
    find_in(&dirs, "nats-server").ok_or_else(|| {
        anyhow!("nats-server not found (NATS_SERVER_BIN, PATH, /usr/sbin); {INSTALL_HINT}")
    })
}

/// A running `nats-server` process and the watchdog that kills it if the test
/// process dies first.
#[derive(Debug)]
struct NatsProcess {
    child: Child,
    watchdog: Watchdog,
}

impl NatsProcess {
    fn kill(mut self) {
        self.watchdog.cancel();
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

enum LaunchError {
    /// The server exited before listening (typically: port already taken).
    Exited(anyhow::Error),
    Fatal(anyhow::Error),
}

/// A private `nats-server` with JetStream enabled, listening on 127.0.0.1.
///
/// Everything it writes (JetStream store, log) lives in a temporary directory
/// that is removed when the handle is dropped.
#[derive(Debug)]
pub struct Nats {
    /// The client port on 127.0.0.1.
    pub port: u16,
    /// `nats://127.0.0.1:<port>`.
    pub url: String,
    name: String,
    bin: PathBuf,
    dir: tempfile::TempDir,
    process: Option<NatsProcess>,
}

impl Nats {
    /// Start a new server on a free port with an empty JetStream store.
    pub async fn start() -> Result<Nats> {
        let bin = nats_server_bin()?;
        let dir = tempfile::Builder::new()
            .prefix("gk-nats-")
            .tempdir()
            .context("creating a temporary directory for nats-server")?;
        fs::create_dir_all(dir.path().join("js")).context("creating the JetStream store dir")?;
        let mut nats = Nats {
            port: 0,
            url: String::new(),
            name: format!("gk-test-{:016x}", rand::random::<u64>()),
            bin,
            dir,
            process: None,
        };
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            nats.port = free_port();
            nats.url = format!("nats://127.0.0.1:{}", nats.port);
            match nats.launch().await {
                Ok(()) => return Ok(nats),
                Err(LaunchError::Fatal(e)) => return Err(e),
                Err(LaunchError::Exited(e)) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| anyhow!("no start attempt was made"))
            .context(format!(
                "nats-server did not start after {START_ATTEMPTS} attempts"
            )))
    }

    /// Kill the server (SIGKILL). The port and the JetStream store are kept for
    /// [`Nats::restart`]. Does nothing if it is not running.
    pub fn stop(&mut self) {
        if let Some(process) = self.process.take() {
            process.kill();
        }
    }

    /// Start the server again on the same port with the same JetStream store
    /// (stopping it first if it is running).
    pub async fn restart(&mut self) -> Result<()> {
        self.stop();
        let mut last = None;
        for attempt in 0..START_ATTEMPTS {
            if attempt > 0 {
                // Someone may be probing the port (e.g. `free_port` elsewhere); wait a bit.
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            match self.launch().await {
                Ok(()) => return Ok(()),
                Err(LaunchError::Fatal(e)) => return Err(e),
                Err(LaunchError::Exited(e)) => last = Some(e),
            }
        }
        Err(last
            .unwrap_or_else(|| anyhow!("no restart attempt was made"))
            .context(format!(
                "nats-server did not restart on port {} after {START_ATTEMPTS} attempts",
                self.port
            )))
    }

    /// Whether the server process is running (it was started and not stopped,
    /// and has not died).
    pub fn is_running(&mut self) -> bool {
        match &mut self.process {
            Some(p) => matches!(p.child.try_wait(), Ok(None)),
            None => false,
        }
    }

    /// The JetStream store directory (`-sd`).
    pub fn store_dir(&self) -> PathBuf {
        self.dir.path().join("js")
    }

    /// The server's log file (its stdout and stderr).
    pub fn log_file(&self) -> PathBuf {
        self.dir.path().join("nats-server.log")
    }

    async fn launch(&mut self) -> Result<(), LaunchError> {
        let fatal = LaunchError::Fatal;
        let log_path = self.log_file();
        let log = OpenOptions::new()
            .create(true)
            .append(true)
            .open(&log_path)
            .with_context(|| format!("opening {}", log_path.display()))
            .map_err(fatal)?;
        let log_err = log
            .try_clone()
            .context("duplicating the log file handle")
            .map_err(fatal)?;
        let child = Command::new(&self.bin)
            .args(["-a", "127.0.0.1", "-p", &self.port.to_string()])
            .args(["-n", &self.name, "-js", "-sd"])
            .arg(self.store_dir())
            .stdin(Stdio::null())
            .stdout(log)
            .stderr(log_err)
            .current_dir(self.dir.path())
            .spawn()
            .with_context(|| format!("could not run {}", self.bin.display()))
            .map_err(fatal)?;
        let pid = child.id().to_string();
        let watchdog = match Watchdog::spawn(
            r#"kill -9 "$1" 2>/dev/null; rm -rf "$2""#,
            &[OsStr::new(&pid), self.dir.path().as_os_str()],
        ) {
            Ok(w) => w,
            Err(e) => {
                let mut child = child;
                let _ = child.kill();
                let _ = child.wait();
                return Err(fatal(e));
            }
        };
        let mut process = NatsProcess { child, watchdog };

        let deadline = Instant::now() + NATS_START_TIMEOUT;
        loop {
            match process.child.try_wait() {
                Ok(None) => {}
                Ok(Some(status)) => {
                    process.watchdog.cancel();
                    return Err(LaunchError::Exited(anyhow!(
                        "nats-server exited ({status}) before accepting connections on port {}; log:\n{}",
                        self.port,
                        tail(&log_path, 20)
                    )));
                }
                Err(e) => {
                    process.kill();
                    return Err(fatal(anyhow!(e).context("waiting for nats-server")));
                }
            }
            if self.answers().await {
                self.process = Some(process);
                return Ok(());
            }
            if Instant::now() >= deadline {
                process.kill();
                return Err(fatal(anyhow!(
                    "nats-server did not accept connections on port {} within {:?}; log:\n{}",
                    self.port,
                    NATS_START_TIMEOUT,
                    tail(&log_path, 20)
                )));
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    }

    /// Whether *our* server (recognised by its unique name in the INFO line)
    /// accepts connections on the port.
    async fn answers(&self) -> bool {
        let probe = async {
            let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, self.port)).await?;
            let mut line = String::new();
            BufReader::new(stream).read_line(&mut line).await?;
            Ok::<_, std::io::Error>(line)
        };
        match tokio::time::timeout(Duration::from_secs(2), probe).await {
            Ok(Ok(line)) => {
                line.starts_with("INFO ")
                    && line.contains(&format!("\"server_name\":\"{}\"", self.name))
            }
            _ => false,
        }
    }
}

impl Drop for Nats {
    fn drop(&mut self) {
        self.stop();
    }
}

// ---------------------------------------------------------------------------
// PostgreSQL
// ---------------------------------------------------------------------------

/// Directories that may hold PostgreSQL programs, in order of preference:
/// `$PG_BIN`, `$PATH`, then `/usr/lib/postgresql/<version>/bin`, highest first.
fn pg_bin_dirs() -> Vec<PathBuf> {
    let mut dirs = Vec::new();
    if let Some(dir) = std::env::var_os("PG_BIN").filter(|d| !d.is_empty()) {
        dirs.push(PathBuf::from(dir));
    }
    dirs.extend(path_dirs());
    let mut versions: Vec<(u32, PathBuf)> = fs::read_dir("/usr/lib/postgresql")
        .map(|rd| {
            rd.filter_map(|e| e.ok())
                .filter_map(|e| {
                    let name = e.file_name().to_string_lossy().into_owned();
                    let major = name.split('.').next()?.parse::<u32>().ok()?;
                    Some((major, e.path().join("bin")))
                })
                .collect()
        })
        .unwrap_or_default();
    versions.sort_by_key(|v| std::cmp::Reverse(v.0));
    dirs.extend(versions.into_iter().map(|(_, d)| d));
    dirs
}

fn find_pg_program(name: &str) -> Result<PathBuf> {
    find_in(&pg_bin_dirs(), name).ok_or_else(|| {
        anyhow!(
            "PostgreSQL program `{name}` not found (PG_BIN, PATH, /usr/lib/postgresql/*/bin); {INSTALL_HINT}"
        )
    })
}

/// `initdb` and the `pg_ctl` of the same installation.
fn find_initdb_and_pg_ctl() -> Result<(PathBuf, PathBuf)> {
    let initdb = find_pg_program("initdb")?;
    let initdb = fs::canonicalize(&initdb).unwrap_or(initdb);
    let sibling = initdb.with_file_name("pg_ctl");
    let pg_ctl = if is_executable(&sibling) {
        sibling
    } else {
        find_pg_program("pg_ctl")?
    };
    Ok((initdb, pg_ctl))
}

fn find_runuser() -> Result<PathBuf> {
    let mut dirs = path_dirs();
    dirs.extend(["/usr/sbin", "/sbin", "/usr/bin", "/bin"].map(PathBuf::from));
    find_in(&dirs, "runuser").ok_or_else(|| {
        anyhow!("`runuser` not found; it is needed to run initdb as `postgres` when root")
    })
}

fn user_id(flag: &str, user: &str) -> Result<u32> {
    let out = Command::new("id")
        .args([flag, user])
        .output()
        .with_context(|| format!("running `id {flag} {user}`"))?;
    if !out.status.success() {
        bail!(
            "`id {flag} {user}` failed — does the `{user}` user exist? ({INSTALL_HINT}): {}",
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    String::from_utf8_lossy(&out.stdout)
        .trim()
        .parse()
        .with_context(|| format!("parsing the output of `id {flag} {user}`"))
}

/// `url` with its database (path) replaced by `db`; the query string is kept.
fn with_database(url: &str, db: &str) -> Result<String> {
    let scheme_end = url
        .find("://")
        .filter(|&i| matches!(&url[..i], "postgres" | "postgresql"))
        .ok_or_else(|| anyhow!("not a postgres:// URL: {url:?}"))?
        + 3;
    let rest = &url[scheme_end..];
    let authority_end = rest.find(['/', '?']).unwrap_or(rest.len());
    let (authority, tail) = rest.split_at(authority_end);
    let query = tail.find('?').map_or("", |i| &tail[i..]);
    Ok(format!("{}{authority}/{db}{query}", &url[..scheme_end]))
}

/// The temporary cluster shared by all tests of this process.
#[derive(Debug)]
struct Cluster {
    admin_url: String,
    /// Stops the cluster and removes its directory when the process exits.
    _watchdog: Watchdog,
}

static CLUSTER: tokio::sync::OnceCell<Cluster> = tokio::sync::OnceCell::const_new();

impl Cluster {
    async fn start() -> Result<Cluster> {
        let (initdb, pg_ctl) = find_initdb_and_pg_ctl()?;
        let as_root = running_as_root()?;
        // initdb refuses root; then run the server as `postgres` in a directory
        // it can reach (/tmp rather than a TMPDIR that may be private to root).
        let runuser = if as_root { Some(find_runuser()?) } else { None };
        let base = if as_root {
            PathBuf::from("/tmp")
        } else {
            std::env::temp_dir()
        };
        let dir = tempfile::Builder::new()
            .prefix("gk-pg-")
            .tempdir_in(&base)
            .with_context(|| format!("creating a temporary directory in {}", base.display()))?
            .keep();
        let data = dir.join("data");

        let stop = if runuser.is_some() {
            r#"if [ -f "$3/postmaster.pid" ]; then "$4" -u postgres -- "$2" stop -D "$3" -m immediate; fi; rm -rf "$1""#
        } else {
            r#"if [ -f "$3/postmaster.pid" ]; then "$2" stop -D "$3" -m immediate; fi; rm -rf "$1""#
        };
        let runuser_arg = runuser.clone().unwrap_or_default();
        let watchdog = Watchdog::spawn(
            stop,
            &[
                dir.as_os_str(),
                pg_ctl.as_os_str(),
                data.as_os_str(),
                runuser_arg.as_os_str(),
            ],
        )?;
        match Self::init_and_start(&dir, &data, &initdb, &pg_ctl, runuser.as_deref()).await {
            Ok(admin_url) => Ok(Cluster {
                admin_url,
                _watchdog: watchdog,
            }),
            Err(e) => {
                watchdog.fire();
                Err(e)
            }
        }
    }

    async fn init_and_start(
        dir: &Path,
        data: &Path,
        initdb: &Path,
        pg_ctl: &Path,
        runuser: Option<&Path>,
    ) -> Result<String> {
        if runuser.is_some() {
            let uid = user_id("-u", "postgres")?;
            let gid = user_id("-g", "postgres")?;
            std::os::unix::fs::chown(dir, Some(uid), Some(gid))
                .with_context(|| format!("chown postgres {}", dir.display()))?;
        }
        let command = |program: &Path| {
            let mut cmd = match runuser {
                Some(runuser) => {
                    let mut cmd = tokio::process::Command::new(runuser);
                    cmd.args(["-u", "postgres", "--"]).arg(program);
                    cmd
                }
                None => tokio::process::Command::new(program),
            };
            cmd.current_dir(dir);
            cmd
        };

        run(
            command(initdb)
                .arg("-D")
                .arg(data)
                .args(["-U", "postgres", "-A", "trust", "-E", "UTF8"])
                .args(["--no-locale", "--no-sync"]),
            "initdb",
        )
        .await?;

        let log = dir.join("postgres.log");
        let mut last = None;
        for _ in 0..START_ATTEMPTS {
            let port = free_port();
            let options = format!(
                "-F -p {port} -c fsync=off -c full_page_writes=off -c synchronous_commit=off \
                 -c listen_addresses=127.0.0.1 -k '{}'",
                dir.display()
            );
            let started = run(
                command(pg_ctl)
                    .args(["start", "-w", "-t", "60", "-D"])
                    .arg(data)
                    .arg("-l")
                    .arg(&log)
                    .arg("-o")
                    .arg(options),
                "pg_ctl start",
            )
            .await;
            match started {
                Ok(_) => return Ok(format!("postgres://postgres@127.0.0.1:{port}/postgres")),
                Err(e) => {
                    let log_tail = tail(&log, 20);
                    let e = e.context(format!("server log:\n{log_tail}"));
                    if !log_tail.contains("could not bind") && !log_tail.contains("already in use")
                    {
                        return Err(e);
                    }
                    last = Some(e);
                }
            }
        }
        Err(last
            .unwrap_or_else(|| anyhow!("no start attempt was made"))
            .context(format!(
                "PostgreSQL did not start after {START_ATTEMPTS} attempts"
            )))
    }
}

/// A PostgreSQL server for tests: the one at `DATABASE_URL`, or a temporary
/// cluster shared by all tests of this process.
#[derive(Clone, Debug)]
pub struct Postgres {
    admin_url: String,
}

impl Postgres {
    /// The server at `DATABASE_URL` if that is set (no process is started),
    /// otherwise this process's temporary cluster, started on first use with
    /// trust authentication for user `postgres` on 127.0.0.1 and a free port.
    pub async fn start() -> Result<Postgres> {
        if let Some(url) = std::env::var("DATABASE_URL").ok().filter(|u| !u.is_empty()) {
            return Postgres::from_url(&url).context("using DATABASE_URL");
        }
        let cluster = CLUSTER.get_or_try_init(Cluster::start).await?;
        Ok(Postgres {
            admin_url: cluster.admin_url.clone(),
        })
    }

    /// Use an existing server given by any database URL on it; administrative
    /// statements go to its `postgres` database with the same credentials.
    pub fn from_url(url: &str) -> Result<Postgres> {
        Ok(Postgres {
            admin_url: with_database(url, "postgres")?,
        })
    }

    /// URL of the server's `postgres` database, for administrative statements.
    pub fn admin_url(&self) -> &str {
        &self.admin_url
    }

    /// URL of database `name` on this server.
    pub fn database_url(&self, name: &str) -> String {
        with_database(&self.admin_url, name)
            .expect("admin_url was validated as a postgres:// URL when the handle was made")
    }

    /// Create a new, empty database with a random name (`gk_test_<16 hex>`)
    /// and return its URL.
    pub async fn fresh_database(&self) -> Result<String> {
        let name = format!("gk_test_{:016x}", rand::random::<u64>());
        let sql = format!("CREATE DATABASE \"{name}\"");
        let mut attempt = 0;
        loop {
            attempt += 1;
            match psql(&self.admin_url, &sql).await {
                Ok(_) => return Ok(self.database_url(&name)),
                // Concurrent CREATE DATABASE may find the template busy.
                Err(e)
                    if attempt < 5
                        && format!("{e:#}").contains("being accessed by other users") =>
                {
                    tokio::time::sleep(Duration::from_millis(100 * attempt)).await;
                }
                Err(e) => return Err(e.context(format!("creating database {name}"))),
            }
        }
    }
}

/// Run `sql` with `psql` against `url`; returns the unaligned, tuples-only
/// output, trimmed (e.g. `"1"` for `SELECT 1`).
pub async fn psql(url: &str, sql: &str) -> Result<String> {
    let program = find_pg_program("psql")?;
    let out = run(
        tokio::process::Command::new(program)
            .args([
                "-X",
                "-q",
                "-A",
                "-t",
                "-v",
                "ON_ERROR_STOP=1",
                "-d",
                url,
                "-c",
                sql,
            ])
            .env("PGCONNECT_TIMEOUT", "10"),
        "psql",
    )
    .await?;
    Ok(out.trim().to_string())
}

/// Two tests per case of a store conformance suite, `sqlite::<name>` and
/// `postgres::<name>`; attributes before a name (e.g. `#[ignore = "…"]`) go
/// on both. The invoking module provides `sqlite_db(&TempDir)`,
/// `postgres_db()`, `run_case(db, case)` and `Backend` (the kernel's), and
/// its test crate depends on `anyhow`, `tempfile` and `tokio`.
#[macro_export]
macro_rules! conformance {
    ($($(#[$attr:meta])* $name:ident => $case:ident),* $(,)?) => {
        mod sqlite {
            $(
                $(#[$attr])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let dir = tempfile::tempdir()?;
                    let db = super::sqlite_db(&dir).await?;
                    assert_eq!(db.backend(), super::Backend::Sqlite);
                    super::run_case(db, |db| async move { super::$case(&db).await }).await
                }
            )*
        }
        mod postgres {
            $(
                $(#[$attr])*
                #[tokio::test(flavor = "multi_thread", worker_threads = 2)]
                async fn $name() -> anyhow::Result<()> {
                    let db = super::postgres_db().await?;
                    assert_eq!(db.backend(), super::Backend::Postgres);
                    super::run_case(db, |db| async move { super::$case(&db).await }).await
                }
            )*
        }
    };
}

#[cfg(test)]
mod tests {
    use super::*;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tokio::net::tcp::{OwnedReadHalf, OwnedWriteHalf};

    /// A minimal NATS protocol client, enough to drive the JetStream API.
    struct RawNats {
        reader: BufReader<OwnedReadHalf>,
        writer: OwnedWriteHalf,
        next_sid: u32,
    }

    impl RawNats {
        async fn connect(port: u16) -> RawNats {
            let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .expect("connect to nats");
            let (r, w) = stream.into_split();
            let mut nats = RawNats {
                reader: BufReader::new(r),
                writer: w,
                next_sid: 1,
            };
            let info = nats.line().await;
            assert!(info.starts_with("INFO "), "{info}");
            nats.send(b"CONNECT {\"verbose\":false,\"pedantic\":false}\r\nPING\r\n")
                .await;
            assert_eq!(nats.line().await, "PONG");
            nats
        }

        async fn line(&mut self) -> String {
            let mut line = String::new();
            tokio::time::timeout(Duration::from_secs(10), self.reader.read_line(&mut line))
                .await
                .expect("nats answered in time")
                .expect("read from nats");
            line.trim_end().to_string()
        }

        async fn send(&mut self, bytes: &[u8]) {
            self.writer.write_all(bytes).await.expect("write to nats");
        }

        /// Publish `payload` to `subject` and return the payload of the reply.
        async fn request(&mut self, subject: &str, payload: &str) -> String {
            let sid = self.next_sid;
            self.next_sid += 1;
            let inbox = format!("_INBOX.gk.{sid}");
            let msg = format!(
                "SUB {inbox} {sid}\r\nPUB {subject} {inbox} {}\r\n{payload}\r\n",
                payload.len()
            );
            self.send(msg.as_bytes()).await;
            loop {
                let line = self.line().await;
                if line == "PING" {
                    self.send(b"PONG\r\n").await;
                    continue;
                }
                if let Some(rest) = line.strip_prefix("MSG ") {
                    let len: usize = rest
                        .split(' ')
                        .next_back()
                        .and_then(|n| n.parse().ok())
                        .expect("MSG line ends with a size");
                    let mut body = vec![0; len + 2];
                    self.reader.read_exact(&mut body).await.expect("read MSG");
                    body.truncate(len);
                    self.send(format!("UNSUB {sid}\r\n").as_bytes()).await;
                    return String::from_utf8(body).expect("utf-8 reply");
                }
                assert!(!line.starts_with("-ERR"), "{line}");
            }
        }
    }

    async fn info_line(port: u16) -> String {
        let stream = TcpStream::connect((Ipv4Addr::LOCALHOST, port))
            .await
            .expect("connect");
        let mut line = String::new();
        BufReader::new(stream)
            .read_line(&mut line)
            .await
            .expect("read INFO");
        line
    }

    #[test]
    fn free_ports_are_distinct() {
        let ports: HashSet<u16> = (0..50).map(|_| free_port()).collect();
        assert_eq!(ports.len(), 50);
    }

    #[test]
    fn workspace_root_has_the_workspace_manifest() {
        let manifest = fs::read_to_string(workspace_root().join("Cargo.toml")).expect("read");
        assert!(manifest.contains("[workspace]"));
    }

    #[test]
    fn database_urls_are_derived() {
        let cases = [
            (
                "postgres://u:p@db:5432/app?sslmode=disable",
                "postgres://u:p@db:5432/x?sslmode=disable",
            ),
            (
                "postgresql://u@127.0.0.1:5433/app",
                "postgresql://u@127.0.0.1:5433/x",
            ),
            ("postgres://u@localhost", "postgres://u@localhost/x"),
            (
                "postgres://localhost?sslmode=require",
                "postgres://localhost/x?sslmode=require",
            ),
            ("postgres://[::1]:5432/", "postgres://[::1]:5432/x"),
        ];
        for (url, want) in cases {
            assert_eq!(with_database(url, "x").expect(url), want);
        }
        assert!(with_database("mysql://u@h/db", "x").is_err());
        assert!(with_database("no url", "x").is_err());
    }

    #[tokio::test]
    async fn nats_starts_with_jetstream() {
        let nats = Nats::start().await.expect("start nats");
        assert_eq!(nats.url, format!("nats://127.0.0.1:{}", nats.port));
        let info = info_line(nats.port).await;
        assert!(info.starts_with("INFO "), "{info}");
        assert!(info.contains("\"jetstream\":true"), "{info}");
        assert!(nats.store_dir().is_dir());
    }

    #[tokio::test]
    async fn two_nats_servers_run_side_by_side() {
        let (a, b) = tokio::join!(Nats::start(), Nats::start());
        let (a, b) = (a.expect("start a"), b.expect("start b"));
        assert_ne!(a.port, b.port);
        assert_ne!(a.store_dir(), b.store_dir());
        assert!(info_line(a.port).await.contains("\"jetstream\":true"));
        assert!(info_line(b.port).await.contains("\"jetstream\":true"));
    }

    #[tokio::test]
    async fn nats_restarts_on_the_same_port_and_keeps_jetstream_data() {
        let mut nats = Nats::start().await.expect("start nats");
        let port = nats.port;
        {
            let mut client = RawNats::connect(port).await;
            let created = client
                .request(
                    "$JS.API.STREAM.CREATE.GK",
                    r#"{"name":"GK","subjects":["gk.>"],"storage":"file"}"#,
                )
                .await;
            assert!(!created.contains("\"error\""), "{created}");
            let ack = client.request("gk.one", "hello").await;
            assert!(ack.contains("\"seq\":1"), "{ack}");
        }

        nats.stop();
        assert!(!nats.is_running());
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .is_err(),
            "port must be closed after stop"
        );
        assert!(nats.store_dir().is_dir(), "store survives stop");

        nats.restart().await.expect("restart nats");
        assert!(nats.is_running());
        assert_eq!(nats.port, port);
        let mut client = RawNats::connect(port).await;
        let info = client.request("$JS.API.STREAM.INFO.GK", "").await;
        assert!(info.contains("\"messages\":1"), "{info}");

        // A restart while running works too.
        nats.restart().await.expect("second restart");
        assert!(info_line(port).await.contains("\"jetstream\":true"));
    }

    #[tokio::test]
    async fn dropping_nats_kills_the_server_and_removes_its_dir() {
        let nats = Nats::start().await.expect("start nats");
        let (port, dir) = (nats.port, nats.store_dir());
        drop(nats);
        assert!(
            TcpStream::connect((Ipv4Addr::LOCALHOST, port))
                .await
                .is_err()
        );
        assert!(!dir.exists());
    }

    #[tokio::test]
    async fn postgres_gives_fresh_databases() {
        let pg = Postgres::start().await.expect("start postgres");
        let (a, b) = tokio::join!(pg.fresh_database(), pg.fresh_database());
        let (a, b) = (a.expect("fresh db a"), b.expect("fresh db b"));
        assert_ne!(a, b);
        for url in [&a, &b] {
            assert_eq!(psql(url, "SELECT 1").await.expect("select 1"), "1");
        }
        psql(&a, "CREATE TABLE t (x int); INSERT INTO t VALUES (42)")
            .await
            .expect("create table");
        assert_eq!(psql(&a, "SELECT x FROM t").await.expect("select"), "42");
        assert!(
            psql(&b, "SELECT x FROM t").await.is_err(),
            "databases are separate"
        );
    }

    #[tokio::test]
    async fn postgres_is_shared_within_a_process_and_usable_by_url() {
        let one = Postgres::start().await.expect("start postgres");
        let two = Postgres::start().await.expect("start postgres again");
        assert_eq!(one.admin_url(), two.admin_url());

        // The DATABASE_URL path: any database URL on a server gives a handle to it.
        let db = one.fresh_database().await.expect("fresh db");
        let by_url = Postgres::from_url(&db).expect("from url");
        assert_eq!(by_url.admin_url(), one.admin_url());
        let other = by_url.fresh_database().await.expect("fresh db via url");
        assert_eq!(psql(&other, "SELECT 1").await.expect("select 1"), "1");
    }
}
