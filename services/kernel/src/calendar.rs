//! Working-day calendar (RULES §6).
//!
//! A working day is Monday–Friday, minus official holidays, plus make-up
//! working days (调休). The holidays change every year by State Council
//! notice, so they live in data files (`deploy/calendar/<year>.toml`), one per
//! year, read at start; nothing about a particular year is in this code.
//!
//! Deadlines under the disclosure regulation run for years past the last
//! announced schedule (a request received in late December is due in
//! January). For a year without a file the Monday–Friday rule is used, but the
//! result is flagged [`Dated::provisional`] and operators are warned, because
//! RULES §6 forbids treating such a date as final.

use std::collections::{BTreeMap, HashSet};
use std::fmt;
use std::path::{Path, PathBuf};
use std::sync::{Arc, LazyLock, PoisonError, RwLock};

use chrono::{Datelike, NaiveDate, Weekday};
use serde::Deserialize;

/// A computed value and whether it rests on a year without calendar data
/// (RULES §6: such a value is provisional, never silently final).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Dated<T> {
    pub value: T,
    pub provisional: bool,
}

impl<T> Dated<T> {
    /// A value that rests on loaded calendar data only.
    pub fn exact(value: T) -> Self {
        Self {
            value,
            provisional: false,
        }
    }

    /// Transforms the value; a provisional input stays provisional.
    pub fn map<U>(self, f: impl FnOnce(T) -> U) -> Dated<U> {
        Dated {
            value: f(self.value),
            provisional: self.provisional,
        }
    }
}

/// Which day a deadline counts as its first.
#[derive(Debug, Clone, Copy, PartialEq, Eq, serde::Deserialize, serde::Serialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum FirstDay {
    /// Civil Code Art. 201: the day of receipt is not counted; day 1 is the
    /// first working day after it.
    #[default]
    NextDay,
    /// The day of receipt is day 1 if it is a working day (some localities
    /// count this way); otherwise day 1 is the next working day.
    SameDay,
}

/// Why a calendar file could not be loaded. Every message starts with the
/// file, and validation errors name the field, so an operator can fix the
/// data without reading code.
#[derive(Debug, thiserror::Error)]
pub enum CalendarError {
    #[error("{}: cannot read: {source}", .path.display())]
    Io {
        path: PathBuf,
        #[source]
        source: std::io::Error,
    },
    #[error("{file}: file name must be <year>.toml, e.g. 2026.toml")]
    FileName { file: String },
    #[error("{file}: {message}")]
    Syntax { file: String, message: String },
    #[error("{file}: {field}: {message}")]
    Invalid {
        file: String,
        field: String,
        message: String,
    },
}

/// One holiday of a year file, as validated.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Holiday {
    pub name: String,
    /// First day off (inclusive).
    pub first_off: NaiveDate,
    /// Last day off (inclusive).
    pub last_off: NaiveDate,
    /// Make-up working days (调休), each a Saturday or Sunday.
    pub workdays: Vec<NaiveDate>,
}

/// One validated year file, with its working days precomputed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct YearData {
    year: i32,
    source: String,
    holidays: Vec<Holiday>,
    bits: YearBits,
}

impl YearData {
    pub fn year(&self) -> i32 {
        self.year
    }

    /// The notice the dates were taken from.
    pub fn source(&self) -> &str {
        &self.source
    }

    pub fn holidays(&self) -> &[Holiday] {
        &self.holidays
    }

    /// Number of working days in the year.
    pub fn working_days(&self) -> u32 {
        self.bits.count(0, self.bits.len)
    }
}

/// Working-day calendar over the loaded years. Cloning is cheap and clones
/// share the record of which missing years were already reported.
#[derive(Clone)]
pub struct Calendar {
    inner: Arc<Inner>,
}

struct Inner {
    /// `years[i]` holds year `first_year + i`: a direct index keeps the hot
    /// path free of map lookups.
    first_year: i32,
    years: Vec<Option<YearData>>,
    /// Missing years already warned about, so a busy service logs each once.
    warned: RwLock<HashSet<i32>>,
}

impl fmt::Debug for Calendar {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Calendar")
            .field("years", &self.years())
            .finish()
    }
}

/// A call touching a long run of missing years (a far-future date) would
/// otherwise log one warning per year; the nearest few are what operators act on.
const MAX_NOTES_PER_CALL: u8 = 4;

impl Calendar {
    /// Loads every `<year>.toml` in `dir` and ignores other entries (README,
    /// backups, the hidden `..data` links of a Kubernetes ConfigMap). One
    /// invalid year file fails the whole load: starting with a wrong holiday
    /// would compute wrong legal deadlines without any flag.
    pub fn load_dir(dir: &Path) -> Result<Calendar, CalendarError> {
        let io = |path: &Path| {
            let path = path.to_path_buf();
            move |source| CalendarError::Io { path, source }
        };
        let mut years = Vec::new();
        for entry in std::fs::read_dir(dir).map_err(io(dir))? {
            let path = entry.map_err(io(dir))?.path();
            let Some(name) = path.file_name().and_then(|n| n.to_str()) else {
                continue;
            };
            // `is_file` follows symlinks, which is how ConfigMaps present files.
            if year_from_file_name(name).is_none() || !path.is_file() {
                tracing::debug!(file = %path.display(), "not a calendar year file; ignored");
                continue;
            }
            let text = std::fs::read_to_string(&path).map_err(io(&path))?;
            years.push(Self::parse_year(name, &text)?);
        }
        let calendar = Self::from_years(years);
        if calendar.inner.years.is_empty() {
            tracing::warn!(
                dir = %dir.display(),
                "no <year>.toml calendar files: every working-day computation will be provisional"
            );
        } else {
            tracing::info!(dir = %dir.display(), years = ?calendar.years(), "working-day calendar loaded");
        }
        Ok(calendar)
    }

