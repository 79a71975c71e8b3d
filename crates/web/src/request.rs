//! The request profile the engine inspects: what a proxy, the tower layer or the analyze
//! endpoint knows about one HTTP request.

use serde::{Deserialize, Serialize};

/// One HTTP request. `path` and `query` are in wire form (percent-encoded as sent, the
/// query without its `?`); the engine decodes them.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
#[serde(default)]
pub struct Request {
    pub method: String,
    pub path: String,
    pub query: String,
    /// Header names and values in the order they arrived.
    #[serde(with = "header_list")]
    pub headers: Vec<(String, String)>,
    /// The body as text (bodies that are not UTF-8 are passed through lossily).
    pub body: String,
}

impl Request {
    /// The first value of header `name` (case-insensitive).
    pub fn header(&self, name: &str) -> Option<&str> {
        self.headers
            .iter()
            .find(|(n, _)| n.eq_ignore_ascii_case(name))
            .map(|(_, v)| v.as_str())
    }
}

/// Headers as a JSON object (`{"Host": "…"}`, the analyze endpoint and corpus format) or a
/// list of pairs (which keeps repeated headers).
mod header_list {
    use serde::de::{Deserializer, MapAccess, SeqAccess, Visitor};
    use serde::ser::{SerializeMap, Serializer};

    pub fn serialize<S: Serializer>(headers: &[(String, String)], s: S) -> Result<S::Ok, S::Error> {
        let mut map = s.serialize_map(Some(headers.len()))?;
        for (k, v) in headers {
            map.serialize_entry(k, v)?;
        }
        map.end()
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<Vec<(String, String)>, D::Error> {
        struct Headers;
        impl<'de> Visitor<'de> for Headers {
            type Value = Vec<(String, String)>;
            fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
                f.write_str("an object of header names and values, or a list of [name, value]")
            }
            fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some((k, v)) = map.next_entry::<String, String>()? {
                    out.push((k, v));
                }
                Ok(out)
            }
            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Self::Value, A::Error> {
                let mut out = Vec::new();
                while let Some(pair) = seq.next_element::<(String, String)>()? {
                    out.push(pair);
                }
                Ok(out)
            }
        }
        d.deserialize_any(Headers)
    }
}
