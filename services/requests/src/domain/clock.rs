//! The statutory reply clock (RULES §2, Art. 30–34, 42) over the working-day
//! calendar (RULES §6).
//!
//! The clock is a fold over dated [`ClockEvent`]s rather than stored
//! deadlines: when a missing year's calendar arrives, or a setting changes,
//! replaying the same events recomputes every deadline, which is what RULES §6
//! asks of provisional dates.
//!
//! Counting model, in working days:
//! - the term is `reply_days` (+ the extension) counted from receipt under
//!   the first-day rule;
//! - a correction stops the clock; the corrected request restarts the whole
//!   term from the day it is received;
//! - a pause (consultation, and the fee wait when configured) that starts on
//!   or before the deadline moves the deadline by the working days in
//!   (pause start, pause end]; one that starts after the deadline changes
//!   nothing, because an overdue request cannot earn time back by consulting.

use chrono::NaiveDate;
use gongkai_kernel::calendar::{Calendar, Dated, FirstDay};
use serde::{Deserialize, Serialize};

use super::categories::vocabulary;
use super::fees::ConfigError;

/// The limits of the clock. The defaults are the national regulation; they
/// are settings because localities add rules of their own (RULES §2 *(config)*).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields, default)]
pub struct ClockConfig {
    /// Art. 33: reply within 20 working days.
    pub reply_days: u32,
    /// Art. 30: a correction is requested within 7 working days of receipt.
    pub correction_window_days: u32,
    /// The time the applicant gets to correct when the office names none;
    /// the regulation only says "reasonable".
    pub correction_default_days: u32,
    /// Art. 32, 34: a consulted party answers within 15 working days.
    pub consultation_days: u32,
    /// Art. 33: an extension adds at most 20 working days; 0 disables it.
    pub max_extension_days: u32,
    /// Fee measures: pay within 20 working days from the day after the notice.
    pub fee_payment_days: u32,
    /// Whether waiting for the fee stops the reply clock.
    pub fee_wait_pauses_clock: bool,
    /// Civil Code Art. 201: the day of receipt is not counted.
    pub first_day: FirstDay,
}

impl Default for ClockConfig {
    fn default() -> Self {
        Self {
            reply_days: 20,
            correction_window_days: 7,
            correction_default_days: 15,
            consultation_days: 15,
            max_extension_days: 20,
            fee_payment_days: 20,
            fee_wait_pauses_clock: true,
            first_day: FirstDay::NextDay,
        }
    }
}

/// No statutory period comes near a year; a larger value is a typo.
const MAX_PERIOD_DAYS: u32 = 250;

impl ClockConfig {
    /// Checks every period; the error names the key.
    pub fn validate(&self) -> Result<(), ConfigError> {
        let periods = [
            ("reply_days", self.reply_days, 1),
            ("correction_window_days", self.correction_window_days, 1),
            ("correction_default_days", self.correction_default_days, 1),
            ("consultation_days", self.consultation_days, 1),
            ("max_extension_days", self.max_extension_days, 0),
            ("fee_payment_days", self.fee_payment_days, 1),
        ];
        for (key, value, min) in periods {
            if !(min..=MAX_PERIOD_DAYS).contains(&value) {
                return Err(ConfigError::new(
                    key,
                    format!("must be {min}..={MAX_PERIOD_DAYS} working days, got {value}"),
                ));
            }
        }
        Ok(())
    }
}

vocabulary! {
    /// Why the clock is stopped.
    pub enum PauseKind("pause kind") {
        /// Art. 32: a third party's rights are concerned.
        ThirdParty = "third_party", "征求第三方意见";
        /// Art. 34: the information was made jointly with another body.
        CoMaker = "co_maker", "征求共同制作机关意见";
        /// Waiting for the applicant to pay a fee.
        FeeWait = "fee_wait", "等待缴纳信息处理费";
    }
}

/// A dated fact that moves the clock.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ClockEvent {
    Received(NaiveDate),
    CorrectionRequested(NaiveDate),
    /// The corrected request was received: the term restarts from this day.
    Corrected(NaiveDate),
    PauseStart(NaiveDate, PauseKind),
    PauseEnd(NaiveDate),
    Extended {
        day: NaiveDate,
        days: u32,
    },
}

