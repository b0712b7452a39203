//! `gongkai request …`: the requests service from the command line.

use clap::Subcommand;
use gongkai_proto::v1 as pb;
use gongkai_proto::v1::requests_client::RequestsClient;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

use crate::client::{Auth, describe};

#[derive(clap::Args, Clone)]
pub struct RConn {
    /// Requests service address.
    #[arg(
        long,
        env = "GONGKAI_REQUESTS_SERVER",
        default_value = "http://127.0.0.1:7402"
    )]
    pub server: String,
    #[arg(
        long,
        env = "GONGKAI_TOKEN",
        default_value = "",
        hide_env_values = true
    )]
    pub token: String,
}

#[derive(Subcommand)]
pub enum RequestCmd {
    /// Submit a request (public): prints the tracking number and query code.
    Submit {
        #[command(flatten)]
        conn: RConn,
        /// natural_person, commercial, research, public_interest, legal_service, other_org
        #[arg(long, default_value = "natural_person")]
        applicant_type: String,
        #[arg(long)]
        name: String,
        #[arg(long, default_value = "")]
        id_type: String,
        #[arg(long, default_value = "")]
        id_number: String,
        #[arg(long, default_value = "")]
        phone: String,
        #[arg(long, default_value = "")]
        email: String,
        #[arg(long, default_value = "")]
        address: String,
        #[arg(long)]
        description: String,
        /// in_person, post, online, fax
        #[arg(long, default_value = "online")]
        channel: String,
        #[arg(long, default_value = "electronic")]
        delivery_form: String,
        /// Day of receipt, YYYY-MM-DD (today when empty).
        #[arg(long, default_value = "")]
        received_on: String,
    },
    /// The applicant's view (public, with the query code).
    Status {
        #[command(flatten)]
        conn: RConn,
        tracking_no: String,
        #[arg(long)]
        code: String,
    },
    /// The office's view of a request, with its history.
    Show {
        #[command(flatten)]
        conn: RConn,
        tracking_no: String,
    },
    /// The office's queues, oldest first: due_soon or overdue.
    Queue {
        #[command(flatten)]
        conn: RConn,
        #[arg(default_value = "overdue")]
        queue: String,
        #[arg(long, default_value_t = 50)]
        limit: u32,
    },
    /// Reply to a request with a category of RULES §2.
    Reply {
        #[command(flatten)]
        conn: RConn,
        tracking_no: String,
        /// e.g. disclosed, partly, withheld.state_secret, cannot_provide.not_held
        #[arg(long)]
        category: String,
        #[arg(long, default_value = "")]
        legal_basis: String,
        #[arg(long, default_value = "")]
        responsible_body: String,
        #[arg(long)]
        text: String,
        /// Index numbers of published documents the reply points to.
        #[arg(long = "document")]
        documents: Vec<String>,
        #[arg(long, default_value = "")]
        day: String,
    },
    /// Tables 三 and 四 of the annual report, and fees collected.
    Annual {
        #[command(flatten)]
        conn: RConn,
        #[arg(long)]
        year: i32,
    },
}

type Client = RequestsClient<InterceptedService<Channel, Auth>>;

async fn connect(conn: &RConn) -> anyhow::Result<Client> {
    let ca = std::env::var_os("GONGKAI_CA").map(std::path::PathBuf::from);
    let channel = gongkai_kernel::grpc::endpoint(&conn.server, ca.as_deref())?
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("--server {}: cannot connect: {e}", conn.server))?;
    Ok(RequestsClient::with_interceptor(
        channel,
        Auth::new(&conn.token)?,
    ))
}

macro_rules! call {
    ($e:expr) => {
        $e.await
            .map_err(|s| anyhow::anyhow!(describe(&s)))?
            .into_inner()
    };
}

async fn id_of(c: &mut Client, tracking_no: &str) -> anyhow::Result<String> {
    Ok(call!(c.get_request(pb::GetRequestRequest {
        request_id: String::new(),
        tracking_no: tracking_no.to_owned(),
    }))
    .id)
}

