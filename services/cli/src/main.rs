//! `gongkai`: operator CLI and all-in-one node launcher.

use std::path::PathBuf;
use std::process::ExitCode;

use clap::{Args, Parser, Subcommand};
use gongkai::client::{self, describe};
use gongkai::commands::{print_document, print_outcome, print_search, scan_json, write_scan_csv};
use gongkai::node::{self, InitOptions, NodeFile};
use gongkai::outln;
use gongkai_kernel::auth::Role;
use gongkai_proto::v1 as pb;

#[derive(Parser)]
#[command(
    name = "gongkai",
    version,
    about = "Gongkai (公开): open government information node and CLI"
)]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Args, Clone)]
struct Conn {
    /// Publishing service address.
    #[arg(long, env = "GONGKAI_SERVER", default_value = "http://127.0.0.1:7401")]
    server: String,
    /// Bearer token (see `gongkai token issue`).
    #[arg(
        long,
        env = "GONGKAI_TOKEN",
        default_value = "",
        hide_env_values = true
    )]
    token: String,
}

#[derive(Subcommand)]
enum Command {
    /// Set up and run a node.
    #[command(subcommand)]
    Node(NodeCmd),
    /// Tokens signed by the node's key.
    #[command(subcommand)]
    Token(TokenCmd),
    /// Documents and their workflow.
    #[command(subcommand, alias = "doc")]
    Document(DocCmd),
    /// Full-text search over published documents (no token needed).
    Search {
        #[command(flatten)]
        conn: Conn,
        /// Words to find (all must match).
        #[arg(default_value = "")]
        text: String,
        #[arg(long, default_value = "")]
        column: String,
        #[arg(long, default_value_t = 0)]
        year: i32,
        /// valid, abolished or expired
        #[arg(long, default_value = "")]
        validity: String,
        #[arg(long, default_value = "")]
        publisher: String,
        /// A unit path: matches the unit and its subtree.
        #[arg(long, default_value = "")]
        unit: String,
        #[arg(long, default_value_t = 0)]
        offset: u32,
        #[arg(long, default_value_t = 10)]
        limit: u32,
        #[arg(long)]
        json: bool,
    },
    /// Import documents from JSONL (one JSON document per line).
    Import {
        #[command(flatten)]
        conn: Conn,
        file: PathBuf,
        /// A reviewer's token: imported documents are then approved by that
        /// reviewer and published (nobody approves their own draft).
        #[arg(long, env = "GONGKAI_REVIEWER_TOKEN", hide_env_values = true)]
        reviewer_token: Option<String>,
        #[arg(long)]
        no_progress: bool,
    },
    /// Scan every public text (published and abolished documents and their
    /// earlier versions) for personal information: the rectification list.
    Scan {
        #[command(flatten)]
        conn: Conn,
        /// json or csv
        #[arg(long, default_value = "json")]
        format: String,
        /// Write here instead of stdout.
        #[arg(long)]
        output: Option<PathBuf>,
    },
    /// Catalogue columns.
    #[command(subcommand)]
    Column(ColumnCmd),
    /// Disclosure requests (依申请公开).
    #[command(subcommand)]
    Request(gongkai::requests_cli::RequestCmd),
    /// Counts per column, month and year, and annual-report table 二.
    Stats {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        year: i32,
        #[arg(long, default_value = "")]
        unit: String,
    },
}

// Parsed once per process: the size of the variants does not matter.
#[allow(clippy::large_enum_variant)]
#[derive(Subcommand)]
enum NodeCmd {
    /// Write a node configuration and signing key; print an admin token.
    Init {
        #[arg(long)]
        unit: String,
        #[arg(long)]
        name: String,
        #[arg(long)]
        org_code: String,
        #[arg(long)]
        data_dir: PathBuf,
        /// Where to write the configuration (default: node.toml in the data directory).
        #[arg(long)]
        config: Option<PathBuf>,
        #[arg(long, default_value = "nats://127.0.0.1:4222")]
        nats_url: String,
        #[arg(long, default_value = "127.0.0.1:7401")]
        listen: String,
        /// The requests service's gRPC address.
        #[arg(long, default_value = "127.0.0.1:7402")]
        requests_listen: String,
        #[arg(long, default_value = "deploy/calendar")]
        calendar_dir: PathBuf,
        #[arg(long, default_value = "deploy/catalog/default.toml")]
        catalog_file: PathBuf,
        #[arg(long)]
        force: bool,
    },
    /// Run the node's services until Ctrl-C or SIGTERM.
    Run {
        #[arg(long, env = "GONGKAI_CONFIG")]
        config: PathBuf,
    },
}

