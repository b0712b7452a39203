//! Document metadata (RULES §1) and its validation.

use chrono::NaiveDate;

/// 公开属性, decided when the document is drafted.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Attribute {
    /// 主动公开
    Proactive,
    /// 依申请公开
    OnRequest,
    /// 不予公开 (with its legal reason)
    Withheld,
}

impl Attribute {
    pub fn as_str(self) -> &'static str {
        match self {
            Attribute::Proactive => "proactive",
            Attribute::OnRequest => "on_request",
            Attribute::Withheld => "withheld",
        }
    }

    pub fn parse(s: &str) -> Option<Attribute> {
        [
            Attribute::Proactive,
            Attribute::OnRequest,
            Attribute::Withheld,
        ]
        .into_iter()
        .find(|a| a.as_str() == s)
    }
}

/// The fields as a caller sent them, before validation.
#[derive(Debug, Clone, Default)]
pub struct RawFields {
    pub title: String,
    pub doc_number: String,
    pub subject: String,
    pub publisher: String,
    pub date_formed: String,
    pub attribute: Option<Attribute>,
    pub withheld_reason: String,
    pub column: String,
    pub body: String,
    pub summary: String,
    pub valid_until: String,
}

/// Validated metadata of one version of a document.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Fields {
    pub title: String,
    pub doc_number: Option<String>,
    pub subject: String,
    pub publisher: String,
    pub date_formed: NaiveDate,
    pub attribute: Attribute,
    pub withheld_reason: Option<String>,
    pub column: String,
    pub body: String,
    pub summary: String,
    /// 有效期至: the last day the document is in force, when it says so
    /// (normative documents commonly run for five years); past it the
    /// document is expired.
    pub valid_until: Option<NaiveDate>,
}

/// Input refused: the field and the rule.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{field}: {rule}")]
pub struct FieldError {
    pub field: &'static str,
    pub rule: String,
}

fn err(field: &'static str, rule: impl Into<String>) -> FieldError {
    FieldError {
        field,
        rule: rule.into(),
    }
}

#[derive(Debug, Clone, Copy)]
pub struct Limits {
    pub body_max_bytes: usize,
    pub title_max_chars: usize,
    pub summary_chars: usize,
}

impl Default for Limits {
    fn default() -> Self {
        Self {
            body_max_bytes: 4 * 1024 * 1024,
            title_max_chars: 300,
            summary_chars: 120,
        }
    }
}

/// Parses an ISO date (`YYYY-MM-DD`) naming `field` on failure.
pub fn parse_date(field: &'static str, s: &str) -> Result<NaiveDate, FieldError> {
    let s = s.trim();
    if s.is_empty() {
        return Err(err(field, "required, as YYYY-MM-DD"));
    }
    let shape_ok = s.len() == 10
        && s.bytes().enumerate().all(|(i, b)| {
            if i == 4 || i == 7 {
                b == b'-'
            } else {
                b.is_ascii_digit()
            }
        });
    if !shape_ok {
        return Err(err(field, format!("{s:?} is not a date as YYYY-MM-DD")));
    }
    NaiveDate::parse_from_str(s, "%Y-%m-%d")
        .map_err(|_| err(field, format!("{s} is not a real calendar date")))
}

/// Text of paragraphs: line breaks and tabs, but no other control
/// characters (NUL above all, which PostgreSQL cannot store).
fn no_controls(field: &'static str, s: &str) -> Result<(), FieldError> {
    if s.chars()
        .any(|c| c.is_control() && c != '\n' && c != '\r' && c != '\t')
    {
        return Err(err(field, "must not contain control characters"));
    }
    Ok(())
}

/// Text of one line: at most `max` characters, none of them a control
/// character (line breaks and tabs included).
pub fn one_line(field: &'static str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.chars().count() > max {
        return Err(err(field, format!("at most {max} characters")));
    }
    if s.chars().any(char::is_control) {
        return Err(err(
            field,
            "one line, without control characters (line breaks, tabs, NUL)",
        ));
    }
    Ok(())
}