    /// Builds a calendar from already parsed years; a later duplicate of a
    /// year replaces the earlier one.
    pub fn from_years(years: impl IntoIterator<Item = YearData>) -> Calendar {
        let by_year: BTreeMap<i32, YearData> = years.into_iter().map(|y| (y.year, y)).collect();
        let first_year = by_year.keys().next().copied().unwrap_or(0);
        let mut slots: Vec<Option<YearData>> = Vec::new();
        for (year, data) in by_year {
            let offset = usize::try_from(i64::from(year) - i64::from(first_year)).unwrap_or(0);
            if slots.len() <= offset {
                slots.resize(offset + 1, None);
            }
            slots[offset] = Some(data);
        }
        Calendar {
            inner: Arc::new(Inner {
                first_year,
                years: slots,
                warned: RwLock::new(HashSet::new()),
            }),
        }
    }

    /// Parses and validates one year file. `file_name` must be `<year>.toml`
    /// (a path is accepted; only its last component is used) and is quoted in
    /// every error.
    pub fn parse_year(file_name: &str, text: &str) -> Result<YearData, CalendarError> {
        let file = Path::new(file_name)
            .file_name()
            .and_then(|n| n.to_str())
            .unwrap_or(file_name);
        let year = year_from_file_name(file).ok_or_else(|| CalendarError::FileName {
            file: file.to_owned(),
        })?;
        let raw: RawYear = toml::from_str(text).map_err(|e| CalendarError::Syntax {
            file: file.to_owned(),
            message: syntax_message(text, &e),
        })?;
        validate(year, raw).map_err(|(field, message)| CalendarError::Invalid {
            file: file.to_owned(),
            field,
            message,
        })
    }

    pub fn has_year(&self, year: i32) -> bool {
        self.inner.loaded(year).is_some()
    }

    /// Loaded years, ascending.
    pub fn years(&self) -> Vec<i32> {
        self.inner.years.iter().flatten().map(|y| y.year).collect()
    }

    /// The loaded data of `year`, e.g. to show operators its source.
    pub fn year_data(&self, year: i32) -> Option<&YearData> {
        self.inner.loaded(year)
    }

    /// Years without data that some computation has needed since start,
    /// ascending: what a health check or alert should report.
    pub fn missing_years_seen(&self) -> Vec<i32> {
        let warned = self
            .inner
            .warned
            .read()
            .unwrap_or_else(PoisonError::into_inner);
        let mut years: Vec<i32> = warned.iter().copied().collect();
        years.sort_unstable();
        years
    }

    /// Whether `day` is a working day; `Provisional` when its year has no data
    /// (weekday rule used, flagged).
    pub fn is_working_day(&self, day: NaiveDate) -> Dated<bool> {
        let mut probe = Probe::new(&self.inner);
        match self.inner.year_bits(day.year()) {
            Some((bits, provisional)) => {
                probe.touch(day.year(), provisional);
                probe.done(bits.get(day.ordinal0()))
            }
            // Unreachable for a valid date; the weekday rule is the safe answer.
            None => Dated {
                value: is_weekday(day.weekday()),
                provisional: true,
            },
        }
    }

    /// The n-th working day after `start` (start itself not counted; n >= 1).
    /// n == 0 returns start. A result beyond chrono's range saturates at
    /// `NaiveDate::MAX`, flagged provisional.
    pub fn add_working_days(&self, start: NaiveDate, n: u32) -> Dated<NaiveDate> {
        if n == 0 {
            return Dated::exact(start);
        }
        self.nth_from(start.year(), start.ordinal0() + 1, n)
    }

    /// Working days in (from, to] — from excluded, to included; 0 if to <= from.
    pub fn working_days_between(&self, from: NaiveDate, to: NaiveDate) -> Dated<u32> {
        if to <= from {
            return Dated::exact(0);
        }
        let mut probe = Probe::new(&self.inner);
        let mut total = 0u32;
        for year in from.year()..=to.year() {
            let Some((bits, provisional)) = self.inner.year_bits(year) else {
                continue;
            };
            let start = if year == from.year() {
                from.ordinal0() + 1
            } else {
                0
            };
            let end = if year == to.year() {
                to.ordinal0() + 1
            } else {
                bits.len
            };
            if start < end {
                probe.touch(year, provisional);
                total = total.saturating_add(bits.count(start, end));
            }
        }
        probe.done(total)
    }

    /// Next working day on or after `day`.
    pub fn next_working_day_on_or_after(&self, day: NaiveDate) -> Dated<NaiveDate> {
        self.nth_from(day.year(), day.ordinal0(), 1)
    }

    /// The deadline `n` working days counted from receipt under the rule;
    /// n == 0 (a reply on the spot) is the day of receipt.
    pub fn deadline(&self, received: NaiveDate, n: u32, rule: FirstDay) -> Dated<NaiveDate> {
        if n == 0 {
            return Dated::exact(received);
        }
        match rule {
            FirstDay::NextDay => self.add_working_days(received, n),
            // Counting from the receipt day itself gives "day 1 = receipt day"
            // when it works and "day 1 = next working day" when it does not.
            FirstDay::SameDay => self.nth_from(received.year(), received.ordinal0(), n),
        }
    }

    /// The k-th working day (k >= 1) at or after day index `pos` of `year`.
    fn nth_from(&self, mut year: i32, mut pos: u32, k: u32) -> Dated<NaiveDate> {
        let mut probe = Probe::new(&self.inner);
        let mut remaining = k;
        loop {
            let Some((bits, provisional)) = self.inner.year_bits(year) else {
                return probe.saturated();
            };
            if pos < bits.len {
                probe.touch(year, provisional);
            }
            match bits.nth_from(pos, remaining) {
                Ok(index) => {
                    return match NaiveDate::from_yo_opt(year, index + 1) {
                        Some(day) => probe.done(day),
                        None => probe.saturated(),
                    };
                }
                Err(seen) => {
                    remaining -= seen;
                    let Some(next) = year.checked_add(1) else {
                        return probe.saturated();
                    };
                    year = next;
                    pos = 0;
                }
            }
        }
    }
}

