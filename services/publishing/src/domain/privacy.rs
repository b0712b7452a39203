//! Personal-information and confidentiality scanning of text before (or after)
//! publication (RULES §7).
//!
//! Everything here is pure: callers hand in text and get findings back, so the
//! same scanner serves the pre-publication gate and the rectification sweep over
//! already-published content.
//!
//! Offsets in [`Finding`] are counted in Unicode scalar values because the
//! consumers (web UI, rectification list) index strings by character; all
//! matching happens on byte offsets and is converted once at the end.

use std::collections::HashSet;
use std::fmt;
use std::sync::LazyLock;

use regex::{Regex, RegexBuilder};
use serde::{Deserialize, Serialize};

pub use gongkai_kernel::ids::{
    IdCheck, check_resident_id, id_check_char, luhn_valid, upgrade_15_to_18,
};

/// Shortest resident ID (old 15-digit form); keep lengths are validated
/// against it so that every ID keeps at least one masked character.
const ID_MIN_LEN: usize = 15;
const MOBILE_LEN: usize = 11;
const CARD_MIN_LEN: usize = 16;

// The built-in detectors are run anchored at every plausible start position.
// The trailing boundary is part of the pattern (and then dropped) so that the
// regex engine backtracks to a shorter alternative when the longest one would
// end inside a longer run, e.g. a 16-digit card followed by " 2020年".
static ID_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"\A([0-9]{17}[0-9Xx]|[0-9]{15})(?:[^0-9A-Za-z]|\z)")
        .expect("static resident-id regex is valid")
});

// Letters count as boundaries for cards because unit codes such as
// 11341702486344515H appear in every index number (RULES §1) and would
// otherwise yield a 17-digit "card" one time in ten.
static CARD_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\A([0-9]{16,19}|[0-9]{4}(?: [0-9]{4}){3}(?: [0-9]{1,3})?|[0-9]{4}(?:-[0-9]{4}){3}(?:-[0-9]{1,3})?)(?:[^0-9A-Za-z]|\z)",
    )
    .expect("static bank-card regex is valid")
});

static MOBILE_RE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r"\A(\+86[ -]?|86[ -]?)?(1[3-9][0-9](?:[0-9]{8}|-[0-9]{4}-[0-9]{4}| [0-9]{4} [0-9]{4}))(?:[^0-9]|\z)",
    )
    .expect("static mobile regex is valid")
});

/// What a [`Finding`] is about.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum FindingKind {
    ResidentId,
    Mobile,
    BankCard,
    /// Match of a configured extra pattern; carries the pattern's name.
    Pattern(String),
    /// A confidentiality keyword (保密审查).
    Confidential,
}

impl FindingKind {
    /// Stable string form used in rectification lists and logs.
    pub fn as_str(&self) -> String {
        match self {
            FindingKind::ResidentId => "resident_id".to_owned(),
            FindingKind::Mobile => "mobile".to_owned(),
            FindingKind::BankCard => "bank_card".to_owned(),
            FindingKind::Pattern(name) => format!("pattern:{name}"),
            FindingKind::Confidential => "confidential".to_owned(),
        }
    }

    /// Lower wins when personal findings overlap.
    fn priority(&self) -> u8 {
        match self {
            FindingKind::ResidentId => 0,
            FindingKind::BankCard => 1,
            FindingKind::Mobile => 2,
            FindingKind::Pattern(_) => 3,
            FindingKind::Confidential => 4,
        }
    }
}

impl fmt::Display for FindingKind {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.as_str())
    }
}

/// One hit in a scanned text.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Finding {
    pub kind: FindingKind,
    /// Offset in Unicode scalar values (chars), not bytes.
    pub start: usize,
    /// Exclusive end, in chars.
    pub end: usize,
    /// 1-based line of `start`; lines are separated by `\n`.
    pub line: usize,
    /// The matched text, already masked for personal data so that findings can
    /// be logged and shown without re-leaking what they report.
    pub excerpt: String,
    /// Replacement for the matched span; empty for confidentiality findings,
    /// which need a reviewer rather than a mask.
    pub suggested_mask: String,
}

/// Scanner settings, normally the `[privacy]` table of the service config.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct PrivacyConfig {
    pub id_keep_head: usize,
    pub id_keep_tail: usize,
    pub mobile_keep_head: usize,
    pub mobile_keep_tail: usize,
    pub card_keep_head: usize,
    pub card_keep_tail: usize,
    pub mask_char: char,
    pub extra_patterns: Vec<ExtraPattern>,
    /// Matched case-insensitively; longer keywords win over keywords they contain.
    pub confidential_keywords: Vec<String>,
}

impl Default for PrivacyConfig {
    fn default() -> Self {
        PrivacyConfig {
            // RULES §7: there is no national format; 6 + 4 is the local default.
            id_keep_head: 6,
            id_keep_tail: 4,
            mobile_keep_head: 3,
            mobile_keep_tail: 4,
            card_keep_head: 4,
            card_keep_tail: 4,
            mask_char: '*',
            extra_patterns: Vec::new(),
            confidential_keywords: ["绝密", "机密", "秘密", "内部资料", "不得外传"]
                .into_iter()
                .map(str::to_owned)
                .collect(),
        }
    }
}

/// A site-specific kind of personal data (e.g. landline numbers, addresses).
///
/// If the regex has a capture group named `value`, only that group is reported
/// and masked, so a label can anchor the match without being masked itself,
/// e.g. `住址[:：](?P<value>\S+)`. Every non-whitespace character counts towards
/// `keep_head`/`keep_tail`; with both at 0 (default) the whole match is masked.
#[derive(Debug, Clone, PartialEq, Eq, Deserialize)]
pub struct ExtraPattern {
    pub name: String,
    pub regex: String,
    #[serde(default)]
    pub keep_head: usize,
    #[serde(default)]
    pub keep_tail: usize,
}

/// A `[privacy]` setting that cannot be used; messages name the config key.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum PrivacyConfigError {
    #[error("privacy.extra_patterns[{index}].regex: {message}")]
    BadPattern { index: usize, message: String },
    #[error("privacy.extra_patterns[{index}].name: must not be empty")]
    EmptyName { index: usize },
    #[error("privacy.extra_patterns[{index}].name: {name:?} is already used by an earlier pattern")]
    DuplicateName { index: usize, name: String },
    #[error("privacy.confidential_keywords[{index}]: must not be empty")]
    EmptyKeyword { index: usize },
    #[error("privacy.confidential_keywords: {message}")]
    BadKeywords { message: String },
    #[error("privacy.mask_char: {0:?} must be a visible character that is not a letter or digit")]
    BadMaskChar(char),
    #[error(
        "privacy.{field}_keep_head + privacy.{field}_keep_tail = {total} leaves nothing to mask in a {len}-digit number"
    )]
    KeepTooLong {
        field: &'static str,
        total: usize,
        len: usize,
    },
}

