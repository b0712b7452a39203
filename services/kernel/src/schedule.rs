//! Passes a service makes on a fixed interval (deadline notices, overdue
//! judgements): the first at start, then one per interval until the
//! service stops.

use std::future::Future;
use std::time::Duration;

use tokio::sync::watch;
use tokio::task::JoinHandle;

use crate::ApiError;
use crate::db::today_cst;

/// Runs `pass` for today's date (China Standard Time) at once and then
/// every `every` until `stop` changes. A pass returns how many things it
/// did, logged with `done` when not 0; a failed pass is logged and the
/// next one tries again.
pub fn spawn_periodic_pass<F, Fut>(
    done: &'static str,
    every: Duration,
    mut stop: watch::Receiver<bool>,
    mut pass: F,
) -> JoinHandle<()>
where
    F: FnMut(chrono::NaiveDate) -> Fut + Send + 'static,
    Fut: Future<Output = Result<usize, ApiError>> + Send,
{
    tokio::spawn(async move {
        loop {
            match pass(today_cst()).await {
                Ok(0) => {}
                Ok(n) => tracing::info!(n, "{done}"),
                Err(e) => tracing::warn!(error = %e, "scheduled pass failed: {done}"),
            }
            tokio::select! {
                _ = tokio::time::sleep(every) => {}
                _ = stop.changed() => return,
            }
        }
    })
}