pub async fn run(cmd: RequestCmd) -> anyhow::Result<()> {
    match cmd {
        RequestCmd::Submit {
            conn,
            applicant_type,
            name,
            id_type,
            id_number,
            phone,
            email,
            address,
            description,
            channel,
            delivery_form,
            received_on,
        } => {
            let mut c = connect(&conn).await?;
            let r = call!(c.submit_request(pb::SubmitRequestRequest {
                applicant: Some(pb::Applicant {
                    r#type: applicant_type,
                    name,
                    id_type,
                    id_number,
                    phone,
                    email,
                    address,
                }),
                description,
                delivery_form,
                channel,
                received_on,
            }));
            outln!("tracking_no: {}", r.tracking_no);
            outln!(
                "query_code:  {}   (keep it: it is shown only once)",
                r.query_code
            );
            outln!(
                "reply due:   {}{}",
                r.reply_due,
                if r.due_provisional {
                    " (provisional)"
                } else {
                    ""
                }
            );
        }
        RequestCmd::Status {
            conn,
            tracking_no,
            code,
        } => {
            let mut c = connect(&conn).await?;
            let s = call!(c.get_request_status(pb::GetRequestStatusRequest {
                tracking_no,
                query_code: code,
            }));
            outln!("{} {} ({})", s.tracking_no, s.status_label, s.status);
            if !s.due_on.is_empty() {
                outln!("due: {} by {}", s.due_kind, s.due_on);
            }
            if let Some(r) = s.reply {
                outln!("reply: {} on {}: {}", r.label, r.replied_on, r.text);
            }
        }
        RequestCmd::Show { conn, tracking_no } => {
            let mut c = connect(&conn).await?;
            let r = call!(c.get_request(pb::GetRequestRequest {
                request_id: String::new(),
                tracking_no,
            }));
            outln!(
                "{} {} ({}) received {}",
                r.tracking_no,
                r.status_label,
                r.status,
                r.received_on
            );
            outln!("information sought: {}", r.description);
            if !r.due_on.is_empty() {
                outln!("due: {} by {}", r.due_kind, r.due_on);
            }
            if !r.suggested_category.is_empty() {
                outln!(
                    "suggested: {} (earlier: {})",
                    r.suggested_category,
                    r.duplicate_of
                );
            }
            for t in r.transitions {
                outln!(
                    "  {} {} {} → {} {}",
                    t.day,
                    t.actor,
                    t.action,
                    t.to_status,
                    t.reason
                );
            }
        }
        RequestCmd::Queue { conn, queue, limit } => {
            let mut c = connect(&conn).await?;
            let q = call!(c.list_queue(pb::ListQueueRequest {
                queue,
                limit,
                ..Default::default()
            }));
            for e in q.entries {
                outln!(
                    "{} {:<12} {:<13} {} (received {})",
                    e.due_on,
                    e.due_kind,
                    e.status,
                    e.tracking_no,
                    e.received_on
                );
            }
        }
        RequestCmd::Reply {
            conn,
            tracking_no,
            category,
            legal_basis,
            responsible_body,
            text,
            documents,
            day,
        } => {
            let mut c = connect(&conn).await?;
            let id = id_of(&mut c, &tracking_no).await?;
            let r = call!(c.act(pb::ActRequest {
                request_id: id,
                day,
                reason: String::new(),
                action: Some(pb::act_request::Action::Reply(pb::Reply {
                    category,
                    legal_basis,
                    responsible_body,
                    text,
                    document_index_nos: documents,
                    ..Default::default()
                })),
            }));
            outln!("{} {}", r.tracking_no, r.status_label);
        }
        RequestCmd::Annual { conn, year } => {
            let mut c = connect(&conn).await?;
            let a = call!(c.get_annual_report(pb::GetAnnualReportRequest { year }));
            outln!(
                "{} {} 年 表三 (自然人 商业企业 科研机构 社会公益组织 法律服务机构 其他 总计)",
                a.unit,
                a.year
            );
            for r in a.table_three {
                let cells: Vec<String> = r.cells.iter().map(i64::to_string).collect();
                outln!("  {:<40} {}", r.label, cells.join(" "));
            }
            outln!("表四 (结果维持 结果纠正 其他结果 尚未审结 总计)");
            for r in a.table_four {
                let cells: Vec<String> = r.cells.iter().map(i64::to_string).collect();
                outln!("  {:<24} {}", r.label, cells.join(" "));
            }
            outln!("六、收取信息处理费: {} 元", a.fees_collected_yuan);
        }
    }
    Ok(())
}
