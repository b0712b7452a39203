//! Configuration: serde defaults → TOML file → environment → `validate()`.
//!
//! Environment overrides use `GONGKAI__<SECTION>__<KEY>` (double underscores
//! between levels, case-insensitive), e.g. `GONGKAI__PUBLISHING__LISTEN`.
//! Values are parsed as TOML scalars when they look like one (numbers,
//! booleans) and taken as strings otherwise.

use std::fmt;
use std::path::{Path, PathBuf};

use serde::de::DeserializeOwned;

use crate::unit::UnitPath;

/// A configuration error that names the key and the rule it broke.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("config {key}: {rule}")]
pub struct ConfigError {
    pub key: String,
    pub rule: String,
}

impl ConfigError {
    pub fn new(key: impl Into<String>, rule: impl Into<String>) -> Self {
        Self {
            key: key.into(),
            rule: rule.into(),
        }
    }
}

pub const ENV_PREFIX: &str = "GONGKAI__";

/// Reads `path` (when given), applies environment overrides from `vars`, and
/// deserializes. Unknown keys are refused by the target types
/// (`deny_unknown_fields`) so that a typo is not silently ignored.
pub fn load<T: DeserializeOwned>(
    path: Option<&Path>,
    vars: impl IntoIterator<Item = (String, String)>,
) -> Result<T, ConfigError> {
    let mut root = match path {
        Some(p) => {
            let text = std::fs::read_to_string(p).map_err(|e| {
                ConfigError::new(p.display().to_string(), format!("cannot read: {e}"))
            })?;
            text.parse::<toml::Table>().map_err(|e| {
                ConfigError::new(p.display().to_string(), format!("not valid TOML: {e}"))
            })?
        }
        None => toml::Table::new(),
    };
    for (name, value) in vars {
        let Some(rest) = name.strip_prefix(ENV_PREFIX) else {
            continue;
        };
        let keys: Vec<String> = rest.split("__").map(|k| k.to_ascii_lowercase()).collect();
        if keys.iter().any(String::is_empty) {
            return Err(ConfigError::new(name, "empty key between '__'"));
        }
        set_path(&mut root, &keys, scalar(&value)).map_err(|rule| ConfigError::new(name, rule))?;
    }
    T::deserialize(toml::Value::Table(root)).map_err(|e| named(&e))
}

/// toml's refusal as the key it names and the rule; `file` when it names
/// none. The key is only in the error's display ("… in `nats.tls`").
fn named(e: &toml::de::Error) -> ConfigError {
    let shown = e.to_string();
    let key = shown
        .lines()
        .find_map(|l| l.trim().strip_prefix("in `")?.strip_suffix('`'));
    ConfigError::new(key.unwrap_or("file"), e.message().to_owned())
}

/// Deserializes a configuration held in memory (no environment applied).
pub fn load_str<T: DeserializeOwned>(text: &str) -> Result<T, ConfigError> {
    let root: toml::Table = text
        .parse()
        .map_err(|e: toml::de::Error| ConfigError::new("file", format!("not valid TOML: {e}")))?;
    T::deserialize(toml::Value::Table(root)).map_err(|e| named(&e))
}

/// An override's text as the TOML scalar it spells, when it spells one
/// exactly (`8`, `true`); otherwise text. Text fields take numbers back as
/// the same text ([`text`]), so `GONGKAI__NODE__UNIT=340823` is the unit
/// 340823; text that would not come back unchanged (`0012`, `+5`) stays
/// text.
fn scalar(v: &str) -> toml::Value {
    if let Ok(i) = v.parse::<i64>()
        && i.to_string() == v
    {
        return toml::Value::Integer(i);
    }
    match v {
        "true" => toml::Value::Boolean(true),
        "false" => toml::Value::Boolean(false),
        _ => toml::Value::String(v.to_owned()),
    }
}

/// A text setting that may arrive as a number or a boolean: an
/// environment override reads as one when it spells one (see `scalar`).
pub fn text<'de, D: serde::Deserializer<'de>>(d: D) -> Result<String, D::Error> {
    d.deserialize_any(TextVisitor)
}