/// Where the clock stands after the events.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ClockPhase {
    /// No `Received` event yet.
    NotStarted,
    Running,
    /// Stopped until the corrected request arrives.
    AwaitingCorrection {
        since: NaiveDate,
    },
    /// Stopped by a pause. `used_days` of the term were spent before it and
    /// `left_days` remain once it ends (0 when it began on or after the
    /// deadline).
    Paused {
        since: NaiveDate,
        kind: PauseKind,
        used_days: u32,
        left_days: u32,
    },
}

/// The reply clock of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ReplyClock {
    pub phase: ClockPhase,
    /// The reply deadline while the clock runs; `None` while it is stopped.
    pub due: Option<Dated<NaiveDate>>,
    /// The day counting starts from: receipt, or the corrected request.
    pub counting_from: Option<NaiveDate>,
    /// Working days granted by the extension (0 when none).
    pub extension_days: u32,
    /// Working days in completed pauses since `counting_from` (a restart
    /// discards earlier pauses along with the old term).
    pub paused_days: u32,
    /// Some figure above rests on a year without calendar data.
    pub provisional: bool,
}

/// Last day a correction may be requested: `correction_window_days` working
/// days from receipt, under the first-day rule.
pub fn correction_window_end(
    cal: &Calendar,
    cfg: &ClockConfig,
    received: NaiveDate,
) -> Dated<NaiveDate> {
    cal.deadline(received, cfg.correction_window_days, cfg.first_day)
}

/// When the applicant must send the correction: the office's date if it
/// gave one, else `correction_default_days` working days from the request.
pub fn correction_due(
    cal: &Calendar,
    cfg: &ClockConfig,
    requested: NaiveDate,
    given: Option<NaiveDate>,
) -> Dated<NaiveDate> {
    match given {
        Some(day) => Dated::exact(day),
        None => cal.deadline(requested, cfg.correction_default_days, cfg.first_day),
    }
}

/// When a consulted party must answer.
pub fn consultation_due(cal: &Calendar, cfg: &ClockConfig, start: NaiveDate) -> Dated<NaiveDate> {
    cal.deadline(start, cfg.consultation_days, cfg.first_day)
}

/// When a fee must be paid. The measures count "from the day after the
/// notice is received" explicitly, so the first-day setting does not apply.
pub fn payment_due(cal: &Calendar, cfg: &ClockConfig, notice_day: NaiveDate) -> Dated<NaiveDate> {
    cal.add_working_days(notice_day, cfg.fee_payment_days)
}

/// Folds the events into the reply clock.
///
/// The events come from the request lifecycle, which only records legal
/// sequences; anything else is tolerated as follows so that a replay never
/// fails: a second `Received` is ignored, a pause or correction request while
/// the clock is not running is ignored, an unmatched `PauseEnd` is ignored,
/// only the first extension counts and it is capped at `max_extension_days`.
pub fn reply_due(cal: &Calendar, cfg: &ClockConfig, events: &[ClockEvent]) -> ReplyClock {
    let mut fold = Fold {
        cal,
        cfg,
        phase: Phase::NotStarted,
        counting_from: None,
        extension_days: 0,
        extended: false,
        paused_days: 0,
        provisional: false,
    };
    for event in events {
        fold.apply(*event);
    }
    fold.finish()
}

#[derive(Clone, Copy)]
enum Phase {
    NotStarted,
    Running {
        due: Dated<NaiveDate>,
        /// A fee wait that does not stop the clock, so its end is consumed.
        open_wait: bool,
    },
    AwaitingCorrection {
        since: NaiveDate,
    },
    Paused {
        since: NaiveDate,
        kind: PauseKind,
        /// The deadline as it stood when the pause began.
        due: Dated<NaiveDate>,
        left: u32,
    },
}

struct Fold<'a> {
    cal: &'a Calendar,
    cfg: &'a ClockConfig,
    phase: Phase,
    counting_from: Option<NaiveDate>,
    extension_days: u32,
    extended: bool,
    paused_days: u32,
    provisional: bool,
}