impl Inner {
    fn loaded(&self, year: i32) -> Option<&YearData> {
        let offset = usize::try_from(i64::from(year) - i64::from(self.first_year)).ok()?;
        self.years.get(offset)?.as_ref()
    }

    /// The working-day bits of `year` and whether they are the provisional
    /// weekday rule; `None` only outside chrono's date range.
    fn year_bits(&self, year: i32) -> Option<(&YearBits, bool)> {
        if let Some(data) = self.loaded(year) {
            return Some((&data.bits, false));
        }
        let jan1 = NaiveDate::from_yo_opt(year, 1)?;
        Some((weekday_template(jan1.weekday(), is_leap(year)), true))
    }

    fn note_missing(&self, year: i32) {
        // Every provisional computation passes here: a shared read first, so
        // that a busy service does not queue on a lock after the first warning.
        if self
            .warned
            .read()
            .unwrap_or_else(PoisonError::into_inner)
            .contains(&year)
        {
            return;
        }
        let first_time = self
            .warned
            .write()
            .unwrap_or_else(PoisonError::into_inner)
            .insert(year);
        if first_time {
            tracing::warn!(
                year,
                "no working-day calendar for {year}: its dates follow the Monday–Friday rule and \
                 are marked provisional; add {year}.toml to the calendar directory and restart, \
                 then recompute provisional deadlines"
            );
        }
    }
}

/// Collects, during one computation, whether any missing year was used.
struct Probe<'a> {
    inner: &'a Inner,
    provisional: bool,
    noted: u8,
}

impl<'a> Probe<'a> {
    fn new(inner: &'a Inner) -> Self {
        Self {
            inner,
            provisional: false,
            noted: 0,
        }
    }

    fn touch(&mut self, year: i32, provisional: bool) {
        if !provisional {
            return;
        }
        self.provisional = true;
        if self.noted < MAX_NOTES_PER_CALL {
            self.noted += 1;
            self.inner.note_missing(year);
        }
    }

    fn done<T>(self, value: T) -> Dated<T> {
        Dated {
            value,
            provisional: self.provisional,
        }
    }

    fn saturated(self) -> Dated<NaiveDate> {
        Dated {
            value: NaiveDate::MAX,
            provisional: true,
        }
    }
}

// ---------------------------------------------------------------------------
// Per-year bitset

/// 6 × 64 = 384 bits cover the 366 days of a leap year.
const WORDS: usize = 6;

/// One bit per day of a year (bit i = day with `ordinal0() == i`), set when
/// the day is a working day. Counting and stepping become popcounts, so a
/// 20-day deadline costs a handful of word operations and no allocation.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
struct YearBits {
    words: [u64; WORDS],
    /// Days in the year; bits at and beyond it stay clear.
    len: u32,
}

impl YearBits {
    fn weekdays(jan1: Weekday, len: u32) -> Self {
        let mut bits = Self {
            words: [0; WORDS],
            len,
        };
        let first = jan1.num_days_from_monday();
        for i in 0..len {
            bits.set(i, (first + i) % 7 < 5);
        }
        bits
    }

    fn get(&self, i: u32) -> bool {
        i < self.len && self.words[(i / 64) as usize] & (1 << (i % 64)) != 0
    }

    fn set(&mut self, i: u32, working: bool) {
        if i >= self.len {
            return;
        }
        let word = &mut self.words[(i / 64) as usize];
        if working {
            *word |= 1 << (i % 64);
        } else {
            *word &= !(1 << (i % 64));
        }
    }

    /// Working days with index in [from, to).
    fn count(&self, from: u32, to: u32) -> u32 {
        let to = to.min(self.len);
        let mut total = 0;
        let mut i = from;
        while i < to {
            let w = i / 64;
            let hi = (to - w * 64).min(64);
            total += (self.words[w as usize] & bit_range(i % 64, hi)).count_ones();
            i = (w + 1) * 64;
        }
        total
    }

    /// Index of the k-th (k >= 1) working day at index >= `from`, or
    /// `Err(number of working days at index >= from)` when the year has fewer.
    fn nth_from(&self, from: u32, k: u32) -> Result<u32, u32> {
        if from >= self.len {
            return Err(0);
        }
        let mut seen = 0;
        let mut w = (from / 64) as usize;
        let mut word = self.words[w] & bit_range(from % 64, 64);
        loop {
            let ones = word.count_ones();
            let wanted = k - seen;
            if wanted <= ones {
                for _ in 1..wanted {
                    word &= word - 1;
                }
                return Ok(w as u32 * 64 + word.trailing_zeros());
            }
            seen += ones;
            w += 1;
            if w == WORDS {
                return Err(seen);
            }
            word = self.words[w];
        }
    }
}

/// Bits [lo, hi) of a word; lo < 64, hi <= 64.
fn bit_range(lo: u32, hi: u32) -> u64 {
    let below_hi = if hi >= 64 { u64::MAX } else { (1u64 << hi) - 1 };
    below_hi & !((1u64 << lo) - 1)
}

/// Weekday-rule bitsets for every (weekday of 1 January, leap) pair, so a
/// missing year costs a table lookup rather than a rebuild per call.
fn weekday_template(jan1: Weekday, leap: bool) -> &'static YearBits {
    static TEMPLATES: LazyLock<[[YearBits; 2]; 7]> = LazyLock::new(|| {
        let mut jan1 = Weekday::Mon;
        std::array::from_fn(|_| {
            let pair = [YearBits::weekdays(jan1, 365), YearBits::weekdays(jan1, 366)];
            jan1 = jan1.succ();
            pair
        })
    });
    &TEMPLATES[jan1.num_days_from_monday() as usize][usize::from(leap)]
}

