//! The statistical verdict: decides from window snapshots whether every endpoint is warm.
