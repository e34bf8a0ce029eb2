//! Transfer worker threads.

/// Transfer worker threads, each running its own current-thread tokio
/// runtime. A transfer is assigned to one worker (round robin) and its
/// socket and timer are registered with that worker's reactor, so every
/// wake-up of a transfer happens on the thread that runs it: no
/// cross-thread hand-off per datagram (a multi-thread runtime with 8
/// workers on one CPU woke idle siblings to steal work on every block).
/// A clone shares the threads (HTTP connections run on them too) with its
/// own round robin.
#[derive(Clone)]
pub(super) struct Workers {
    handles: Vec<tokio::runtime::Handle>,
    next: usize,
}

impl Workers {
    /// Start `threads` workers (0: one per CPU). One per CPU, not more: in
    /// a 100-client storm 8 workers on 2 CPUs took 51 s and 2 took 46 s
    /// (docs/performance.md): a worker that wakes with several transfers
    /// ready serves them all before sleeping again, and more workers split
    /// the same work into more wake-ups. (The four per CPU of the earlier
    /// multi-thread runtime, decisions.md, no longer helps.)
    pub(super) fn start(threads: usize) -> std::io::Result<Workers> {
        let cpus = std::thread::available_parallelism().map_or(1, |n| n.get());
        let n = if threads == 0 { cpus } else { threads };
        let mut handles = Vec::with_capacity(n);
        for i in 0..n {
            let rt = tokio::runtime::Builder::new_current_thread()
                .enable_all()
                .build()?;
            handles.push(rt.handle().clone());
            // The thread lives as long as the process: a current-thread
            // runtime runs its tasks only inside `block_on`.
            std::thread::Builder::new()
                .name(format!("tftp-worker-{i}"))
                .spawn(move || rt.block_on(std::future::pending::<()>()))?;
        }
        Ok(Workers { handles, next: 0 })
    }

    /// Run `f` (a transfer) on the next worker.
    pub(super) fn spawn(&mut self, f: impl std::future::Future<Output = ()> + Send + 'static) {
        let h = &self.handles[self.next];
        self.next = (self.next + 1) % self.handles.len();
        h.spawn(f);
    }
}
