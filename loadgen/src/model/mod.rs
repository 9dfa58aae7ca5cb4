//! The latency model of a cold app, shared by `loadgen sim`, warmgate's synthetic snapshots and
//! the gate's statistical tests and benchmarks: one definition of every warm-up curve and one
//! seeded noise source, so that the simulations cannot drift apart from the simulator.
//!
//! A request's latency is `median * noise * curve`, where `noise` is a lognormal factor with
//! median 1 and `curve` is the warm-up multiplier at the request's index on its path and the
//! time since start.
//!
//! # Layout
//! - [`profile`]: the profile names ([`Profile`]).
//! - [`curve`]: the warm-up multipliers ([`Curve`]) and when they settle ([`SettleAfter`]).
//! - [`noise`]: the seeded lognormal and uniform draws ([`Noise`]).

pub mod curve;
pub mod jitter;
pub mod noise;
pub mod profile;

pub use curve::{Curve, SettleAfter};
pub use jitter::{Jitter, JITTERY};
pub use noise::Noise;
pub use profile::Profile;
