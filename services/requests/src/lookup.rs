//! Checking documents a reply links to, with the publishing service over
//! gRPC (public GetDocument by index number).

use gongkai_proto::v1 as pb;
use gongkai_proto::v1::publishing_client::PublishingClient;
use tonic::transport::Channel;

use crate::service::DocumentLookup;

pub struct PublishingLookup {
    channel: Channel,
}

impl PublishingLookup {
    /// Connects lazily: the publishing service may start after this one.
    pub fn new(url: &str, ca: Option<&std::path::Path>) -> anyhow::Result<Self> {
        let channel = gongkai_kernel::grpc::endpoint(url, ca)?.connect_lazy();
        Ok(Self { channel })
    }
}

#[async_trait::async_trait]
impl DocumentLookup for PublishingLookup {
    async fn is_published(&self, index_no: &str) -> Result<bool, String> {
        let mut client = PublishingClient::with_interceptor(
            self.channel.clone(),
            gongkai_kernel::telemetry::inject_grpc,
        );
        match client
            .get_document(pb::GetDocumentRequest {
                document_id: String::new(),
                index_no: index_no.to_owned(),
                with_history: false,
            })
            .await
        {
            Ok(d) => {
                let d = d.into_inner();
                Ok(d.state == pb::DocumentState::Published as i32
                    || d.state == pb::DocumentState::Abolished as i32)
            }
            Err(s)
                if matches!(
                    s.code(),
                    tonic::Code::NotFound | tonic::Code::Unauthenticated
                ) =>
            {
                Ok(false)
            }
            Err(s) => Err(format!("{:?}: {}", s.code(), s.message())),
        }
    }
}
