//! Information processing fees (信息处理费, RULES §2).
//!
//! The amounts are national measures today but the measures have changed
//! before, so the schedule is configuration: bands read from data with the
//! 2020 measures as `Default`, and the code only knows how to apply bands.
//!
//! Both scales are progressive in the same way: every unit (a request of the
//! month, or a page) costs the price of the band it falls in, so a total is a
//! sum over bands, like income-tax brackets.

use serde::{Deserialize, Serialize};

/// A configuration value that breaks a rule; `key` is the dotted path of the
/// offending setting, e.g. `per_request[1].from`.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{key}: {rule}")]
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

/// Units `from..=to` cost `price_yuan` each; `to: None` means "and beyond"
/// and is allowed only on the last band.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Band {
    pub from: u32,
    #[serde(default)]
    pub to: Option<u32>,
    pub price_yuan: i64,
}

/// Open-ended progression after the last (closed) band: each further run of
/// `every` units costs `raise_yuan` more per unit than the run before.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Step {
    pub every: u32,
    pub raise_yuan: i64,
}

/// The fee schedule. Each scale must cover every count: its last band is
/// either open (`to` omitted) or followed by a step rule.
///
/// In configuration a scale is replaced as a whole: giving `per_request`
/// without `per_request_step` means "no step", not the default step, so a
/// locality's own bands never inherit half of the national progression.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(from = "RawSchedule")]
pub struct FeeSchedule {
    /// Price of the n-th request of one applicant in one calendar month.
    pub per_request: Vec<Band>,
    pub per_request_step: Option<Step>,
    /// Price per page of one request.
    pub per_volume: Vec<Band>,
    pub per_volume_step: Option<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawSchedule {
    per_request: Option<Vec<Band>>,
    per_request_step: Option<Step>,
    per_volume: Option<Vec<Band>>,
    per_volume_step: Option<Step>,
}

impl From<RawSchedule> for FeeSchedule {
    fn from(raw: RawSchedule) -> Self {
        let default = FeeSchedule::default();
        let (per_request, per_request_step) = match raw.per_request {
            Some(bands) => (bands, raw.per_request_step),
            None => (
                default.per_request,
                raw.per_request_step.or(default.per_request_step),
            ),
        };
        let (per_volume, per_volume_step) = match raw.per_volume {
            Some(bands) => (bands, raw.per_volume_step),
            None => (
                default.per_volume,
                raw.per_volume_step.or(default.per_volume_step),
            ),
        };
        Self {
            per_request,
            per_request_step,
            per_volume,
            per_volume_step,
        }
    }
}

impl Default for FeeSchedule {
    /// The 2020 measures (政府信息公开信息处理费管理办法).
    fn default() -> Self {
        let band = |from, to, price_yuan| Band {
            from,
            to,
            price_yuan,
        };
        Self {
            per_request: vec![
                band(1, Some(10), 0),
                band(11, Some(30), 100),
                band(31, Some(40), 200),
            ],
            per_request_step: Some(Step {
                every: 10,
                raise_yuan: 100,
            }),
            per_volume: vec![
                band(1, Some(30), 0),
                band(31, Some(100), 10),
                band(101, Some(200), 20),
                band(201, None, 40),
            ],
            per_volume_step: None,
        }
    }
}

/// How one request is charged: exactly one basis, never both (the measures
/// forbid combining them, and the enum makes combining them unrepresentable).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", deny_unknown_fields)]
pub enum FeeBasis {
    /// This is the applicant's n-th request in the calendar month (1-based).
    PerRequest { nth_in_month: u32 },
    /// The information supplied runs to this many pages.
    PerVolume { pages: u32 },
}

impl FeeSchedule {
    /// Checks both scales; the error names the key to fix.
    pub fn validate(&self) -> Result<(), ConfigError> {
        validate_scale("per_request", &self.per_request, self.per_request_step)?;
        validate_scale("per_volume", &self.per_volume, self.per_volume_step)
    }

    /// Price of the n-th request of the month; 0 for n == 0.
    pub fn fee_for_nth_request(&self, n: u32) -> i64 {
        unit_price(&self.per_request, self.per_request_step, n)
    }

    /// What `count` requests in one month cost together.
    pub fn per_request_total(&self, count: u32) -> i64 {
        total(&self.per_request, self.per_request_step, count)
    }

    /// Fee for one request of `pages` pages.
    pub fn per_volume_fee(&self, pages: u32) -> i64 {
        total(&self.per_volume, self.per_volume_step, pages)
    }