fn is_leap(year: i32) -> bool {
    year % 4 == 0 && (year % 100 != 0 || year % 400 == 0)
}

fn days_in_year(year: i32) -> u32 {
    if is_leap(year) { 366 } else { 365 }
}

fn is_weekday(day: Weekday) -> bool {
    day.num_days_from_monday() < 5
}

// ---------------------------------------------------------------------------
// Year files

/// `2026.toml` → 2026. Four digits only, so backups (`2026.toml.bak`) and
/// drafts (`2027-draft.toml`) are never loaded by accident.
fn year_from_file_name(name: &str) -> Option<i32> {
    let stem = name.strip_suffix(".toml")?;
    if stem.len() != 4 || !stem.bytes().all(|b| b.is_ascii_digit()) {
        return None;
    }
    stem.parse().ok()
}

// Unknown keys are rejected: a misspelt `workday` would otherwise drop
// make-up days silently.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawYear {
    year: i64,
    source: String,
    #[serde(default)]
    holiday: Vec<RawHoliday>,
}

// Dates are read as raw values so that errors can name the exact element and
// so that both quoted ("2026-10-01") and bare TOML dates are accepted.
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawHoliday {
    name: String,
    off: Vec<toml::Value>,
    #[serde(default)]
    workdays: Vec<toml::Value>,
}

/// toml's own message spans several lines with a source excerpt; logs and
/// start-up failures read better with one line.
fn syntax_message(text: &str, error: &toml::de::Error) -> String {
    let message = error.message().trim();
    match error.span() {
        Some(span) => {
            let line = text
                .get(..span.start)
                .map_or(0, |before| before.matches('\n').count())
                + 1;
            format!("line {line}: {message}")
        }
        None => message.to_owned(),
    }
}

type FieldError = (String, String);

#[derive(Clone, Copy)]
enum Use {
    Off,
    Work,
}

fn validate(year: i32, raw: RawYear) -> Result<YearData, FieldError> {
    if raw.year != i64::from(year) {
        return Err((
            "year".into(),
            format!(
                "{} does not match the file name, which says {year}",
                raw.year
            ),
        ));
    }
    if raw.source.trim().is_empty() {
        return Err((
            "source".into(),
            "must name the notice the dates come from".into(),
        ));
    }
    let jan1 = NaiveDate::from_yo_opt(year, 1)
        .ok_or_else(|| ("year".to_owned(), format!("{year} is out of range")))?;
    let mut bits = *weekday_template(jan1.weekday(), is_leap(year));
    // Who claimed each day, so a clash names both entries.
    let mut claimed: Vec<Option<(usize, Use)>> = vec![None; days_in_year(year) as usize];
    let mut holidays = Vec::with_capacity(raw.holiday.len());

    for (i, h) in raw.holiday.into_iter().enumerate() {
        let field = |name: &str| format!("holiday[{i}].{name}");
        let name = h.name.trim().to_owned();
        if name.is_empty() {
            return Err((field("name"), "must not be empty".into()));
        }
        let (first_off, last_off) = match h.off.as_slice() {
            [day] => {
                let day = date_in_year(day, year).map_err(|m| (field("off[0]"), m))?;
                (day, day)
            }
            [first, last] => (
                date_in_year(first, year).map_err(|m| (field("off[0]"), m))?,
                date_in_year(last, year).map_err(|m| (field("off[1]"), m))?,
            ),
            other => {
                return Err((
                    field("off"),
                    format!(
                        "expected [first, last] (an inclusive range) or [day], got {} values",
                        other.len()
                    ),
                ));
            }
        };
        if last_off < first_off {
            return Err((
                field("off"),
                format!("end {last_off} is before start {first_off}"),
            ));
        }
        for day in first_off.iter_days().take_while(|d| *d <= last_off) {
            claim(&mut claimed, &holidays, &name, day, i, Use::Off)
                .map_err(|m| (field("off"), m))?;
            bits.set(day.ordinal0(), false);
        }

        let mut workdays = Vec::with_capacity(h.workdays.len());
        for (j, value) in h.workdays.iter().enumerate() {
            let work_field = || field(&format!("workdays[{j}]"));
            let day = date_in_year(value, year).map_err(|m| (work_field(), m))?;
            if is_weekday(day.weekday()) {
                return Err((
                    work_field(),
                    format!(
                        "{day} is a {}; a make-up working day (调休) must be a Saturday or Sunday",
                        weekday_name(day.weekday())
                    ),
                ));
            }
            claim(&mut claimed, &holidays, &name, day, i, Use::Work)
                .map_err(|m| (work_field(), m))?;
            bits.set(day.ordinal0(), true);
            workdays.push(day);
        }
        holidays.push(Holiday {
            name,
            first_off,
            last_off,
            workdays,
        });
    }

    Ok(YearData {
        year,
        source: raw.source.trim().to_owned(),
        holidays,
        bits,
    })
}

/// Records that holiday `index` uses `day`, refusing a day already used: a
/// day both off and worked, or off in two holidays, is a data-entry mistake.
fn claim(
    claimed: &mut [Option<(usize, Use)>],
    done: &[Holiday],
    current_name: &str,
    day: NaiveDate,
    index: usize,
    usage: Use,
) -> Result<(), String> {
    let slot = &mut claimed[day.ordinal0() as usize];
    if let Some((other, other_use)) = *slot {
        let other_name = done.get(other).map_or(current_name, |h| h.name.as_str());
        let list = match other_use {
            Use::Off => "off",
            Use::Work => "workdays",
        };
        return Err(format!(
            "{day} is already in holiday[{other}].{list} ({other_name}); a day may appear only once"
        ));
    }
    *slot = Some((index, usage));
    Ok(())
}