impl Fold<'_> {
    fn term(&self) -> u32 {
        self.cfg.reply_days.saturating_add(self.extension_days)
    }

    fn note<T>(&mut self, value: Dated<T>) -> Dated<T> {
        self.provisional |= value.provisional;
        value
    }

    fn start(&mut self, day: NaiveDate) {
        let due = self.cal.deadline(day, self.term(), self.cfg.first_day);
        let due = self.note(due);
        self.counting_from = Some(day);
        self.paused_days = 0;
        self.phase = Phase::Running {
            due,
            open_wait: false,
        };
    }

    /// `due` moved by `days` working days; provisional if either is.
    fn later(&mut self, due: Dated<NaiveDate>, days: Dated<u32>) -> Dated<NaiveDate> {
        let moved = self.cal.add_working_days(due.value, days.value);
        let moved = self.note(moved);
        Dated {
            value: moved.value,
            provisional: moved.provisional || due.provisional || days.provisional,
        }
    }

    fn apply(&mut self, event: ClockEvent) {
        match (event, self.phase) {
            (ClockEvent::Received(day), Phase::NotStarted) => self.start(day),
            (ClockEvent::Received(_), _) => {}
            (ClockEvent::CorrectionRequested(since), Phase::Running { .. }) => {
                self.phase = Phase::AwaitingCorrection { since };
            }
            (ClockEvent::CorrectionRequested(_), _) => {}
            (ClockEvent::Corrected(_), Phase::NotStarted) => {}
            (ClockEvent::Corrected(day), _) => self.start(day),
            (ClockEvent::PauseStart(_, PauseKind::FeeWait), Phase::Running { due, .. })
                if !self.cfg.fee_wait_pauses_clock =>
            {
                self.phase = Phase::Running {
                    due,
                    open_wait: true,
                };
            }
            (ClockEvent::PauseStart(since, kind), Phase::Running { due, .. }) => {
                let left = if since <= due.value {
                    let left = self.cal.working_days_between(since, due.value);
                    self.note(left).value
                } else {
                    0
                };
                self.phase = Phase::Paused {
                    since,
                    kind,
                    due,
                    left,
                };
            }
            (ClockEvent::PauseStart(..), _) => {}
            (
                ClockEvent::PauseEnd(_),
                Phase::Running {
                    due,
                    open_wait: true,
                },
            ) => {
                self.phase = Phase::Running {
                    due,
                    open_wait: false,
                };
            }
            (ClockEvent::PauseEnd(end), Phase::Paused { since, due, .. }) => {
                let due = if since <= due.value {
                    let paused = self.cal.working_days_between(since, end);
                    let paused = self.note(paused);
                    self.paused_days = self.paused_days.saturating_add(paused.value);
                    self.later(due, paused)
                } else {
                    due
                };
                self.phase = Phase::Running {
                    due,
                    open_wait: false,
                };
            }
            (ClockEvent::PauseEnd(_), _) => {}
            (ClockEvent::Extended { days, .. }, phase) => {
                if self.extended {
                    return;
                }
                self.extended = true;
                let days = days.min(self.cfg.max_extension_days);
                self.extension_days = days;
                let extra = Dated::exact(days);
                self.phase = match phase {
                    Phase::Running { due, open_wait } => Phase::Running {
                        due: self.later(due, extra),
                        open_wait,
                    },
                    Phase::Paused {
                        since,
                        kind,
                        due,
                        left,
                    } => Phase::Paused {
                        since,
                        kind,
                        due: self.later(due, extra),
                        left: left.saturating_add(days),
                    },
                    // The extension lengthens the term; a restart picks it up.
                    other => other,
                };
            }
        }
    }

    fn finish(self) -> ReplyClock {
        let (phase, due) = match self.phase {
            Phase::NotStarted => (ClockPhase::NotStarted, None),
            Phase::Running { due, .. } => (ClockPhase::Running, Some(due)),
            Phase::AwaitingCorrection { since } => (ClockPhase::AwaitingCorrection { since }, None),
            Phase::Paused {
                since, kind, left, ..
            } => (
                ClockPhase::Paused {
                    since,
                    kind,
                    used_days: self.term().saturating_sub(left),
                    left_days: left,
                },
                None,
            ),
        };
        ReplyClock {
            phase,
            due,
            counting_from: self.counting_from,
            extension_days: self.extension_days,
            paused_days: self.paused_days,
            provisional: self.provisional,
        }
    }
}

