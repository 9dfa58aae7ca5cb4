//! Log set-up: text or JSON lines on stderr, filtered by `RUST_LOG` or `log.level`.

use crate::config::LogFormat;

/// Installs the tracing subscriber (text or JSON lines on stderr). `RUST_LOG` wins over
/// `level`; a level that does not parse falls back to `info`. A second call does nothing (the
/// first subscriber stays).
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder.json().flatten_event(true).try_init(),
        LogFormat::Text => builder.try_init(),
    };
}
