//! `[requests]` settings.

use gongkai_kernel::config::ConfigError;

use crate::domain::clock::ClockConfig;
use crate::domain::fees::FeeSchedule;

#[derive(Debug, Clone, serde::Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct Config {
    /// gRPC listen address; port 0 picks a free port.
    pub listen: String,
    /// Empty: SQLite file `requests.db` in the node's data directory.
    pub database_url: String,
    /// The publishing service, to check documents a reply links to; empty:
    /// this node's own.
    pub publishing_url: String,
    /// Prefix of tracking numbers.
    pub tracking_prefix: String,
    /// Longest description accepted, in characters.
    pub description_max_chars: usize,
    /// Due-soon events and queue: this many working days before the due date.
    pub due_soon_working_days: u32,
    /// How often the scheduler looks for due-soon and overdue requests.
    pub scheduler_interval_secs: u64,
    /// Art. 44: this many distinct applicants asking for the same
    /// information within `same_information_days` suggest proactive disclosure.
    pub same_information_applicants: u32,
    pub same_information_days: u32,
    /// Failed query-code attempts allowed per tracking number and per
    /// caller address within `query_code_window_secs`.
    pub query_code_max_failures: usize,
    pub query_code_window_secs: u64,
    pub clock: ClockConfig,
    pub fees: FeeSchedule,
}

impl Default for Config {
    fn default() -> Self {
        Self {
            listen: "127.0.0.1:7402".into(),
            database_url: String::new(),
            publishing_url: String::new(),
            tracking_prefix: "YSQ".into(),
            description_max_chars: 10_000,
            due_soon_working_days: 3,
            scheduler_interval_secs: 60,
            same_information_applicants: 3,
            same_information_days: 90,
            query_code_max_failures: 5,
            query_code_window_secs: 900,
            clock: ClockConfig::default(),
            fees: FeeSchedule::default(),
        }
    }
}

impl Config {
    pub fn validate(&self) -> Result<(), ConfigError> {
        if self.listen.parse::<std::net::SocketAddr>().is_err() {
            return Err(ConfigError::new(
                "requests.listen",
                "must be an address like 127.0.0.1:7402",
            ));
        }
        if !(self.database_url.is_empty()
            || self.database_url.starts_with("sqlite:")
            || self.database_url.starts_with("postgres://")
            || self.database_url.starts_with("postgresql://"))
        {
            return Err(ConfigError::new(
                "requests.database_url",
                "empty (SQLite in the data directory), sqlite:…, or postgres://…",
            ));
        }
        if !(self.publishing_url.is_empty()
            || self.publishing_url.starts_with("http://")
            || self.publishing_url.starts_with("https://"))
        {
            return Err(ConfigError::new(
                "requests.publishing_url",
                "empty (this node's publishing service) or an http:// or https:// address",
            ));
        }
        if self.tracking_prefix.is_empty()
            || self.tracking_prefix.len() > 12
            || !self
                .tracking_prefix
                .chars()
                .all(|c| c.is_ascii_alphanumeric())
        {
            return Err(ConfigError::new(
                "requests.tracking_prefix",
                "1–12 ASCII letters or digits",
            ));
        }
        if !(100..=1_000_000).contains(&self.description_max_chars) {
            return Err(ConfigError::new(
                "requests.description_max_chars",
                "between 100 and 1000000",
            ));
        }
        if self.due_soon_working_days > 20 {
            return Err(ConfigError::new(
                "requests.due_soon_working_days",
                "between 0 and 20",
            ));
        }
        if !(1..=86_400).contains(&self.scheduler_interval_secs) {
            return Err(ConfigError::new(
                "requests.scheduler_interval_secs",
                "between 1 and 86400",
            ));
        }
        if self.same_information_applicants < 2 {
            return Err(ConfigError::new(
                "requests.same_information_applicants",
                "at least 2",
            ));
        }
        if !(1..=3660).contains(&self.same_information_days) {
            return Err(ConfigError::new(
                "requests.same_information_days",
                "between 1 and 3660",
            ));
        }
        if self.query_code_max_failures == 0 {
            return Err(ConfigError::new(
                "requests.query_code_max_failures",
                "at least 1",
            ));
        }
        self.clock
            .validate()
            .map_err(|e| ConfigError::new(format!("requests.clock.{}", e.key), e.rule))?;
        self.fees
            .validate()
            .map_err(|e| ConfigError::new(format!("requests.fees.{}", e.key), e.rule))?;
        Ok(())
    }
}