/// The real calendar files of the repository, for tests across modules.
#[cfg(test)]
pub(crate) fn test_calendar() -> Calendar {
    let dir = std::path::Path::new(concat!(
        env!("CARGO_MANIFEST_DIR"),
        "/../../deploy/calendar"
    ));
    match Calendar::load_dir(dir) {
        Ok(cal) => cal,
        Err(e) => panic!("cannot load {}: {e}", dir.display()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn d(s: &str) -> NaiveDate {
        s.parse().unwrap()
    }

    fn cfg() -> ClockConfig {
        ClockConfig::default()
    }

    /// Day-by-day model, independent of the calendar's bitsets: the term-th
    /// working day counted from `start`, skipping days in any (s, e] pause.
    fn brute(
        cal: &Calendar,
        start: NaiveDate,
        term: u32,
        rule: FirstDay,
        pauses: &[(NaiveDate, NaiveDate)],
    ) -> NaiveDate {
        let mut day = match rule {
            FirstDay::NextDay => start.succ_opt().unwrap(),
            FirstDay::SameDay => start,
        };
        let mut count = 0;
        loop {
            let paused = pauses.iter().any(|&(s, e)| s < day && day <= e);
            if !paused && cal.is_working_day(day).value {
                count += 1;
                if count == term {
                    return day;
                }
            }
            day = day.succ_opt().unwrap();
        }
    }

    fn due(cal: &Calendar, cfg: &ClockConfig, events: &[ClockEvent]) -> Dated<NaiveDate> {
        let clock = reply_due(cal, cfg, events);
        assert_eq!(clock.phase, ClockPhase::Running, "{events:?}");
        clock.due.unwrap()
    }

    #[test]
    fn config_defaults_and_validation() {
        let c: ClockConfig = toml::from_str("").unwrap();
        assert_eq!(c, ClockConfig::default());
        c.validate().unwrap();
        let c: ClockConfig =
            toml::from_str("first_day = \"same_day\"\nfee_wait_pauses_clock = false").unwrap();
        assert_eq!(c.first_day, FirstDay::SameDay);
        assert!(!c.fee_wait_pauses_clock);
        assert_eq!(c.reply_days, 20);
        let err = toml::from_str::<ClockConfig>("reply_day = 20").unwrap_err();
        assert!(err.to_string().contains("unknown field"), "{err}");

        for (key, set) in [
            (
                "reply_days",
                (|c: &mut ClockConfig| c.reply_days = 0) as fn(&mut ClockConfig),
            ),
            ("correction_window_days", |c| c.correction_window_days = 0),
            ("correction_default_days", |c| c.correction_default_days = 0),
            ("consultation_days", |c| c.consultation_days = 0),
            ("max_extension_days", |c| c.max_extension_days = 251),
            ("fee_payment_days", |c| c.fee_payment_days = 0),
        ] {
            let mut c = ClockConfig::default();
            set(&mut c);
            let err = c.validate().unwrap_err();
            assert_eq!(err.key, key);
            assert!(
                err.to_string().starts_with(&format!("{key}: must be")),
                "{err}"
            );
        }
        let no_extension = ClockConfig {
            max_extension_days: 0,
            ..ClockConfig::default()
        };
        no_extension.validate().unwrap();
    }

    #[test]
    fn a_before_national_day() {
        let cal = test_calendar();
        // Received Wed 09-30; Oct 1–7 off. Oct 8 (1), 9 (2), Sat 10 make-up
        // (3), 12–16 (4–8), 19–23 (9–13), 26–30 (14–18), Nov 2 (19), Nov 3 (20).
        let got = due(&cal, &cfg(), &[ClockEvent::Received(d("2026-09-30"))]);
        assert_eq!(got, Dated::exact(d("2026-11-03")));
        assert_eq!(
            got.value,
            brute(&cal, d("2026-09-30"), 20, FirstDay::NextDay, &[])
        );
        // Correction window: Oct 8, 9, 10, 12, 13, 14, 15 → Oct 15.
        assert_eq!(
            correction_window_end(&cal, &cfg(), d("2026-09-30")),
            Dated::exact(d("2026-10-15"))
        );
    }

    #[test]
    fn b_across_spring_festival() {
        let cal = test_calendar();
        // Received Tue 02-10. Feb 11–13 (1–3), Sat 14 make-up (4), 15–23 off,
        // 24–27 (5–8), Sat 28 make-up (9), Mar 2–6 (10–14), 9–13 (15–19),
        // Mar 16 (20).
        let got = due(&cal, &cfg(), &[ClockEvent::Received(d("2026-02-10"))]);
        assert_eq!(got, Dated::exact(d("2026-03-16")));
        assert_eq!(
            got.value,
            brute(&cal, d("2026-02-10"), 20, FirstDay::NextDay, &[])
        );
    }

    #[test]
    fn c_correction_restarts_the_term() {
        let cal = test_calendar();
        // Window from Mon 04-27: Apr 28, 29, 30 (1–3), May 1–5 off, 6, 7, 8
        // (4–6), Sat May 9 make-up (7) → May 9.
        assert_eq!(
            correction_window_end(&cal, &cfg(), d("2026-04-27")),
            Dated::exact(d("2026-05-09"))
        );
        let received = ClockEvent::Received(d("2026-04-27"));
        let asked = ClockEvent::CorrectionRequested(d("2026-04-29"));
        let clock = reply_due(&cal, &cfg(), &[received, asked]);
        assert_eq!(
            clock.phase,
            ClockPhase::AwaitingCorrection {
                since: d("2026-04-29")
            }
        );
        assert_eq!(clock.due, None);
        // Restart from Mon 05-11: May 12–15 (1–4), 18–22 (5–9), 25–29
        // (10–14), Jun 1–5 (15–19), Jun 8 (20).
        let events = [received, asked, ClockEvent::Corrected(d("2026-05-11"))];
        let clock = reply_due(&cal, &cfg(), &events);
        assert_eq!(clock.due, Some(Dated::exact(d("2026-06-08"))));
        assert_eq!(clock.counting_from, Some(d("2026-05-11")));
        assert_eq!(
            clock.due.unwrap().value,
            brute(&cal, d("2026-05-11"), 20, FirstDay::NextDay, &[])
        );
        // Default correction time when the office names none: 15 working
        // days from Apr 29: Apr 30 (1), May 6–8 (2–4), Sat 9 (5), 11–15
        // (6–10), 18–22 (11–15) → May 22.
        assert_eq!(
            correction_due(&cal, &cfg(), d("2026-04-29"), None),
            Dated::exact(d("2026-05-22"))
        );
        assert_eq!(
            correction_due(&cal, &cfg(), d("2026-04-29"), Some(d("2026-05-15"))),
            Dated::exact(d("2026-05-15"))
        );
    }

    #[test]
    fn d_third_party_consultation_across_dragon_boat() {
        let cal = test_calendar();
        let received = ClockEvent::Received(d("2026-06-01"));
        // Unpaused: Jun 2–5 (1–4), 8–12 (5–9), 15–18 (10–13), 19 off, 22–26
        // (14–18), 29 (19), 30 (20).
        assert_eq!(
            due(&cal, &cfg(), &[received]),
            Dated::exact(d("2026-06-30"))
        );
        let start = ClockEvent::PauseStart(d("2026-06-08"), PauseKind::ThirdParty);
        let clock = reply_due(&cal, &cfg(), &[received, start]);
        // Used before the pause: Jun 2, 3, 4, 5, 8 = 5; 15 left.
        assert_eq!(
            clock.phase,
            ClockPhase::Paused {
                since: d("2026-06-08"),
                kind: PauseKind::ThirdParty,
                used_days: 5,
                left_days: 15
            }
        );
        assert_eq!(clock.due, None);
        // Paused (06-08, 06-26]: Jun 9–12 (4), 15–18 (8), 19 off, 22–26 (13).
        // 13 working days after Jun 30: Jul 1–3 (3), 6–10 (8), 13–17 (13).
        let events = [received, start, ClockEvent::PauseEnd(d("2026-06-26"))];
        let clock = reply_due(&cal, &cfg(), &events);
        assert_eq!(clock.paused_days, 13);
        assert_eq!(clock.due, Some(Dated::exact(d("2026-07-17"))));
        assert_eq!(
            clock.due.unwrap().value,
            brute(
                &cal,
                d("2026-06-01"),
                20,
                FirstDay::NextDay,
                &[(d("2026-06-08"), d("2026-06-26"))]
            )
        );
        // Answer due 15 working days from 06-08: Jun 9–12 (4), 15–18 (8),
        // 22–26 (13), 29 (14), 30 (15).
        assert_eq!(
            consultation_due(&cal, &cfg(), d("2026-06-08")),
            Dated::exact(d("2026-06-30"))
        );
    }

    #[test]
    fn e_extension_on_a() {
        let cal = test_calendar();
        // 20 working days after Nov 3: Nov 4–6 (3), 9–13 (8), 16–20 (13),
        // 23–27 (18), Nov 30 (19), Dec 1 (20).
        let events = [
            ClockEvent::Received(d("2026-09-30")),
            ClockEvent::Extended {
                day: d("2026-10-28"),
                days: 20,
            },
        ];
        let clock = reply_due(&cal, &cfg(), &events);
        assert_eq!(clock.due, Some(Dated::exact(d("2026-12-01"))));
        assert_eq!(clock.extension_days, 20);
        assert_eq!(
            clock.due.unwrap().value,
            brute(&cal, d("2026-09-30"), 40, FirstDay::NextDay, &[])
        );
        // Capped at max_extension_days, and only once.
        let events = [
            ClockEvent::Received(d("2026-09-30")),
            ClockEvent::Extended {
                day: d("2026-10-28"),
                days: 30,
            },
            ClockEvent::Extended {
                day: d("2026-10-29"),
                days: 5,
            },
        ];
        let clock = reply_due(&cal, &cfg(), &events);
        assert_eq!(clock.due, Some(Dated::exact(d("2026-12-01"))));
        assert_eq!(clock.extension_days, 20);
        // A shorter extension: 5 working days after Nov 3 → Nov 10.
        let events = [
            ClockEvent::Received(d("2026-09-30")),
            ClockEvent::Extended {
                day: d("2026-10-28"),
                days: 5,
            },
        ];
        assert_eq!(due(&cal, &cfg(), &events), Dated::exact(d("2026-11-10")));
    }

    #[test]
    fn f_fee_wait_pauses_when_configured() {
        let cal = test_calendar();
        let received = ClockEvent::Received(d("2026-03-02"));
        // Unpaused from Mon 03-02: Mar 3–6 (4), 9–13 (9), 16–20 (14), 23–27
        // (19), Mar 30 (20).
        assert_eq!(
            due(&cal, &cfg(), &[received]),
            Dated::exact(d("2026-03-30"))
        );
        let events = [
            received,
            ClockEvent::PauseStart(d("2026-03-10"), PauseKind::FeeWait),
            ClockEvent::PauseEnd(d("2026-03-20")),
        ];
        // Paused (03-10, 03-20]: Mar 11–13 (3), 16–20 (8). 8 working days
        // after Mar 30: Mar 31 (1), Apr 1–3 (4), 4–6 清明 off, Apr 7–10 (8).
        let clock = reply_due(&cal, &cfg(), &events);
        assert_eq!(clock.due, Some(Dated::exact(d("2026-04-10"))));
        assert_eq!(clock.paused_days, 8);
        assert_eq!(
            clock.due.unwrap().value,
            brute(
                &cal,
                d("2026-03-02"),
                20,
                FirstDay::NextDay,
                &[(d("2026-03-10"), d("2026-03-20"))]
            )
        );
        // Not configured: the clock runs through the wait.
        let running = ClockConfig {
            fee_wait_pauses_clock: false,
            ..cfg()
        };
        let clock = reply_due(&cal, &running, &events[..2]);
        assert_eq!(clock.phase, ClockPhase::Running);
        assert_eq!(clock.due, Some(Dated::exact(d("2026-03-30"))));
        let clock = reply_due(&cal, &running, &events);
        assert_eq!(clock.due, Some(Dated::exact(d("2026-03-30"))));
        assert_eq!(clock.paused_days, 0);
        // Payment due 20 working days from the day after 03-10: Mar 11–13 (3),
        // 16–20 (8), 23–27 (13), 30–31 (15), Apr 1–3 (18), 7 (19), 8 (20).
        assert_eq!(
            payment_due(&cal, &cfg(), d("2026-03-10")),
            Dated::exact(d("2026-04-08"))
        );
        // The payment rule ignores the first-day setting.
        let same = ClockConfig {
            first_day: FirstDay::SameDay,
            ..cfg()
        };
        assert_eq!(
            payment_due(&cal, &same, d("2026-03-10")),
            Dated::exact(d("2026-04-08"))
        );
    }

    #[test]
    fn g_same_day_versus_next_day() {
        let cal = test_calendar();
        let same = ClockConfig {
            first_day: FirstDay::SameDay,
            ..cfg()
        };
        // (received, NextDay due, SameDay due), by hand:
        // - Wed 09-30 works: SameDay counts it as day 1, one day earlier than
        //   Nov 3 → Mon Nov 2.
        // - Sun 09-20 is a make-up working day: NextDay Sep 21–24 (4), 25
        //   off, 28–30 (7), Oct 8–10 (10), 12–16 (15), 19–23 (20) → Oct 23;
        //   SameDay counts Sep 20 as day 1 → Oct 22.
        // - Sat 10-03 is a holiday: both start on Oct 8 → Nov 3.
        for (received, next, same_day) in [
            ("2026-09-30", "2026-11-03", "2026-11-02"),
            ("2026-09-20", "2026-10-23", "2026-10-22"),
            ("2026-10-03", "2026-11-03", "2026-11-03"),
        ] {
            let events = [ClockEvent::Received(d(received))];
            assert_eq!(due(&cal, &cfg(), &events), Dated::exact(d(next)));
            assert_eq!(due(&cal, &same, &events), Dated::exact(d(same_day)));
            assert_eq!(
                d(same_day),
                brute(&cal, d(received), 20, FirstDay::SameDay, &[])
            );
            assert_eq!(
                d(next),
                brute(&cal, d(received), 20, FirstDay::NextDay, &[])
            );
        }
    }

    #[test]
    fn h_due_in_a_year_without_data_is_provisional() {
        let cal = test_calendar();
        // Received Sun 12-20: Dec 21–25 (5), 28–31 (9); 2027 has no file, so
        // the weekday rule: Fri Jan 1 (10), 4–8 (15), 11–15 (20).
        let clock = reply_due(&cal, &cfg(), &[ClockEvent::Received(d("2026-12-20"))]);
        assert_eq!(
            clock.due,
            Some(Dated {
                value: d("2027-01-15"),
                provisional: true
            })
        );
        assert!(clock.provisional);
        // A pause wholly in 2026 on a provisional deadline stays provisional.
        let events = [
            ClockEvent::Received(d("2026-12-20")),
            ClockEvent::PauseStart(d("2026-12-21"), PauseKind::CoMaker),
            ClockEvent::PauseEnd(d("2026-12-22")),
        ];
        let clock = reply_due(&cal, &cfg(), &events);
        assert_eq!(clock.due.map(|d| d.provisional), Some(true));
        // Restarted inside 2026 with a 2026 deadline: exact again.
        let events = [
            ClockEvent::Received(d("2026-11-02")),
            ClockEvent::CorrectionRequested(d("2026-11-03")),
            ClockEvent::Corrected(d("2026-11-05")),
        ];
        let clock = reply_due(&cal, &cfg(), &events);
        assert_eq!(clock.due, Some(Dated::exact(d("2026-12-03"))));
    }

    #[test]
    fn pauses_on_or_after_the_deadline() {
        let cal = test_calendar();
        let received = ClockEvent::Received(d("2026-06-01"));
        // Deadline Jun 30. A pause beginning on the deadline day: the day is
        // used, none left; the paused days (06-30, 07-03] = Jul 1, 2, 3 are
        // added → Jul 3.
        let events = [
            received,
            ClockEvent::PauseStart(d("2026-06-30"), PauseKind::ThirdParty),
        ];
        let clock = reply_due(&cal, &cfg(), &events);
        assert!(matches!(
            clock.phase,
            ClockPhase::Paused {
                used_days: 20,
                left_days: 0,
                ..
            }
        ));
        let mut events = events.to_vec();
        events.push(ClockEvent::PauseEnd(d("2026-07-03")));
        assert_eq!(due(&cal, &cfg(), &events), Dated::exact(d("2026-07-03")));
        // Beginning after the deadline: overdue stays overdue.
        let events = [
            received,
            ClockEvent::PauseStart(d("2026-07-01"), PauseKind::ThirdParty),
            ClockEvent::PauseEnd(d("2026-07-20")),
        ];
        let clock = reply_due(&cal, &cfg(), &events);
        assert_eq!(clock.due, Some(Dated::exact(d("2026-06-30"))));
        assert_eq!(clock.paused_days, 0);
    }

    #[test]
    fn several_pauses_and_an_extension_add_up() {
        let cal = test_calendar();
        let events = [
            ClockEvent::Received(d("2026-04-27")),
            ClockEvent::PauseStart(d("2026-04-29"), PauseKind::ThirdParty),
            ClockEvent::PauseEnd(d("2026-05-08")),
            ClockEvent::Extended {
                day: d("2026-05-12"),
                days: 10,
            },
            ClockEvent::PauseStart(d("2026-05-20"), PauseKind::FeeWait),
            ClockEvent::PauseEnd(d("2026-06-02")),
        ];
        let pauses = [
            (d("2026-04-29"), d("2026-05-08")),
            (d("2026-05-20"), d("2026-06-02")),
        ];
        let clock = reply_due(&cal, &cfg(), &events);
        let expected = brute(&cal, d("2026-04-27"), 30, FirstDay::NextDay, &pauses);
        assert_eq!(clock.due, Some(Dated::exact(expected)));
        // (04-29, 05-08]: Apr 30, May 6, 7, 8 = 4; (05-20, 06-02]: May 21,
        // 22, 25–29, Jun 1, 2 = 9.
        assert_eq!(clock.paused_days, 13);
        assert_eq!(clock.extension_days, 10);
        // An extension granted while paused extends what is left.
        let events = [
            ClockEvent::Received(d("2026-06-01")),
            ClockEvent::PauseStart(d("2026-06-08"), PauseKind::ThirdParty),
            ClockEvent::Extended {
                day: d("2026-06-09"),
                days: 3,
            },
        ];
        let clock = reply_due(&cal, &cfg(), &events);
        assert!(matches!(
            clock.phase,
            ClockPhase::Paused {
                used_days: 5,
                left_days: 18,
                ..
            }
        ));
    }

    #[test]
    fn odd_sequences_are_tolerated() {
        let cal = test_calendar();
        assert_eq!(reply_due(&cal, &cfg(), &[]).phase, ClockPhase::NotStarted);
        let clock = reply_due(
            &cal,
            &cfg(),
            &[
                ClockEvent::Corrected(d("2026-06-01")),
                ClockEvent::PauseEnd(d("2026-06-02")),
            ],
        );
        assert_eq!(clock.phase, ClockPhase::NotStarted);
        assert_eq!(clock.due, None);
        let received = ClockEvent::Received(d("2026-06-01"));
        let clock = reply_due(
            &cal,
            &cfg(),
            &[
                received,
                ClockEvent::Received(d("2026-06-10")),
                ClockEvent::PauseEnd(d("2026-06-12")),
            ],
        );
        assert_eq!(clock.due, Some(Dated::exact(d("2026-06-30"))));
        // A pause while awaiting the correction is ignored.
        let clock = reply_due(
            &cal,
            &cfg(),
            &[
                received,
                ClockEvent::CorrectionRequested(d("2026-06-02")),
                ClockEvent::PauseStart(d("2026-06-03"), PauseKind::ThirdParty),
            ],
        );
        assert!(matches!(clock.phase, ClockPhase::AwaitingCorrection { .. }));
        // An extension granted before a correction carries into the new term.
        let clock = reply_due(
            &cal,
            &cfg(),
            &[
                received,
                ClockEvent::Extended {
                    day: d("2026-06-02"),
                    days: 20,
                },
                ClockEvent::CorrectionRequested(d("2026-06-03")),
                ClockEvent::Corrected(d("2026-06-05")),
            ],
        );
        assert_eq!(
            clock.due.unwrap().value,
            brute(&cal, d("2026-06-05"), 40, FirstDay::NextDay, &[])
        );
    }

    #[test]
    fn deadlines_match_brute_force_every_day_of_2026() {
        let cal = test_calendar();
        let same = ClockConfig {
            first_day: FirstDay::SameDay,
            ..cfg()
        };
        let mut day = d("2026-01-01");
        while day <= d("2026-11-30") {
            for c in [&cfg(), &same] {
                let got = due(&cal, c, &[ClockEvent::Received(day)]);
                assert_eq!(got.value, brute(&cal, day, 20, c.first_day, &[]), "{day}");
                assert!(!got.provisional, "{day}");
            }
            // A 5-day-later pause lasting 9 calendar days.
            let s = day + chrono::Days::new(5);
            let e = s + chrono::Days::new(9);
            let events = [
                ClockEvent::Received(day),
                ClockEvent::PauseStart(s, PauseKind::ThirdParty),
                ClockEvent::PauseEnd(e),
            ];
            assert_eq!(
                due(&cal, &cfg(), &events).value,
                brute(&cal, day, 20, FirstDay::NextDay, &[(s, e)]),
                "{day}"
            );
            day = day.succ_opt().unwrap();
        }
    }

    #[test]
    fn events_serialize() {
        let events = vec![
            ClockEvent::Received(d("2026-06-01")),
            ClockEvent::PauseStart(d("2026-06-08"), PauseKind::CoMaker),
            ClockEvent::Extended {
                day: d("2026-06-09"),
                days: 3,
            },
        ];
        let json = serde_json::to_string(&events).unwrap();
        assert!(json.contains("\"co_maker\""), "{json}");
        let back: Vec<ClockEvent> = serde_json::from_str(&json).unwrap();
        assert_eq!(back, events);
    }
}