    /// The fee owed for one request charged on `basis`.
    pub fn fee(&self, basis: FeeBasis) -> i64 {
        match basis {
            FeeBasis::PerRequest { nth_in_month } => self.fee_for_nth_request(nth_in_month),
            FeeBasis::PerVolume { pages } => self.per_volume_fee(pages),
        }
    }
}

fn validate_scale(key: &str, bands: &[Band], step: Option<Step>) -> Result<(), ConfigError> {
    let Some(last) = bands.last() else {
        return Err(ConfigError::new(key, "needs at least one band"));
    };
    let mut expected_from: u64 = 1;
    let mut previous_price: Option<i64> = None;
    for (i, band) in bands.iter().enumerate() {
        let at = |field: &str| format!("{key}[{i}].{field}");
        if u64::from(band.from) != expected_from {
            let rule = if i == 0 {
                format!("the first band must start at 1, not {}", band.from)
            } else {
                format!(
                    "must be {expected_from}, right after the previous band, not {}",
                    band.from
                )
            };
            return Err(ConfigError::new(at("from"), rule));
        }
        match band.to {
            Some(to) if to < band.from => {
                return Err(ConfigError::new(
                    at("to"),
                    format!("{to} is below from ({})", band.from),
                ));
            }
            Some(to) => expected_from = u64::from(to) + 1,
            None if i + 1 < bands.len() => {
                return Err(ConfigError::new(
                    at("to"),
                    "only the last band may be open-ended",
                ));
            }
            None => {}
        }
        if band.price_yuan < 0 {
            return Err(ConfigError::new(
                at("price_yuan"),
                format!("must not be negative, got {}", band.price_yuan),
            ));
        }
        if let Some(previous) = previous_price
            && band.price_yuan < previous
        {
            return Err(ConfigError::new(
                at("price_yuan"),
                format!(
                    "fees are progressive: {} is below the previous band's {previous}",
                    band.price_yuan
                ),
            ));
        }
        previous_price = Some(band.price_yuan);
    }
    let step_key = format!("{key}_step");
    match (last.to, step) {
        (None, Some(_)) => Err(ConfigError::new(
            step_key,
            format!(
                "the last band of {key} is open-ended, so a step rule would never apply; \
                 close the band or remove the step"
            ),
        )),
        (Some(_), None) => Err(ConfigError::new(
            step_key,
            format!(
                "counts beyond the last band of {key} have no price: leave its `to` out \
                 or add a step rule"
            ),
        )),
        (Some(_), Some(step)) if step.every == 0 => Err(ConfigError::new(
            format!("{step_key}.every"),
            "must be at least 1",
        )),
        (Some(_), Some(step)) if step.raise_yuan < 0 => Err(ConfigError::new(
            format!("{step_key}.raise_yuan"),
            format!("must not be negative, got {}", step.raise_yuan),
        )),
        _ => Ok(()),
    }
}

/// Price of unit `n` (1-based); 0 for n == 0. Counts a schedule leaves
/// uncovered (rejected by `validate`) are priced like the last band.
fn unit_price(bands: &[Band], step: Option<Step>, n: u32) -> i64 {
    if n == 0 {
        return 0;
    }
    let Some(last) = bands.last() else {
        return 0;
    };
    if let Some(band) = bands
        .iter()
        .find(|b| b.from <= n && b.to.is_none_or(|to| n <= to))
    {
        return band.price_yuan;
    }
    match (last.to, step) {
        (Some(end), Some(step)) if step.every > 0 && n > end => {
            let run = i128::from((n - end - 1) / step.every) + 1;
            saturate(i128::from(last.price_yuan) + run * i128::from(step.raise_yuan))
        }
        _ => last.price_yuan,
    }
}

/// Sum of the prices of units 1..=n, in closed form so that a huge count
/// (a typo or an attack) costs nothing to compute. Saturates at `i64::MAX`.
fn total(bands: &[Band], step: Option<Step>, n: u32) -> i64 {
    let n = i128::from(n);
    let mut sum: i128 = 0;
    let mut covered: i128 = 0;
    for band in bands {
        let from = i128::from(band.from);
        let to = band.to.map_or(n, |to| i128::from(to).min(n));
        if to >= from {
            sum += (to - from + 1) * i128::from(band.price_yuan);
            covered = to;
        }
    }
    let (Some(last), true) = (bands.last(), covered < n) else {
        return saturate(sum);
    };
    let beyond = n - covered;
    match step {
        Some(step) if step.every > 0 && last.to.is_some() => {
            let every = i128::from(step.every);
            let raise = i128::from(step.raise_yuan);
            let base = i128::from(last.price_yuan);
            let full = beyond / every;
            let rest = beyond % every;
            // Runs k = 1..=full each cost every × (base + k·raise); the partial
            // run after them costs rest × (base + (full + 1)·raise).
            sum += every * (full * base + raise * full * (full + 1) / 2);
            sum += rest * (base + (full + 1) * raise);
        }
        _ => sum += beyond * i128::from(last.price_yuan),
    }
    saturate(sum)
}

fn saturate(v: i128) -> i64 {
    i64::try_from(v).unwrap_or(if v < 0 { i64::MIN } else { i64::MAX })
}

#[cfg(test)]
mod tests {
    use super::*;

