//! # warmgate
//!
//! A Kubernetes sidecar that warms an app with open-loop synthetic traffic and reports ready only
//! once each endpoint's tail latency has stopped moving.
//!
//! # Layout
//! - [`config`]: raw configuration (file, inline YAML, env overrides) -> validated [`config::Settings`].
//! - [`gate`]: the statistical verdict over window snapshots.
//! - [`agent`]: the phases: wait for the app, warm it, hold the verdict, re-warm, drain.
//! - [`state`]: the cached state probes answer from.
//! - [`server`]: the probe/metrics/status HTTP server, on its own thread.
//! - [`metrics`]: the Prometheus metrics.
//! - [`demo`]: `warmgate demo`, the agent against an in-process simulated cold app.
//! - [`inject`]: adds warmgate to Kubernetes manifests.
//! - [`cli`]: the `warmgate` command line.

pub mod agent;
pub mod cli;
pub mod config;
pub mod demo;
pub mod gate;
pub mod inject;
pub mod metrics;
pub mod server;
pub mod state;
