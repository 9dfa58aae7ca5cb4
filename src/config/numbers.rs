//! The merged configuration as JSON values, refusing numbers JSON cannot hold. YAML's `1e999`,
//! `.inf` and `.nan`, TOML's `inf` and `nan`, and an override such as `WARMGATE_TRAFFIC__RATE=inf`
//! all arrive as non-finite floats; a plain `serde_json::Value` turns them into null, which
//! reads as "not set" and silently yields the default.

use std::fmt;

use serde::de::{self, DeserializeSeed, MapAccess, SeqAccess, Visitor};
use serde::{Deserialize, Deserializer};
use serde_json::{Map, Number, Value};

/// A JSON value read from any self-describing format, whose every number is finite. (The
/// `config` crate adds the key path to the message: "for key `traffic.rate`".)
pub(super) struct Finite(pub Value);

impl<'de> Deserialize<'de> for Finite {
    fn deserialize<D: Deserializer<'de>>(d: D) -> Result<Finite, D::Error> {
        Node.deserialize(d).map(Finite)
    }
}

/// One value, read as JSON.
struct Node;

impl<'de> DeserializeSeed<'de> for Node {
    type Value = Value;

    fn deserialize<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        d.deserialize_any(self)
    }
}

impl<'de> Visitor<'de> for Node {
    type Value = Value;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a configuration value")
    }

    fn visit_bool<E>(self, v: bool) -> Result<Value, E> {
        Ok(Value::Bool(v))
    }

    fn visit_i64<E>(self, v: i64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_u64<E>(self, v: u64) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_f64<E: de::Error>(self, v: f64) -> Result<Value, E> {
        Number::from_f64(v)
            .map(Value::Number)
            .ok_or_else(|| E::custom(format!("{v} is not a finite number")))
    }

    fn visit_str<E>(self, v: &str) -> Result<Value, E> {
        Ok(Value::from(v))
    }

    fn visit_string<E>(self, v: String) -> Result<Value, E> {
        Ok(Value::String(v))
    }

    fn visit_unit<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_none<E>(self) -> Result<Value, E> {
        Ok(Value::Null)
    }

    fn visit_some<D: Deserializer<'de>>(self, d: D) -> Result<Value, D::Error> {
        self.deserialize(d)
    }

    fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Value, A::Error> {
        let mut items = Vec::new();
        while let Some(item) = seq.next_element_seed(Node)? {
            items.push(item);
        }
        Ok(Value::Array(items))
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Value, A::Error> {
        let mut out = Map::new();
        while let Some(key) = map.next_key::<String>()? {
            let value = map.next_value_seed(Node)?;
            out.insert(key, value);
        }
        Ok(Value::Object(out))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn non_finite_numbers_are_refused() {
        let ok: Finite = serde_json::from_str(r#"{"a": [1, 2.5, "x", null, true]}"#).expect("ok");
        assert_eq!(ok.0["a"][1], Value::from(2.5));
        // JSON text cannot spell infinity: a one-key map of an f64 stands in for YAML and TOML.
        use serde::de::value::{Error, MapDeserializer};
        let inner = MapDeserializer::<_, Error>::new([("rate", f64::INFINITY)].into_iter());
        let e = Node
            .deserialize(inner)
            .err()
            .map(|e| e.to_string())
            .unwrap_or_default();
        assert!(e.contains("inf is not a finite number"), "{e}");
    }
}
