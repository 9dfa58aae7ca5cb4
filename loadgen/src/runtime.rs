//! The one tokio runtime builder of the workspace. `loadgen run`, `loadgen sim`, warmgate's
//! agent, its probe server and its demo all start their runtimes here, so the thread rule (one
//! thread of work runs on the caller) and the enabled drivers live in one place.

use std::io;

use tokio::runtime::{Builder, Runtime};

/// Which threads a runtime runs its tasks on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Threads {
    /// The thread that calls `block_on` (a current-thread runtime): the cheapest for one
    /// thread of work, and the right one for a runtime that owns a thread of its own.
    Caller,
    /// This many worker threads (at least 1); the calling thread only drives `block_on`'s
    /// future, so tasks spawned from it never wait for it.
    Workers(usize),
}

impl Threads {
    /// `n` threads of work: [`Threads::Caller`] for 0 or 1 (cheaper than one worker plus a
    /// parked calling thread), else [`Threads::Workers`].
    pub fn count(n: usize) -> Threads {
        if n <= 1 {
            Threads::Caller
        } else {
            Threads::Workers(n)
        }
    }
}

/// A runtime with timers and I/O enabled, its threads named `name`. Fails if the OS refuses
/// the threads (or the I/O driver's file descriptors).
pub fn build(name: &str, threads: Threads) -> io::Result<Runtime> {
    let mut builder = match threads {
        Threads::Caller => Builder::new_current_thread(),
        Threads::Workers(n) => {
            let mut b = Builder::new_multi_thread();
            b.worker_threads(n.max(1));
            b
        }
    };
    builder.thread_name(name).enable_all().build()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn one_thread_of_work_runs_on_the_caller() {
        assert_eq!(Threads::count(0), Threads::Caller);
        assert_eq!(Threads::count(1), Threads::Caller);
        assert_eq!(Threads::count(4), Threads::Workers(4));
    }

    #[test]
    fn runtimes_run_timers_and_name_their_workers() {
        for threads in [Threads::Caller, Threads::Workers(1)] {
            let rt = build("loadgen-test", threads).expect("runtime");
            let name = rt.block_on(async {
                tokio::time::sleep(std::time::Duration::from_millis(1)).await;
                tokio::spawn(async { std::thread::current().name().map(str::to_string) })
                    .await
                    .expect("task")
            });
            if threads != Threads::Caller {
                assert_eq!(name.as_deref(), Some("loadgen-test"));
            }
        }
    }
}
