//! The signals: SIGTERM (what Kubernetes sends on pod deletion) or SIGINT (Ctrl-C) stop
//! warmgate; SIGHUP is logged and ignored (warmgate has nothing to reload: its settings are
//! the pod's, changed by rolling the pod). [`Signals::install`] runs before anything else
//! starts, so no signal finds the default action (which would kill without a drain).

use tracing::warn;

/// Resolves on SIGTERM or SIGINT; returns which. Where SIGTERM cannot be watched (not Unix, or
/// the handler cannot be installed), only SIGINT ends it. Installs its handlers when first
/// polled: prefer [`Signals`], installed at start.
pub async fn shutdown_signal() -> &'static str {
    #[cfg(unix)]
    {
        use tokio::signal::unix::{signal, SignalKind};
        match signal(SignalKind::terminate()) {
            Ok(mut term) => tokio::select! {
                _ = term.recv() => "SIGTERM",
                _ = tokio::signal::ctrl_c() => "SIGINT",
            },
            Err(_) => {
                let _ = tokio::signal::ctrl_c().await;
                "SIGINT"
            }
        }
    }
    #[cfg(not(unix))]
    {
        let _ = tokio::signal::ctrl_c().await;
        "SIGINT"
    }
}

/// The handled signals, installed once: a signal that arrives before [`Signals::stop`] is
/// awaited is kept, not lost, and SIGHUP no longer kills the process.
#[derive(Debug)]
pub struct Signals {
    #[cfg(unix)]
    term: tokio::signal::unix::Signal,
    #[cfg(unix)]
    int: tokio::signal::unix::Signal,
    #[cfg(unix)]
    hup: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers of SIGTERM, SIGINT and SIGHUP. Must run within a tokio runtime.
    /// Fails if the OS refuses a handler.
    pub fn install() -> std::io::Result<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            Ok(Signals {
                term: signal(SignalKind::terminate())?,
                int: signal(SignalKind::interrupt())?,
                hup: signal(SignalKind::hangup())?,
            })
        }
        #[cfg(not(unix))]
        {
            Ok(Signals {})
        }
    }

    /// Resolves on SIGTERM or SIGINT (including one received since [`Signals::install`]);
    /// returns which. SIGHUP is logged and waited past.
    pub async fn stop(&mut self) -> &'static str {
        #[cfg(unix)]
        loop {
            tokio::select! {
                _ = self.term.recv() => return "SIGTERM",
                _ = self.int.recv() => return "SIGINT",
                _ = self.hup.recv() => {
                    warn!(signal = "SIGHUP",
                        "SIGHUP ignored: warmgate has nothing to reload; roll the pod to change its settings.");
                }
            }
        }
        #[cfg(not(unix))]
        {
            let _ = tokio::signal::ctrl_c().await;
            "SIGINT"
        }
    }
}
