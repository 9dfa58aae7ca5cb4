//! The in-flight cap and the backlog of overdue requests, under one short-held lock.
//!
//! The pacer marks requests due ([`Dispatch::release`]) and gets a ticket for each one a place
//! is free for. When the cap is full, due requests stay in the backlog, which is only a range of
//! indices (`sent..due`): constant memory however long the app stalls. A request task that ends
//! takes the next overdue ticket itself and keeps its place ([`Permit::next`]), so the backlog
//! drains at the rate places free up, without a round trip through the pacer, and the pacer
//! never blocks. Requests sent from the backlog count as late; they keep their intended time, so
//! their latency includes the wait. Each late request takes a token of the catch-up bucket
//! (`catchup`): when none is left its place is freed, and the pacer sends it once a token
//! accrued, so a backlog is sent paced, never all at once.

use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Instant;

use crate::engine::catchup::Bucket;
use crate::engine::schedule::Chooser;

/// One request to send now.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Ticket {
    /// Its index in the schedule (its intended time is t0 + due(index)).
    pub(crate) index: u64,
    /// Which endpoint it goes to.
    pub(crate) endpoint: usize,
    /// It waited for the cap.
    pub(crate) late: bool,
}

#[derive(Debug)]
struct State {
    inflight: usize,
    /// Requests due so far (indices `0..due`).
    due: u64,
    /// Requests handed out so far (indices `0..sent`).
    sent: u64,
    /// Picks the endpoint of request `sent`.
    chooser: Chooser,
    /// When the last ticket was handed out.
    last_send: Option<Instant>,
    /// Tokens for late requests.
    bucket: Bucket,
}

/// The cap on requests in flight and the backlog, shared by the pacer and the request tasks.
#[derive(Debug)]
pub(crate) struct Dispatch {
    max: usize,
    state: Mutex<State>,
}

/// One place under the cap. Dropping it frees the place (e.g. when a task is abandoned).
#[derive(Debug)]
pub(crate) struct Permit {
    dispatch: Arc<Dispatch>,
    held: bool,
}

impl Dispatch {
    /// A cap of `max` places (at least 1); endpoints are picked by `chooser` in index order;
    /// late requests are paced by `bucket`.
    pub(crate) fn new(max: usize, chooser: Chooser, bucket: Bucket) -> Arc<Dispatch> {
        Arc::new(Dispatch {
            max: max.max(1),
            state: Mutex::new(State {
                inflight: 0,
                due: 0,
                sent: 0,
                chooser,
                last_send: None,
                bucket,
            }),
        })
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        // Plain counters: still consistent after a panic elsewhere.
        self.state.lock().unwrap_or_else(PoisonError::into_inner)
    }

    /// Marks requests `0..due` as due and appends a ticket (with its permit) to `out` for each
    /// overdue request a place is free for. Returns the requests handed out so far.
    pub(crate) fn release(self: &Arc<Self>, due: u64, out: &mut Vec<(Ticket, Permit)>) -> u64 {
        let mut s = self.lock();
        let before = s.due;
        s.due = s.due.max(due);
        // The clock is read only when a backlog needs a catch-up token, not on every wake.
        let mut now = None;
        while s.sent < s.due && s.inflight < self.max {
            if s.sent < before && !s.bucket.take(*now.get_or_insert_with(Instant::now)) {
                break;
            }
            s.inflight += 1;
            let ticket = claim(&mut s, |i| i < before);
            out.push((
                ticket,
                Permit {
                    dispatch: Arc::clone(self),
                    held: true,
                },
            ));
        }
        s.sent
    }

    /// Requests in flight now.
    pub(crate) fn inflight(&self) -> usize {
        self.lock().inflight
    }

    /// Requests due but not handed out yet (the backlog).
    pub(crate) fn backlog(&self) -> u64 {
        let s = self.lock();
        s.due.saturating_sub(s.sent)
    }

