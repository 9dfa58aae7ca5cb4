//! The schema from the server: one call to gRPC server reflection (`grpc.reflection.v1`, or
//! `v1alpha` when the server answers `UNIMPLEMENTED`), on a connection of the engine's own
//! HTTP/2 client. Reflection is a bidirectional stream, but one request message and the end of
//! the stream is a valid exchange: the server answers it and ends the call.
//!
//! The reflection messages are declared here with prost's derive (five fields: far less than a
//! generated copy of reflection.proto). Files the answer names as dependencies but did not
//! include are asked for by file name, one call each.

use std::collections::BTreeMap;

use bytes::{Buf, Bytes, BytesMut};
use http::{Method, Request};
use http_body_util::{BodyExt, Full};
use prost::Message;
use prost_reflect::DescriptorPool;
use url::Url;

use super::{frame, status, GrpcCall, GrpcError};
use crate::engine::dial::{Conn, DialFailed, Target};
use crate::plan::HttpVersion;

/// `ServerReflectionRequest` (the wire format is the same in v1 and v1alpha).
#[derive(Clone, PartialEq, Message)]
struct ReflectionRequest {
    #[prost(string, tag = "1")]
    host: String,
    #[prost(string, optional, tag = "3")]
    file_by_filename: Option<String>,
    #[prost(string, optional, tag = "4")]
    file_containing_symbol: Option<String>,
}

/// `ServerReflectionResponse`, the two answers used.
#[derive(Clone, PartialEq, Message)]
struct ReflectionResponse {
    #[prost(message, optional, tag = "4")]
    file_descriptor_response: Option<FileDescriptorResponse>,
    #[prost(message, optional, tag = "7")]
    error_response: Option<ErrorResponse>,
}

#[derive(Clone, PartialEq, Message)]
struct FileDescriptorResponse {
    #[prost(bytes = "bytes", repeated, tag = "1")]
    file_descriptor_proto: Vec<Bytes>,
}

#[derive(Clone, PartialEq, Message)]
struct ErrorResponse {
    #[prost(int32, tag = "1")]
    error_code: i32,
    #[prost(string, tag = "2")]
    error_message: String,
}

/// Just enough of `FileDescriptorProto` to follow its imports.
#[derive(Clone, PartialEq, Message)]
struct FileHeader {
    #[prost(string, optional, tag = "1")]
    name: Option<String>,
    #[prost(string, repeated, tag = "3")]
    dependency: Vec<String>,
}

/// At most this many reflection calls for one method (its file and its imports).
const MAX_CALLS: usize = 64;
/// A reflection answer larger than this is refused (descriptors are a few KiB).
const MAX_ANSWER: usize = 16 << 20;

/// Asks the server at `url`'s origin (over HTTP/2: h2c, or TLS for https) for the schema of
/// `service` and finds `method` in it.
pub async fn reflect(
    url: &Url,
    service: &str,
    method: &str,
    accept_invalid_certs: bool,
) -> Result<GrpcCall, GrpcError> {
    let err = GrpcError::Reflection;
    let http = HttpVersion::Http2PriorKnowledge;
    let tls = match url.scheme() {
        "https" => Some(
            crate::engine::tls::connector(http, accept_invalid_certs)
                .map_err(|e| err(e.to_string()))?,
        ),
        _ => None,
    };
    let target = Target::new(url, http, tls.as_ref()).map_err(|e| err(e.to_string()))?;
    let mut send = match target.dial().await {
        Ok(Conn::H2(send)) => send,
        Ok(Conn::H1(_)) => {
            return Err(err(format!(
                "{} did not agree to HTTP/2 (gRPC needs it)",
                origin(url)
            )))
        }
        Err(DialFailed(why)) => {
            let hint = if why.starts_with("TLS") && !accept_invalid_certs {
                " (a self-signed or private-CA certificate needs target.insecure_tls: true)"
            } else {
                ""
            };
            return Err(err(format!(
                "cannot open an HTTP/2 connection to {}: {why}{hint}",
                origin(url)
            )));
        }
    };
    let mut files: BTreeMap<String, Bytes> = BTreeMap::new();
    let mut wanted = vec![ReflectionRequest {
        host: String::new(),
        file_by_filename: None,
        file_containing_symbol: Some(service.to_string()),
    }];
    let mut version = "v1";
    let mut calls = 0;
    while let Some(req) = wanted.pop() {
        calls += 1;
        if calls > MAX_CALLS {
            return Err(err("too many files in the schema".into()));
        }
        let answer = match call(&mut send, url, version, &req).await? {
            Answer::Unimplemented if version == "v1" => {
                version = "v1alpha";
                call(&mut send, url, version, &req).await?
            }
            a => a,
        };
        let resp = match answer {
            Answer::Message(r) => r,
            Answer::Unimplemented => {
                return Err(err("the server does not serve reflection".into()))
            }
        };
        if let Some(e) = resp.error_response {
            return Err(err(format!("error {}: {}", e.error_code, e.error_message)));
        }
        let protos = resp
            .file_descriptor_response
            .map(|f| f.file_descriptor_proto);
        for proto in protos.unwrap_or_default() {
            let head = FileHeader::decode(proto.clone()).map_err(|e| err(e.to_string()))?;
            let name = head.name.unwrap_or_default();
            for dep in head.dependency {
                let asked = wanted
                    .iter()
                    .any(|w| w.file_by_filename.as_ref() == Some(&dep));
                if !files.contains_key(&dep) && !asked && dep != name {
                    wanted.push(ReflectionRequest {
                        host: String::new(),
                        file_by_filename: Some(dep),
                        file_containing_symbol: None,
                    });
                }
            }
            files.insert(name, proto);
        }
        // A file that arrived in a later answer is no longer wanted.
        wanted.retain(|w| {
            w.file_by_filename
                .as_ref()
                .is_none_or(|f| !files.contains_key(f))
        });
    }
    let pool = build_pool(files.into_values().collect()).map_err(err)?;
    GrpcCall::from_pool(&pool, service, method)
}