fn date_in_year(value: &toml::Value, year: i32) -> Result<NaiveDate, String> {
    let day = match value {
        toml::Value::String(text) => {
            NaiveDate::parse_from_str(text.trim(), "%Y-%m-%d").map_err(|_| {
                format!("{text:?} is not a date; write YYYY-MM-DD, e.g. \"{year}-10-01\"")
            })?
        }
        toml::Value::Datetime(dt) => match (dt.date, dt.time, dt.offset) {
            (Some(d), None, None) => {
                NaiveDate::from_ymd_opt(i32::from(d.year), u32::from(d.month), u32::from(d.day))
                    .ok_or_else(|| format!("{dt} is not a date"))?
            }
            _ => return Err(format!("{dt} has a time; write only the date, YYYY-MM-DD")),
        },
        other => {
            return Err(format!(
                "expected a date such as \"{year}-10-01\", got {}",
                other.type_str()
            ));
        }
    };
    if day.year() != year {
        return Err(format!(
            "{day} is not in {year}; a file holds only its own year's dates \
             (split a holiday that crosses New Year across both files)"
        ));
    }
    Ok(day)
}

fn weekday_name(day: Weekday) -> &'static str {
    match day {
        Weekday::Mon => "Monday",
        Weekday::Tue => "Tuesday",
        Weekday::Wed => "Wednesday",
        Weekday::Thu => "Thursday",
        Weekday::Fri => "Friday",
        Weekday::Sat => "Saturday",
        Weekday::Sun => "Sunday",
    }
}

#[cfg(test)]
#[allow(clippy::unwrap_used)]
mod tests {
    use super::*;

    fn d(text: &str) -> NaiveDate {
        NaiveDate::parse_from_str(text, "%Y-%m-%d").unwrap()
    }

    fn calendar_dir() -> PathBuf {
        Path::new(env!("CARGO_MANIFEST_DIR")).join("../../deploy/calendar")
    }

    fn real() -> Calendar {
        Calendar::load_dir(&calendar_dir()).unwrap()
    }

    fn exact<T>(value: T) -> Dated<T> {
        Dated::exact(value)
    }

    fn provisional<T>(value: T) -> Dated<T> {
        Dated {
            value,
            provisional: true,
        }
    }

    /// The brute-force definition, to check the bitset arithmetic against.
    fn slow_is_working(cal: &Calendar, day: NaiveDate) -> bool {
        match cal.year_data(day.year()) {
            None => is_weekday(day.weekday()),
            Some(data) => {
                let mut working = is_weekday(day.weekday());
                for h in data.holidays() {
                    if h.first_off <= day && day <= h.last_off {
                        working = false;
                    }
                    if h.workdays.contains(&day) {
                        working = true;
                    }
                }
                working
            }
        }
    }

    fn slow_add(cal: &Calendar, start: NaiveDate, n: u32) -> NaiveDate {
        let mut day = start;
        let mut left = n;
        while left > 0 {
            day = day.succ_opt().unwrap();
            if slow_is_working(cal, day) {
                left -= 1;
            }
        }
        day
    }

    fn parse_err(file: &str, text: &str) -> String {
        Calendar::parse_year(file, text).unwrap_err().to_string()
    }

    const HEAD: &str = "year = 2026\nsource = \"test\"\n";

    #[test]
    fn calendar_is_cheap_to_share() {
        fn assert_send_sync<T: Send + Sync + Clone>() {}
        assert_send_sync::<Calendar>();
    }

    #[test]
    fn real_2026_file_loads() {
        let cal = real();
        assert_eq!(cal.years(), vec![2026]);
        assert!(cal.has_year(2026));
        assert!(!cal.has_year(2027));
        let data = cal.year_data(2026).unwrap();
        assert_eq!(data.holidays().len(), 7);
        assert!(data.source().contains("2025-11-04"));
        // 261 weekdays − 19 weekdays off + 6 make-up days.
        assert_eq!(data.working_days(), 248);
    }

    #[test]
    fn golden_working_days_2026() {
        let cal = real();
        let cases = [
            ("2026-01-01", false), // 元旦, Thu
            ("2026-01-02", false), // Fri off
            ("2026-01-04", true),  // Sun make-up
            ("2026-01-05", true),  // ordinary Mon
            ("2026-01-10", false), // ordinary Sat
            ("2026-02-14", true),  // Sat make-up before 春节
            ("2026-02-16", false), // Mon in 春节
            ("2026-02-23", false), // last day of 春节, Mon
            ("2026-02-24", true),
            ("2026-02-28", true),  // Sat make-up after 春节
            ("2026-04-06", false), // 清明 Mon
            ("2026-05-05", false), // 劳动节 Tue
            ("2026-05-09", true),  // Sat make-up
            ("2026-06-19", false), // 端午 Fri
            ("2026-09-20", true),  // Sun make-up before 国庆
            ("2026-09-25", false), // 中秋 Fri
            ("2026-10-07", false), // 国庆 Wed
            ("2026-10-08", true),  // Thu after 国庆
            ("2026-10-10", true),  // Sat make-up
            ("2026-10-11", false), // ordinary Sun
        ];
        for (day, working) in cases {
            assert_eq!(cal.is_working_day(d(day)), exact(working), "{day}");
        }
    }

