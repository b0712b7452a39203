//! The publishing service (主动公开): catalogue, documents and versions,
//! index numbers, review workflow, privacy and confidentiality scan, policy
//! interpretations, search, statistics and the subtree catalogue.

pub mod config;
pub mod domain;
pub mod events;
pub mod grpc;
pub mod indexer;
pub mod search;
pub mod service;
pub mod store;

use std::future::Future;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use anyhow::Context as _;
use gongkai_kernel::consumer;
use gongkai_kernel::runtime::Runtime;
use gongkai_kernel::unit::descendants_filter;
use gongkai_proto::v1::publishing_server::PublishingServer;
use tokio::sync::watch;
use tokio::task::JoinHandle;

pub use config::Config;

use crate::domain::catalog::Catalog;
use crate::search::SearchIndex;
use crate::service::{Parts, Publishing};

/// A running publishing service.
pub struct Running {
    pub addr: SocketAddr,
    pub service: Arc<Publishing>,
    server: gongkai_kernel::grpc::ServerTask,
    background: Vec<JoinHandle<()>>,
    /// Tells the background tasks to finish, once the calls have.
    stop_background: watch::Sender<bool>,
}

impl Running {
    /// Stops accepting, finishes in-flight calls, flushes the outbox and the
    /// search index, and closes the database.
    pub async fn shutdown(mut self) -> anyhow::Result<()> {
        self.server.stop_accepting().await?;
        // Calls are done: the writer may finish its queue and stop.
        self.service.stop_writer();
        // Only now: the relay's last pass sends what the last calls wrote.
        let _ = self.stop_background.send(true);
        gongkai_kernel::grpc::join_background(self.background).await;
        self.service.db().close().await;
        Ok(())
    }
}

/// Runs until `shutdown` resolves, then stops gracefully.
pub async fn serve(
    rt: Runtime,
    cfg: Config,
    shutdown: impl Future<Output = ()>,
) -> anyhow::Result<()> {
    let running = start(rt, cfg).await?;
    tracing::info!(addr = %running.addr, "publishing service listening");
    shutdown.await;
    running.shutdown().await
}

