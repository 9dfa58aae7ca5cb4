//! Stage one: merged raw values -> the typed [`ConfigFile`], collecting every problem.
//!
//! A plain serde derive stops at the first bad field. Here each key is deserialized alone,
//! through its own section's type (a one-key table: the section's other keys take their
//! defaults), so a bad value is reported at its path and the others still count. The keys a
//! section knows are those its default serializes: the schema is not spelled again.

use serde::de::DeserializeOwned;
use serde::Serialize;
use serde_json::{Map, Value};

use super::problem::{Problems, Section};
use super::schema::{ConfigFile, EndpointSection};
use super::values::kind;

/// Reads the merged configuration into the schema. Bad or unknown fields are recorded in
/// `problems` and take their defaults, so that the checks after this one still run.
pub(super) fn config_file(raw: Value, problems: &mut Problems) -> ConfigFile {
    let mut top = table(Section::Top, "", raw, problems);
    let log = part(Section::Log, &mut top, problems);
    let target = part(Section::Target, &mut top, problems);
    let endpoints = endpoint_list(top.remove(Section::Endpoints.key()), problems);
    let traffic = part(Section::Traffic, &mut top, problems);
    let gate = part(Section::Gate, &mut top, problems);
    // What is left are the top-level scalars, and any unknown top-level key.
    let scalars: ConfigFile = fields(Section::Top, "", top, problems);
    ConfigFile {
        log,
        target,
        endpoints,
        traffic,
        gate,
        ..scalars
    }
}

/// Takes the table of `section` out of the top level and reads it.
fn part<T>(section: Section, top: &mut Map<String, Value>, problems: &mut Problems) -> T
where
    T: Default + Serialize + DeserializeOwned,
{
    let raw = top.remove(section.key());
    read_table(section, section.key(), raw, problems)
}

fn endpoint_list(raw: Option<Value>, problems: &mut Problems) -> Option<Vec<EndpointSection>> {
    match raw {
        None | Some(Value::Null) => None,
        Some(Value::Array(items)) => Some(
            items
                .into_iter()
                .enumerate()
                .map(|(i, item)| {
                    let path = format!("endpoints[{i}]");
                    read_table(Section::Endpoints, &path, Some(item), problems)
                })
                .collect(),
        ),
        Some(other) => {
            problems.push(
                Section::Endpoints,
                Section::Endpoints.key(),
                format!("expected a list, got {}", kind(&other)),
            );
            // Reported once: the default endpoint stands in, so no "empty list" follows.
            None
        }
    }
}

/// Reads the table at `path` into `T`, field by field (absent or null: `T::default()`).
fn read_table<T>(section: Section, path: &str, raw: Option<Value>, problems: &mut Problems) -> T
where
    T: Default + Serialize + DeserializeOwned,
{
    let map = table(section, path, raw.unwrap_or(Value::Null), problems);
    fields(section, path, map, problems)
}

/// `value` as a table; anything else is reported and read as an empty table.
fn table(
    section: Section,
    path: &str,
    value: Value,
    problems: &mut Problems,
) -> Map<String, Value> {
    match value {
        Value::Object(map) => map,
        Value::Null => Map::new(),
        other => {
            let at = if path.is_empty() { "(top level)" } else { path };
            problems.push(
                section,
                at,
                format!("expected a table, got {}", kind(&other)),
            );
            Map::new()
        }
    }
}

/// Keys that earlier versions took and that lost their meaning, with what replaced them: a
/// clear error, never a silent no-op.
fn retired(at: &str) -> Option<&'static str> {
    Some(match at {
        "gate.trend_z" => {
            "no longer used: the gate judges the slope of the latency level since the settle \
             point; its confidence is gate.confidence (one-sided, default 0.95)"
        }
        "gate.max_drift" => {
            "no longer used: a rising latency is judged per minute by gate.max_rise (default \
             0.05 = +5%/min); a falling one by the residual slowness bound, gate.tolerance"
        }
        _ => return None,
    })
}

fn fields<T>(section: Section, path: &str, map: Map<String, Value>, problems: &mut Problems) -> T
where
    T: Default + Serialize + DeserializeOwned,
{
    let known = match serde_json::to_value(T::default()) {
        Ok(Value::Object(known)) => known,
        _ => Map::new(),
    };
    let mut good = Map::new();
    for (key, value) in map {
        let at = if path.is_empty() {
            key.clone()
        } else {
            format!("{path}.{key}")
        };
        if !known.contains_key(&key) {
            match retired(&at) {
                Some(why) => problems.push(section, &at, why),
                None => problems.push(section, &at, "unknown key"),
            }
            continue;
        }
        // Null is "not set", as in YAML's `key:` with nothing after it.
        if value.is_null() {
            continue;
        }
        let secret = SECRET_KEYS.contains(&key.as_str());
        let alone = Map::from_iter([(key, value)]);
        match serde_json::from_value::<T>(Value::Object(alone.clone())) {
            Ok(_) => good.extend(alone),
            // serde's message quotes the value; these may hold credentials.
            Err(_) if secret => {
                let value = alone.values().next().unwrap_or(&Value::Null);
                problems.push(section, &at, secret_type_error(value));
            }
            Err(e) => problems.push(section, &at, e),
        }
    }
    // Every key left deserialized on its own, and no field's value depends on another's.
    serde_json::from_value(Value::Object(good)).unwrap_or_else(|e| {
        problems.push(
            section,
            if path.is_empty() { "(top level)" } else { path },
            e,
        );
        T::default()
    })
}

/// Keys whose values may be credentials: a type error there never quotes the value.
const SECRET_KEYS: [&str; 3] = ["headers", "body", "url"];

/// What is wrong with a secret key's value, said by its shape alone (a header's own value is
/// checked by [`super::values::Secret`], which reports it at its key).
fn secret_type_error(value: &Value) -> String {
    let hidden = "the value is not shown: it may be a secret";
    format!("expected text or a table, got {} ({hidden})", kind(value))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_bad_field_of_a_section_is_reported_and_the_good_ones_kept() {
        let raw = serde_json::json!({
            "gate": {"quantile": "high", "window": "fast", "consecutive": 5, "toleranse": 1},
        });
        let mut problems = Problems::default();
        let file = config_file(raw, &mut problems);
        let mut paths: Vec<&str> = problems.0.iter().map(|p| p.path.as_str()).collect();
        paths.sort_unstable();
        assert_eq!(paths, ["gate.quantile", "gate.toleranse", "gate.window"]);
        assert_eq!(file.gate.criterion.consecutive, 5);
        assert_eq!(file.gate.criterion.quantile, 0.99);
    }
}
