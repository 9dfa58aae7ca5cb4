//! The cap on requests in flight, shared by the pacer thread (which waits) and the request tasks
//! (which release).
//!
//! A plain `Mutex` + `Condvar` rather than a tokio `Semaphore`: the pacer is an OS thread, and a
//! blocking wait with a deadline needs no runtime (so it cannot fail while the runtime shuts down).
//! Releasing never blocks for longer than the short critical section.

use std::sync::{Arc, Condvar, Mutex, PoisonError};
use std::time::Instant;

/// Counts requests in flight, at most `max`.
#[derive(Debug)]
pub(crate) struct InflightCap {
    max: usize,
    inflight: Mutex<usize>,
    freed: Condvar,
}

/// One request's place under the cap; dropping it frees the place.
#[derive(Debug)]
pub(crate) struct Permit {
    cap: Arc<InflightCap>,
}

impl Drop for Permit {
    fn drop(&mut self) {
        let mut n = self.cap.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        *n = n.saturating_sub(1);
        drop(n);
        self.cap.freed.notify_one();
    }
}

impl InflightCap {
    /// A cap of `max` requests (at least 1, checked by `Plan::try_new`).
    pub(crate) fn new(max: usize) -> Arc<InflightCap> {
        Arc::new(InflightCap {
            max: max.max(1),
            inflight: Mutex::new(0),
            freed: Condvar::new(),
        })
    }

    /// Requests in flight now.
    pub(crate) fn inflight(&self) -> usize {
        *self.inflight.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// A permit if a place is free now.
    pub(crate) fn try_acquire(self: &Arc<Self>) -> Option<Permit> {
        let mut n = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        if *n < self.max {
            *n += 1;
            Some(Permit { cap: Arc::clone(self) })
        } else {
            None
        }
    }

    /// Waits until a place is free or `deadline` passes (then `None`).
    pub(crate) fn acquire_until(self: &Arc<Self>, deadline: Instant) -> Option<Permit> {
        let mut n = self.inflight.lock().unwrap_or_else(PoisonError::into_inner);
        loop {
            if *n < self.max {
                *n += 1;
                return Some(Permit { cap: Arc::clone(self) });
            }
            let now = Instant::now();
            if now >= deadline {
                return None;
            }
            n = self
                .freed
                .wait_timeout(n, deadline - now)
                .unwrap_or_else(PoisonError::into_inner)
                .0;
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn cap_holds_and_frees() {
        let cap = InflightCap::new(2);
        let a = cap.try_acquire();
        let b = cap.try_acquire();
        assert!(a.is_some() && b.is_some());
        assert!(cap.try_acquire().is_none());
        assert_eq!(cap.inflight(), 2);
        let soon = Instant::now() + Duration::from_millis(20);
        assert!(cap.acquire_until(soon).is_none());
        drop(a);
        assert_eq!(cap.inflight(), 1);
        assert!(cap.try_acquire().is_some());
    }

    #[test]
    fn a_waiter_wakes_when_a_permit_is_dropped() {
        let cap = InflightCap::new(1);
        let held = cap.try_acquire();
        let t = std::thread::spawn(move || {
            std::thread::sleep(Duration::from_millis(30));
            drop(held);
        });
        let start = Instant::now();
        let got = cap.acquire_until(start + Duration::from_secs(5));
        assert!(got.is_some());
        assert!(start.elapsed() < Duration::from_secs(2));
        t.join().expect("helper thread");
    }
}
