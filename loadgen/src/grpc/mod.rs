//! gRPC unary calls as plain HTTP/2 POSTs on the engine's own client: the message is encoded
//! with a descriptor (from server reflection or a `FileDescriptorSet` file), framed with gRPC's
//! 5-byte length prefix, sent with `content-type: application/grpc` and `te: trailers`, and the
//! call's status read from `grpc-status` in the trailers (or in the headers of a trailers-only
//! answer). No gRPC stack: the engine keeps one HTTP/2 client, one pool and one timing path.
//!
//! - [`GrpcCall`]: one method and its input type, and how to encode a JSON message for it.
//! - `reflect`: the schema from the server (grpc.reflection.v1, then v1alpha).

use std::time::Duration;

use bytes::{BufMut, Bytes, BytesMut};
use http::{HeaderMap, HeaderValue};
use prost::Message;
use prost_reflect::{DescriptorPool, DynamicMessage, MessageDescriptor};

mod reflect;

pub use reflect::reflect;

/// Why a gRPC method could not be prepared.
#[derive(Debug, thiserror::Error)]
pub enum GrpcError {
    /// The method is not `package.Service/Method`.
    #[error("bad gRPC method {0:?}: expected package.Service/Method")]
    BadMethod(String),
    /// The descriptor-set file could not be read or parsed.
    #[error("descriptor set {path}: {why}")]
    DescriptorSet {
        /// The file.
        path: String,
        /// What is wrong.
        why: String,
    },
    /// Server reflection failed (not served, unreachable, or a bad answer).
    #[error("server reflection: {0}")]
    Reflection(String),
    /// The service or method is not in the schema.
    #[error("{0} is not in the schema")]
    NotFound(String),
    /// The message is not valid JSON for the method's input type (the JSON is not quoted: it
    /// may carry a credential).
    #[error("the message does not fit {ty}: {why}")]
    BadMessage {
        /// The input type's full name.
        ty: String,
        /// What is wrong (from the JSON mapping).
        why: String,
    },
}

/// One unary method: its HTTP/2 path and its input type's descriptor.
#[derive(Debug, Clone)]
pub struct GrpcCall {
    /// `/package.Service/Method`.
    pub path: String,
    /// The input message type.
    pub input: MessageDescriptor,
}

/// Splits `package.Service/Method` (a leading `/` is accepted).
pub fn split_method(full: &str) -> Result<(&str, &str), GrpcError> {
    let bad = || GrpcError::BadMethod(full.to_string());
    let (service, method) = full
        .trim_start_matches('/')
        .split_once('/')
        .ok_or_else(bad)?;
    if service.is_empty() || method.is_empty() || method.contains('/') {
        return Err(bad());
    }
    Ok((service, method))
}

impl GrpcCall {
    /// Finds `service`/`method` in `pool`.
    pub fn from_pool(
        pool: &DescriptorPool,
        service: &str,
        method: &str,
    ) -> Result<Self, GrpcError> {
        let svc = pool
            .get_service_by_name(service)
            .ok_or_else(|| GrpcError::NotFound(format!("service {service}")))?;
        let m = svc
            .methods()
            .find(|m| m.name() == method)
            .ok_or_else(|| GrpcError::NotFound(format!("method {service}/{method}")))?;
        Ok(GrpcCall {
            path: format!("/{service}/{method}"),
            input: m.input(),
        })
    }

    /// Reads `path`, a `FileDescriptorSet` (`protoc --descriptor_set_out --include_imports`),
    /// and finds the method in it.
    pub fn from_descriptor_set(
        path: &std::path::Path,
        service: &str,
        method: &str,
    ) -> Result<Self, GrpcError> {
        let bad = |why: String| GrpcError::DescriptorSet {
            path: path.display().to_string(),
            why,
        };
        let bytes = std::fs::read(path).map_err(|e| bad(e.to_string()))?;
        let pool = DescriptorPool::decode(bytes.as_slice()).map_err(|e| bad(e.to_string()))?;
        Self::from_pool(&pool, service, method)
    }

