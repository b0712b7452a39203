//! Printing what the service answers, for people and for scripts.

use gongkai_proto::v1 as pb;

pub fn state_name(v: i32) -> &'static str {
    match pb::DocumentState::try_from(v) {
        Ok(pb::DocumentState::Draft) => "draft",
        Ok(pb::DocumentState::Submitted) => "submitted",
        Ok(pb::DocumentState::Approved) => "approved",
        Ok(pb::DocumentState::Rejected) => "rejected",
        Ok(pb::DocumentState::Published) => "published",
        Ok(pb::DocumentState::Abolished) => "abolished",
        _ => "unknown",
    }
}

pub fn print_document(d: &pb::Document) {
    let f = d.fields.clone().unwrap_or_default();
    outln!("id:             {}", d.id);
    outln!("unit:           {}", d.unit);
    outln!("state:          {}", state_name(d.state));
    outln!("index_no:       {}", d.index_no);
    outln!("title:          {}", f.title);
    outln!("doc_number:     {}", f.doc_number);
    outln!("column:         {}", f.column);
    outln!("publisher:      {}", f.publisher);
    outln!("date_formed:    {}", f.date_formed);
    outln!("date_published: {}", d.date_published);
    outln!("validity:       {}", d.validity);
    if !f.valid_until.is_empty() {
        outln!("valid_until:    {}", f.valid_until);
    }
    outln!("version:        {}", d.version);
    if !d.date_published.is_empty() {
        outln!(
            "timeliness:     {} working days{}{}",
            d.timeliness_days,
            if d.late { " (LATE)" } else { "" },
            if d.timeliness_provisional {
                " (provisional)"
            } else {
                ""
            }
        );
    }
    if !d.interpretation.is_empty() {
        outln!("interpretation: {}", d.interpretation);
    }
    if !d.interprets.is_empty() {
        outln!("interprets:     {}", d.interprets);
    }
    if !d.abolished_on.is_empty() {
        outln!("abolished:      {} ({})", d.abolished_on, d.abolish_reason);
    }
    for c in &d.confidential_findings {
        outln!(
            "confidential:   {} at {}:{} {:?}",
            c.kind,
            c.field,
            c.start,
            c.excerpt
        );
    }
    for v in &d.versions {
        outln!(
            "version {}:      {} by {} ({})",
            v.version,
            v.fields
                .as_ref()
                .map(|f| f.title.as_str())
                .unwrap_or_default(),
            v.created_by,
            v.reason
        );
    }
    for h in &d.history {
        let at = chrono::DateTime::from_timestamp_millis(h.at_unix_ms)
            .map(|t| t.to_rfc3339())
            .unwrap_or_default();
        outln!(
            "history:        {at} {} {} {} → {} {}",
            h.actor,
            h.action,
            h.from_state,
            h.to_state,
            h.comment
        );
    }
}

pub fn print_findings(findings: &[pb::Finding]) {
    for f in findings {
        outln!(
            "  {:<14} {}:{} chars {}..{}  {}  → mask {}",
            f.kind,
            f.field,
            f.line,
            f.start,
            f.end,
            f.excerpt,
            f.suggested_mask
        );
    }
}

/// Prints a workflow outcome; returns false when blocked.
pub fn print_outcome(o: &pb::WorkflowResponse) -> bool {
    if let Some(d) = &o.document {
        outln!("{} {} {}", d.id, state_name(d.state), d.index_no);
    }
    if o.blocked {
        outln!(
            "BLOCKED: {} finding(s) must be fixed first:",
            o.findings.len()
        );
        print_findings(&o.findings);
        return false;
    }
    if !o.findings.is_empty() {
        outln!(
            "{} confidentiality finding(s) for the reviewer:",
            o.findings.len()
        );
        print_findings(&o.findings);
    }
    true
}

pub fn print_search(r: &pb::SearchResponse) {
    outln!("{} document(s)", r.total);
    for h in &r.hits {
        let mark = if h.validity == "abolished" {
            " [已废止]"
        } else {
            ""
        };
        outln!(
            "\n{}{}  ({} {} {})",
            strip_em(&h.title_html),
            mark,
            h.index_no,
            h.date_published,
            h.column
        );
        outln!("  {}", strip_em(&h.snippet_html));
    }
}

/// Terminal rendering of highlight marks: 【…】 instead of <em>…</em>.
fn strip_em(s: &str) -> String {
    s.replace("<em>", "【")
        .replace("</em>", "】")
        .replace("&lt;", "<")
        .replace("&gt;", ">")
        .replace("&quot;", "\"")
        .replace("&#39;", "'")
        .replace("&amp;", "&")
}

pub fn write_scan_csv(
    items: &[pb::RectificationItem],
    out: impl std::io::Write,
) -> anyhow::Result<()> {
    let mut w = csv::Writer::from_writer(out);
    w.write_record([
        "document_id",
        "index_no",
        "title",
        "date_published",
        "state",
        "version",
        "earlier_version",
        "field",
        "kind",
        "line",
        "start",
        "end",
        "excerpt",
        "suggested_mask",
    ])?;
    for i in items {
        let f = i.finding.clone().unwrap_or_default();
        w.write_record([
            i.document_id.as_str(),
            &i.index_no,
            &i.title,
            &i.date_published,
            &i.state,
            &i.version.to_string(),
            &i.earlier_version.to_string(),
            &f.field,
            &f.kind,
            &f.line.to_string(),
            &f.start.to_string(),
            &f.end.to_string(),
            &f.excerpt,
            &f.suggested_mask,
        ])?;
    }
    w.flush()?;
    Ok(())
}

pub fn scan_json(scanned: i64, items: &[pb::RectificationItem]) -> serde_json::Value {
    serde_json::json!({
        "documents_scanned": scanned,
        "items": items.iter().map(|i| {
            let f = i.finding.clone().unwrap_or_default();
            serde_json::json!({
                "document_id": i.document_id,
                "index_no": i.index_no,
                "title": i.title,
                "date_published": i.date_published,
                "state": i.state,
                "version": i.version,
                "earlier_version": i.earlier_version,
                "field": f.field,
                "kind": f.kind,
                "line": f.line,
                "start": f.start,
                "end": f.end,
                "excerpt": f.excerpt,
                "suggested_mask": f.suggested_mask,
            })
        }).collect::<Vec<_>>(),
    })
}