/// Takes text, and numbers and booleans as their text.
pub(crate) struct TextVisitor;

impl serde::de::Visitor<'_> for TextVisitor {
    type Value = String;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("text")
    }

    fn visit_str<E: serde::de::Error>(self, v: &str) -> Result<String, E> {
        Ok(v.to_owned())
    }

    fn visit_string<E: serde::de::Error>(self, v: String) -> Result<String, E> {
        Ok(v)
    }

    fn visit_i64<E: serde::de::Error>(self, v: i64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_u64<E: serde::de::Error>(self, v: u64) -> Result<String, E> {
        Ok(v.to_string())
    }

    fn visit_bool<E: serde::de::Error>(self, v: bool) -> Result<String, E> {
        Ok(v.to_string())
    }
}

fn set_path(table: &mut toml::Table, keys: &[String], value: toml::Value) -> Result<(), String> {
    let (last, parents) = keys.split_last().ok_or("empty key")?;
    let mut t = table;
    for k in parents {
        let entry = t
            .entry(k.clone())
            .or_insert_with(|| toml::Value::Table(toml::Table::new()));
        t = entry
            .as_table_mut()
            .ok_or_else(|| format!("`{k}` is not a table"))?;
    }
    // A string given for a field the file holds as a number stays a string
    // only if it is not a scalar; arrays come from the file, not the env.
    t.insert(last.clone(), value);
    Ok(())
}

/// A secret whose `Debug` and `Display` never show the value.
#[derive(Clone, Default, serde::Deserialize, PartialEq, Eq)]
#[serde(transparent)]
pub struct Secret(String);

impl Secret {
    pub fn new(s: impl Into<String>) -> Self {
        Self(s.into())
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl fmt::Debug for Secret {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("***")
    }
}

/// `[node]`: who this node is.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NodeConfig {
    /// Unit path, e.g. `340823.edu`.
    pub unit: UnitPath,
    /// Display name, e.g. 南陵县教育局.
    #[serde(deserialize_with = "text")]
    pub name: String,
    /// Organization code used in index numbers (统一社会信用代码 or similar).
    #[serde(deserialize_with = "text")]
    pub org_code: String,
    /// Where the SQLite files, the search index and the signing key live.
    pub data_dir: PathBuf,
    /// Directory of `<year>.toml` working-day calendars.
    #[serde(default = "default_calendar_dir")]
    pub calendar_dir: PathBuf,
    /// TLS for the gRPC services: certificate chain and private key (PEM).
    /// Both or neither; without them the services speak plain HTTP/2.
    #[serde(default)]
    pub tls_cert: Option<PathBuf>,
    #[serde(default)]
    pub tls_key: Option<PathBuf>,
    /// CA certificate (PEM) the node's own gRPC clients trust, e.g. when the
    /// requests service checks documents with publishing over TLS.
    #[serde(default)]
    pub tls_ca: Option<PathBuf>,
}

fn default_calendar_dir() -> PathBuf {
    PathBuf::from("deploy/calendar")
}

impl NodeConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.name.trim().is_empty() {
            return Err(ConfigError::new("node.name", "must not be empty"));
        }
        let code = self.org_code.trim();
        if code.is_empty() {
            return Err(ConfigError::new("node.org_code", "must not be empty"));
        }
        if !code.chars().all(|c| c.is_ascii_alphanumeric() || c == '-') {
            return Err(ConfigError::new(
                "node.org_code",
                "only ASCII letters, digits and '-' (it becomes part of index numbers)",
            ));
        }
        if self.data_dir.as_os_str().is_empty() {
            return Err(ConfigError::new("node.data_dir", "must not be empty"));
        }
        match (&self.tls_cert, &self.tls_key) {
            (Some(_), None) => {
                return Err(ConfigError::new(
                    "node.tls_key",
                    "required with node.tls_cert",
                ));
            }
            (None, Some(_)) => {
                return Err(ConfigError::new(
                    "node.tls_cert",
                    "required with node.tls_key",
                ));
            }
            _ => {}
        }
        for (key, path) in [
            ("node.tls_cert", &self.tls_cert),
            ("node.tls_key", &self.tls_key),
            ("node.tls_ca", &self.tls_ca),
        ] {
            if let Some(p) = path
                && !p.is_file()
            {
                return Err(ConfigError::new(
                    key,
                    format!("{} is not a readable file", p.display()),
                ));
            }
        }
        Ok(())
    }
}

