//! Step two of injecting a pod: the app's port, and warmgate's own port still free.

use yaml_serde::{Mapping, Value};

use super::annotations::{Request, ANN_PORT};
use super::container::PORT;
use super::error::InjectError;
use super::pod::{App, At};

/// A port field: a number, or a name looked up in the app container's `ports`.
pub fn resolve(value: &Value, app: &Value) -> Result<u16, String> {
    let text = match value {
        Value::Number(n) => n.to_string(),
        Value::String(s) => s.trim().to_string(),
        _ => return Err("must be a port number or a port name".to_string()),
    };
    if text.chars().all(|c| c.is_ascii_digit()) {
        return match text.parse::<u16>() {
            Ok(p) if p > 0 => Ok(p),
            _ => Err(format!("{text} is not a port number (1-65535)")),
        };
    }
    let ports = app.get("ports").and_then(Value::as_sequence);
    let found = ports
        .into_iter()
        .flatten()
        .find(|p| p.get("name").and_then(Value::as_str) == Some(text.as_str()));
    match found
        .and_then(|p| p.get("containerPort"))
        .and_then(Value::as_u64)
    {
        Some(p) if (1..=65535).contains(&p) => Ok(p as u16),
        _ => {
            let names: Vec<&str> = ports
                .into_iter()
                .flatten()
                .filter_map(|p| p.get("name").and_then(Value::as_str))
                .collect();
            Err(format!(
                "the app container has no port named {text:?} (named ports: {names:?})"
            ))
        }
    }
}

/// The port warm-up goes to: the annotated one, else the app container's first
/// `containerPort`. Fails when there is none, or when it is warmgate's own.
pub fn app_port(req: &Request, app: &App<'_>, at: &At<'_>) -> Result<u16, InjectError> {
    let port = match &req.port {
        Some(p) => {
            resolve(&Value::from(p.as_str()), app.value).map_err(|m| at.ann_err(ANN_PORT, m))?
        }
        None => {
            let first = app
                .value
                .get("ports")
                .and_then(Value::as_sequence)
                .and_then(|ps| ps.first());
            match first
                .and_then(|p| p.get("containerPort"))
                .and_then(Value::as_u64)
            {
                Some(p) if (1..=65535).contains(&p) => p as u16,
                _ => {
                    return Err(at.err(
                        format!("{}.ports", app.field),
                        format!(
                            "the app container declares no containerPort: set {ANN_PORT} \
                             (or pass --port)"
                        ),
                    ))
                }
            }
        }
    };
    if port == PORT {
        return Err(at.ann_err(
            ANN_PORT,
            format!("the app port {PORT} is warmgate's own port"),
        ));
    }
    Ok(port)
}

/// Fails when any container of the pod already declares warmgate's port.
pub fn check_free(spec: &Mapping, at: &At<'_>) -> Result<(), InjectError> {
    for list in ["containers", "initContainers"] {
        let cs = spec
            .get(list)
            .and_then(Value::as_sequence)
            .into_iter()
            .flatten();
        for (i, c) in cs.enumerate() {
            let mut ports = c
                .get("ports")
                .and_then(Value::as_sequence)
                .into_iter()
                .flatten();
            if ports
                .any(|p| p.get("containerPort").and_then(Value::as_u64) == Some(u64::from(PORT)))
            {
                return Err(at.err(
                    format!("{list}[{i}].ports"),
                    format!("port {PORT} is taken; warmgate needs it"),
                ));
            }
        }
    }
    Ok(())
}
