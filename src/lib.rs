//! # warmgate
//!
//! A Kubernetes sidecar that warms an app with open-loop synthetic traffic and reports ready only
//! once each endpoint's tail latency has stopped moving.
//!
//! # Layout
//! - [`config`]: raw configuration (file, inline YAML, env overrides) -> validated [`config::Settings`].
//! - [`duration`]: durations as people write them (`"5s"` or seconds), read and written the
//!   same way everywhere.
//! - [`gate`]: the statistical verdict over window snapshots.
//! - [`agent`]: the phases: wait for the app, warm it, hold the verdict, re-warm, drain.
//! - [`phase`]: [`phase::Phase`], where the agent is in its life.
//! - [`state`]: the [`state::StatusBoard`] probes answer from, and the typed /status document.
//! - [`server`]: the probe/metrics/status HTTP server, on its own thread.
//! - [`metrics`]: the Prometheus metrics.
//! - [`page`]: the status page at `/`, HTML drawn from /status in the browser.
//! - [`sidecar`]: the lifecycle: settings -> [`sidecar::Sidecar::spawn`] -> drain on SIGTERM;
//!   the runtime, the log set-up, the stop signal.
//! - [`demo`]: `warmgate demo`, the sidecar against an in-process simulated cold app.
//! - [`inject`]: adds warmgate to Kubernetes manifests, and takes it out.
//! - [`webhook`]: the mutating admission webhook, running inject on each new Pod.
//! - [`cli`]: the `warmgate` command line: parses and dispatches.

pub mod agent;
pub mod cli;
pub mod config;
pub mod demo;
pub mod duration;
pub mod gate;
pub mod inject;
pub mod metrics;
pub mod page;
pub mod phase;
pub mod reference;
pub mod server;
pub mod sidecar;
pub mod state;
pub mod webhook;
