//! Index numbers (索引号). No national standard exists, so the format is
//! configuration; the default is `{org}/{YYYY}-{seq:5}` (RULES §1).

use std::fmt::Write as _;

#[derive(Debug, Clone, PartialEq, Eq)]
enum Part {
    Lit(String),
    Org,
    Unit,
    Year,
    Column,
    Seq(usize),
}

/// A parsed index-number format.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct IndexFormat {
    parts: Vec<Part>,
}

pub const DEFAULT_FORMAT: &str = "{org}/{YYYY}-{seq:5}";

impl IndexFormat {
    /// Placeholders: `{org}`, `{unit}`, `{YYYY}`, `{column}`, `{seq}` or
    /// `{seq:N}` (zero-padded to N digits). `{seq}` is required; `{YYYY}`
    /// is required too, because sequences restart each year.
    pub fn parse(s: &str) -> Result<IndexFormat, String> {
        let mut parts = Vec::new();
        let mut rest = s;
        while let Some(open) = rest.find('{') {
            if open > 0 {
                parts.push(Part::Lit(rest[..open].to_owned()));
            }
            let close = rest[open..]
                .find('}')
                .ok_or_else(|| format!("unclosed '{{' in {s:?}"))?
                + open;
            let name = &rest[open + 1..close];
            parts.push(match name {
                "org" => Part::Org,
                "unit" => Part::Unit,
                "YYYY" => Part::Year,
                "column" => Part::Column,
                "seq" => Part::Seq(0),
                n if n.starts_with("seq:") => {
                    let w: usize = n[4..]
                        .parse()
                        .map_err(|_| format!("bad width in {{{n}}}"))?;
                    if !(1..=12).contains(&w) {
                        return Err(format!("width in {{{n}}} must be 1 to 12"));
                    }
                    Part::Seq(w)
                }
                other => return Err(format!("unknown placeholder {{{other}}}")),
            });
            rest = &rest[close + 1..];
        }
        if !rest.is_empty() {
            if rest.contains('}') {
                return Err(format!("stray '}}' in {s:?}"));
            }
            parts.push(Part::Lit(rest.to_owned()));
        }
        if !parts.iter().any(|p| matches!(p, Part::Seq(_))) {
            return Err("must contain {seq} or {seq:N}".into());
        }
        if !parts.contains(&Part::Year) {
            return Err("must contain {YYYY}: sequences restart each year".into());
        }
        Ok(IndexFormat { parts })
    }

    pub fn render(&self, org: &str, unit: &str, year: i32, column: &str, seq: i64) -> String {
        let mut out = String::new();
        for p in &self.parts {
            match p {
                Part::Lit(s) => out.push_str(s),
                Part::Org => out.push_str(org),
                Part::Unit => out.push_str(unit),
                Part::Year => {
                    let _ = write!(out, "{year:04}");
                }
                Part::Column => out.push_str(column),
                Part::Seq(0) => {
                    let _ = write!(out, "{seq}");
                }
                Part::Seq(w) => {
                    let _ = write!(out, "{seq:0w$}");
                }
            }
        }
        out
    }

    /// Whether sequences are kept per column (the format names the column).
    pub fn per_column(&self) -> bool {
        self.parts.contains(&Part::Column)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn default_matches_rules_example() {
        let f = IndexFormat::parse(DEFAULT_FORMAT).unwrap();
        assert_eq!(
            f.render("11341702486344515H", "341702", 2021, "zcwj", 13),
            "11341702486344515H/2021-00013"
        );
        assert!(!f.per_column());
    }

    #[test]
    fn custom_formats() {
        let f = IndexFormat::parse("{unit}-{column}-{YYYY}-{seq}").unwrap();
        assert_eq!(
            f.render("X", "340823.edu", 2026, "gzzj", 7),
            "340823.edu-gzzj-2026-7"
        );
        assert!(f.per_column());
        let f = IndexFormat::parse("{org}/{YYYY}/{seq:3}").unwrap();
        assert_eq!(
            f.render("X", "u", 2026, "c", 1234),
            "X/2026/1234",
            "wider numbers are not cut"
        );
    }

    #[test]
    fn bad_formats_say_why() {
        for (f, why) in [
            ("{org}/{YYYY}", "must contain {seq}"),
            ("{org}/{seq}", "must contain {YYYY}"),
            ("{org/{YYYY}-{seq}", "unknown placeholder"),
            ("{org}/{YYYY}-{seq", "unclosed"),
            ("{org}/{YYYY}-{seq:0}", "1 to 12"),
            ("{org}/{YYYY}-{seq:x}", "bad width"),
            ("{nope}/{YYYY}-{seq}", "unknown placeholder {nope}"),
            ("{org}/{YYYY}-{seq}}", "stray"),
        ] {
            let e = IndexFormat::parse(f).unwrap_err();
            assert!(e.contains(why), "{f}: {e}");
        }
    }
}