    /// `json` (protobuf's JSON mapping of the input type) as one framed gRPC message.
    pub fn encode(&self, json: &[u8]) -> Result<Bytes, GrpcError> {
        let bad = |why: String| GrpcError::BadMessage {
            ty: self.input.full_name().to_string(),
            why,
        };
        let mut de = serde_json::Deserializer::from_slice(json);
        let msg = DynamicMessage::deserialize(self.input.clone(), &mut de)
            .map_err(|e| bad(e.to_string()))?;
        de.end().map_err(|e| bad(e.to_string()))?;
        Ok(frame(&msg.encode_to_vec()))
    }

    /// The headers every call carries (`timeout` becomes the `grpc-timeout` deadline).
    pub fn headers(&self, timeout: Duration) -> HeaderMap {
        headers(timeout)
    }
}

/// The headers of a gRPC call with deadline `timeout`.
pub(crate) fn headers(timeout: Duration) -> HeaderMap {
    let mut h = HeaderMap::new();
    h.insert(
        http::header::CONTENT_TYPE,
        HeaderValue::from_static("application/grpc"),
    );
    h.insert(http::header::TE, HeaderValue::from_static("trailers"));
    if let Ok(v) = HeaderValue::from_str(&grpc_timeout(timeout)) {
        h.insert("grpc-timeout", v);
    }
    h
}

/// gRPC's length-prefixed message: flag 0 (not compressed), big-endian length, the bytes.
pub(crate) fn frame(message: &[u8]) -> Bytes {
    let mut b = BytesMut::with_capacity(5 + message.len());
    b.put_u8(0);
    b.put_u32(u32::try_from(message.len()).unwrap_or(u32::MAX));
    b.put_slice(message);
    b.freeze()
}

/// A `grpc-timeout` value: at most 8 digits, so milliseconds up to ~27 hours, then hours.
fn grpc_timeout(t: Duration) -> String {
    let ms = t.as_millis().max(1);
    if ms < 100_000_000 {
        format!("{ms}m")
    } else {
        format!("{}H", (t.as_secs() / 3600).clamp(1, 99_999_999))
    }
}

/// The `grpc-status` code in `headers`, if there is one and it is a number.
pub(crate) fn status(headers: &HeaderMap) -> Option<u32> {
    headers
        .get("grpc-status")?
        .to_str()
        .ok()?
        .trim()
        .parse()
        .ok()
}

/// The stable lower-case name of a gRPC status code (`"unknown"` past the 17 defined).
pub fn code_name(code: u32) -> &'static str {
    const NAMES: [&str; 17] = [
        "ok",
        "cancelled",
        "unknown",
        "invalid_argument",
        "deadline_exceeded",
        "not_found",
        "already_exists",
        "permission_denied",
        "resource_exhausted",
        "failed_precondition",
        "aborted",
        "out_of_range",
        "unimplemented",
        "internal",
        "unavailable",
        "data_loss",
        "unauthenticated",
    ];
    NAMES.get(code as usize).copied().unwrap_or("unknown")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn method_names_are_checked() {
        assert_eq!(
            split_method("shop.Cart/Get").ok(),
            Some(("shop.Cart", "Get"))
        );
        assert_eq!(
            split_method("/shop.Cart/Get").ok(),
            Some(("shop.Cart", "Get"))
        );
        for bad in ["shop.Cart", "/Get", "shop.Cart/", "a/b/c"] {
            assert!(split_method(bad).is_err(), "{bad}");
        }
    }

    #[test]
    fn frames_and_deadlines() {
        assert_eq!(&frame(b"ab")[..], &[0, 0, 0, 0, 2, b'a', b'b']);
        assert_eq!(grpc_timeout(Duration::from_millis(1500)), "1500m");
        assert_eq!(grpc_timeout(Duration::from_micros(10)), "1m");
        assert_eq!(grpc_timeout(Duration::from_secs(200_000)), "55H");
        assert_eq!(code_name(5), "not_found");
        assert_eq!(code_name(99), "unknown");
    }
}
