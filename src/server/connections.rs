//! The probe server's open connections. There is no small fixed cap that strangers can fill:
//! memory is bounded per connection (the server's read buffer) and in number by a cap large
//! enough for any honest client, and when the cap (or the process's file limit) is reached the
//! oldest connection not inside a request is closed to make room. A kubelet probe lives for
//! milliseconds, so the oldest connections are the idle, keep-alive or slowloris ones.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};

use tokio_util::sync::CancellationToken;

/// The open connections, oldest first.
#[derive(Debug)]
pub(super) struct Connections {
    open: Mutex<Registry>,
    cap: usize,
}

#[derive(Debug, Default)]
struct Registry {
    next_id: u64,
    /// By id, so in accept order: the first entry is the oldest.
    open: BTreeMap<u64, Entry>,
}

#[derive(Debug)]
struct Entry {
    close: CancellationToken,
    busy: Arc<AtomicBool>,
}

/// One admitted connection: close it when `close` fires; mark `busy` while answering. Leaves
/// the registry when dropped.
#[derive(Debug)]
pub(super) struct Ticket {
    id: u64,
    connections: Arc<Connections>,
    /// Fires when the connection is shed.
    pub close: CancellationToken,
    /// True while a request is being answered: such connections are shed last.
    pub busy: Arc<AtomicBool>,
}

impl Drop for Ticket {
    fn drop(&mut self) {
        self.connections.lock().open.remove(&self.id);
    }
}

impl Connections {
    /// Room for `cap` connections at once.
    pub(super) fn new(cap: usize) -> Arc<Connections> {
        Arc::new(Connections {
            open: Mutex::new(Registry::default()),
            cap,
        })
    }

    /// The registry; a poisoned lock still holds consistent data (every change is one call).
    fn lock(&self) -> MutexGuard<'_, Registry> {
        self.open.lock().unwrap_or_else(|p| p.into_inner())
    }

    /// Registers a new connection, shedding the oldest idle one first if the cap is reached.
    pub(super) fn admit(self: &Arc<Connections>) -> Ticket {
        if self.len() >= self.cap {
            self.shed_oldest();
        }
        let mut r = self.lock();
        let id = r.next_id;
        r.next_id += 1;
        let close = CancellationToken::new();
        let busy = Arc::new(AtomicBool::new(false));
        r.open.insert(
            id,
            Entry {
                close: close.clone(),
                busy: busy.clone(),
            },
        );
        Ticket {
            id,
            connections: self.clone(),
            close,
            busy,
        }
    }

    /// Closes the oldest connection not inside a request (else the oldest of all) and forgets
    /// it. False when there is none.
    pub(super) fn shed_oldest(&self) -> bool {
        let mut r = self.lock();
        let victim = r
            .open
            .iter()
            .find(|(_, e)| !e.busy.load(Ordering::Relaxed))
            .or_else(|| r.open.iter().next())
            .map(|(id, _)| *id);
        match victim.and_then(|id| r.open.remove(&id)) {
            Some(e) => {
                e.close.cancel();
                true
            }
            None => false,
        }
    }

    /// How many connections are open.
    pub(super) fn len(&self) -> usize {
        self.lock().open.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_cap_sheds_the_oldest_idle_connection_first() {
        let c = Connections::new(2);
        let first = c.admit();
        let second = c.admit();
        first.busy.store(true, Ordering::Relaxed);
        let third = c.admit();
        assert!(!first.close.is_cancelled(), "busy: kept");
        assert!(second.close.is_cancelled(), "the oldest idle one is shed");
        assert!(!third.close.is_cancelled());
        assert_eq!(c.len(), 2);
        drop(first);
        assert_eq!(c.len(), 1);
        drop(second);
        assert_eq!(c.len(), 1, "a shed ticket was already forgotten");
        drop(third);
        assert_eq!(c.len(), 0);
    }
}