/// Builds the service and starts serving; returns once it listens.
pub async fn start(rt: Runtime, cfg: Config) -> anyhow::Result<Running> {
    cfg.validate()?;
    let node = &rt.node;
    let url = gongkai_kernel::db::service_url(&cfg.database_url, &node.data_dir, "publishing");
    let db = store::connect(&url).await.context("publishing database")?;
    for c in store::standardize_doc_numbers(&db)
        .await
        .context("giving stored document numbers their standard spelling")?
    {
        tracing::warn!(
            document = %c.id,
            unit = %c.unit,
            stored = %c.stored,
            standard = %c.standard,
            holder = %c.holder,
            "document number left as stored: another document of its unit has its standard spelling; change one of them"
        );
    }
    let catalog_text = std::fs::read_to_string(&cfg.catalog_file)
        .with_context(|| format!("publishing.catalog_file {}", cfg.catalog_file.display()))?;
    let catalog = Catalog::parse_toml(&catalog_text)
        .map_err(|e| anyhow::anyhow!("{}: {e}", cfg.catalog_file.display()))?;

    let search_dir = if cfg.search_dir.as_os_str().is_empty() {
        node.data_dir.join("search")
    } else {
        cfg.search_dir.clone()
    };
    let search = Arc::new(open_index(&db, &search_dir, cfg.search_indexing_nice).await?);

    let (stop, stop_rx) = watch::channel(false);
    let (relay, relay_task) = gongkai_kernel::outbox::spawn(
        db.clone(),
        rt.bus.clone(),
        stop_rx.clone(),
        gongkai_kernel::grpc::DRAIN,
    );
    let (indexer, indexer_task) = indexer::spawn(
        db.clone(),
        search.clone(),
        Duration::from_millis(cfg.search_commit_ms),
        cfg.search_indexing_nice,
        stop_rx.clone(),
    )
    .context("starting the search indexer")?;
    let mut background = vec![relay_task, indexer_task];
    if cfg.aggregate_subtree {
        let name = format!(
            "publishing-catalog-{}",
            node.unit.as_str().replace('.', "_")
        );
        background.push(consumer::spawn(
            db.clone(),
            rt.bus.clone(),
            name,
            descendants_filter(events::SERVICE, events::ENTITY, &node.unit),
            Arc::new(events::CatalogBuilder),
            stop_rx.clone(),
        ));
    }

    // Art. 44 suggestions from this unit's requests service.
    background.push(consumer::spawn(
        db.clone(),
        rt.bus.clone(),
        format!(
            "publishing-suggestions-{}",
            node.unit.as_str().replace('.', "_")
        ),
        gongkai_kernel::unit::event_subject(
            "requests",
            "request",
            "proactive_suggested",
            &node.unit,
        ),
        Arc::new(events::SuggestionKeeper),
        stop_rx.clone(),
    ));

    let service = Arc::new(Publishing::new(Parts {
        db,
        unit: node.unit.clone(),
        unit_name: node.name.clone(),
        org_code: node.org_code.clone(),
        calendar: rt.calendar.clone(),
        cfg: cfg.clone(),
        catalog,
        search,
        indexer,
        relay,
    })?);
    service.load_custom_columns().await?;
    let recomputed = service.recompute_provisional().await?;
    if recomputed > 0 {
        tracing::info!(
            recomputed,
            "provisional timeliness recomputed with the calendar now loaded"
        );
    }
    background.push(service.start_writer());
    // Interpretations released after their policy document, or overdue.
    let judge = service.clone();
    background.push(gongkai_kernel::schedule::spawn_periodic_pass(
        "interpretations found late",
        Duration::from_secs(cfg.scheduler_interval_secs),
        stop_rx.clone(),
        move |today| {
            let judge = judge.clone();
            async move { judge.judge_interpretations(today).await }
        },
    ));
    // Documents past their last day in force.
    let expire = service.clone();
    background.push(gongkai_kernel::schedule::spawn_periodic_pass(
        "documents expired",
        Duration::from_secs(cfg.scheduler_interval_secs),
        stop_rx.clone(),
        move |today| {
            let expire = expire.clone();
            async move { expire.expire_documents(today).await }
        },
    ));

    let api = PublishingServer::new(grpc::GrpcAdapter::new(service.clone(), rt.keys.clone()))
        .max_decoding_message_size(config::request_max_bytes(cfg.body_max_bytes));
    let router = gongkai_kernel::grpc::server(&rt.node)?.add_service(api);
    let (addr, server) = gongkai_kernel::grpc::spawn_server(
        &cfg.listen,
        "publishing.listen",
        router,
        <PublishingServer<grpc::GrpcAdapter> as tonic::server::NamedService>::NAME,
    )
    .await?;
    Ok(Running {
        addr,
        service,
        server,
        background,
        stop_background: stop,
    })
}

/// Opens the search index; one ahead of the database (restored from an
/// older backup, say) is rebuilt from scratch rather than trusted.
async fn open_index(
    db: &gongkai_kernel::db::Db,
    dir: &std::path::Path,
    nice: i32,
) -> anyhow::Result<SearchIndex> {
    std::fs::create_dir_all(dir)?;
    let index = SearchIndex::open_in_dir_with_nice(dir, nice)?;
    let mut conn = db.read().acquire().await?;
    let db_seq = store::max_search_seq(&mut conn).await?;
    if index.watermark() > db_seq {
        tracing::warn!(
            index = index.watermark(),
            db = db_seq,
            "search index ahead of the database; rebuilding"
        );
        drop(index);
        std::fs::remove_dir_all(dir)?;
        std::fs::create_dir_all(dir)?;
        return Ok(SearchIndex::open_in_dir_with_nice(dir, nice)?);
    }
    Ok(index)
}
