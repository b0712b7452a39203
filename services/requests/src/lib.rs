//! The requests service (依申请公开): disclosure requests under the
//! statutory clock — intake, correction, consultation, extension, fees,
//! replies by legal category, appeals, queues and annual tables 三/四.

pub mod config;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod intake;
pub mod lookup;
pub mod service;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gongkai_kernel::runtime::Runtime;
use gongkai_proto::v1::requests_server::RequestsServer;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::Config;

use crate::service::RequestsService;

/// A running requests service.
pub struct Running {
    pub addr: SocketAddr,
    pub service: Arc<RequestsService>,
    server: gongkai_kernel::grpc::ServerTask,
    background: Vec<JoinHandle<()>>,
    /// Tells the background tasks to finish, once the calls have.
    stop_background: watch::Sender<bool>,
}

impl Running {
    /// Stops accepting, finishes in-flight calls, flushes the outbox and
    /// closes the database.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.server.stop_accepting().await?;
        // Only now: the relay's last pass sends what the last calls wrote.
        let _ = self.stop_background.send(true);
        gongkai_kernel::grpc::join_background(self.background).await;
        self.service.db().close().await;
        Ok(())
    }
}

pub async fn serve(
    rt: Runtime,
    cfg: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let running = start(rt, cfg).await?;
    tracing::info!(addr = %running.addr, "requests service listening");
    shutdown.await;
    running.shutdown().await
}

pub async fn start(rt: Runtime, cfg: Config) -> anyhow::Result<Running> {
    cfg.validate()?;
    let node = &rt.node;
    let url = gongkai_kernel::db::service_url(&cfg.database_url, &node.data_dir, "requests");
    let db = store::connect(&url).await.context("requests database")?;
    let (stop, stop_rx) = watch::channel(false);
    let (relay, relay_task) = gongkai_kernel::outbox::spawn(
        db.clone(),
        rt.bus.clone(),
        stop_rx.clone(),
        gongkai_kernel::grpc::DRAIN,
    );
    let service = Arc::new(RequestsService::new(
        db,
        node.unit.clone(),
        rt.calendar.clone(),
        cfg.clone(),
        relay,
        Box::new(lookup::PublishingLookup::new(
            &cfg.publishing_url,
            node.tls_ca.as_deref(),
        )?),
    ));
    let recomputed = service.recompute_provisional().await?;
    if recomputed > 0 {
        tracing::info!(
            recomputed,
            "provisional due dates recomputed with the calendar now loaded"
        );
    }
    // Due-soon and overdue events.
    let tick = service.clone();
    let scheduler = gongkai_kernel::schedule::spawn_periodic_pass(
        "due-soon and overdue notices sent",
        Duration::from_secs(cfg.scheduler_interval_secs),
        stop_rx.clone(),
        move |today| {
            let tick = tick.clone();
            async move { tick.scheduler_tick(today).await }
        },
    );

    let api = RequestsServer::new(grpc::GrpcAdapter::new(service.clone(), rt.keys.clone()));
    let router = gongkai_kernel::grpc::server(&rt.node)?.add_service(api);
    let (addr, server) = gongkai_kernel::grpc::spawn_server(
        &cfg.listen,
        "requests.listen",
        router,
        <RequestsServer<grpc::GrpcAdapter> as tonic::server::NamedService>::NAME,
    )
    .await?;
    Ok(Running {
        addr,
        service,
        server,
        background: vec![relay_task, scheduler],
        stop_background: stop,
    })
}