    #[test]
    fn golden_deadlines_2026() {
        let cal = real();
        let next = FirstDay::NextDay;
        // 国庆: Oct 8=1, 9=2, Sat 10=3, 12–16=4..8, 19–23=9..13, 26–30=14..18, Nov 2=19, Nov 3=20.
        assert_eq!(
            cal.deadline(d("2026-09-30"), 20, next),
            exact(d("2026-11-03"))
        );
        // Extension: 20 more working days after Nov 3.
        assert_eq!(
            cal.deadline(d("2026-09-30"), 40, next),
            exact(d("2026-12-01"))
        );
        // 春节: Feb 11–13=1..3, Sat 14=4, 24–27=5..8, Sat 28=9, Mar 2–6=10..14, 9–13=15..19, 16=20.
        assert_eq!(
            cal.deadline(d("2026-02-10"), 20, next),
            exact(d("2026-03-16"))
        );
        // Correction notice, 7 working days: Feb 11–14, 24–26.
        assert_eq!(
            cal.deadline(d("2026-02-10"), 7, next),
            exact(d("2026-02-26"))
        );
        // 劳动节: May 6–8=1..3, Sat 9=4, 11–13=5..7; then 14–15, 18–22, 25–29, Jun 1=20.
        assert_eq!(
            cal.deadline(d("2026-04-30"), 7, next),
            exact(d("2026-05-13"))
        );
        assert_eq!(
            cal.deadline(d("2026-04-30"), 20, next),
            exact(d("2026-06-01"))
        );
        // 清明: Apr 3=1, 4–6 off, 7=2, 8=3.
        assert_eq!(
            cal.add_working_days(d("2026-04-02"), 3),
            exact(d("2026-04-08"))
        );
        // 元旦: Sun Jan 4=1, 5–9, 12–16, 19–23, 26–29=20.
        assert_eq!(
            cal.add_working_days(d("2026-01-01"), 20),
            exact(d("2026-01-29"))
        );
        assert_eq!(
            cal.add_working_days(d("2026-09-30"), 0),
            exact(d("2026-09-30"))
        );
        assert_eq!(
            cal.deadline(d("2026-10-03"), 0, next),
            exact(d("2026-10-03"))
        );
    }

    #[test]
    fn same_day_rule_counts_a_working_receipt_day() {
        let cal = real();
        let (next, same) = (FirstDay::NextDay, FirstDay::SameDay);
        // Wed Sep 30 works, so it is day 1 and everything moves one day earlier.
        assert_eq!(
            cal.deadline(d("2026-09-30"), 20, same),
            exact(d("2026-11-02"))
        );
        assert_eq!(
            cal.deadline(d("2026-09-30"), 20, next),
            exact(d("2026-11-03"))
        );
        // Received on a holiday: both rules start at Oct 8.
        assert_eq!(
            cal.deadline(d("2026-10-03"), 20, same),
            exact(d("2026-11-03"))
        );
        assert_eq!(
            cal.deadline(d("2026-10-03"), 20, next),
            exact(d("2026-11-03"))
        );
        // Received on the make-up Saturday Oct 10, which works.
        assert_eq!(
            cal.deadline(d("2026-10-10"), 20, same),
            exact(d("2026-11-05"))
        );
        assert_eq!(
            cal.deadline(d("2026-10-10"), 20, next),
            exact(d("2026-11-06"))
        );
        assert_eq!(
            cal.deadline(d("2026-10-10"), 1, same),
            exact(d("2026-10-10"))
        );
        assert_eq!(FirstDay::default(), FirstDay::NextDay);
    }

    #[test]
    fn first_day_rule_reads_from_config() {
        #[derive(Deserialize)]
        struct Config {
            first_day: FirstDay,
        }
        let parsed: Config = toml::from_str("first_day = \"same_day\"").unwrap();
        assert_eq!(parsed.first_day, FirstDay::SameDay);
        let parsed: Config = toml::from_str("first_day = \"next_day\"").unwrap();
        assert_eq!(parsed.first_day, FirstDay::NextDay);
    }

    #[test]
    fn golden_counts_between() {
        let cal = real();
        // October after 国庆: 8, 9, 10, then four full weeks.
        assert_eq!(
            cal.working_days_between(d("2026-09-30"), d("2026-10-31")),
            exact(18)
        );
        // Sun Sep 20 (make-up), 21–24, 中秋 25–27 off, 28–30.
        assert_eq!(
            cal.working_days_between(d("2026-09-18"), d("2026-09-30")),
            exact(8)
        );
        assert_eq!(
            cal.working_days_between(d("2025-12-31"), d("2026-12-31")),
            exact(248)
        );
        assert_eq!(
            cal.working_days_between(d("2026-12-01"), d("2026-12-31")),
            exact(22)
        );
        assert_eq!(
            cal.working_days_between(d("2026-10-08"), d("2026-10-08")),
            exact(0)
        );
        assert_eq!(
            cal.working_days_between(d("2026-10-09"), d("2026-10-08")),
            exact(0)
        );
        // `to` counts, `from` does not.
        assert_eq!(
            cal.working_days_between(d("2026-10-07"), d("2026-10-08")),
            exact(1)
        );
        assert_eq!(
            cal.working_days_between(d("2026-10-08"), d("2026-10-09")),
            exact(1)
        );
    }

    #[test]
    fn next_working_day() {
        let cal = real();
        assert_eq!(
            cal.next_working_day_on_or_after(d("2026-10-01")),
            exact(d("2026-10-08"))
        );
        assert_eq!(
            cal.next_working_day_on_or_after(d("2026-10-08")),
            exact(d("2026-10-08"))
        );
        assert_eq!(
            cal.next_working_day_on_or_after(d("2026-02-13")),
            exact(d("2026-02-13"))
        );
        assert_eq!(
            cal.next_working_day_on_or_after(d("2026-02-15")),
            exact(d("2026-02-24"))
        );
        assert_eq!(
            cal.next_working_day_on_or_after(d("2026-01-03")),
            exact(d("2026-01-04"))
        );
    }