#[derive(Subcommand)]
enum TokenCmd {
    /// Issue a token for a person acting for a unit in a role.
    Issue {
        #[arg(long, env = "GONGKAI_CONFIG")]
        config: PathBuf,
        /// Who the token is for (recorded in the history).
        #[arg(long)]
        sub: String,
        /// editor, reviewer, admin, evaluator or duty_officer
        #[arg(long)]
        role: String,
        /// Unit path (default: the node's unit).
        #[arg(long)]
        unit: Option<String>,
        #[arg(long, default_value_t = 30)]
        days: u32,
    },
}

#[derive(Args)]
struct FieldArgs {
    #[arg(long)]
    title: String,
    #[arg(long)]
    column: String,
    /// YYYY-MM-DD
    #[arg(long)]
    date_formed: String,
    /// File holding the body text ('-' for stdin).
    #[arg(long)]
    body_file: Option<PathBuf>,
    #[arg(long, default_value = "")]
    body: String,
    #[arg(long, default_value = "")]
    doc_number: String,
    #[arg(long, default_value = "")]
    subject: String,
    #[arg(long, default_value = "")]
    publisher: String,
    /// proactive, on_request or withheld
    #[arg(long, default_value = "proactive")]
    attribute: String,
    #[arg(long, default_value = "")]
    withheld_reason: String,
    #[arg(long, default_value = "")]
    summary: String,
    /// 有效期至, YYYY-MM-DD: the last day in force (default: no end).
    #[arg(long, default_value = "")]
    valid_until: String,
}

impl FieldArgs {
    fn fields(&self) -> anyhow::Result<pb::DocumentFields> {
        let body = match &self.body_file {
            Some(p) if p.as_os_str() == "-" => std::io::read_to_string(std::io::stdin())?,
            Some(p) => std::fs::read_to_string(p)
                .map_err(|e| anyhow::anyhow!("--body-file {}: {e}", p.display()))?,
            None => self.body.clone(),
        };
        Ok(pb::DocumentFields {
            title: self.title.clone(),
            doc_number: self.doc_number.clone(),
            subject: self.subject.clone(),
            publisher: self.publisher.clone(),
            date_formed: self.date_formed.clone(),
            attribute: gongkai::import::attribute(&self.attribute)
                .map_err(|e| anyhow::anyhow!("--{e}"))? as i32,
            withheld_reason: self.withheld_reason.clone(),
            column: self.column.clone(),
            body,
            summary: self.summary.clone(),
            valid_until: self.valid_until.clone(),
        })
    }
}

