//! A precise timer thread for simulated latency.
//!
//! tokio's timer wheel has 1 ms granularity and rounds sleeps up, which would add ~0.5 ms to
//! every simulated latency (5% of a 10 ms median). This thread keeps a heap of deadlines, parks
//! until the earliest one (`park_timeout`, ~50-100 us of slack on Linux) and fires tokio oneshot
//! senders. One thread serves every request of one simulator.
//!
//! Waking the thread and then the awaiting tokio task still costs ~0.1-0.3 ms, so
//! [`Timer::sleep_until`] fires early by a learned offset: a running estimate of the median
//! lateness (stochastic approximation: +/- 5 us per sample), which keeps the median wake-up on
//! the deadline whatever the machine's wake-up cost.

use std::cmp::Reverse;
use std::collections::BinaryHeap;
use std::sync::atomic::{AtomicI64, AtomicU64, Ordering};
use std::sync::{Arc, Mutex, PoisonError};
use std::thread::{self, JoinHandle, Thread};
use std::time::{Duration, Instant};

use tokio::sync::oneshot;

/// Deadlines this close are fired at once rather than parking for a few microseconds.
const EARLY: Duration = Duration::from_micros(5);
/// Step of the median-lateness estimate, per wake-up.
const STEP_NS: u64 = 5_000;
/// The estimate never exceeds this: beyond it the process is overloaded, not slow to wake.
const MAX_OFFSET_NS: u64 = 3_000_000;
/// Starting estimate, near what an idle Linux box shows.
const INITIAL_OFFSET_NS: u64 = 100_000;

#[derive(Debug)]
struct Entry {
    at: Instant,
    seq: u64,
    tx: oneshot::Sender<()>,
}

impl PartialEq for Entry {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.seq) == (other.at, other.seq)
    }
}

impl Eq for Entry {}

impl PartialOrd for Entry {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}

impl Ord for Entry {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.seq).cmp(&(other.at, other.seq))
    }
}

#[derive(Debug, Default)]
struct Heap {
    entries: BinaryHeap<Reverse<Entry>>,
    seq: u64,
    stopped: bool,
}

#[derive(Debug)]
struct Shared {
    heap: Mutex<Heap>,
}

impl Shared {
    fn lock(&self) -> std::sync::MutexGuard<'_, Heap> {
        // A panic while holding this lock cannot leave the heap inconsistent (push/pop only).
        self.heap.lock().unwrap_or_else(PoisonError::into_inner)
    }
}

/// A dedicated timer thread; stops (firing nothing more) when dropped.
#[derive(Debug)]
pub struct Timer {
    shared: Arc<Shared>,
    thread: Thread,
    handle: Option<JoinHandle<()>>,
    /// Learned median lateness of a wake-up, in ns: deadlines fire this much early.
    offset_ns: AtomicU64,
    /// Running median of the signed wake-up lateness after correction, in ns (diagnostics).
    late_ns: AtomicI64,
}

impl Timer {
    /// Starts the thread. Fails only if the OS refuses a new thread.
    pub fn start() -> std::io::Result<Timer> {
        let shared = Arc::new(Shared {
            heap: Mutex::new(Heap::default()),
        });
        let worker = Arc::clone(&shared);
        let handle = thread::Builder::new()
            .name("sim-timer".into())
            .spawn(move || run(&worker))?;
        Ok(Timer {
            shared,
            thread: handle.thread().clone(),
            handle: Some(handle),
            offset_ns: AtomicU64::new(INITIAL_OFFSET_NS),
            late_ns: AtomicI64::new(0),
        })
    }