/// Text of paragraphs: at most `max` characters, line breaks and tabs
/// allowed.
pub fn paragraphs(field: &'static str, s: &str, max: usize) -> Result<(), FieldError> {
    if s.chars().count() > max {
        return Err(err(field, format!("at most {max} characters")));
    }
    no_controls(field, s)
}

/// The longest subject (主题分类) and publisher (发布机构).
const NAME_MAX_CHARS: usize = 100;
/// The longest 文号.
const DOC_NUMBER_MAX_CHARS: usize = 100;
/// The longest legal ground for withholding, and the longest summary.
const NOTE_MAX_CHARS: usize = 500;
/// The longest column code.
const COLUMN_MAX_CHARS: usize = 64;

/// Validates `raw`; `default_publisher` fills an empty publisher, and
/// `today` bounds the date formed (a document cannot be formed tomorrow).
pub fn validate(
    raw: &RawFields,
    limits: &Limits,
    today: NaiveDate,
    default_publisher: &str,
) -> Result<Fields, FieldError> {
    let title = raw.title.trim().to_owned();
    if title.is_empty() {
        return Err(err("fields.title", "required"));
    }
    if title.chars().count() > limits.title_max_chars {
        return Err(err(
            "fields.title",
            format!("at most {} characters", limits.title_max_chars),
        ));
    }
    one_line("fields.title", &title, limits.title_max_chars)?;
    let doc_number = Some(super::doc_number::normalize(&raw.doc_number)).filter(|s| !s.is_empty());
    if let Some(n) = &doc_number {
        one_line("fields.doc_number", n, DOC_NUMBER_MAX_CHARS)?;
    }
    let subject = raw.subject.trim().to_owned();
    one_line("fields.subject", &subject, NAME_MAX_CHARS)?;
    let date_formed = parse_date("fields.date_formed", &raw.date_formed)?;
    if date_formed > today {
        return Err(err(
            "fields.date_formed",
            format!("{date_formed} is in the future"),
        ));
    }
    if date_formed < NaiveDate::from_ymd_opt(1949, 10, 1).unwrap_or(NaiveDate::MIN) {
        return Err(err("fields.date_formed", "before 1949-10-01"));
    }
    let valid_until = match raw.valid_until.trim() {
        "" => None,
        d => Some(parse_date("fields.valid_until", d)?),
    };
    if let Some(d) = valid_until
        && d < date_formed
    {
        return Err(err(
            "fields.valid_until",
            format!("{d} is before the date formed {date_formed}"),
        ));
    }
    let attribute = raw.attribute.ok_or_else(|| {
        err(
            "fields.attribute",
            "required: proactive (主动公开), on_request (依申请公开) or withheld (不予公开)",
        )
    })?;
    let withheld_reason = Some(raw.withheld_reason.trim().to_owned()).filter(|s| !s.is_empty());
    if let Some(w) = &withheld_reason {
        paragraphs("fields.withheld_reason", w, NOTE_MAX_CHARS)?;
    }
    match (attribute, &withheld_reason) {
        (Attribute::Withheld, None) => {
            return Err(err(
                "fields.withheld_reason",
                "required when the attribute is withheld (不予公开): name the legal ground (条例第十四、十五、十六条)",
            ));
        }
        (Attribute::Proactive | Attribute::OnRequest, Some(_)) => {
            return Err(err(
                "fields.withheld_reason",
                "only for documents withheld (不予公开)",
            ));
        }
        _ => {}
    }
    let column = raw.column.trim().to_owned();
    if column.is_empty() {
        return Err(err("fields.column", "required"));
    }
    one_line("fields.column", &column, COLUMN_MAX_CHARS)?;
    if raw.body.len() > limits.body_max_bytes {
        return Err(err(
            "fields.body",
            format!(
                "{} bytes, over the limit of {} bytes",
                raw.body.len(),
                limits.body_max_bytes
            ),
        ));
    }
    no_controls("fields.body", &raw.body)?;
    let publisher = match raw.publisher.trim() {
        "" => default_publisher.to_owned(),
        p => p.to_owned(),
    };
    one_line("fields.publisher", &publisher, NAME_MAX_CHARS)?;
    let summary = match raw.summary.trim() {
        "" => summarize(&raw.body, limits.summary_chars),
        s => {
            paragraphs("fields.summary", s, NOTE_MAX_CHARS)?;
            s.to_owned()
        }
    };
    Ok(Fields {
        title,
        doc_number,
        subject,
        publisher,
        date_formed,
        attribute,
        withheld_reason,
        column,
        body: raw.body.clone(),
        summary,
        valid_until,
    })
}