#[derive(Subcommand)]
enum DocCmd {
    /// Create a draft.
    Create {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        fields: FieldArgs,
    },
    /// Submit a draft for review (runs the privacy and confidentiality scan).
    Submit {
        #[command(flatten)]
        conn: Conn,
        id: String,
    },
    /// Approve or reject a submitted draft.
    Review {
        #[command(flatten)]
        conn: Conn,
        id: String,
        #[arg(long, conflicts_with = "reject")]
        approve: bool,
        #[arg(long)]
        reject: bool,
        #[arg(long, default_value = "")]
        comment: String,
        /// Confirm the confidentiality findings are cleared (保密审查).
        #[arg(long)]
        confidentiality_cleared: bool,
    },
    /// Publish an approved document.
    Publish {
        #[command(flatten)]
        conn: Conn,
        id: String,
        /// YYYY-MM-DD (default today).
        #[arg(long, default_value = "")]
        date: String,
    },
    /// Publish a new version of a published document.
    Revise {
        #[command(flatten)]
        conn: Conn,
        id: String,
        #[command(flatten)]
        fields: FieldArgs,
        #[arg(long)]
        reason: String,
        #[arg(long)]
        confidentiality_cleared: bool,
    },
    /// Mark a published document abolished (it stays visible).
    Abolish {
        #[command(flatten)]
        conn: Conn,
        id: String,
        #[arg(long)]
        reason: String,
        #[arg(long, default_value = "")]
        date: String,
    },
    /// Link a policy document and its interpretation.
    Link {
        #[command(flatten)]
        conn: Conn,
        policy_id: String,
        interpretation_id: String,
    },
    /// Policy documents whose interpretation is still to be released,
    /// earliest due first, with how late each is.
    InterpretationsDue {
        #[command(flatten)]
        conn: Conn,
        #[arg(long, default_value_t = 100)]
        limit: u32,
    },
    /// Show a document with its versions and history.
    Show {
        #[command(flatten)]
        conn: Conn,
        /// Document id (or use --index-no).
        #[arg(default_value = "")]
        id: String,
        #[arg(long, default_value = "")]
        index_no: String,
    },
    /// List the unit's documents.
    List {
        #[command(flatten)]
        conn: Conn,
        #[arg(long, default_value = "")]
        state: String,
        #[arg(long, default_value = "")]
        column: String,
        #[arg(long, default_value_t = 0)]
        offset: u32,
        #[arg(long, default_value_t = 20)]
        limit: u32,
    },
}

#[derive(Subcommand)]
enum ColumnCmd {
    /// List the catalogue's columns.
    List {
        #[command(flatten)]
        conn: Conn,
    },
    /// Add a column to this unit's catalogue (admin).
    Add {
        #[command(flatten)]
        conn: Conn,
        #[arg(long)]
        code: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        parent: String,
        #[arg(long)]
        policy: bool,
        #[arg(long)]
        interpretation: bool,
    },
}

fn state_value(s: &str) -> anyhow::Result<i32> {
    Ok(match s {
        "" => pb::DocumentState::Unspecified,
        "draft" => pb::DocumentState::Draft,
        "submitted" => pb::DocumentState::Submitted,
        "approved" => pb::DocumentState::Approved,
        "rejected" => pb::DocumentState::Rejected,
        "published" => pb::DocumentState::Published,
        "abolished" => pb::DocumentState::Abolished,
        other => anyhow::bail!(
            "--state {other}: draft, submitted, approved, rejected, published or abolished"
        ),
    } as i32)
}

#[tokio::main]
async fn main() -> ExitCode {
    let cli = Cli::parse();
    match run(cli).await {
        Ok(code) => code,
        Err(e) => {
            eprintln!("error: {e:#}");
            ExitCode::FAILURE
        }
    }
}

macro_rules! call {
    ($e:expr) => {
        $e.await
            .map_err(|s| anyhow::anyhow!(describe(&s)))?
            .into_inner()
    };
}

