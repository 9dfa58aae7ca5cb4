//! Log set-up: text or JSON lines on stderr, filtered by `RUST_LOG` or `log.level`. Colour only
//! for a person at a terminal: container runtimes write stderr to files, where ANSI escapes
//! are noise in `kubectl logs` and in log pipelines.

use std::ffi::OsStr;
use std::io::IsTerminal;

use crate::config::LogFormat;

/// Installs the tracing subscriber (text or JSON lines on stderr). `RUST_LOG` wins over
/// `level`; a level that does not parse falls back to `info`. Text is coloured only when
/// stderr is a terminal and `NO_COLOR` is unset or empty; JSON never is. JSON lines carry the
/// fields documented in docs/DESIGN.md ("Logs") and no span fields. A second call does nothing
/// (the first subscriber stays).
pub fn init_logging(format: LogFormat, level: &str) {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .or_else(|_| tracing_subscriber::EnvFilter::try_new(level))
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    let no_color = std::env::var_os("NO_COLOR");
    let builder = tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr);
    let _ = match format {
        LogFormat::Json => builder
            .with_ansi(false)
            .json()
            .flatten_event(true)
            .with_current_span(false)
            .with_span_list(false)
            .try_init(),
        LogFormat::Text => builder
            .with_ansi(use_colour(
                std::io::stderr().is_terminal(),
                no_color.as_deref(),
            ))
            .try_init(),
    };
}

/// Whether text logs may use ANSI colour: only on a terminal, and not when `NO_COLOR` is set to
/// a non-empty value (<https://no-color.org>).
fn use_colour(stderr_is_terminal: bool, no_color: Option<&OsStr>) -> bool {
    stderr_is_terminal && no_color.is_none_or(OsStr::is_empty)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn colour_only_on_a_terminal_without_no_color() {
        assert!(use_colour(true, None));
        assert!(use_colour(true, Some(OsStr::new(""))));
        assert!(!use_colour(true, Some(OsStr::new("1"))));
        assert!(!use_colour(false, None));
        assert!(!use_colour(false, Some(OsStr::new(""))));
    }
}
