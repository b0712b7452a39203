//! The node: its configuration file, `node init` and `node run`.

use std::future::Future;
use std::path::{Path, PathBuf};

use anyhow::Context as _;
use gongkai_kernel::UnitPath;
use gongkai_kernel::auth::{Claims, Role, TokenKey};
use gongkai_kernel::config::{self, ConfigError, NatsConfig, NodeConfig, TelemetryConfig};
use gongkai_kernel::runtime::{Runtime, key_path};
use gongkai_kernel::telemetry;

/// The node's configuration file (`node.toml`).
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeFile {
    pub node: NodeConfig,
    #[serde(default)]
    pub nats: NatsConfig,
    #[serde(default)]
    pub telemetry: TelemetryConfig,
    #[serde(default)]
    pub publishing: gongkai_publishing::Config,
    #[serde(default)]
    pub requests: gongkai_requests::Config,
}

impl NodeFile {
    /// Reads the file, applies `GONGKAI__…` environment overrides, validates.
    pub fn load(path: &Path) -> Result<NodeFile, ConfigError> {
        let f: NodeFile = config::load(Some(path), std::env::vars())?;
        f.validate()?;
        Ok(f)
    }

    pub fn validate(&self) -> Result<(), ConfigError> {
        self.node.validate()?;
        self.nats.validate()?;
        self.telemetry.validate()?;
        self.publishing.validate()?;
        self.requests.validate()?;
        // Each service keeps its own migrations and outbox: one database
        // for both would mix them.
        let db = self.publishing.database_url.trim();
        if !db.is_empty() && db == self.requests.database_url.trim() {
            return Err(ConfigError::new(
                "requests.database_url",
                "must differ from publishing.database_url: each service has a database (or schema) of its own",
            ));
        }
        // Port 0 picks a free port for each.
        if self.publishing.listen == self.requests.listen && !self.requests.listen.ends_with(":0") {
            return Err(ConfigError::new(
                "requests.listen",
                "must differ from publishing.listen",
            ));
        }
        Ok(())
    }
}

/// Options of `node init`.
pub struct InitOptions {
    pub unit: String,
    pub name: String,
    pub org_code: String,
    pub data_dir: PathBuf,
    pub config: PathBuf,
    pub nats_url: String,
    pub listen: String,
    pub requests_listen: String,
    pub calendar_dir: PathBuf,
    pub catalog_file: PathBuf,
    pub force: bool,
}

/// What `node init` made.
pub struct Initialized {
    pub config: PathBuf,
    pub admin_token: String,
}

fn toml_str(s: &str) -> String {
    toml::Value::String(s.to_owned()).to_string()
}

/// Writes the config file and the signing key; returns an admin token.
pub fn init(o: &InitOptions) -> anyhow::Result<Initialized> {
    let unit = UnitPath::parse(&o.unit).map_err(|e| anyhow::anyhow!("--unit: {e}"))?;
    if o.config.exists() && !o.force {
        anyhow::bail!(
            "{} exists; pass --force to overwrite it (the signing key is kept)",
            o.config.display()
        );
    }
    std::fs::create_dir_all(&o.data_dir)
        .with_context(|| format!("--data-dir {}", o.data_dir.display()))?;
    let abs = |p: &Path| std::path::absolute(p).unwrap_or_else(|_| p.to_path_buf());
    let text = format!(
        "# Gongkai node configuration. Every key can be overridden from the\n\
         # environment as GONGKAI__<SECTION>__<KEY>, e.g. GONGKAI__NATS__URL.\n\n\
         [node]\nunit = {unit}\nname = {name}\norg_code = {org}\ndata_dir = {data}\ncalendar_dir = {cal}\n\n\
         [nats]\nurl = {nats}\n\n\
         [telemetry]\nlog_format = \"text\"\nfilter = \"info\"\n\n\
         [publishing]\nlisten = {listen}\ncatalog_file = {catalog}\n\n\
         [requests]\nlisten = {requests_listen}\n",
        unit = toml_str(unit.as_str()),
        name = toml_str(&o.name),
        org = toml_str(&o.org_code),
        data = toml_str(&abs(&o.data_dir).display().to_string()),
        cal = toml_str(&abs(&o.calendar_dir).display().to_string()),
        nats = toml_str(&o.nats_url),
        listen = toml_str(&o.listen),
        requests_listen = toml_str(&o.requests_listen),
        catalog = toml_str(&abs(&o.catalog_file).display().to_string()),
    );
    // Validate what we are about to write, so init never leaves a file that
    // `node run` would refuse.
    let parsed: NodeFile = config::load_str(&text).map_err(anyhow::Error::from)?;
    parsed.validate()?;
    if let Some(dir) = o.config.parent() {
        std::fs::create_dir_all(dir)?;
    }
    std::fs::write(&o.config, text)?;
    let key = TokenKey::load_or_create(&key_path(&parsed.node))?;
    let admin_token = key.issue(&Claims {
        sub: "admin".into(),
        unit,
        role: Role::Admin,
        exp: chrono::Utc::now().timestamp() + 365 * 24 * 3600,
    });
    Ok(Initialized {
        config: o.config.clone(),
        admin_token,
    })
}