async fn run(cli: Cli) -> anyhow::Result<ExitCode> {
    match cli.command {
        Command::Node(NodeCmd::Init {
            unit,
            name,
            org_code,
            data_dir,
            config,
            nats_url,
            listen,
            requests_listen,
            calendar_dir,
            catalog_file,
            force,
        }) => {
            let config = config.unwrap_or_else(|| data_dir.join("node.toml"));
            let done = node::init(&InitOptions {
                unit,
                name,
                org_code,
                data_dir,
                config,
                nats_url,
                listen,
                requests_listen,
                calendar_dir,
                catalog_file,
                force,
            })?;
            eprintln!("wrote {}", done.config.display());
            eprintln!("admin token (valid one year):");
            outln!("{}", done.admin_token);
        }
        Command::Node(NodeCmd::Run { config }) => {
            let file = NodeFile::load(&config)?;
            node::run(file, node::signal()).await?;
        }
        Command::Token(TokenCmd::Issue {
            config,
            sub,
            role,
            unit,
            days,
        }) => {
            let file = NodeFile::load(&config)?;
            let role: Role = role.parse().map_err(|e| anyhow::anyhow!("--role: {e}"))?;
            outln!(
                "{}",
                node::issue_token(&file, &sub, role, unit.as_deref(), days)?
            );
        }
        Command::Document(cmd) => return document(cmd).await,
        Command::Request(cmd) => gongkai::requests_cli::run(cmd).await?,
        Command::Search {
            conn,
            text,
            column,
            year,
            validity,
            publisher,
            unit,
            offset,
            limit,
            json,
        } => {
            let mut c = client::connect(&conn.server, "").await?;
            let r = call!(c.search(pb::SearchRequest {
                text,
                column,
                year,
                validity,
                publisher,
                unit,
                offset,
                limit,
            }));
            if json {
                let hits: Vec<_> = r
                    .hits
                    .iter()
                    .map(|h| {
                        serde_json::json!({
                            "document_id": h.document_id, "unit": h.unit, "index_no": h.index_no,
                            "title": h.title, "column": h.column, "publisher": h.publisher,
                            "date_published": h.date_published, "validity": h.validity,
                            "score": h.score, "title_html": h.title_html, "snippet_html": h.snippet_html,
                        })
                    })
                    .collect();
                outln!("{}", serde_json::json!({"total": r.total, "hits": hits}));
            } else {
                print_search(&r);
            }
        }
        Command::Import {
            conn,
            file,
            reviewer_token,
            no_progress,
        } => {
            let mut editor = client::connect(&conn.server, &conn.token).await?;
            let mut reviewer = match &reviewer_token {
                Some(t) => Some(client::connect(&conn.server, t).await?),
                None => None,
            };
            let report =
                gongkai::import::run(&file, &mut editor, reviewer.as_mut(), !no_progress).await?;
            outln!(
                "imported {} document(s), published {}, failed {}, blank lines {}",
                report.imported,
                report.published,
                report.failed.len(),
                report.blank
            );
            for (line, why) in &report.failed {
                outln!("  line {line}: {why}");
            }
            if !report.failed.is_empty() {
                return Ok(ExitCode::from(2));
            }
        }
        Command::Scan {
            conn,
            format,
            output,
        } => {
            if format != "json" && format != "csv" {
                anyhow::bail!("--format {format}: json or csv");
            }
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let r = call!(c.scan_published(pb::ScanPublishedRequest {}));
            let mut out: Box<dyn std::io::Write> = match &output {
                Some(p) => Box::new(std::fs::File::create(p)?),
                None => Box::new(std::io::stdout()),
            };
            if format == "csv" {
                write_scan_csv(&r.items, &mut out)?;
            } else {
                serde_json::to_writer_pretty(&mut out, &scan_json(r.documents_scanned, &r.items))?;
                writeln!(out)?;
            }
            eprintln!(
                "scanned {} published document(s): {} finding(s)",
                r.documents_scanned,
                r.items.len()
            );
        }
        Command::Column(ColumnCmd::List { conn }) => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let r = call!(c.list_columns(pb::ListColumnsRequest::default()));
            for col in r.columns {
                let mut flags = Vec::new();
                if col.policy {
                    flags.push("policy");
                }
                if col.interpretation {
                    flags.push("interpretation");
                }
                if col.custom {
                    flags.push("custom");
                }
                outln!(
                    "{:<10} {:<10} {} {}",
                    col.code,
                    col.parent,
                    col.name,
                    flags.join(",")
                );
            }
        }
        Command::Column(ColumnCmd::Add {
            conn,
            code,
            name,
            parent,
            policy,
            interpretation,
        }) => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let col = call!(c.add_column(pb::AddColumnRequest {
                column: Some(pb::Column {
                    code,
                    name,
                    parent,
                    policy,
                    interpretation,
                    custom: true,
                }),
            }));
            outln!("added {} {}", col.code, col.name);
        }
        Command::Stats { conn, year, unit } => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let s = call!(c.get_statistics(pb::GetStatisticsRequest { unit, year }));
            outln!("unit {} year {}", s.unit, s.year);
            for k in &s.by_column {
                outln!("  column {:<10} {}", k.key, k.count);
            }
            for k in &s.by_month {
                outln!("  month  {:<10} {}", k.key, k.count);
            }
            outln!("  late (over the working-day limit): {}", s.late);
            outln!("  table 二: kind / 本年制发 / 本年废止 / 现行有效");
            for f in &s.table_two {
                outln!("    {} {} {} {}", f.kind, f.issued, f.abolished, f.in_force);
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}