#[derive(Debug, Clone)]
struct CompiledPattern {
    name: String,
    regex: Regex,
    has_value_group: bool,
    keep_head: usize,
    keep_tail: usize,
}

/// Compiled form of a [`PrivacyConfig`]; cheap to share across threads.
#[derive(Debug, Clone)]
pub struct Scanner {
    id_keep: (usize, usize),
    mobile_keep: (usize, usize),
    card_keep: (usize, usize),
    mask_char: char,
    patterns: Vec<CompiledPattern>,
    keywords: Option<Regex>,
}

/// A finding before offsets are converted to chars.
#[derive(Debug)]
struct Hit {
    start: usize,
    end: usize,
    kind: FindingKind,
    rank: (u8, usize),
    mask: String,
}

impl Scanner {
    pub fn new(config: &PrivacyConfig) -> Result<Scanner, PrivacyConfigError> {
        let c = config.mask_char;
        if c.is_alphanumeric() || c.is_whitespace() || c.is_control() {
            return Err(PrivacyConfigError::BadMaskChar(c));
        }
        for (field, head, tail, len) in [
            ("id", config.id_keep_head, config.id_keep_tail, ID_MIN_LEN),
            (
                "mobile",
                config.mobile_keep_head,
                config.mobile_keep_tail,
                MOBILE_LEN,
            ),
            (
                "card",
                config.card_keep_head,
                config.card_keep_tail,
                CARD_MIN_LEN,
            ),
        ] {
            let total = head.saturating_add(tail);
            if total >= len {
                return Err(PrivacyConfigError::KeepTooLong { field, total, len });
            }
        }

        let mut names = HashSet::new();
        let mut patterns = Vec::with_capacity(config.extra_patterns.len());
        for (index, p) in config.extra_patterns.iter().enumerate() {
            if p.name.trim().is_empty() {
                return Err(PrivacyConfigError::EmptyName { index });
            }
            if !names.insert(p.name.as_str()) {
                return Err(PrivacyConfigError::DuplicateName {
                    index,
                    name: p.name.clone(),
                });
            }
            let regex = Regex::new(&p.regex).map_err(|e| PrivacyConfigError::BadPattern {
                index,
                message: e.to_string(),
            })?;
            // A pattern matching "" would flag every position of every text.
            if regex.is_match("") {
                return Err(PrivacyConfigError::BadPattern {
                    index,
                    message: "must not match the empty string".to_owned(),
                });
            }
            let has_value_group = regex.capture_names().any(|n| n == Some("value"));
            patterns.push(CompiledPattern {
                name: p.name.clone(),
                regex,
                has_value_group,
                keep_head: p.keep_head,
                keep_tail: p.keep_tail,
            });
        }

        let mut keywords: Vec<&str> = Vec::new();
        for (index, k) in config.confidential_keywords.iter().enumerate() {
            if k.trim().is_empty() {
                return Err(PrivacyConfigError::EmptyKeyword { index });
            }
            if !keywords.contains(&k.as_str()) {
                keywords.push(k);
            }
        }
        // Alternation is leftmost-first, so longer keywords go first to win over
        // keywords they contain (商业秘密 over 秘密).
        keywords.sort_by_key(|k| std::cmp::Reverse(k.chars().count()));
        let keywords = if keywords.is_empty() {
            None
        } else {
            let alternation = keywords
                .iter()
                .map(|k| regex::escape(k))
                .collect::<Vec<_>>()
                .join("|");
            let re = RegexBuilder::new(&alternation)
                .case_insensitive(true)
                .build()
                // Escaped literals only fail to compile when the list exceeds
                // the regex size limit.
                .map_err(|e| PrivacyConfigError::BadKeywords {
                    message: e.to_string(),
                })?;
            Some(re)
        };

        Ok(Scanner {
            id_keep: (config.id_keep_head, config.id_keep_tail),
            mobile_keep: (config.mobile_keep_head, config.mobile_keep_tail),
            card_keep: (config.card_keep_head, config.card_keep_tail),
            mask_char: config.mask_char,
            patterns,
            keywords,
        })
    }

    /// Personal-data findings (resident IDs, mobiles, bank cards, extra
    /// patterns), non-overlapping and ordered by start.
    pub fn scan_personal(&self, text: &str) -> Vec<Finding> {
        let hits = self.personal_hits(text);
        let mut pos = CharCursor::new(text);
        hits.into_iter()
            .map(|h| {
                let (start, line) = pos.advance_to(h.start);
                let (end, _) = pos.advance_to(h.end);
                Finding {
                    kind: h.kind,
                    start,
                    end,
                    line,
                    excerpt: h.mask.clone(),
                    suggested_mask: h.mask,
                }
            })
            .collect()
    }

    /// Confidentiality keyword findings, ordered by start. The excerpt is the
    /// keyword as written in the text; there is no mask because such drafts go
    /// to a reviewer instead.
    pub fn scan_confidential(&self, text: &str) -> Vec<Finding> {
        let Some(re) = &self.keywords else {
            return Vec::new();
        };
        let mut pos = CharCursor::new(text);
        re.find_iter(text)
            .map(|m| {
                let (start, line) = pos.advance_to(m.start());
                let (end, _) = pos.advance_to(m.end());
                Finding {
                    kind: FindingKind::Confidential,
                    start,
                    end,
                    line,
                    excerpt: m.as_str().to_owned(),
                    suggested_mask: String::new(),
                }
            })
            .collect()
    }

    /// The text with every personal finding replaced by its suggested mask.
    pub fn mask_text(&self, text: &str) -> String {
        let mut out = String::with_capacity(text.len());
        let mut copied = 0;
        for h in self.personal_hits(text) {
            out.push_str(&text[copied..h.start]);
            out.push_str(&h.mask);
            copied = h.end;
        }
        out.push_str(&text[copied..]);
        out
    }

    fn personal_hits(&self, text: &str) -> Vec<Hit> {
        let mut hits = Vec::new();
        self.builtin_hits(text, &mut hits);
        self.pattern_hits(text, &mut hits);
        resolve_overlaps(hits)
    }

