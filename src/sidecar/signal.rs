//! The stop signal: SIGTERM (what Kubernetes sends on pod deletion) or SIGINT (Ctrl-C).

/// Resolves on SIGTERM or SIGINT; returns which. Where SIGTERM cannot be watched (not Unix, or
/// the handler cannot be installed), only SIGINT ends it.
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
