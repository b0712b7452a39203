//! gRPC client for the CLI: bearer token and trace context on every call.

use gongkai_proto::v1::publishing_client::PublishingClient;
use tonic::metadata::MetadataValue;
use tonic::service::interceptor::InterceptedService;
use tonic::transport::Channel;

#[derive(Clone)]
pub struct Auth {
    token: Option<MetadataValue<tonic::metadata::Ascii>>,
}

impl tonic::service::Interceptor for Auth {
    fn call(&mut self, req: tonic::Request<()>) -> Result<tonic::Request<()>, tonic::Status> {
        let mut req = gongkai_kernel::telemetry::inject_grpc(req)?;
        if let Some(t) = &self.token {
            req.metadata_mut().insert("authorization", t.clone());
        }
        Ok(req)
    }
}

impl Auth {
    pub fn new(token: &str) -> anyhow::Result<Auth> {
        Ok(Auth {
            token: match token.trim() {
                "" => None,
                t => Some(
                    format!("Bearer {t}")
                        .parse()
                        .map_err(|_| anyhow::anyhow!("--token: not a valid token"))?,
                ),
            },
        })
    }
}

pub type Client = PublishingClient<InterceptedService<Channel, Auth>>;

/// Connects to a publishing service; `token` may be empty for public calls.
/// `https://` servers are verified against the CA in `GONGKAI_CA` if set.
pub async fn connect(server: &str, token: &str) -> anyhow::Result<Client> {
    let ca = std::env::var_os("GONGKAI_CA").map(std::path::PathBuf::from);
    let channel = gongkai_kernel::grpc::endpoint(server, ca.as_deref())
        .map_err(|e| anyhow::anyhow!("--server {server}: {e}"))?
        .connect()
        .await
        .map_err(|e| anyhow::anyhow!("--server {server}: cannot connect: {e}"))?;
    Ok(
        PublishingClient::with_interceptor(channel, Auth::new(token)?)
            .max_decoding_message_size(64 * 1024 * 1024)
            .max_encoding_message_size(64 * 1024 * 1024),
    )
}

/// A gRPC error as one line for the operator: code and message.
pub fn describe(s: &tonic::Status) -> String {
    format!("{:?}: {}", s.code(), s.message())
}
