//! `[publishing]` settings.

use std::path::PathBuf;

use gongkai_kernel::config::ConfigError;

use crate::domain::index_no::{DEFAULT_FORMAT, IndexFormat};
use crate::domain::privacy::{PrivacyConfig, Scanner};

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// gRPC listen address; port 0 picks a free port.
    pub listen: String,
    /// Empty: SQLite file `publishing.db` in the node's data directory.
    pub database_url: String,
    /// Largest body accepted, in bytes.
    pub body_max_bytes: usize,
    /// Index-number format (RULES §1; no national standard).
    pub index_format: String,
    /// Art. 26: published within this many working days of being formed.
    pub late_after_working_days: u32,
    /// Latest release of an interpretation after its policy document, in
    /// working days (0: together).
    pub interpretation_lag_days: u32,
    /// How often interpretations released after their policy document, or
    /// overdue, are judged, and documents past their last day in force
    /// are marked expired.
    pub scheduler_interval_secs: u64,
    /// The default column tree.
    pub catalog_file: PathBuf,
    /// How often buffered search-index changes are committed.
    pub search_commit_ms: u64,
    /// CPU priority (nice, 0 to 19) of search indexing and segment merges:
    /// above 0, calls being served take the cores first and the index
    /// catches up after a burst.
    pub search_indexing_nice: i32,
    /// Search index directory; empty: `search/` in the data directory.
    pub search_dir: PathBuf,
    /// Build the subtree catalogue from the children's document events.
    pub aggregate_subtree: bool,
    /// Memory for approved documents awaiting publication, in MiB: one kept
    /// here is published without being read back first. 0: none kept.
    pub approved_cache_mib: usize,
    pub privacy: PrivacyConfig,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7401".into(),
            database_url: String::new(),
            body_max_bytes: 4 * 1024 * 1024,
            index_format: DEFAULT_FORMAT.into(),
            late_after_working_days: 20,
            interpretation_lag_days: 0,
            scheduler_interval_secs: 60,
            catalog_file: PathBuf::from("deploy/catalog/default.toml"),
            search_commit_ms: 500,
            search_indexing_nice: 10,
            search_dir: PathBuf::new(),
            aggregate_subtree: true,
            approved_cache_mib: 32,
            privacy: PrivacyConfig::default(),
        }
    }
}

/// The largest request the service decodes: room for a body several times
/// over its limit, so that an oversized body is refused by the service,
/// naming `fields.body`; a request larger still is refused before it is
/// decoded (INVALID_ARGUMENT with both sizes).
pub fn request_max_bytes(body_max_bytes: usize) -> usize {
    body_max_bytes.saturating_mul(4).saturating_add(1 << 20)
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::new(
                "publishing.listen",
                "must be an address like 127.0.0.1:7401",
            ));
        }
        if !(self.database_url.is_empty()
            || self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "publishing.database_url",
                "empty (SQLite in the data directory), sqlite:…, or postgres://…",
            ));
        }
        if !(1024..=64 * 1024 * 1024).contains(&self.body_max_bytes) {
            return Err(ConfigError::new(
                "publishing.body_max_bytes",
                "between 1 KiB and 64 MiB",
            ));
        }
        IndexFormat::parse(&self.index_format)
            .map_err(|e| ConfigError::new("publishing.index_format", e))?;
        if self.late_after_working_days == 0 || self.late_after_working_days > 365 {
            return Err(ConfigError::new(
                "publishing.late_after_working_days",
                "between 1 and 365",
            ));
        }
        if self.interpretation_lag_days > 60 {
            return Err(ConfigError::new(
                "publishing.interpretation_lag_days",
                "between 0 and 60",
            ));
        }
        if !(1..=86_400).contains(&self.scheduler_interval_secs) {
            return Err(ConfigError::new(
                "publishing.scheduler_interval_secs",
                "between 1 and 86400",
            ));
        }
        if !(10..=60_000).contains(&self.search_commit_ms) {
            return Err(ConfigError::new(
                "publishing.search_commit_ms",
                "between 10 and 60000",
            ));
        }
        if !(0..=19).contains(&self.search_indexing_nice) {
            return Err(ConfigError::new(
                "publishing.search_indexing_nice",
                "between 0 and 19",
            ));
        }
        if self.approved_cache_mib > 4096 {
            return Err(ConfigError::new(
                "publishing.approved_cache_mib",
                "between 0 and 4096",
            ));
        }
        Scanner::new(&self.privacy).map_err(|e| {
            let msg = e.to_string();
            let (key, rule) = msg.split_once(": ").unwrap_or(("privacy", msg.as_str()));
            ConfigError::new(format!("publishing.{key}"), rule)
        })?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_defaults_are_valid() {
        assert!(Config::default().validate().is_ok());
    }

    #[test]
    fn indexing_priority_stays_within_nice_values() {
        for nice in [-1, 20] {
            let cfg = Config {
                search_indexing_nice: nice,
                ..Default::default()
            };
            let e = cfg.validate().expect_err("out of range");
            assert_eq!(e.key, "publishing.search_indexing_nice");
            assert_eq!(e.rule, "between 0 and 19");
        }
        for nice in [0, 19] {
            let cfg = Config {
                search_indexing_nice: nice,
                ..Default::default()
            };
            assert!(cfg.validate().is_ok(), "{nice}");
        }
    }

    #[test]
    fn approved_cache_is_bounded() {
        let cfg = Config {
            approved_cache_mib: 4097,
            ..Default::default()
        };
        let e = cfg.validate().expect_err("out of range");
        assert_eq!(e.key, "publishing.approved_cache_mib");
        assert_eq!(e.rule, "between 0 and 4096");
        for mib in [0, 4096] {
            let cfg = Config {
                approved_cache_mib: mib,
                ..Default::default()
            };
            assert!(cfg.validate().is_ok(), "{mib}");
        }
    }

    #[test]
    fn the_scheduler_runs_between_once_a_second_and_once_a_day() {
        for secs in [0, 86_401] {
            let cfg = Config {
                scheduler_interval_secs: secs,
                ..Default::default()
            };
            let e = cfg.validate().expect_err("out of range");
            assert_eq!(e.key, "publishing.scheduler_interval_secs");
            assert_eq!(e.rule, "between 1 and 86400");
        }
        for secs in [1, 86_400] {
            let cfg = Config {
                scheduler_interval_secs: secs,
                ..Default::default()
            };
            assert!(cfg.validate().is_ok(), "{secs}");
        }
    }
}