/// Adds files to a pool in an order where each one's imports come first.
fn build_pool(mut pending: Vec<Bytes>) -> Result<DescriptorPool, String> {
    let mut pool = DescriptorPool::new();
    while !pending.is_empty() {
        let before = pending.len();
        let mut last = String::new();
        pending.retain(|f| match pool.decode_file_descriptor_proto(f.clone()) {
            Ok(()) => false,
            Err(e) => {
                last = e.to_string();
                true
            }
        });
        if pending.len() == before {
            return Err(format!("the schema's files do not fit together: {last}"));
        }
    }
    Ok(pool)
}

enum Answer {
    Message(ReflectionResponse),
    Unimplemented,
}

/// One reflection call with one request message; the first answer message.
async fn call(
    send: &mut hyper::client::conn::http2::SendRequest<Full<Bytes>>,
    url: &Url,
    version: &str,
    req: &ReflectionRequest,
) -> Result<Answer, GrpcError> {
    let err = GrpcError::Reflection;
    let uri = format!(
        "{}/grpc.reflection.{version}.ServerReflection/ServerReflectionInfo",
        origin(url)
    );
    let mut request = Request::new(Full::new(frame(&req.encode_to_vec())));
    *request.method_mut() = Method::POST;
    *request.uri_mut() = uri.parse().map_err(|_| err("bad URL".into()))?;
    *request.headers_mut() = super::headers(std::time::Duration::from_secs(10));
    send.ready().await.map_err(|e| err(e.to_string()))?;
    let response = send
        .send_request(request)
        .await
        .map_err(|e| err(e.to_string()))?;
    let (parts, mut body) = response.into_parts();
    if !parts.status.is_success() {
        return Err(err(format!("HTTP status {}", parts.status)));
    }
    let mut grpc_status = status(&parts.headers);
    let mut data = BytesMut::new();
    while let Some(frame) = body.frame().await {
        let frame = frame.map_err(|e| err(e.to_string()))?;
        match frame.into_data() {
            Ok(d) => {
                data.extend_from_slice(&d);
                if data.len() > MAX_ANSWER {
                    return Err(err("answer too large".into()));
                }
            }
            Err(frame) => {
                if let Some(t) = frame.trailers_ref() {
                    grpc_status = grpc_status.or(status(t));
                }
            }
        }
    }
    match grpc_status {
        Some(0) => {}
        Some(12) => return Ok(Answer::Unimplemented),
        Some(code) => return Err(err(format!("status {}", super::code_name(code)))),
        None => return Err(err("no grpc-status in the answer".into())),
    }
    if data.len() < 5 {
        return Err(err("no answer message".into()));
    }
    let mut data = data.freeze();
    let _flag = data.get_u8();
    let len = data.get_u32() as usize;
    if len > data.len() {
        return Err(err("truncated answer".into()));
    }
    ReflectionResponse::decode(data.split_to(len))
        .map(Answer::Message)
        .map_err(|e| err(e.to_string()))
}

/// `scheme://host:port` of `url`.
fn origin(url: &Url) -> String {
    url.origin().ascii_serialization()
}