    fn schedule() -> FeeSchedule {
        let s = FeeSchedule::default();
        s.validate().unwrap();
        s
    }

    #[test]
    fn per_request_golden() {
        let s = schedule();
        // RULES §2: 45 in a month = 20×100 + 10×200 + 5×300 = 5,500.
        assert_eq!(s.per_request_total(45), 5_500);
        for (n, price) in [
            (0, 0),
            (1, 0),
            (10, 0),
            (11, 100),
            (30, 100),
            (31, 200),
            (40, 200),
            (41, 300),
            (45, 300),
            (50, 300),
            (51, 400),
            (60, 400),
            (61, 500),
        ] {
            assert_eq!(s.fee_for_nth_request(n), price, "request #{n}");
        }
        assert_eq!(s.per_request_total(0), 0);
        assert_eq!(s.per_request_total(10), 0);
        assert_eq!(s.per_request_total(11), 100);
        assert_eq!(s.per_request_total(30), 2_000);
        assert_eq!(s.per_request_total(40), 4_000);
        assert_eq!(s.per_request_total(50), 7_000);
        assert_eq!(s.per_request_total(51), 7_400);
    }

    #[test]
    fn per_volume_golden() {
        let s = schedule();
        // 250 pages = 30×0 + 70×10 + 100×20 + 50×40 = 700 + 2,000 + 2,000.
        assert_eq!(s.per_volume_fee(250), 4_700);
        assert_eq!(s.per_volume_fee(0), 0);
        assert_eq!(s.per_volume_fee(30), 0);
        assert_eq!(s.per_volume_fee(31), 10);
        assert_eq!(s.per_volume_fee(100), 700);
        assert_eq!(s.per_volume_fee(101), 720);
        assert_eq!(s.per_volume_fee(200), 2_700);
        assert_eq!(s.per_volume_fee(201), 2_740);
        assert_eq!(
            s.fee(FeeBasis::PerVolume { pages: 250 }),
            s.per_volume_fee(250)
        );
        assert_eq!(s.fee(FeeBasis::PerRequest { nth_in_month: 45 }), 300);
    }

    #[test]
    fn totals_equal_the_sum_of_unit_prices() {
        let s = schedule();
        let mut running = 0;
        for n in 1..=500u32 {
            running += s.fee_for_nth_request(n);
            assert_eq!(s.per_request_total(n), running, "{n}");
        }
        let mut pages = 0;
        for n in 1..=500u32 {
            pages += unit_price(&s.per_volume, None, n);
            assert_eq!(s.per_volume_fee(n), pages, "{n}");
        }
        // Also with a step on a scale whose last band is closed at a price
        // other than the first step's base.
        let stepped = FeeSchedule {
            per_volume: vec![
                Band {
                    from: 1,
                    to: Some(3),
                    price_yuan: 5,
                },
                Band {
                    from: 4,
                    to: Some(4),
                    price_yuan: 7,
                },
            ],
            per_volume_step: Some(Step {
                every: 3,
                raise_yuan: 2,
            }),
            ..FeeSchedule::default()
        };
        stepped.validate().unwrap();
        let mut sum = 0;
        for n in 1..=100u32 {
            sum += unit_price(&stepped.per_volume, stepped.per_volume_step, n);
            assert_eq!(stepped.per_volume_fee(n), sum, "{n}");
        }
        // Units 5, 6, 7 cost 9; 8, 9, 10 cost 11.
        assert_eq!(
            unit_price(&stepped.per_volume, stepped.per_volume_step, 7),
            9
        );
        assert_eq!(
            unit_price(&stepped.per_volume, stepped.per_volume_step, 8),
            11
        );
    }

    #[test]
    fn huge_counts_saturate_without_panicking() {
        let s = schedule();
        assert!(s.per_request_total(u32::MAX) > 0);
        assert_eq!(s.per_request_total(u32::MAX), i64::MAX);
        assert_eq!(
            s.per_volume_fee(u32::MAX),
            4_700 + (u32::MAX as i64 - 250) * 40
        );
        assert!(s.fee_for_nth_request(u32::MAX) > 0);
    }