async fn document(cmd: DocCmd) -> anyhow::Result<ExitCode> {
    let ok = |b: bool| {
        if b {
            ExitCode::SUCCESS
        } else {
            ExitCode::from(3)
        }
    };
    match cmd {
        DocCmd::Create { conn, fields } => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let d = call!(c.create_document(pb::CreateDocumentRequest {
                fields: Some(fields.fields()?),
            }));
            outln!("{}", d.id);
        }
        DocCmd::Submit { conn, id } => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let o = call!(c.submit_document(pb::SubmitDocumentRequest { document_id: id }));
            return Ok(ok(print_outcome(&o)));
        }
        DocCmd::Review {
            conn,
            id,
            approve,
            reject,
            comment,
            confidentiality_cleared,
        } => {
            if approve == reject {
                anyhow::bail!("give --approve or --reject");
            }
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let d = call!(c.review_document(pb::ReviewDocumentRequest {
                document_id: id,
                approve,
                comment,
                confidentiality_cleared,
            }));
            outln!("{} {}", d.id, gongkai::commands::state_name(d.state));
        }
        DocCmd::Publish { conn, id, date } => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let o = call!(c.publish_document(pb::PublishDocumentRequest {
                document_id: id,
                date_published: date,
            }));
            return Ok(ok(print_outcome(&o)));
        }
        DocCmd::Revise {
            conn,
            id,
            fields,
            reason,
            confidentiality_cleared,
        } => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let o = call!(c.revise_document(pb::ReviseDocumentRequest {
                document_id: id,
                fields: Some(fields.fields()?),
                reason,
                confidentiality_cleared,
            }));
            return Ok(ok(print_outcome(&o)));
        }
        DocCmd::Abolish {
            conn,
            id,
            reason,
            date,
        } => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let d = call!(c.abolish_document(pb::AbolishDocumentRequest {
                document_id: id,
                reason,
                date,
            }));
            outln!(
                "{} {} {}",
                d.id,
                gongkai::commands::state_name(d.state),
                d.abolished_on
            );
        }
        DocCmd::Link {
            conn,
            policy_id,
            interpretation_id,
        } => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let d = call!(c.link_interpretation(pb::LinkInterpretationRequest {
                policy_document_id: policy_id,
                interpretation_document_id: interpretation_id,
            }));
            outln!("{} ↔ {}", d.id, d.interpretation);
        }
        DocCmd::InterpretationsDue { conn, limit } => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let r = call!(c.list_interpretations_due(pb::ListInterpretationsDueRequest { limit }));
            outln!("{} interpretation(s) to release", r.items.len());
            for d in r.items {
                let late = match (d.working_days_late, d.late_reported) {
                    (0, _) => String::new(),
                    (n, true) => format!(", {n} working day(s) late, reported"),
                    (n, false) => format!(", {n} working day(s) late"),
                };
                outln!(
                    "due {}{} {} {} ← {} {}{}",
                    d.due_on,
                    if d.due_provisional {
                        " (provisional)"
                    } else {
                        ""
                    },
                    d.policy_document_id,
                    d.policy_title,
                    d.interpretation_document_id,
                    gongkai::commands::state_name(d.interpretation_state),
                    late
                );
            }
        }
        DocCmd::Show { conn, id, index_no } => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let d = call!(c.get_document(pb::GetDocumentRequest {
                document_id: id,
                index_no,
                with_history: true,
            }));
            print_document(&d);
        }
        DocCmd::List {
            conn,
            state,
            column,
            offset,
            limit,
        } => {
            let mut c = client::connect(&conn.server, &conn.token).await?;
            let r = call!(c.list_documents(pb::ListDocumentsRequest {
                state: state_value(&state)?,
                column,
                offset,
                limit,
            }));
            outln!("{} document(s)", r.total);
            for d in r.documents {
                let f = d.fields.unwrap_or_default();
                outln!(
                    "{} {:<9} {:<6} {} {}",
                    d.id,
                    gongkai::commands::state_name(d.state),
                    f.column,
                    d.index_no,
                    f.title
                );
            }
        }
    }
    Ok(ExitCode::SUCCESS)
}