    /// One pass over the bytes. Digits and '+' are ASCII, so every candidate
    /// start is a char boundary, and a non-ASCII neighbour (CJK, fullwidth
    /// punctuation) is never mistaken for part of a number.
    fn builtin_hits(&self, text: &str, hits: &mut Vec<Hit>) {
        let bytes = text.as_bytes();
        // Each detector's own matches must not overlap; later starts inside an
        // earlier match of the same detector are skipped.
        let (mut next_id, mut next_card, mut next_mobile) = (0, 0, 0);
        for (i, &b) in bytes.iter().enumerate() {
            if !(b.is_ascii_digit() || b == b'+') {
                continue;
            }
            let prev = if i == 0 { None } else { Some(bytes[i - 1]) };
            let prev_digit = prev.is_some_and(|p| p.is_ascii_digit());
            let prev_alnum = prev.is_some_and(|p| p.is_ascii_alphanumeric());
            let rest = &text[i..];

            if b.is_ascii_digit() && !prev_alnum {
                if i >= next_id
                    && let Some(body) = ID_RE.captures(rest).and_then(|c| c.get(1))
                    && matches!(
                        check_resident_id(body.as_str()),
                        IdCheck::Valid18 | IdCheck::Valid15
                    )
                {
                    let end = i + body.end();
                    hits.push(self.builtin_hit(FindingKind::ResidentId, i, end, "", body.as_str()));
                    next_id = end;
                }
                if i >= next_card
                    && let Some(body) = CARD_RE.captures(rest).and_then(|c| c.get(1))
                {
                    let digits: String =
                        body.as_str().chars().filter(char::is_ascii_digit).collect();
                    if luhn_valid(&digits) {
                        let end = i + body.end();
                        hits.push(self.builtin_hit(
                            FindingKind::BankCard,
                            i,
                            end,
                            "",
                            body.as_str(),
                        ));
                        next_card = end;
                    }
                }
            }

            // Mobiles only need digit boundaries ("Tel13812345678" is still a phone).
            if !prev_digit
                && i >= next_mobile
                && let Some(caps) = MOBILE_RE.captures(rest)
                && let Some(local) = caps.get(2)
            {
                let prefix = caps.get(1).map_or("", |m| m.as_str());
                let end = i + local.end();
                hits.push(self.builtin_hit(FindingKind::Mobile, i, end, prefix, local.as_str()));
                next_mobile = end;
            }
        }
    }

    fn builtin_hit(
        &self,
        kind: FindingKind,
        start: usize,
        end: usize,
        prefix: &str,
        body: &str,
    ) -> Hit {
        let (head, tail) = match kind {
            FindingKind::ResidentId => self.id_keep,
            FindingKind::BankCard => self.card_keep,
            _ => self.mobile_keep,
        };
        // Separators stay so the masked number keeps its familiar shape.
        let masked = mask_counting(body, head, tail, self.mask_char, |c| {
            c.is_ascii_alphanumeric()
        });
        Hit {
            start,
            end,
            rank: (kind.priority(), 0),
            kind,
            mask: format!("{prefix}{masked}"),
        }
    }

    fn pattern_hits(&self, text: &str, hits: &mut Vec<Hit>) {
        for (index, p) in self.patterns.iter().enumerate() {
            for caps in p.regex.captures_iter(text) {
                let m = if p.has_value_group {
                    caps.name("value")
                } else {
                    caps.get(0)
                };
                let Some(m) = m.filter(|m| !m.is_empty()) else {
                    continue;
                };
                let kind = FindingKind::Pattern(p.name.clone());
                hits.push(Hit {
                    start: m.start(),
                    end: m.end(),
                    rank: (kind.priority(), index),
                    kind,
                    // Whitespace is kept so masking never changes line structure.
                    mask: mask_counting(
                        m.as_str(),
                        p.keep_head,
                        p.keep_tail,
                        self.mask_char,
                        |c| !c.is_whitespace(),
                    ),
                });
            }
        }
    }
}

/// Keeps the highest-priority hit wherever hits overlap (resident ID, then bank
/// card, then mobile, then patterns in configured order) and returns the
/// survivors ordered by start.
fn resolve_overlaps(mut hits: Vec<Hit>) -> Vec<Hit> {
    hits.sort_by_key(|h| (h.rank, h.start, h.end));
    let mut kept: Vec<Hit> = Vec::with_capacity(hits.len());
    for h in hits {
        // `kept` is sorted and non-overlapping, so ends are sorted as well.
        let idx = kept.partition_point(|k| k.end <= h.start);
        if kept.get(idx).is_some_and(|k| k.start < h.end) {
            continue;
        }
        kept.insert(idx, h);
    }
    kept
}

/// Converts increasing byte offsets to (char offset, 1-based line) in one
/// forward pass over the text.
struct CharCursor<'a> {
    text: &'a str,
    byte: usize,
    chars: usize,
    line: usize,
}

impl<'a> CharCursor<'a> {
    fn new(text: &'a str) -> Self {
        CharCursor {
            text,
            byte: 0,
            chars: 0,
            line: 1,
        }
    }

    fn advance_to(&mut self, byte: usize) -> (usize, usize) {
        if byte < self.byte {
            // Callers feed sorted offsets; restarting keeps a misuse correct
            // instead of panicking on a reversed slice.
            *self = CharCursor::new(self.text);
        }
        let seg = &self.text[self.byte..byte];
        self.chars += seg.chars().count();
        self.line += seg.bytes().filter(|&b| b == b'\n').count();
        self.byte = byte;
        (self.chars, self.line)
    }
}

/// Keeps the first `keep_head` and last `keep_tail` characters of `s` and
/// replaces the rest with `mask_char`, one for one. At least one character is
/// always masked (the tail, then the head, gives way), so a short value is
/// never published whole.
pub fn mask_middle(s: &str, keep_head: usize, keep_tail: usize, mask_char: char) -> String {
    mask_counting(s, keep_head, keep_tail, mask_char, |_| true)
}