/// `[nats]`: the event bus.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct NatsConfig {
    pub url: String,
    /// JetStream stream capturing `gk.>`.
    #[serde(deserialize_with = "text")]
    pub stream: String,
    /// How long JetStream remembers message ids for de-duplication.
    pub duplicate_window_secs: u64,
    /// Optional credentials file (per-unit NATS permissions, see deploy/nats).
    pub credentials: Option<PathBuf>,
    /// Require TLS to the server.
    pub tls: bool,
    /// Events in flight between the outbox relay and JetStream acks.
    pub max_in_flight: usize,
    /// How long the outbox relay lingers after a commit wakes it before it
    /// reads, so that events committed close together leave in one batch.
    pub relay_linger_ms: u64,
}

impl Default for NatsConfig {
    fn default() -> Self {
        Self {
            url: "nats://127.0.0.1:4222".into(),
            stream: "GONGKAI".into(),
            duplicate_window_secs: 3600,
            credentials: None,
            tls: false,
            max_in_flight: 64,
            relay_linger_ms: 5,
        }
    }
}

impl NatsConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if !(self.url.starts_with("nats://") || self.url.starts_with("tls://")) {
            return Err(ConfigError::new(
                "nats.url",
                "must start with nats:// or tls://",
            ));
        }
        if self.stream.is_empty()
            || !self
                .stream
                .chars()
                .all(|c| c.is_ascii_alphanumeric() || c == '_' || c == '-')
        {
            return Err(ConfigError::new(
                "nats.stream",
                "a non-empty name of ASCII letters, digits, '_' or '-'",
            ));
        }
        if self.duplicate_window_secs == 0 {
            return Err(ConfigError::new(
                "nats.duplicate_window_secs",
                "must be at least 1",
            ));
        }
        if !(1..=4096).contains(&self.max_in_flight) {
            return Err(ConfigError::new(
                "nats.max_in_flight",
                "must be between 1 and 4096",
            ));
        }
        if self.relay_linger_ms > 1000 {
            return Err(ConfigError::new(
                "nats.relay_linger_ms",
                "must be between 0 and 1000",
            ));
        }
        Ok(())
    }
}

/// `[telemetry]`. OTLP export is switched on by the standard
/// `OTEL_EXPORTER_OTLP_ENDPOINT` variable, not here.
#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct TelemetryConfig {
    /// `text` or `json`.
    pub log_format: String,
    /// `RUST_LOG`-style filter used when `RUST_LOG` is unset.
    pub filter: String,
}

impl Default for TelemetryConfig {
    fn default() -> Self {
        Self {
            log_format: "text".into(),
            filter: "info".into(),
        }
    }
}