    #[test]
    fn missing_years_are_provisional() {
        let cal = real();
        assert!(cal.missing_years_seen().is_empty());
        // 2027-01-01 is a Friday and surely 元旦, which is exactly why the flag matters.
        assert_eq!(cal.is_working_day(d("2027-01-01")), provisional(true));
        assert_eq!(cal.is_working_day(d("2027-01-02")), provisional(false));
        assert_eq!(cal.is_working_day(d("2025-10-01")), provisional(true));
        // Dec 25=1, 28–31=2..5, Jan 1=6, 4–8, 11–15, 18–21=20.
        assert_eq!(
            cal.add_working_days(d("2026-12-24"), 20),
            provisional(d("2027-01-21"))
        );
        // Staying inside 2026 is exact, right up to Dec 31.
        assert_eq!(
            cal.add_working_days(d("2026-12-10"), 5),
            exact(d("2026-12-17"))
        );
        assert_eq!(
            cal.add_working_days(d("2026-12-30"), 1),
            exact(d("2026-12-31"))
        );
        assert_eq!(
            cal.add_working_days(d("2026-12-31"), 1),
            provisional(d("2027-01-01"))
        );
        // Dec 31, Jan 1, Jan 4, Jan 5.
        assert_eq!(
            cal.working_days_between(d("2026-12-30"), d("2027-01-05")),
            provisional(4)
        );
        assert_eq!(
            cal.working_days_between(d("2026-12-30"), d("2026-12-31")),
            exact(1)
        );
        assert_eq!(
            cal.deadline(d("2026-12-24"), 20, FirstDay::SameDay),
            provisional(d("2027-01-20"))
        );
        assert_eq!(
            cal.next_working_day_on_or_after(d("2027-01-02")),
            provisional(d("2027-01-04"))
        );
        assert_eq!(cal.missing_years_seen(), vec![2025, 2027]);
        // Clones share the warned set.
        let clone = cal.clone();
        assert_eq!(clone.missing_years_seen(), vec![2025, 2027]);
        // Once 2027 is loaded the same question is answered exactly.
        let text = "year = 2027\nsource = \"test\"\n[[holiday]]\nname = \"元旦\"\noff = [\"2027-01-01\"]\n";
        let with_2027 = Calendar::from_years([
            cal.year_data(2026).unwrap().clone(),
            Calendar::parse_year("2027.toml", text).unwrap(),
        ]);
        assert_eq!(with_2027.is_working_day(d("2027-01-01")), exact(false));
        assert_eq!(
            with_2027.add_working_days(d("2026-12-24"), 20),
            exact(d("2027-01-22"))
        );
    }

    #[test]
    fn empty_calendar_uses_weekdays_provisionally() {
        let cal = Calendar::from_years([]);
        assert!(cal.years().is_empty());
        assert_eq!(
            cal.add_working_days(d("2026-09-30"), 20),
            provisional(d("2026-10-28"))
        );
        assert_eq!(
            cal.working_days_between(d("2026-01-04"), d("2026-01-11")),
            provisional(5)
        );
    }

    #[test]
    fn extreme_inputs_do_not_panic() {
        let cal = real();
        let far = cal.add_working_days(d("2026-01-01"), u32::MAX);
        assert_eq!(far, provisional(NaiveDate::MAX));
        let near_end = cal.add_working_days(NaiveDate::MAX, 1);
        assert_eq!(near_end, provisional(NaiveDate::MAX));
        let span = cal.working_days_between(NaiveDate::MIN, NaiveDate::MAX);
        assert!(span.provisional && span.value > 100_000_000);
        // Each call reports only a few missing years.
        assert!(cal.missing_years_seen().len() <= 3 * MAX_NOTES_PER_CALL as usize);
    }

    #[test]
    fn bitset_matches_brute_force() {
        let cal = real();
        let mut day = d("2025-11-01");
        while day < d("2027-03-01") {
            assert_eq!(
                cal.is_working_day(day).value,
                slow_is_working(&cal, day),
                "{day}"
            );
            for n in [1, 2, 5, 7, 15, 20, 40, 300] {
                assert_eq!(
                    cal.add_working_days(day, n).value,
                    slow_add(&cal, day, n),
                    "{day} + {n}"
                );
            }
            for back in [1, 3, 10, 64, 200] {
                let from = day - chrono::Days::new(back);
                let mut slow = 0;
                let mut x = from;
                while x < day {
                    x = x.succ_opt().unwrap();
                    slow += u32::from(slow_is_working(&cal, x));
                }
                assert_eq!(
                    cal.working_days_between(from, day).value,
                    slow,
                    "({from}, {day}]"
                );
            }
            day = day.succ_opt().unwrap();
        }
    }

    #[test]
    fn leap_year_files_work() {
        let text = "year = 2028\nsource = \"test\"\n[[holiday]]\nname = \"x\"\noff = [\"2028-12-29\", \"2028-12-31\"]\nworkdays = [\"2028-12-30\"]\n";
        let err = parse_err("2028.toml", text);
        assert!(
            err.contains("2028-12-30 is already in holiday[0].off"),
            "{err}"
        );
        let text = "year = 2028\nsource = \"test\"\n[[holiday]]\nname = \"x\"\noff = [2028-12-29, 2028-12-31]\nworkdays = [2028-12-24]\n";
        let cal = Calendar::from_years([Calendar::parse_year("2028.toml", text).unwrap()]);
        assert_eq!(cal.is_working_day(d("2028-12-31")), exact(false));
        assert_eq!(cal.is_working_day(d("2028-12-29")), exact(false));
        assert_eq!(cal.is_working_day(d("2028-12-24")), exact(true));
        assert_eq!(
            cal.add_working_days(d("2028-12-27"), 1),
            exact(d("2028-12-28"))
        );
        assert_eq!(
            cal.add_working_days(d("2028-12-28"), 1),
            provisional(d("2029-01-01"))
        );
    }