/// Issues a token signed with the node's key.
pub fn issue_token(
    file: &NodeFile,
    sub: &str,
    role: Role,
    unit: Option<&str>,
    days: u32,
) -> anyhow::Result<String> {
    if sub.trim().is_empty() {
        anyhow::bail!("--sub: required (who the token is for)");
    }
    if days == 0 || days > 3660 {
        anyhow::bail!("--days: between 1 and 3660");
    }
    let unit = match unit {
        Some(u) => UnitPath::parse(u).map_err(|e| anyhow::anyhow!("--unit: {e}"))?,
        None => file.node.unit.clone(),
    };
    let key = TokenKey::load_or_create(&key_path(&file.node))?;
    Ok(key.issue(&Claims {
        sub: sub.trim().to_owned(),
        unit,
        role,
        exp: chrono::Utc::now().timestamp() + i64::from(days) * 24 * 3600,
    }))
}

/// Runs every service of the node until `shutdown`, then stops them in
/// order: stop accepting, finish calls, flush the outbox, flush telemetry.
pub async fn run(file: NodeFile, shutdown: impl Future<Output = ()>) -> anyhow::Result<()> {
    let guard = telemetry::init("gongkai", &file.telemetry);
    let result = async {
        let rt = Runtime::start(file.node.clone(), &file.nats).await?;
        let publishing = gongkai_publishing::start(rt.clone(), file.publishing.clone()).await?;
        let mut requests_cfg = file.requests.clone();
        if requests_cfg.publishing_url.is_empty() {
            let scheme = if file.node.tls_cert.is_some() {
                "https"
            } else {
                "http"
            };
            // The certificate names the host it was made for; the loopback
            // address works when it lists 127.0.0.1.
            requests_cfg.publishing_url = format!("{scheme}://{}", publishing.addr);
        }
        let requests = match gongkai_requests::start(rt.clone(), requests_cfg).await {
            Ok(r) => r,
            Err(e) => {
                publishing.shutdown().await?;
                return Err(e);
            }
        };
        tracing::info!(
            unit = %file.node.unit,
            publishing = %publishing.addr,
            requests = %requests.addr,
            "node running"
        );
        // Printed on stdout so that scripts and tests can wait for it.
        outln!(
            "gongkai node ready: publishing={} requests={}",
            publishing.addr,
            requests.addr
        );
        shutdown.await;
        tracing::info!("shutting down");
        // Each service stops accepting, finishes its calls and flushes its
        // outbox; telemetry is flushed last, below.
        let (p, r) = tokio::join!(publishing.shutdown(), requests.shutdown());
        p?;
        r?;
        rt.bus.flush().await;
        anyhow::Ok(())
    }
    .await;
    guard.shutdown();
    result
}

/// Resolves on Ctrl-C or SIGTERM.
pub async fn signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending::<()>().await,
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        _ = ctrl_c => {}
        _ = term => {}
    }
}

#[cfg(test)]
mod example_tests {
    use super::*;

    /// The annotated example operators copy from names only keys that exist
    /// and values that pass validation.
    #[test]
    fn the_example_configuration_loads() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/node.example.toml");
        let text = std::fs::read_to_string(&path).expect("deploy/node.example.toml");
        let f: NodeFile = config::load_str(&text).expect("parses");
        f.validate().expect("valid");
        assert_eq!(f.publishing.approved_cache_mib, 32);
    }

    #[test]
    fn the_services_do_not_share_a_database_or_an_address() {
        let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/node.example.toml");
        let text = std::fs::read_to_string(&path).expect("deploy/node.example.toml");
        let mut f: NodeFile = config::load_str(&text).expect("parses");
        f.publishing.database_url = "postgres://db/gongkai".into();
        f.requests.database_url = "postgres://db/gongkai".into();
        let e = f.validate().unwrap_err();
        assert_eq!(e.key, "requests.database_url", "{e}");
        f.requests.database_url = "postgres://db/gongkai_requests".into();
        f.validate().expect("separate databases");
        f.requests.listen = f.publishing.listen.clone();
        assert_eq!(f.validate().unwrap_err().key, "requests.listen");
        f.publishing.listen = "127.0.0.1:0".into();
        f.requests.listen = "127.0.0.1:0".into();
        f.validate().expect("a free port each");
    }
}