    #[test]
    fn deserializes_from_config_and_defaults_missing_keys() {
        let text = r#"
            [[per_request]]
            from = 1
            to = 5
            price_yuan = 0
            [[per_request]]
            from = 6
            price_yuan = 50
        "#;
        let s: FeeSchedule = toml::from_str(text).unwrap();
        assert_eq!(s.per_request.len(), 2);
        assert_eq!(s.per_request_step, None);
        assert_eq!(s.per_volume, FeeSchedule::default().per_volume);
        s.validate().unwrap();
        assert_eq!(s.per_request_total(8), 150);

        let text = "[per_request_step]\nevery = 10\nraise_yuan = 100\n";
        let s: FeeSchedule = toml::from_str(text).unwrap();
        assert_eq!(s, FeeSchedule::default());
        let s: FeeSchedule = toml::from_str("").unwrap();
        assert_eq!(s, FeeSchedule::default());
        // Round trip through the serialized form.
        let json = serde_json::to_string(&FeeSchedule::default()).unwrap();
        let back: FeeSchedule = serde_json::from_str(&json).unwrap();
        assert_eq!(back, FeeSchedule::default());

        let err = toml::from_str::<FeeSchedule>("per_reqest = []").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");

        let basis: FeeBasis = serde_json::from_str(r#"{"per_volume":{"pages":40}}"#).unwrap();
        assert_eq!(basis, FeeBasis::PerVolume { pages: 40 });
    }

    #[test]
    fn validation_names_the_key() {
        let band = |from, to, price_yuan| Band {
            from,
            to,
            price_yuan,
        };
        let base = FeeSchedule::default();
        let cases: Vec<(FeeSchedule, &str, &str)> = vec![
            (
                FeeSchedule {
                    per_request: vec![],
                    ..base.clone()
                },
                "per_request",
                "at least one band",
            ),
            (
                FeeSchedule {
                    per_request: vec![band(0, Some(10), 0), band(11, Some(40), 100)],
                    ..base.clone()
                },
                "per_request[0].from",
                "start at 1",
            ),
            (
                FeeSchedule {
                    per_request: vec![band(1, Some(10), 0), band(12, Some(40), 100)],
                    ..base.clone()
                },
                "per_request[1].from",
                "must be 11",
            ),
            (
                FeeSchedule {
                    per_request: vec![band(1, Some(10), 0), band(5, Some(40), 100)],
                    ..base.clone()
                },
                "per_request[1].from",
                "must be 11",
            ),
            (
                FeeSchedule {
                    per_request: vec![band(1, Some(10), 0), band(11, Some(9), 100)],
                    ..base.clone()
                },
                "per_request[1].to",
                "below from",
            ),
            (
                FeeSchedule {
                    per_request: vec![band(1, None, 0), band(11, Some(40), 100)],
                    ..base.clone()
                },
                "per_request[0].to",
                "only the last band",
            ),
            (
                FeeSchedule {
                    per_volume: vec![band(1, Some(30), -1), band(31, None, 10)],
                    ..base.clone()
                },
                "per_volume[0].price_yuan",
                "negative",
            ),
            (
                FeeSchedule {
                    per_volume: vec![band(1, Some(30), 10), band(31, None, 5)],
                    ..base.clone()
                },
                "per_volume[1].price_yuan",
                "progressive",
            ),
            (
                FeeSchedule {
                    per_request_step: None,
                    ..base.clone()
                },
                "per_request_step",
                "no price",
            ),
            (
                FeeSchedule {
                    per_volume_step: Some(Step {
                        every: 10,
                        raise_yuan: 10,
                    }),
                    ..base.clone()
                },
                "per_volume_step",
                "never apply",
            ),
            (
                FeeSchedule {
                    per_request_step: Some(Step {
                        every: 0,
                        raise_yuan: 100,
                    }),
                    ..base.clone()
                },
                "per_request_step.every",
                "at least 1",
            ),
            (
                FeeSchedule {
                    per_request_step: Some(Step {
                        every: 10,
                        raise_yuan: -100,
                    }),
                    ..base.clone()
                },
                "per_request_step.raise_yuan",
                "negative",
            ),
        ];
        for (schedule, key, rule) in cases {
            let err = schedule.validate().unwrap_err();
            assert_eq!(err.key, key, "{err}");
            assert!(err.rule.contains(rule), "{err}");
            assert!(err.to_string().starts_with(&format!("{key}: ")), "{err}");
        }
    }
}