    /// Returns a receiver that completes at `at` (at once if `at` has passed). If the timer has
    /// stopped, the receiver completes at once with an error.
    pub fn at(&self, at: Instant) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        let wake = {
            let mut heap = self.shared.lock();
            if heap.stopped {
                return rx; // tx dropped: the receiver errs at once.
            }
            heap.seq += 1;
            let seq = heap.seq;
            let earliest = heap.entries.peek().map(|Reverse(e)| e.at);
            heap.entries.push(Reverse(Entry { at, seq, tx }));
            earliest.is_none_or(|e| at < e)
        };
        if wake {
            self.thread.unpark();
        }
        rx
    }

    /// Waits until `at`: the median wake-up lands within a few tens of microseconds of it.
    pub async fn sleep_until(&self, at: Instant) {
        let offset = self.offset_ns.load(Ordering::Relaxed);
        let fire = at.checked_sub(Duration::from_nanos(offset)).unwrap_or(at);
        if fire <= Instant::now() {
            return;
        }
        if self.at(fire).await.is_err() {
            return; // the timer stopped (shutdown): no sample
        }
        let woke = Instant::now();
        let late = woke.saturating_duration_since(fire).as_nanos();
        let step = STEP_NS as i64;
        let median = self.late_ns.load(Ordering::Relaxed);
        let after_at = if woke >= at {
            i64::try_from((woke - at).as_nanos()).unwrap_or(i64::MAX)
        } else {
            -i64::try_from((at - woke).as_nanos()).unwrap_or(i64::MAX)
        };
        let median = if after_at > median {
            median + step
        } else {
            median - step
        };
        self.late_ns.store(median, Ordering::Relaxed);
        let next = if late > u128::from(offset) {
            (offset + STEP_NS).min(MAX_OFFSET_NS)
        } else {
            offset.saturating_sub(STEP_NS)
        };
        // Racing updates lose a step at worst.
        self.offset_ns.store(next, Ordering::Relaxed);
    }

    /// Running median of how late (negative: early) wake-ups land after the deadline.
    pub fn median_lateness_us(&self) -> i64 {
        self.late_ns.load(Ordering::Relaxed) / 1000
    }

    /// The current learned wake-up offset.
    pub fn offset(&self) -> Duration {
        Duration::from_nanos(self.offset_ns.load(Ordering::Relaxed))
    }
}

impl Drop for Timer {
    fn drop(&mut self) {
        self.shared.lock().stopped = true;
        self.thread.unpark();
        if let Some(handle) = self.handle.take() {
            let _ = handle.join();
        }
    }
}

fn run(shared: &Shared) {
    let mut due = Vec::new();
    loop {
        let next = {
            let mut heap = shared.lock();
            if heap.stopped {
                heap.entries.clear();
                return;
            }
            let now = Instant::now();
            while let Some(Reverse(e)) = heap.entries.peek() {
                if e.at > now + EARLY {
                    break;
                }
                if let Some(Reverse(e)) = heap.entries.pop() {
                    due.push(e.tx);
                }
            }
            heap.entries.peek().map(|Reverse(e)| e.at)
        };
        for tx in due.drain(..) {
            let _ = tx.send(()); // the request may have been cancelled
        }
        match next {
            Some(at) => {
                let now = Instant::now();
                if at > now + EARLY {
                    thread::park_timeout(at - now - EARLY);
                }
            }
            None => thread::park(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[tokio::test]
    async fn fires_in_order_and_near_the_deadline() {
        let timer = Timer::start().expect("thread");
        let start = Instant::now();
        let late = timer.at(start + Duration::from_millis(30));
        let early = timer.at(start + Duration::from_millis(10));
        early.await.expect("fires");
        let e = start.elapsed();
        assert!(
            e >= Duration::from_micros(9_900) && e < Duration::from_millis(25),
            "{e:?}"
        );
        late.await.expect("fires");
        assert!(start.elapsed() >= Duration::from_micros(29_900));
    }

    #[tokio::test]
    async fn drop_releases_waiters() {
        let timer = Timer::start().expect("thread");
        let rx = timer.at(Instant::now() + Duration::from_secs(3600));
        drop(timer);
        assert!(rx.await.is_err());
    }

    #[tokio::test(flavor = "current_thread")]
    async fn median_wake_up_is_on_the_deadline() {
        let timer = Timer::start().expect("thread");
        let mut late = Vec::new();
        for i in 0..400 {
            let at = Instant::now() + Duration::from_millis(2);
            timer.sleep_until(at).await;
            let now = Instant::now();
            // Signed lateness in us; the first 150 wake-ups let the offset converge.
            let us = if now >= at {
                (now - at).as_micros() as i64
            } else {
                -((at - now).as_micros() as i64)
            };
            if i >= 150 {
                late.push(us);
            }
        }
        late.sort_unstable();
        let median = late[late.len() / 2];
        assert!(
            median.abs() < 100,
            "median lateness {median} us, offset {:?}",
            timer.offset()
        );
    }
}