    #[test]
    fn validation_errors_name_file_and_field() {
        let cases = [
            (
                "2026.toml",
                format!(
                    "{HEAD}[[holiday]]\nname = \"a\"\noff = [\"2026-02-30\", \"2026-03-01\"]\n"
                ),
                "2026.toml: holiday[0].off[0]: \"2026-02-30\" is not a date",
            ),
            (
                "2026.toml",
                format!(
                    "{HEAD}[[holiday]]\nname = \"a\"\noff = [\"2026-01-01\"]\n[[holiday]]\nname = \"b\"\noff = [\"2026-03-01\"]\nworkdays = [\"2026-03-02\"]\n"
                ),
                "2026.toml: holiday[1].workdays[0]: 2026-03-02 is a Monday; a make-up working day (调休) must be a Saturday or Sunday",
            ),
            (
                "2026.toml",
                "year = 2025\nsource = \"x\"\n".to_owned(),
                "2026.toml: year: 2025 does not match the file name, which says 2026",
            ),
            (
                "2026.toml",
                format!(
                    "{HEAD}[[holiday]]\nname = \"a\"\noff = [\"2026-01-01\"]\n[[holiday]]\nname = \"春节\"\noff = [\"2026-02-23\", \"2026-02-15\"]\n"
                ),
                "2026.toml: holiday[1].off: end 2026-02-15 is before start 2026-02-23",
            ),
            (
                "2026.toml",
                format!(
                    "{HEAD}[[holiday]]\nname = \"元旦\"\noff = [\"2026-01-01\"]\nworkdays = [\"2025-12-28\"]\n"
                ),
                "2026.toml: holiday[0].workdays[0]: 2025-12-28 is not in 2026",
            ),
            (
                "2026.toml",
                format!(
                    "{HEAD}[[holiday]]\nname = \"a\"\noff = [\"2026-01-01\", \"2027-01-01\"]\n"
                ),
                "2026.toml: holiday[0].off[1]: 2027-01-01 is not in 2026",
            ),
            (
                "2026.toml",
                format!(
                    "{HEAD}[[holiday]]\nname = \"中秋\"\noff = [\"2026-09-25\", \"2026-10-01\"]\n[[holiday]]\nname = \"国庆\"\noff = [\"2026-10-01\", \"2026-10-07\"]\n"
                ),
                "2026.toml: holiday[1].off: 2026-10-01 is already in holiday[0].off (中秋)",
            ),
            (
                "2026.toml",
                format!(
                    "{HEAD}[[holiday]]\nname = \"国庆\"\noff = [\"2026-10-01\", \"2026-10-07\"]\nworkdays = [\"2026-10-04\"]\n"
                ),
                "2026.toml: holiday[0].workdays[0]: 2026-10-04 is already in holiday[0].off (国庆)",
            ),
            (
                "2026.toml",
                format!(
                    "{HEAD}[[holiday]]\nname = \"a\"\noff = [\"2026-01-01\", \"2026-01-02\", \"2026-01-03\"]\n"
                ),
                "2026.toml: holiday[0].off: expected [first, last]",
            ),
            (
                "2026.toml",
                format!("{HEAD}[[holiday]]\nname = \" \"\noff = [\"2026-01-01\"]\n"),
                "2026.toml: holiday[0].name: must not be empty",
            ),
            (
                "2026.toml",
                "year = 2026\nsource = \"\"\n".to_owned(),
                "2026.toml: source: must name the notice",
            ),
            (
                "2026.toml",
                format!("{HEAD}[[holiday]]\nname = \"a\"\noff = [20260101]\n"),
                "2026.toml: holiday[0].off[0]: expected a date",
            ),
            (
                "2026.toml",
                format!(
                    "{HEAD}[[holiday]]\nname = \"a\"\noff = [\"2026-01-01\"]\nworkday = [\"2026-01-04\"]\n"
                ),
                "2026.toml: line 6: unknown field `workday`",
            ),
            (
                "2026.toml",
                "source = \"x\"\n".to_owned(),
                "2026.toml: line 1: missing field `year`",
            ),
            (
                "calendar.toml",
                HEAD.to_owned(),
                "calendar.toml: file name must be <year>.toml",
            ),
            (
                "/etc/gongkai/calendar/2026.toml",
                "year = 2027\nsource = \"x\"\n".to_owned(),
                "2026.toml: year: 2027 does not match",
            ),
        ];
        for (file, text, expected) in cases {
            let err = parse_err(file, &text);
            assert!(
                err.starts_with(expected),
                "got {err:?}, expected {expected:?}"
            );
        }
    }

    #[test]
    fn load_dir_ignores_other_files_and_fails_on_bad_years() {
        let dir = tempfile::tempdir().unwrap();
        let real_2026 = std::fs::read_to_string(calendar_dir().join("2026.toml")).unwrap();
        std::fs::write(dir.path().join("2026.toml"), &real_2026).unwrap();
        std::fs::write(dir.path().join("README.md"), "# notes").unwrap();
        std::fs::write(dir.path().join("notes.txt"), "not toml").unwrap();
        std::fs::write(dir.path().join("2027.toml.bak"), "garbage").unwrap();
        std::fs::write(dir.path().join("2027-draft.toml"), "garbage").unwrap();
        std::fs::write(dir.path().join("settings.toml"), "garbage").unwrap();
        std::fs::create_dir(dir.path().join("2028.toml")).unwrap();
        let cal = Calendar::load_dir(dir.path()).unwrap();
        assert_eq!(cal.years(), vec![2026]);
        assert_eq!(cal.is_working_day(d("2026-10-10")), exact(true));

        std::fs::write(
            dir.path().join("2027.toml"),
            "year = 2026\nsource = \"x\"\n",
        )
        .unwrap();
        let err = Calendar::load_dir(dir.path()).unwrap_err().to_string();
        assert!(err.starts_with("2027.toml: year:"), "{err}");

        let err = Calendar::load_dir(&dir.path().join("absent"))
            .unwrap_err()
            .to_string();
        assert!(err.contains("absent: cannot read"), "{err}");
    }
}
