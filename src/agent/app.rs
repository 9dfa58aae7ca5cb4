//! Checks of the app itself: does it accept connections, does its own readiness pass.

use std::time::Duration;

use tokio::time::Instant;
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

    /// The app's host (without IPv6 brackets) and port.
    fn host_port(&self) -> (&str, u16) {
        let host = self
            .url
            .host_str()
            .unwrap_or("127.0.0.1")
            .trim_start_matches('[')
            .trim_end_matches(']');
        (host, self.url.port_or_known_default().unwrap_or(80))
    }

    /// Watches for an app restart too fast for [`AppProbe::check`]'s polling (a process killed
    /// and restarted within tens of milliseconds comes back cold, and a poll every 250 ms misses
    /// it): holds one idle TCP connection to the app, which the kernel closes the moment the
    /// app's process exits. When it closes, a new connection is tried at once: refused (or
    /// reset, or not accepted within a second) means the app went away, so it restarted; accepted
    /// means the app only closed an idle connection (its header-read or idle timeout), and the
    /// new one is held instead. Returns why, or never (cancel the future to stop watching).
    ///
    /// A restart faster than that one reconnect (well under a millisecond on loopback), or one
    /// that hands over a listening socket, looks like an idle close and is not seen.
    pub async fn watch_restart(&self) -> String {
        let (host, port) = self.host_port();
        let mut held: Option<(tokio::net::TcpStream, Instant)> = None;
        loop {
            let (stream, opened) = match held.take() {
                Some(h) => h,
                None => match connect(host, port).await {
                    Ok(s) => (s, Instant::now()),
                    // Not accepting now: the polling check reports that; try again later.
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(250)).await;
                        continue;
                    }
                },
            };
            wait_closed(&stream).await;
            drop(stream);
            match connect(host, port).await {
                Ok(next) => {
                    // An idle close. An app that closes idle connections at once is not
                    // reconnected to more than once a second.
                    if opened.elapsed() < Duration::from_secs(1) {
                        tokio::time::sleep(Duration::from_secs(1)).await;
                        held = None;
                        drop(next);
                    } else {
                        held = Some((next, Instant::now()));
                    }
                }
                Err(why) => {
                    return format!(
                        "app restarted: it closed warmgate's idle connection and {why} on {host}:{port}"
                    )
                }
            }
        }
    }

    /// Connects to the app (1 s timeout) and, if configured, GETs its readiness path.
    pub async fn check(&self) -> AppState {
        let (host, port) = self.host_port();
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

/// A TCP connection to `host:port` within a second, or why not ("refused a new one (...)").
async fn connect(host: &str, port: u16) -> Result<tokio::net::TcpStream, String> {
    match tokio::time::timeout(
        Duration::from_secs(1),
        tokio::net::TcpStream::connect((host, port)),
    )
    .await
    {
        Ok(Ok(s)) => Ok(s),
        Ok(Err(e)) => Err(format!("refused a new one ({e})")),
        Err(_) => Err("accepted no new one within 1s".to_string()),
    }
}

/// Returns once the peer closed `stream` (end of stream or an error); anything the peer sends
/// is read and dropped (at most 4 KiB at a time: nothing is kept).
async fn wait_closed(stream: &tokio::net::TcpStream) {
    let mut buf = [0u8; 4096];
    loop {
        if stream.readable().await.is_err() {
            return;
        }
        match stream.try_read(&mut buf) {
            Ok(0) => return,
            Ok(_) => {}
            Err(e) if e.kind() == std::io::ErrorKind::WouldBlock => {}
            Err(_) => return,
        }
    }
}