impl TelemetryConfig {
    pub fn validate(&self) -> Result<(), ConfigError> {
        match self.log_format.as_str() {
            "text" | "json" => Ok(()),
            _ => Err(ConfigError::new(
                "telemetry.log_format",
                "must be \"text\" or \"json\"",
            )),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[derive(Debug, serde::Deserialize)]
    #[serde(deny_unknown_fields)]
    struct File {
        node: NodeConfig,
        #[serde(default)]
        nats: NatsConfig,
    }

    fn write(text: &str) -> tempfile::NamedTempFile {
        let f = tempfile::NamedTempFile::new().unwrap();
        std::fs::write(f.path(), text).unwrap();
        f
    }

    const BASE: &str = r#"
[node]
unit = "340823.edu"
name = "南陵县教育局"
org_code = "11340823MB0000000X"
data_dir = "/tmp/x"
"#;

    #[test]
    fn env_overrides_file() {
        let f = write(BASE);
        let vars = vec![
            (
                "GONGKAI__NATS__URL".to_owned(),
                "nats://10.0.0.1:4222".to_owned(),
            ),
            ("GONGKAI__NATS__MAX_IN_FLIGHT".to_owned(), "8".to_owned()),
            ("OTHER".to_owned(), "x".to_owned()),
        ];
        let c: File = load(Some(f.path()), vars).unwrap();
        assert_eq!(c.nats.url, "nats://10.0.0.1:4222");
        assert_eq!(c.nats.max_in_flight, 8);
        assert_eq!(c.node.unit.as_str(), "340823.edu");
        assert_eq!(c.nats.stream, "GONGKAI", "default kept");
    }

    #[test]
    fn overrides_take_the_type_their_key_wants() {
        let f = write(BASE);
        let vars = [
            ("GONGKAI__NODE__UNIT", "340823"),
            ("GONGKAI__NODE__ORG_CODE", "0012345"),
            ("GONGKAI__NODE__NAME", "2026"),
            ("GONGKAI__NATS__STREAM", "true"),
            ("GONGKAI__NATS__TLS", "true"),
            ("GONGKAI__NATS__MAX_IN_FLIGHT", "8"),
        ]
        .map(|(k, v)| (k.to_owned(), v.to_owned()));
        let c: File = load(Some(f.path()), vars).unwrap();
        assert_eq!(c.node.unit.as_str(), "340823");
        assert_eq!(c.node.org_code, "0012345", "leading zeros kept");
        assert_eq!(c.node.name, "2026");
        assert_eq!(c.nats.stream, "true");
        assert!(c.nats.tls);
        assert_eq!(c.nats.max_in_flight, 8);
    }

    #[test]
    fn a_value_of_the_wrong_type_names_its_key() {
        let f = write(BASE);
        let vars =
            [("GONGKAI__NATS__MAX_IN_FLIGHT", "64k")].map(|(k, v)| (k.to_owned(), v.to_owned()));
        let e = load::<File>(Some(f.path()), vars).unwrap_err();
        assert_eq!(e.key, "nats.max_in_flight", "{e}");
        assert!(e.rule.contains("\"64k\""), "{e}");
        let f = write(&format!("{BASE}\n[nats]\ntls = \"yes\"\n"));
        let e = load::<File>(Some(f.path()), vec![]).unwrap_err();
        assert_eq!(e.key, "nats.tls", "{e}");
    }

    #[test]
    fn unknown_key_is_named() {
        let f = write(&format!("{BASE}\n[nats]\nurll = \"x\"\n"));
        let e = load::<File>(Some(f.path()), vec![]).unwrap_err();
        assert!(e.to_string().contains("urll"), "{e}");
    }

    #[test]
    fn bad_unit_path_is_named() {
        let f = write(&BASE.replace("340823.edu", "340823..edu"));
        let e = load::<File>(Some(f.path()), vec![]).unwrap_err();
        assert!(e.to_string().contains("340823..edu"), "{e}");
    }

    #[test]
    fn validation_names_the_key() {
        let f = write(BASE);
        let mut c: File = load(Some(f.path()), vec![]).unwrap();
        c.nats.url = "http://x".into();
        assert_eq!(c.nats.validate().unwrap_err().key, "nats.url");
        c.node.org_code = "有/斜杠".into();
        assert_eq!(c.node.validate().unwrap_err().key, "node.org_code");
    }

    #[test]
    fn relay_linger_is_bounded() {
        let f = write(BASE);
        let mut c: File = load(Some(f.path()), vec![]).unwrap();
        assert_eq!(c.nats.relay_linger_ms, 5, "default");
        for ok in [0, 1000] {
            c.nats.relay_linger_ms = ok;
            assert!(c.nats.validate().is_ok(), "{ok}");
        }
        c.nats.relay_linger_ms = 1001;
        let e = c.nats.validate().unwrap_err();
        assert_eq!(e.key, "nats.relay_linger_ms");
        assert!(e.to_string().contains("between 0 and 1000"), "{e}");
    }

    #[test]
    fn secret_debug_hides_value() {
        let s = Secret::new("hunter2");
        assert_eq!(format!("{s:?}"), "***");
        assert_eq!(s.expose(), "hunter2");
    }
}