/// The first `n` characters of `body` with whitespace runs collapsed.
pub fn summarize(body: &str, n: usize) -> String {
    let mut out = String::new();
    let mut count = 0;
    let mut space = false;
    for c in body.chars() {
        if count >= n {
            out.push('…');
            break;
        }
        if c.is_whitespace() {
            space = !out.is_empty();
            continue;
        }
        if space {
            out.push(' ');
            count += 1;
            space = false;
        }
        out.push(c);
        count += 1;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    fn raw() -> RawFields {
        RawFields {
            title: "南陵县教育局2026年政务公开工作总结".into(),
            doc_number: "南教〔2026〕6号".into(),
            date_formed: "2026-03-02".into(),
            attribute: Some(Attribute::Proactive),
            column: "gzzj".into(),
            body: "一、强化组织领导\n\n将政务公开工作纳入目标考核体系。".into(),
            ..Default::default()
        }
    }

    fn today() -> NaiveDate {
        NaiveDate::from_ymd_opt(2026, 11, 27).unwrap()
    }

    fn check(r: &RawFields) -> Result<Fields, FieldError> {
        validate(r, &Limits::default(), today(), "南陵县教育局")
    }

    #[test]
    fn valid_fields_fill_defaults() {
        let f = check(&raw()).unwrap();
        assert_eq!(f.publisher, "南陵县教育局");
        assert_eq!(
            f.summary,
            "一、强化组织领导 将政务公开工作纳入目标考核体系。"
        );
        assert_eq!(f.doc_number.as_deref(), Some("南教〔2026〕6号"));
        assert_eq!(f.valid_until, None, "no end unless given");
    }

    #[test]
    fn a_validity_end_may_be_any_day_from_the_date_formed() {
        let mut r = raw();
        for (given, kept) in [("2026-03-02", (2026, 3, 2)), (" 2031-03-01 ", (2031, 3, 1))] {
            r.valid_until = given.into();
            let f = check(&r).unwrap();
            assert_eq!(
                f.valid_until,
                NaiveDate::from_ymd_opt(kept.0, kept.1, kept.2)
            );
        }
    }

    #[test]
    fn each_bad_input_names_its_field() {
        type Mutate = Box<dyn Fn(&mut RawFields)>;
        let cases: Vec<(Mutate, &str, &str)> = vec![
            (
                Box::new(|r| r.title = "  ".into()),
                "fields.title",
                "required",
            ),
            (
                Box::new(|r| r.title = "a\nb".into()),
                "fields.title",
                "one line",
            ),
            (
                Box::new(|r| r.date_formed = "2026-02-30".into()),
                "fields.date_formed",
                "real calendar date",
            ),
            (
                Box::new(|r| r.date_formed = "2026/02/03".into()),
                "fields.date_formed",
                "YYYY-MM-DD",
            ),
            (
                Box::new(|r| r.date_formed = "".into()),
                "fields.date_formed",
                "required",
            ),
            (
                Box::new(|r| r.date_formed = "2026-11-28".into()),
                "fields.date_formed",
                "future",
            ),
            (
                Box::new(|r| r.attribute = None),
                "fields.attribute",
                "required",
            ),
            (
                Box::new(|r| r.attribute = Some(Attribute::Withheld)),
                "fields.withheld_reason",
                "legal ground",
            ),
            (
                Box::new(|r| r.withheld_reason = "x".into()),
                "fields.withheld_reason",
                "only for",
            ),
            (
                Box::new(|r| r.column = "".into()),
                "fields.column",
                "required",
            ),
            (
                Box::new(|r| r.body = "x\u{0}y".into()),
                "fields.body",
                "control",
            ),
            (
                Box::new(|r| r.title = "a\tb".into()),
                "fields.title",
                "one line",
            ),
            (
                Box::new(|r| r.title = "字".repeat(301)),
                "fields.title",
                "at most 300 characters",
            ),
            (
                Box::new(|r| r.doc_number = "南教\u{0}〔2026〕6号".into()),
                "fields.doc_number",
                "one line",
            ),
            (
                Box::new(|r| r.doc_number = "字".repeat(101)),
                "fields.doc_number",
                "at most 100 characters",
            ),
            (
                Box::new(|r| r.subject = "教育\u{0}".into()),
                "fields.subject",
                "control characters",
            ),
            (
                Box::new(|r| r.subject = "字".repeat(101)),
                "fields.subject",
                "at most 100 characters",
            ),
            (
                Box::new(|r| r.publisher = "县\r教育局".into()),
                "fields.publisher",
                "one line",
            ),
            (
                Box::new(|r| {
                    r.attribute = Some(Attribute::Withheld);
                    r.withheld_reason = "条例第十四条\u{7}".into();
                }),
                "fields.withheld_reason",
                "control characters",
            ),
            (
                Box::new(|r| r.column = "gz\u{0}zj".into()),
                "fields.column",
                "control characters",
            ),
            (
                Box::new(|r| r.summary = "字".repeat(501)),
                "fields.summary",
                "at most 500 characters",
            ),
            (
                Box::new(|r| r.summary = "摘要\u{0}".into()),
                "fields.summary",
                "control characters",
            ),
            (
                Box::new(|r| r.valid_until = "2031-02-29".into()),
                "fields.valid_until",
                "real calendar date",
            ),
            (
                Box::new(|r| r.valid_until = "2026-03-01".into()),
                "fields.valid_until",
                "before the date formed 2026-03-02",
            ),
        ];
        for (mutate, field, rule) in cases {
            let mut r = raw();
            mutate(&mut r);
            let e = check(&r).unwrap_err();
            assert_eq!(e.field, field, "{e}");
            assert!(e.rule.contains(rule), "{e}");
        }
    }

    #[test]
    fn a_document_number_is_kept_in_the_standard_spelling() {
        let mut r = raw();
        r.doc_number = " 南教[2026]第06号 ".into();
        assert_eq!(
            check(&r).unwrap().doc_number.as_deref(),
            Some("南教〔2026〕6号")
        );
        r.doc_number = " \u{3000} ".into();
        assert_eq!(check(&r).unwrap().doc_number, None, "blank is none");
    }

    #[test]
    fn paragraphs_may_break_lines_where_one_line_may_not() {
        let mut r = raw();
        r.summary = "第一段\n\t第二段".into();
        r.attribute = Some(Attribute::Withheld);
        r.withheld_reason = "条例第十四条：\n危及国家安全".into();
        let f = check(&r).unwrap();
        assert_eq!(f.summary, "第一段\n\t第二段");
    }

    #[test]
    fn body_limit_is_configurable() {
        let mut r = raw();
        r.body = "字".repeat(100);
        let limits = Limits {
            body_max_bytes: 299,
            ..Limits::default()
        };
        let e = validate(&r, &limits, today(), "x").unwrap_err();
        assert_eq!(e.field, "fields.body");
        assert!(e.rule.contains("300 bytes, over the limit of 299"), "{e}");
    }

    #[test]
    fn leap_day_and_summary_cut() {
        let mut r = raw();
        r.date_formed = "2024-02-29".into();
        r.body = "公开".repeat(100);
        let f = check(&r).unwrap();
        assert_eq!(f.summary.chars().count(), 121);
        assert!(f.summary.ends_with('…'));
    }
}
