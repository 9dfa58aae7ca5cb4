//! Checks of the app itself: does it accept connections, does its own readiness pass.

use std::time::Duration;

use url::Url;

/// What a check of the app found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum AppState {
    /// Accepting connections, and its readiness (if configured) passes.
    Up,
    /// Accepting connections, but its readiness answered this.
    NotReady(String),
    /// Not accepting connections (why).
    Down(String),
}

/// Probes the app the way the agent needs it: a TCP connect, then the app's own readiness path.
#[derive(Debug, Clone)]
pub struct AppProbe {
    url: Url,
    readiness: Option<Url>,
    client: reqwest::Client,
}

impl AppProbe {
    /// A probe for the app at `url`, with its readiness at `readiness_path` if given. Fails if
    /// the HTTP client cannot be built. The path is set on a copy of `url`, so it can never
    /// change the host.
    pub fn new(
        url: &Url,
        readiness_path: Option<&str>,
        insecure_tls: bool,
    ) -> anyhow::Result<AppProbe> {
        let readiness = readiness_path.map(|p| crate::config::url_at(url, p));
        let client = reqwest::Client::builder()
            .no_proxy()
            .redirect(reqwest::redirect::Policy::none())
            .timeout(Duration::from_secs(1))
            .danger_accept_invalid_certs(insecure_tls)
            .user_agent(concat!("warmgate/", env!("CARGO_PKG_VERSION")))
            .build()?;
        Ok(AppProbe {
            url: url.clone(),
            readiness,
            client,
        })
    }

    /// Connects to the app (1 s timeout) and, if configured, GETs its readiness path.
    pub async fn check(&self) -> AppState {
        let host = self
            .url
            .host_str()
            .unwrap_or("127.0.0.1")
            .trim_start_matches('[')
            .trim_end_matches(']');
        let port = self.url.port_or_known_default().unwrap_or(80);
        let connect = tokio::time::timeout(
            Duration::from_secs(1),
            tokio::net::TcpStream::connect((host, port)),
        )
        .await;
        match connect {
            Ok(Ok(_)) => {}
            Ok(Err(e)) => {
                return AppState::Down(format!(
                    "app not accepting connections on {host}:{port} ({e})"
                ))
            }
            Err(_) => {
                return AppState::Down(format!(
                    "app not accepting connections on {host}:{port} (connect timed out)"
                ))
            }
        }
        let Some(readiness) = &self.readiness else {
            return AppState::Up;
        };
        match self.client.get(readiness.clone()).send().await {
            Ok(r) if r.status().as_u16() < 400 => AppState::Up,
            Ok(r) => AppState::NotReady(format!(
                "app's readiness {} answered {}",
                readiness.path(),
                r.status().as_u16()
            )),
            Err(e) if e.is_connect() => {
                AppState::Down(format!("app not accepting connections on {host}:{port}"))
            }
            Err(e) => AppState::NotReady(format!(
                "app's readiness {} failed: {}",
                readiness.path(),
                if e.is_timeout() {
                    "timed out".to_string()
                } else {
                    "request error".to_string()
                }
            )),
        }
    }
}
