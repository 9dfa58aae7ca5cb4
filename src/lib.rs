//! # warmgate
//!
//! A Kubernetes sidecar that warms an app with open-loop synthetic traffic and reports ready only
//! once each endpoint's tail latency has stopped moving.
//!
//! # Layout
//! - [`cli`]: the `warmgate` command line (`run`, `check`, `demo`, `inject`).
//! - [`gate`]: the statistical verdict over window snapshots.
//! - [`inject`]: adds warmgate to Kubernetes manifests.

pub mod cli;
pub mod gate;
pub mod inject;
