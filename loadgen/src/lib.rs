//! # loadgen
//!
//! An open-loop HTTP traffic engine that never hides a stall, and a simulator of cold apps to
//! measure it against. It knows nothing of Kubernetes, Prometheus or warmgate.
//!
//! # Layout
//! - [`plan`]: what to send: endpoints, rate schedule, in-flight cap, window length ([`Plan`]).
//! - [`recorded`]: requests to replay, from a HAR file or JSON Lines ([`RecordedRequest`]).
//! - [`outcome`]: how one request ended, as data ([`Outcome`], [`OutcomeCounts`]).
//! - [`template`]: per-request paths, headers and bodies from seeded variables ([`Template`]).
//! - [`snapshot`]: per-window and final results with their HDR histograms ([`Snapshot`], [`Report`]).
//! - [`grpc`]: unary gRPC calls over the engine's HTTP/2 client ([`grpc::GrpcCall`]).
//! - [`engine`]: runs a [`Plan`] open-loop and yields one [`Snapshot`] per window.
//! - [`model`]: the cold-app latency model (warm-up curves, seeded noise) the simulator and
//!   warmgate's synthetic tests share.
//! - [`sim`]: `loadgen sim`, HTTP servers that behave like cold apps of known latency.
//! - [`secret`]: header values from files, re-read when they change ([`SecretFile`]).
//! - [`runtime`]: the one tokio runtime builder, shared with warmgate.
//! - [`cli`]: the `loadgen` command line (`run` and `sim`).

pub mod cli;
pub mod engine;
pub mod grpc;
pub mod model;
pub mod outcome;
pub mod plan;
pub mod recorded;
pub mod runtime;
pub mod secret;
pub mod sim;
pub mod snapshot;
pub mod template;

pub use engine::{run, Engine};
pub use outcome::{Outcome, OutcomeCounts};
pub use plan::{Endpoint, HttpVersion, Plan, PlanError, RateSchedule, StatusSet};
pub use recorded::{RecordedError, RecordedRequest};
pub use secret::{SecretError, SecretFile};
pub use snapshot::{EndpointWindow, Report, Snapshot};
pub use template::{RequestTemplate, Template, TemplateError, Var};