/// Like [`mask_middle`], but only characters satisfying `counts` are kept or
/// masked; the others (separators) are copied through. If no character
/// counts, everything is masked.
fn mask_counting(
    s: &str,
    keep_head: usize,
    keep_tail: usize,
    mask_char: char,
    counts: impl Fn(char) -> bool,
) -> String {
    let n = s.chars().filter(|&c| counts(c)).count();
    if n == 0 {
        return s.chars().map(|_| mask_char).collect();
    }
    let head = keep_head.min(n - 1);
    let tail = keep_tail.min(n - 1 - head);
    let mut idx = 0;
    s.chars()
        .map(|c| {
            if !counts(c) {
                return c;
            }
            let keep = idx < head || idx >= n - tail;
            idx += 1;
            if keep { c } else { mask_char }
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    // Hand-verified samples (weights 7 9 10 5 8 4 2 1 6 3 7 9 10 5 8 4 2):
    // 11010519491231002 -> S = 167, 167 mod 11 = 2 -> 'X'.
    const ID_X: &str = "11010519491231002X";
    // Same body with '1' as check character: wrong checksum, and not Luhn-valid.
    const ID_BAD_CHECK: &str = "110105194912310021";
    // 13050319670401001 -> S = 182, 182 mod 11 = 6 -> '6'.
    const OLD_15: &str = "130503670401001";
    const OLD_15_UPGRADED: &str = "130503196704010016";
    // 11010519491231015 -> S = 177, mod 11 = 1 -> '0'; the 18 digits also pass
    // Luhn (sum 50), so the ID/card priority rule is exercised.
    const ID_ALSO_LUHN: &str = "110105194912310150";
    // 11010520000229001 -> S = 130, mod 11 = 9 -> '3' (2000 is a leap year).
    const ID_LEAP_DAY: &str = "110105200002290013";
    // Checksums below are correct, so only the birth date can reject them:
    // 11010519490230001 -> S = 153 -> '2'; 11010519000229001 -> S = 137 -> '7';
    // 11010518990101001 -> S = 148 -> '7'.
    const ID_FEB_30: &str = "110105194902300012";
    const ID_1900_FEB_29: &str = "110105190002290017";
    const ID_1899: &str = "110105189901010017";
    // Luhn: digit sums 30 and 60.
    const VISA: &str = "4111111111111111";
    const CARD_19: &str = "6222020200112233446";

    fn scanner() -> Scanner {
        Scanner::new(&PrivacyConfig::default()).expect("default config is valid")
    }

    fn scanner_with(config: PrivacyConfig) -> Scanner {
        Scanner::new(&config).expect("test config is valid")
    }

    fn kinds(findings: &[Finding]) -> Vec<FindingKind> {
        findings.iter().map(|f| f.kind.clone()).collect()
    }

    fn char_slice(text: &str, start: usize, end: usize) -> String {
        text.chars().skip(start).take(end - start).collect()
    }

    fn config_error(config: PrivacyConfig) -> PrivacyConfigError {
        match Scanner::new(&config) {
            Ok(_) => panic!("config should be rejected: {config:?}"),
            Err(e) => e,
        }
    }

    fn pattern(name: &str, regex: &str, keep_head: usize, keep_tail: usize) -> ExtraPattern {
        ExtraPattern {
            name: name.to_owned(),
            regex: regex.to_owned(),
            keep_head,
            keep_tail,
        }
    }

    // ---- check characters, ID validity, Luhn -------------------------------

    #[test]
    fn check_char_of_well_known_sample_is_x() {
        assert_eq!(id_check_char("11010519491231002"), Some('X'));
        assert_eq!(id_check_char("13050319670401001"), Some('6'));
        assert_eq!(id_check_char("11010519491231015"), Some('0'));
        assert_eq!(id_check_char("11010520000229001"), Some('3'));
    }

    #[test]
    fn check_char_rejects_wrong_input() {
        assert_eq!(id_check_char(""), None);
        assert_eq!(id_check_char("1101051949123100"), None);
        assert_eq!(id_check_char("110105194912310021"), None);
        assert_eq!(id_check_char("1101051949123100A"), None);
        assert_eq!(id_check_char("１１０１０５１９４９１２３１００２"), None);
    }

    #[test]
    fn valid_18_digit_ids_with_upper_and_lower_x() {
        assert_eq!(check_resident_id(ID_X), IdCheck::Valid18);
        assert_eq!(check_resident_id("11010519491231002x"), IdCheck::Valid18);
        assert_eq!(check_resident_id(ID_ALSO_LUHN), IdCheck::Valid18);
        assert_eq!(check_resident_id(ID_LEAP_DAY), IdCheck::Valid18);
        assert_eq!(check_resident_id(OLD_15_UPGRADED), IdCheck::Valid18);
    }

    #[test]
    fn wrong_check_character_is_bad_checksum() {
        assert_eq!(check_resident_id(ID_BAD_CHECK), IdCheck::BadChecksum);
        assert_eq!(
            check_resident_id("110105194912310029"),
            IdCheck::BadChecksum
        );
    }

    #[test]
    fn impossible_birth_dates_are_rejected_before_the_checksum() {
        assert_eq!(check_resident_id(ID_FEB_30), IdCheck::BadBirthDate);
        assert_eq!(check_resident_id(ID_1900_FEB_29), IdCheck::BadBirthDate);
        assert_eq!(check_resident_id(ID_1899), IdCheck::BadBirthDate);
        // Month 13 and day 00, checksum irrelevant.
        assert_eq!(
            check_resident_id("110105194913010010"),
            IdCheck::BadBirthDate
        );
        assert_eq!(
            check_resident_id("110105194901000010"),
            IdCheck::BadBirthDate
        );
    }

    #[test]
    fn bad_length_and_bad_digits() {
        assert_eq!(check_resident_id(""), IdCheck::BadLength);
        assert_eq!(check_resident_id("1101051949123100"), IdCheck::BadLength);
        assert_eq!(check_resident_id("11010519491231002X0"), IdCheck::BadLength);
        assert_eq!(check_resident_id("11010519491231002A"), IdCheck::BadDigits);
        assert_eq!(check_resident_id("1101051949123100X2"), IdCheck::BadDigits);
        assert_eq!(check_resident_id("13050367040100X"), IdCheck::BadDigits);
        // 18 characters, but fullwidth digits are not an ID.
        assert_eq!(
            check_resident_id("１１０１０５１９４９１２３１００２Ｘ"),
            IdCheck::BadDigits
        );
    }

    #[test]
    fn old_15_digit_ids() {
        assert_eq!(check_resident_id(OLD_15), IdCheck::Valid15);
        assert_eq!(check_resident_id("130503670230001"), IdCheck::BadBirthDate);
        assert_eq!(check_resident_id("130503671301001"), IdCheck::BadBirthDate);
    }

    #[test]
    fn upgrade_inserts_century_and_appends_check_char() {
        assert_eq!(upgrade_15_to_18(OLD_15).as_deref(), Some(OLD_15_UPGRADED));
        assert_eq!(upgrade_15_to_18("13050367040100"), None);
        assert_eq!(upgrade_15_to_18("13050367040100A"), None);
        assert_eq!(upgrade_15_to_18(ID_X), None);
    }

    #[test]
    fn luhn() {
        assert!(luhn_valid(VISA));
        assert!(!luhn_valid("4111111111111112"));
        assert!(luhn_valid("79927398713"));
        assert!(luhn_valid(CARD_19));
        assert!(!luhn_valid("6222020200112233445"));
        assert!(luhn_valid(ID_ALSO_LUHN));
        assert!(!luhn_valid(ID_BAD_CHECK));
        assert!(!luhn_valid(""));
        assert!(!luhn_valid("4111 1111 1111 1111"));
        assert!(!luhn_valid("4111-1111-1111-1111"));
    }

    // ---- masking -----------------------------------------------------------

    #[test]
    fn mask_middle_default_id_mask() {
        assert_eq!(
            mask_middle("110105194912310021", 6, 4, '*'),
            "110105********0021"
        );
    }

    #[test]
    fn mask_middle_always_masks_something() {
        assert_eq!(mask_middle("张三", 1, 1, '*'), "张*");
        assert_eq!(mask_middle("张三丰", 1, 1, '*'), "张*丰");
        assert_eq!(mask_middle("a", 0, 0, '*'), "*");
        assert_eq!(mask_middle("a", 5, 5, '*'), "*");
        assert_eq!(mask_middle("13812345678", 20, 0, '*'), "1381234567*");
        assert_eq!(mask_middle("", 6, 4, '*'), "");
        assert_eq!(mask_middle("abc", 0, 0, '●'), "●●●");
    }

    // ---- resident IDs in text ----------------------------------------------

    #[test]
    fn id_and_mobile_in_chinese_text_use_char_offsets() {
        let s = scanner();
        let text = "身份证号11010519491231002X，电话13812345678。";
        let f = s.scan_personal(text);
        assert_eq!(
            kinds(&f),
            vec![FindingKind::ResidentId, FindingKind::Mobile]
        );
        assert_eq!((f[0].start, f[0].end, f[0].line), (4, 22, 1));
        assert_eq!(f[0].excerpt, "110105********002X");
        assert_eq!(f[0].suggested_mask, "110105********002X");
        assert_eq!((f[1].start, f[1].end, f[1].line), (25, 36, 1));
        assert_eq!(f[1].suggested_mask, "138****5678");
        assert_eq!(char_slice(text, f[0].start, f[0].end), ID_X);
        assert_eq!(char_slice(text, f[1].start, f[1].end), "13812345678");
        assert_eq!(
            s.mask_text(text),
            "身份证号110105********002X，电话138****5678。"
        );
    }

    #[test]
    fn lowercase_x_is_detected_and_kept_as_written() {
        let f = scanner().scan_personal("证件号码：11010519491231002x");
        assert_eq!(kinds(&f), vec![FindingKind::ResidentId]);
        assert_eq!(f[0].suggested_mask, "110105********002x");
        assert_eq!((f[0].start, f[0].end), (5, 23));
    }

    #[test]
    fn wrong_checksum_or_birth_date_is_not_an_id() {
        let s = scanner();
        // None of these is Luhn-valid either, so nothing at all is reported.
        for id in [ID_BAD_CHECK, ID_FEB_30, ID_1900_FEB_29, ID_1899] {
            assert!(s.scan_personal(&format!("编号{id}。")).is_empty(), "{id}");
        }
        assert_eq!(
            kinds(&s.scan_personal(ID_LEAP_DAY)),
            vec![FindingKind::ResidentId]
        );
    }

    #[test]
    fn old_15_digit_id_in_text() {
        let s = scanner();
        let text = "旧证号130503670401001已换领";
        let f = s.scan_personal(text);
        assert_eq!(kinds(&f), vec![FindingKind::ResidentId]);
        assert_eq!((f[0].start, f[0].end), (3, 18));
        assert_eq!(f[0].suggested_mask, "130503*****1001");
        // Bad birth date in an old number: not an ID (and 15 digits is no card).
        assert!(s.scan_personal("旧证号130503670230001").is_empty());
    }

    #[test]
    fn id_inside_longer_runs_is_not_reported() {
        let s = scanner();
        // 20-character runs with the ID at either end.
        assert!(s.scan_personal(&format!("99{ID_X}")).is_empty());
        assert!(s.scan_personal(&format!("{ID_X}99")).is_empty());
        assert!(s.scan_personal(&format!("1{OLD_15}1")).is_empty());
        // ASCII letters glue too: this is some code, not an ID.
        assert!(s.scan_personal(&format!("A{ID_X}")).is_empty());
        assert!(s.scan_personal(&format!("{ID_X}Y")).is_empty());
        assert!(s.scan_personal(&format!("No{OLD_15}")).is_empty());
    }

    #[test]
    fn punctuation_cjk_and_fullwidth_are_boundaries() {
        let s = scanner();
        for text in [
            format!("ID:{ID_X}"),
            format!("（{ID_X}）"),
            format!("号{ID_X}号"),
            format!("{ID_X}\n"),
            format!("「{ID_X}」"),
            format!("{ID_X}、{OLD_15}"),
        ] {
            let f = s.scan_personal(&text);
            assert!(
                kinds(&f).first() == Some(&FindingKind::ResidentId),
                "no ID found in {text:?}: {f:?}"
            );
        }
        assert_eq!(s.scan_personal(&format!("{ID_X}、{OLD_15}")).len(), 2);
    }

    #[test]
    fn valid_id_that_also_passes_luhn_is_only_an_id() {
        let s = scanner();
        let f = s.scan_personal(&format!("身份证：{ID_ALSO_LUHN}"));
        assert_eq!(kinds(&f), vec![FindingKind::ResidentId]);
        assert_eq!(f[0].suggested_mask, "110105********0150");
    }

    // ---- mobiles -----------------------------------------------------------

    #[test]
    fn mobile_forms() {
        let s = scanner();
        for (text, mask) in [
            ("13812345678", "138****5678"),
            ("+8613812345678", "+86138****5678"),
            ("8613812345678", "86138****5678"),
            ("+86 13812345678", "+86 138****5678"),
            ("+86-138-1234-5678", "+86-138-****-5678"),
            ("+86 138 1234 5678", "+86 138 **** 5678"),
            ("86-138-1234-5678", "86-138-****-5678"),
            ("138-1234-5678", "138-****-5678"),
            ("138 1234 5678", "138 **** 5678"),
            ("19912345678", "199****5678"),
        ] {
            let f = s.scan_personal(text);
            assert_eq!(kinds(&f), vec![FindingKind::Mobile], "{text}");
            assert_eq!(f[0].start, 0, "{text}");
            assert_eq!(f[0].end, text.chars().count(), "{text}");
            assert_eq!(f[0].suggested_mask, mask, "{text}");
            assert_eq!(s.mask_text(text), mask, "{text}");
        }
    }

    #[test]
    fn not_mobiles() {
        let s = scanner();
        for text in [
            "013812345678",
            "138123456789",
            "1381234567",
            "12812345678",
            "10012345678",
            "138-1234-56789",
            "138-12345-678",
            "138 1234-5678",
            "2013812345678",
        ] {
            assert!(s.scan_personal(text).is_empty(), "{text}");
        }
    }

    #[test]
    fn mobile_next_to_letters_and_other_mobiles() {
        let s = scanner();
        let f = s.scan_personal("Tel13812345678");
        assert_eq!(kinds(&f), vec![FindingKind::Mobile]);
        assert_eq!((f[0].start, f[0].end), (3, 14));

        let text = "13812345678、13912345678；电话：+86 150 0000 1111";
        let f = s.scan_personal(text);
        assert_eq!(kinds(&f), vec![FindingKind::Mobile; 3]);
        assert_eq!(
            s.mask_text(text),
            "138****5678、139****5678；电话：+86 150 **** 1111"
        );
    }

    // ---- bank cards --------------------------------------------------------

    #[test]
    fn bank_card_forms() {
        let s = scanner();
        for (text, mask) in [
            (VISA, "4111********1111"),
            ("4111 1111 1111 1111", "4111 **** **** 1111"),
            ("4111-1111-1111-1111", "4111-****-****-1111"),
            (CARD_19, "6222***********3446"),
            ("6222 0202 0011 2233 446", "6222 **** **** ***3 446"),
            ("6222-0202-0011-2233-446", "6222-****-****-***3-446"),
        ] {
            let f = s.scan_personal(text);
            assert_eq!(kinds(&f), vec![FindingKind::BankCard], "{text}");
            assert_eq!((f[0].start, f[0].end), (0, text.chars().count()), "{text}");
            assert_eq!(f[0].suggested_mask, mask, "{text}");
        }
    }

    #[test]
    fn bank_card_in_chinese_text() {
        let s = scanner();
        let text = "请汇入账户4111111111111111。";
        let f = s.scan_personal(text);
        assert_eq!(kinds(&f), vec![FindingKind::BankCard]);
        assert_eq!((f[0].start, f[0].end), (5, 21));
        assert_eq!(s.mask_text(text), "请汇入账户4111********1111。");
    }

    #[test]
    fn grouped_card_followed_by_another_number_backs_off() {
        let f = scanner().scan_personal("4111 1111 1111 1111 2020年");
        assert_eq!(kinds(&f), vec![FindingKind::BankCard]);
        assert_eq!((f[0].start, f[0].end), (0, 19));
    }

    #[test]
    fn not_bank_cards() {
        let s = scanner();
        // Luhn-valid 17 digits, so only the letter boundary keeps it out.
        assert!(luhn_valid("11341702486344514"));
        for text in [
            "4111111111111112",
            "6222020200112233445",
            // 20-digit run whose 16-digit prefix is Luhn-valid.
            "41111111111111110000",
            "A4111111111111111",
            "4111111111111111B",
            // Unit code of an index number (RULES §1): digits glued to a letter.
            "11341702486344514H/2021-00013",
            "4111  1111 1111 1111",
            "4111 1111-1111 1111",
            // 15 digits can only be an old ID, never a card.
            "411111991311111",
        ] {
            assert!(s.scan_personal(text).is_empty(), "{text}");
        }
    }

    // ---- extra patterns ----------------------------------------------------

    #[test]
    fn extra_pattern_with_keep_counts() {
        let s = scanner_with(PrivacyConfig {
            extra_patterns: vec![pattern("landline", r"0\d{2,3}-\d{7,8}", 4, 2)],
            ..PrivacyConfig::default()
        });
        let text = "联系电话010-12345678，手机13812345678";
        let f = s.scan_personal(text);
        assert_eq!(
            kinds(&f),
            vec![
                FindingKind::Pattern("landline".to_owned()),
                FindingKind::Mobile
            ]
        );
        assert_eq!((f[0].start, f[0].end), (4, 16));
        assert_eq!(f[0].suggested_mask, "010-******78");
        assert_eq!(f[0].kind.as_str(), "pattern:landline");
        assert_eq!(s.mask_text(text), "联系电话010-******78，手机138****5678");
    }

    #[test]
    fn extra_pattern_masks_everything_by_default_and_honours_value_group() {
        let s = scanner_with(PrivacyConfig {
            extra_patterns: vec![pattern("address", r"住址[:：](?P<value>[^，。\s]+)", 0, 0)],
            ..PrivacyConfig::default()
        });
        let text = "当事人住址：北京市东城区某街1号，已送达。";
        let f = s.scan_personal(text);
        assert_eq!(kinds(&f), vec![FindingKind::Pattern("address".to_owned())]);
        assert_eq!((f[0].start, f[0].end), (6, 16));
        assert_eq!(f[0].suggested_mask, "**********");
        assert_eq!(s.mask_text(text), "当事人住址：**********，已送达。");
    }

    #[test]
    fn extra_pattern_keeps_whitespace_so_lines_survive() {
        let s = scanner_with(PrivacyConfig {
            extra_patterns: vec![pattern("block", r"甲\s+乙", 0, 0)],
            ..PrivacyConfig::default()
        });
        assert_eq!(s.mask_text("甲\n乙丙"), "*\n*丙");
    }

    // ---- overlap resolution ------------------------------------------------

    #[test]
    fn priority_resolves_overlaps() {
        let s = scanner_with(PrivacyConfig {
            extra_patterns: vec![
                pattern("digits", r"\d{11,}", 0, 0),
                pattern("first", "ab", 0, 0),
                pattern("second", "bc", 0, 0),
            ],
            ..PrivacyConfig::default()
        });
        let text = format!("{ID_X} 13812345678 {VISA} abc");
        let f = s.scan_personal(&text);
        assert_eq!(
            kinds(&f),
            vec![
                FindingKind::ResidentId,
                FindingKind::Mobile,
                FindingKind::BankCard,
                FindingKind::Pattern("first".to_owned()),
            ]
        );
        assert_eq!(
            s.mask_text(&text),
            "110105********002X 138****5678 4111********1111 **c"
        );
    }

    #[test]
    fn findings_are_ordered_and_never_overlap() {
        let s = scanner_with(PrivacyConfig {
            extra_patterns: vec![pattern("any-digits", r"\d+", 1, 1)],
            ..PrivacyConfig::default()
        });
        let text = format!(
            "甲{ID_X}乙{ID_ALSO_LUHN}丙13812345678丁{VISA}戊{OLD_15}己2024年\n{CARD_19} 86 138 1234 5678"
        );
        let f = s.scan_personal(&text);
        assert!(f.len() >= 8, "{f:?}");
        for w in f.windows(2) {
            assert!(w[0].end <= w[1].start, "overlap: {w:?}");
        }
        for x in &f {
            // Masks are char-for-char, so offsets can be applied to either text.
            assert_eq!(x.suggested_mask.chars().count(), x.end - x.start, "{x:?}");
        }
        // Rebuild the masked text from char offsets and compare with mask_text.
        let chars: Vec<char> = text.chars().collect();
        let mut rebuilt = String::new();
        let mut at = 0;
        for x in &f {
            rebuilt.extend(&chars[at..x.start]);
            rebuilt.push_str(&x.suggested_mask);
            at = x.end;
        }
        rebuilt.extend(&chars[at..]);
        assert_eq!(rebuilt, s.mask_text(&text));
    }

    #[test]
    fn excerpts_never_contain_raw_personal_data() {
        let s = scanner();
        let text = format!("{ID_X} 13812345678 {VISA} {OLD_15}");
        let f = s.scan_personal(&text);
        assert_eq!(f.len(), 4);
        for x in &f {
            assert!(!x.excerpt.contains("19491231"), "{x:?}");
            assert!(!x.excerpt.contains("1234"), "{x:?}");
            assert!(!x.excerpt.contains("11111111"), "{x:?}");
            assert!(!x.excerpt.contains("670401"), "{x:?}");
        }
        // Masked text carries nothing the scanner would flag again.
        assert!(s.scan_personal(&s.mask_text(&text)).is_empty());
    }

    // ---- custom config ----------------------------------------------------

    #[test]
    fn custom_keep_counts_and_mask_char() {
        let s = scanner_with(PrivacyConfig {
            id_keep_head: 3,
            id_keep_tail: 1,
            mobile_keep_head: 0,
            mobile_keep_tail: 4,
            card_keep_head: 0,
            card_keep_tail: 4,
            mask_char: '#',
            ..PrivacyConfig::default()
        });
        assert_eq!(
            s.mask_text(&format!("{ID_X}；138-1234-5678；{VISA}；{OLD_15}")),
            "110##############X；###-####-5678；############1111；130###########1"
        );
    }

    // ---- confidentiality ---------------------------------------------------

    #[test]
    fn confidential_keywords_positions_are_chars() {
        let s = scanner();
        let text = "本文件属于机密，不得外传。";
        let f = s.scan_confidential(text);
        assert_eq!(kinds(&f), vec![FindingKind::Confidential; 2]);
        assert_eq!((f[0].start, f[0].end, f[0].line), (5, 7, 1));
        assert_eq!(f[0].excerpt, "机密");
        assert_eq!(f[0].suggested_mask, "");
        assert_eq!((f[1].start, f[1].end, f[1].line), (8, 12, 1));
        assert_eq!(f[1].excerpt, "不得外传");
        // Confidentiality findings are not personal data and are not masked.
        assert!(s.scan_personal(text).is_empty());
        assert_eq!(s.mask_text(text), text);
    }

    #[test]
    fn all_default_keywords_are_found() {
        let text = "绝密 机密 秘密 内部资料 不得外传";
        let f = scanner().scan_confidential(text);
        let words: Vec<&str> = f.iter().map(|x| x.excerpt.as_str()).collect();
        assert_eq!(words, ["绝密", "机密", "秘密", "内部资料", "不得外传"]);
        assert_eq!(
            f.iter().map(|x| x.start).collect::<Vec<_>>(),
            [0, 3, 6, 9, 14]
        );
    }

    #[test]
    fn longer_keyword_wins_and_matching_ignores_case() {
        let s = scanner_with(PrivacyConfig {
            confidential_keywords: vec!["秘密".into(), "商业秘密".into(), "Confidential".into()],
            ..PrivacyConfig::default()
        });
        let f = s.scan_confidential("涉及商业秘密。CONFIDENTIAL");
        assert_eq!(
            f.iter()
                .map(|x| (x.excerpt.as_str(), x.start, x.end))
                .collect::<Vec<_>>(),
            [("商业秘密", 2, 6), ("CONFIDENTIAL", 7, 19)]
        );
    }

    #[test]
    fn no_keywords_means_no_confidential_findings() {
        let s = scanner_with(PrivacyConfig {
            confidential_keywords: Vec::new(),
            ..PrivacyConfig::default()
        });
        assert!(s.scan_confidential("绝密文件").is_empty());
    }

    // ---- line numbers and empty text ---------------------------------------

    #[test]
    fn line_numbers_are_one_based_and_count_newlines() {
        let s = scanner();
        let text = "第一行\r\n第二行：13812345678\n\n第四行机密，身份证11010519491231002X";
        let p = s.scan_personal(text);
        assert_eq!(
            kinds(&p),
            vec![FindingKind::Mobile, FindingKind::ResidentId]
        );
        assert_eq!((p[0].line, p[0].start, p[0].end), (2, 9, 20));
        assert_eq!(p[1].line, 4);
        assert_eq!(char_slice(text, p[1].start, p[1].end), ID_X);
        let c = s.scan_confidential(text);
        assert_eq!(c.len(), 1);
        assert_eq!((c[0].line, c[0].start, c[0].end), (4, 25, 27));
        assert_eq!(char_slice(text, c[0].start, c[0].end), "机密");
    }

    #[test]
    fn empty_and_plain_text() {
        let s = scanner();
        assert!(s.scan_personal("").is_empty());
        assert!(s.scan_confidential("").is_empty());
        assert_eq!(s.mask_text(""), "");
        let plain = "宜政办发〔2017〕6号：关于2024年度政务公开工作要点的通知";
        assert!(s.scan_personal(plain).is_empty());
        assert_eq!(s.mask_text(plain), plain);
    }

    // ---- configuration -----------------------------------------------------

    #[test]
    fn bad_extra_regex_names_the_config_key() {
        let e = config_error(PrivacyConfig {
            extra_patterns: vec![pattern("broken", "(", 0, 0)],
            ..PrivacyConfig::default()
        });
        assert!(matches!(e, PrivacyConfigError::BadPattern { index: 0, .. }));
        assert!(
            e.to_string()
                .starts_with("privacy.extra_patterns[0].regex: "),
            "{e}"
        );

        let e = config_error(PrivacyConfig {
            extra_patterns: vec![pattern("ok", "a", 0, 0), pattern("broken", "[z-a]", 0, 0)],
            ..PrivacyConfig::default()
        });
        assert!(
            e.to_string()
                .starts_with("privacy.extra_patterns[1].regex: "),
            "{e}"
        );
    }

    #[test]
    fn other_config_errors() {
        let e = config_error(PrivacyConfig {
            extra_patterns: vec![pattern("empty", "a*", 0, 0)],
            ..PrivacyConfig::default()
        });
        assert_eq!(
            e.to_string(),
            "privacy.extra_patterns[0].regex: must not match the empty string"
        );

        let e = config_error(PrivacyConfig {
            extra_patterns: vec![pattern(" ", "a", 0, 0)],
            ..PrivacyConfig::default()
        });
        assert_eq!(e, PrivacyConfigError::EmptyName { index: 0 });
        assert_eq!(
            e.to_string(),
            "privacy.extra_patterns[0].name: must not be empty"
        );

        let e = config_error(PrivacyConfig {
            extra_patterns: vec![pattern("x", "a", 0, 0), pattern("x", "b", 0, 0)],
            ..PrivacyConfig::default()
        });
        assert_eq!(
            e,
            PrivacyConfigError::DuplicateName {
                index: 1,
                name: "x".into()
            }
        );

        let e = config_error(PrivacyConfig {
            confidential_keywords: vec!["机密".into(), "".into()],
            ..PrivacyConfig::default()
        });
        assert_eq!(
            e.to_string(),
            "privacy.confidential_keywords[1]: must not be empty"
        );

        for c in ['x', '0', ' ', '\n', '中'] {
            assert_eq!(
                config_error(PrivacyConfig {
                    mask_char: c,
                    ..PrivacyConfig::default()
                }),
                PrivacyConfigError::BadMaskChar(c)
            );
        }

        let e = config_error(PrivacyConfig {
            id_keep_head: 10,
            id_keep_tail: 5,
            ..PrivacyConfig::default()
        });
        assert_eq!(
            e.to_string(),
            "privacy.id_keep_head + privacy.id_keep_tail = 15 leaves nothing to mask in a 15-digit number"
        );
        let e = config_error(PrivacyConfig {
            mobile_keep_head: 7,
            mobile_keep_tail: 4,
            ..PrivacyConfig::default()
        });
        assert!(matches!(
            e,
            PrivacyConfigError::KeepTooLong {
                field: "mobile",
                total: 11,
                len: 11
            }
        ));
        let e = config_error(PrivacyConfig {
            card_keep_head: usize::MAX,
            card_keep_tail: 1,
            ..PrivacyConfig::default()
        });
        assert!(matches!(
            e,
            PrivacyConfigError::KeepTooLong { field: "card", .. }
        ));
    }

    #[test]
    fn default_config_matches_rules() {
        let c = PrivacyConfig::default();
        assert_eq!((c.id_keep_head, c.id_keep_tail), (6, 4));
        assert_eq!((c.mobile_keep_head, c.mobile_keep_tail), (3, 4));
        assert_eq!((c.card_keep_head, c.card_keep_tail), (4, 4));
        assert_eq!(c.mask_char, '*');
        assert!(c.extra_patterns.is_empty());
        assert_eq!(
            c.confidential_keywords,
            ["绝密", "机密", "秘密", "内部资料", "不得外传"]
        );
    }

    #[test]
    fn config_from_partial_toml_keeps_defaults() {
        let c: PrivacyConfig = toml::from_str("").expect("empty table is valid");
        assert_eq!(c, PrivacyConfig::default());

        let c: PrivacyConfig = toml::from_str(
            r##"
            id_keep_head = 4
            mask_char = "#"
            confidential_keywords = ["内部资料"]

            [[extra_patterns]]
            name = "landline"
            regex = '0\d{2,3}-\d{7,8}'
            keep_tail = 2
            "##,
        )
        .expect("valid privacy table");
        assert_eq!(c.id_keep_head, 4);
        assert_eq!(c.id_keep_tail, 4);
        assert_eq!(c.mask_char, '#');
        assert_eq!(c.confidential_keywords, ["内部资料"]);
        assert_eq!(
            c.extra_patterns,
            [pattern("landline", r"0\d{2,3}-\d{7,8}", 0, 2)]
        );
        let s = scanner_with(c);
        assert_eq!(s.mask_text("电话0551-1234567"), "电话##########67");
    }

    #[test]
    fn scanner_can_be_shared_between_request_handlers() {
        fn assert_send_sync<T: Send + Sync>() {}
        assert_send_sync::<Scanner>();
    }

    #[test]
    fn finding_kind_strings_and_serde() {
        assert_eq!(FindingKind::ResidentId.as_str(), "resident_id");
        assert_eq!(FindingKind::Mobile.as_str(), "mobile");
        assert_eq!(FindingKind::BankCard.as_str(), "bank_card");
        assert_eq!(FindingKind::Pattern("addr".into()).as_str(), "pattern:addr");
        assert_eq!(FindingKind::Confidential.as_str(), "confidential");
        assert_eq!(FindingKind::BankCard.to_string(), "bank_card");

        let json = serde_json::to_string(&FindingKind::ResidentId).expect("serializable");
        assert_eq!(json, r#""resident_id""#);
        let json =
            serde_json::to_string(&FindingKind::Pattern("addr".into())).expect("serializable");
        assert_eq!(json, r#"{"pattern":"addr"}"#);
        let back: FindingKind = serde_json::from_str(&json).expect("round trip");
        assert_eq!(back, FindingKind::Pattern("addr".into()));

        let f = scanner().scan_personal("13812345678");
        let v = serde_json::to_value(&f[0]).expect("serializable");
        assert_eq!(
            v,
            serde_json::json!({
                "kind": "mobile", "start": 0, "end": 11, "line": 1,
                "excerpt": "138****5678", "suggested_mask": "138****5678"
            })
        );
    }
}
