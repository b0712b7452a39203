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
    use tracing::Instrument as _;
    tokio::spawn(async move {
        loop {
            // Each pass is a trace of its own: what it writes and the events
            // it emits carry it.
            let span = tracing::info_span!("periodic pass", pass = done);
            match pass(today_cst()).instrument(span).await {
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

#[cfg(test)]
mod tests {
    use std::sync::Arc;
    use std::sync::atomic::{AtomicUsize, Ordering};

    use super::*;

    /// The first pass comes at once, the next after the interval, a failed
    /// pass does not stop the next, and the task ends when told to stop.
    #[tokio::test]
    async fn passes_repeat_until_stopped() {
        let (stop, stop_rx) = watch::channel(false);
        let first_day = today_cst();
        let passes = Arc::new(AtomicUsize::new(0));
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        let counted = passes.clone();
        let task = spawn_periodic_pass("test passes", Duration::from_millis(20), stop_rx, {
            move |today| {
                let (counted, tx) = (counted.clone(), tx.clone());
                async move {
                    let n = counted.fetch_add(1, Ordering::SeqCst);
                    let _ = tx.send(today);
                    if n == 0 {
                        Err(ApiError::Unavailable("first pass fails".into()))
                    } else {
                        Ok(n)
                    }
                }
            }
        });
        let wait = Duration::from_secs(10);
        for _ in 0..3 {
            let day = tokio::time::timeout(wait, rx.recv())
                .await
                .expect("a pass")
                .expect("a day");
            assert!((first_day..=today_cst()).contains(&day), "{day}");
        }
        stop.send(true).expect("task listening");
        tokio::time::timeout(wait, task)
            .await
            .expect("stops")
            .expect("no panic");
        let after = passes.load(Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(60)).await;
        assert_eq!(passes.load(Ordering::SeqCst), after, "no pass after stop");
    }
}
