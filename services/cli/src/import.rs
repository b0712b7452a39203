//! `gongkai import`: documents from JSONL, one per line, through the normal
//! workflow (create → submit → review → publish). Every line either lands or
//! is reported with its line number and reason; nothing is skipped silently.

use std::io::BufRead as _;
use std::path::Path;

use gongkai_proto::v1 as pb;
use indicatif::{ProgressBar, ProgressStyle};

use crate::client::{Client, describe};

/// One line of the import file.
#[derive(Debug, serde::Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Line {
    pub title: String,
    #[serde(default)]
    pub doc_number: String,
    #[serde(default)]
    pub subject: String,
    #[serde(default)]
    pub publisher: String,
    pub date_formed: String,
    /// proactive (default), on_request or withheld
    #[serde(default)]
    pub attribute: String,
    #[serde(default)]
    pub withheld_reason: String,
    pub column: String,
    pub body: String,
    #[serde(default)]
    pub summary: String,
    /// 有效期至, YYYY-MM-DD; no end when empty.
    #[serde(default)]
    pub valid_until: String,
    /// YYYY-MM-DD; the import day when empty.
    #[serde(default)]
    pub date_published: String,
}

pub fn attribute(s: &str) -> Result<pb::DisclosureAttribute, String> {
    match s {
        "" | "proactive" | "主动公开" => Ok(pb::DisclosureAttribute::Proactive),
        "on_request" | "依申请公开" => Ok(pb::DisclosureAttribute::OnRequest),
        "withheld" | "不予公开" => Ok(pb::DisclosureAttribute::Withheld),
        other => Err(format!(
            "attribute {other:?}: one of proactive, on_request, withheld"
        )),
    }
}

impl Line {
    pub fn fields(&self) -> Result<pb::DocumentFields, String> {
        Ok(pb::DocumentFields {
            title: self.title.clone(),
            doc_number: self.doc_number.clone(),
            subject: self.subject.clone(),
            publisher: self.publisher.clone(),
            date_formed: self.date_formed.clone(),
            attribute: attribute(&self.attribute)? as i32,
            withheld_reason: self.withheld_reason.clone(),
            column: self.column.clone(),
            body: self.body.clone(),
            summary: self.summary.clone(),
            valid_until: self.valid_until.clone(),
        })
    }
}

#[derive(Debug, Default)]
pub struct Report {
    pub imported: usize,
    pub published: usize,
    pub failed: Vec<(usize, String)>,
    /// Empty lines: nothing to import, but counted so that none goes
    /// unmentioned.
    pub blank: usize,
}

/// Imports `path`. With `reviewer` set, documents are also approved (by
/// that other person: nobody approves their own draft) and published.
pub async fn run(
    path: &Path,
    editor: &mut Client,
    reviewer: Option<&mut Client>,
    progress: bool,
) -> anyhow::Result<Report> {
    let file = std::fs::File::open(path).map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let lines: Vec<String> = std::io::BufReader::new(file)
        .lines()
        .collect::<Result<_, _>>()
        .map_err(|e| anyhow::anyhow!("{}: {e}", path.display()))?;
    let bar = if progress {
        let b = ProgressBar::new(lines.len() as u64);
        b.set_style(
            ProgressStyle::with_template("{bar:40} {pos}/{len} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_bar()),
        );
        b
    } else {
        ProgressBar::hidden()
    };
    let mut report = Report::default();
    let mut reviewer = reviewer;
    for (i, text) in lines.iter().enumerate() {
        let n = i + 1;
        bar.inc(1);
        if text.trim().is_empty() {
            report.blank += 1;
            continue;
        }
        match import_line(text, editor, reviewer.as_deref_mut()).await {
            Ok(published) => {
                report.imported += 1;
                if published {
                    report.published += 1;
                }
            }
            Err(e) => {
                bar.println(format!("line {n}: {e}"));
                report.failed.push((n, e));
            }
        }
    }
    bar.finish_and_clear();
    Ok(report)
}

async fn import_line(
    text: &str,
    editor: &mut Client,
    reviewer: Option<&mut Client>,
) -> Result<bool, String> {
    let line: Line =
        serde_json::from_str(text).map_err(|e| format!("not a valid document line: {e}"))?;
    let fields = line.fields()?;
    let doc = editor
        .create_document(pb::CreateDocumentRequest {
            fields: Some(fields),
        })
        .await
        .map_err(|s| format!("create: {}", describe(&s)))?
        .into_inner();
    let Some(reviewer) = reviewer else {
        return Ok(false);
    };
    let id = doc.id;
    let submitted = editor
        .submit_document(pb::SubmitDocumentRequest {
            document_id: id.clone(),
        })
        .await
        .map_err(|s| format!("submit {id}: {}", describe(&s)))?
        .into_inner();
    if submitted.blocked {
        return Err(format!(
            "submit {id}: blocked by the privacy scan ({} finding(s)); the draft is kept for editing",
            submitted.findings.len()
        ));
    }
    reviewer
        .review_document(pb::ReviewDocumentRequest {
            document_id: id.clone(),
            approve: true,
            comment: "imported".into(),
            confidentiality_cleared: false,
        })
        .await
        .map_err(|s| format!("review {id}: {}", describe(&s)))?;
    let published = editor
        .publish_document(pb::PublishDocumentRequest {
            document_id: id.clone(),
            date_published: line.date_published,
        })
        .await
        .map_err(|s| format!("publish {id}: {}", describe(&s)))?
        .into_inner();
    if published.blocked {
        return Err(format!("publish {id}: blocked by the privacy scan"));
    }
    Ok(true)
}
