//! CPU priority for background work. A node on a small machine serves calls
//! and maintains derived data (the search index, say) on the same cores;
//! when both want the CPU, the calls should win and the maintenance catch up
//! in the quiet moments after.

/// Lowers the calling thread's CPU priority to `nice` (0 to 19; higher is
/// lower priority). Threads it starts afterwards inherit the value. On
/// Linux the nice value belongs to the thread, not the process, so the rest
/// of the process keeps its priority. An unprivileged thread can only lower
/// its priority, never raise it back.
pub fn lower_current_thread(nice: i32) -> std::io::Result<()> {
    if nice <= 0 {
        return Ok(());
    }
    let nice = nice.min(19);
    let current = rustix::process::getpriority_process(None)?;
    if current >= nice {
        return Ok(());
    }
    rustix::process::setpriority_process(None, nice).map_err(std::io::Error::from)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn lowers_only_the_calling_thread() {
        let before = rustix::process::getpriority_process(None).unwrap();
        let inside = std::thread::spawn(|| {
            lower_current_thread(7).unwrap();
            let own = rustix::process::getpriority_process(None).unwrap();
            // Inherited by a thread started afterwards.
            let child = std::thread::spawn(|| rustix::process::getpriority_process(None).unwrap())
                .join()
                .unwrap();
            (own, child)
        })
        .join()
        .unwrap();
        assert_eq!(inside, (before.max(7), before.max(7)));
        assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
    }

    #[test]
    fn zero_leaves_the_priority_alone() {
        std::thread::spawn(|| {
            let before = rustix::process::getpriority_process(None).unwrap();
            lower_current_thread(0).unwrap();
            assert_eq!(rustix::process::getpriority_process(None).unwrap(), before);
        })
        .join()
        .unwrap();
    }
}