    /// When the last request was handed out.
    pub(crate) fn last_send(&self) -> Option<Instant> {
        self.lock().last_send
    }
}

/// Hands out request `s.sent`; `late` tells whether it waited.
fn claim(s: &mut State, late: impl Fn(u64) -> bool) -> Ticket {
    let index = s.sent;
    s.sent += 1;
    s.last_send = Some(Instant::now());
    Ticket {
        index,
        endpoint: s.chooser.next_index(),
        late: late(index),
    }
}

impl Permit {
    /// Called when this place's request ended: the next overdue request (late), keeping the
    /// place, or `None` after freeing the place (no backlog, or no catch-up token left: the
    /// pacer then sends the backlog as tokens accrue).
    pub(crate) fn next(&mut self) -> Option<Ticket> {
        if !self.held {
            return None;
        }
        let mut s = self.dispatch.lock();
        if s.sent < s.due && s.bucket.take(Instant::now()) {
            return Some(claim(&mut s, |_| true));
        }
        s.inflight = s.inflight.saturating_sub(1);
        self.held = false;
        None
    }
}

impl Drop for Permit {
    fn drop(&mut self) {
        if self.held {
            let mut s = self.dispatch.lock();
            s.inflight = s.inflight.saturating_sub(1);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::engine::schedule::Schedule;
    use crate::plan::RateSchedule;

    fn dispatch(max: usize) -> Arc<Dispatch> {
        let bucket = Bucket::new(Schedule::new(RateSchedule::Constant(400.0)), Instant::now());
        Dispatch::new(max, Chooser::new(&[1], 0), bucket)
    }

    #[test]
    fn release_hands_out_at_most_the_cap() {
        let d = dispatch(2);
        let mut out = Vec::new();
        assert_eq!(d.release(3, &mut out), 2);
        assert_eq!(out.len(), 2);
        assert!(out.iter().all(|(t, _)| !t.late));
        assert_eq!(d.inflight(), 2);
        // Request 2 is overdue: the next release hands it out late once a place frees.
        let (_, mut p0) = out.remove(0);
        let t = p0.next().expect("the backlog goes to the freed place");
        assert_eq!((t.index, t.late), (2, true));
        assert_eq!(d.inflight(), 2);
        assert!(p0.next().is_none());
        assert_eq!(d.inflight(), 1);
        drop(out);
        assert_eq!(d.inflight(), 0);
    }

    #[test]
    fn pacer_marks_earlier_due_requests_late() {
        let d = dispatch(1);
        let mut out = Vec::new();
        d.release(2, &mut out);
        let (t0, p) = out.pop().expect("one ticket");
        assert!(!t0.late);
        drop(p);
        d.release(3, &mut out);
        let (t1, _p) = out.pop().expect("one ticket");
        assert_eq!((t1.index, t1.late), (1, true));
    }

    #[test]
    fn a_backlog_is_sent_one_burst_at_a_time() {
        // 400 rps: a burst is 100 late requests. 10 places, all stalled; 5,000 more fall due.
        let d = dispatch(10);
        let mut out = Vec::new();
        d.release(10, &mut out);
        assert_eq!(out.len(), 10);
        d.release(5_010, &mut out);
        assert_eq!(out.len(), 10, "the cap is full");
        // The app answers again: the places take the backlog until the burst is spent, then free
        // themselves instead of sending the rest at once.
        let mut late = 0;
        for (_, permit) in &mut out {
            while let Some(t) = permit.next() {
                assert!(t.late);
                late += 1;
            }
        }
        assert!((100..=102).contains(&late), "{late} late requests at once");
        assert_eq!(d.inflight(), 0);
        assert!(d.backlog() >= 4_898, "backlog {}", d.backlog());
        // The pacer's next wake finds free places but (within microseconds) no token.
        let mut more = Vec::new();
        d.release(5_010, &mut more);
        assert!(more.len() <= 2, "{}", more.len());
    }
}
