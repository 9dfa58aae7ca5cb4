//! How one request ended. Failures are data, not errors: the engine counts them and goes on.

use serde::Serialize;

/// The end of one request.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Outcome {
    /// An accepted status and (where one was required) the expected body text.
    Ok,
    /// The app answered with a status outside the endpoint's accepted set.
    HttpStatus(u16),
    /// No complete answer within the endpoint's timeout (latency is recorded as the timeout).
    Timeout,
    /// The TCP (or TLS) connection could not be made: refused, reset on connect, unreachable.
    Connect,
    /// The body exceeded the body cap; it was read up to the cap and discarded.
    BodyTooLarge,
    /// An accepted status, but the body did not contain the endpoint's expected text.
    UnexpectedBody,
    /// A gRPC call ended with a status other than `OK` (the code, 1-16; its name is
    /// [`crate::grpc::code_name`]). One label for all codes keeps the metric label set bounded.
    GrpcStatus(u32),
    /// The connection closed or was reset after the request was sent, before the whole answer
    /// (the app crashed or restarted mid-request, or closed a connection it had kept alive).
    ConnectionLost,
    /// The answer broke HTTP/1: a malformed status line or headers, an invalid chunk, a head
    /// too large (an HTTP/2 stream or protocol error counts as [`Outcome::Other`]).
    Protocol,
    /// Anything else: a templated request that HTTP cannot carry, a gRPC message that does not
    /// encode, a failure inside the client.
    Other,
}

impl Outcome {
    /// True only for [`Outcome::Ok`].
    pub fn is_ok(self) -> bool {
        matches!(self, Outcome::Ok)
    }

    /// A short stable label, suitable for a bounded metric label set.
    pub fn label(self) -> &'static str {
        match self {
            Outcome::Ok => "ok",
            Outcome::HttpStatus(_) => "http_error",
            Outcome::Timeout => "timeout",
            Outcome::Connect => "connect_error",
            Outcome::BodyTooLarge => "body_too_large",
            Outcome::UnexpectedBody => "unexpected_body",
            Outcome::GrpcStatus(_) => "grpc_error",
            Outcome::ConnectionLost => "connection_lost",
            Outcome::Protocol => "protocol_error",
            Outcome::Other => "other",
        }
    }

    /// Every label [`Outcome::label`] can return, in a fixed order.
    pub const LABELS: [&'static str; 10] = [
        "ok",
        "http_error",
        "timeout",
        "connect_error",
        "body_too_large",
        "unexpected_body",
        "grpc_error",
        "connection_lost",
        "protocol_error",
        "other",
    ];
}

/// Counts of outcomes over a window or a run.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize)]
pub struct OutcomeCounts {
    /// Requests that ended [`Outcome::Ok`].
    pub ok: u64,
    /// Requests answered with a status not accepted.
    pub http_error: u64,
    /// Requests that timed out.
    pub timeout: u64,
    /// Requests whose connection failed.
    pub connect_error: u64,
    /// Requests whose body was larger than the cap.
    pub body_too_large: u64,
    /// Requests whose body lacked the expected text.
    pub unexpected_body: u64,
    /// gRPC calls that ended with a status other than `OK`.
    pub grpc_error: u64,
    /// Requests whose connection closed or reset before the whole answer.
    pub connection_lost: u64,
    /// Requests whose answer broke HTTP.
    pub protocol_error: u64,
    /// Any other failure.
    pub other: u64,
}

impl OutcomeCounts {
    /// Counts one outcome.
    pub fn add(&mut self, outcome: Outcome) {
        match outcome {
            Outcome::Ok => self.ok += 1,
            Outcome::HttpStatus(_) => self.http_error += 1,
            Outcome::Timeout => self.timeout += 1,
            Outcome::Connect => self.connect_error += 1,
            Outcome::BodyTooLarge => self.body_too_large += 1,
            Outcome::UnexpectedBody => self.unexpected_body += 1,
            Outcome::GrpcStatus(_) => self.grpc_error += 1,
            Outcome::ConnectionLost => self.connection_lost += 1,
            Outcome::Protocol => self.protocol_error += 1,
            Outcome::Other => self.other += 1,
        }
    }

    /// Adds every count of `other` to `self`.
    pub fn merge(&mut self, other: &OutcomeCounts) {
        self.ok += other.ok;
        self.http_error += other.http_error;
        self.timeout += other.timeout;
        self.connect_error += other.connect_error;
        self.body_too_large += other.body_too_large;
        self.unexpected_body += other.unexpected_body;
        self.grpc_error += other.grpc_error;
        self.connection_lost += other.connection_lost;
        self.protocol_error += other.protocol_error;
        self.other += other.other;
    }

    /// All completed requests.
    pub fn total(&self) -> u64 {
        self.ok + self.errors()
    }

    /// Completed requests that did not end [`Outcome::Ok`].
    pub fn errors(&self) -> u64 {
        self.http_error
            + self.timeout
            + self.connect_error
            + self.body_too_large
            + self.unexpected_body
            + self.grpc_error
            + self.connection_lost
            + self.protocol_error
            + self.other
    }

    /// `(label, count)` pairs in the order of [`Outcome::LABELS`].
    pub fn by_label(&self) -> [(&'static str, u64); 10] {
        [
            ("ok", self.ok),
            ("http_error", self.http_error),
            ("timeout", self.timeout),
            ("connect_error", self.connect_error),
            ("body_too_large", self.body_too_large),
            ("unexpected_body", self.unexpected_body),
            ("grpc_error", self.grpc_error),
            ("connection_lost", self.connection_lost),
            ("protocol_error", self.protocol_error),
            ("other", self.other),
        ]
    }
}
