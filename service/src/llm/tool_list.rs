//! [`ToolList`]: the `tools` array of an upstream request. The server's own tool definitions are
//! encoded to JSON once per process ([`SharedTools`]) and copied into every request body as they
//! are, instead of being rebuilt and cloned per turn; each request adds its client-declared
//! definitions after them and may leave server tools out (a client tool of the same name
//! replaces the server's). Building the definitions belongs to the tools; sending them to
//! `client.rs`.

use std::sync::Arc;

use serde::ser::SerializeSeq;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use serde_json::value::RawValue;

use super::wire::ToolDefinition;

/// Tool definitions encoded once and shared by every request of the process.
#[derive(Debug)]
pub struct SharedTools {
    names: Vec<String>,
    encoded: Vec<Box<RawValue>>,
}

impl SharedTools {
    /// Encodes `definitions` (in order) once.
    pub fn new(definitions: &[ToolDefinition]) -> Result<Self, serde_json::Error> {
        let encoded = definitions
            .iter()
            .map(serde_json::value::to_raw_value)
            .collect::<Result<Vec<_>, _>>()?;
        Ok(SharedTools {
            names: definitions
                .iter()
                .map(|tool| tool.function.name.clone())
                .collect(),
            encoded,
        })
    }

    /// The tool names, in definition order.
    pub fn names(&self) -> impl Iterator<Item = &str> {
        self.names.iter().map(String::as_str)
    }
}

/// The `tools` of one request: shared server definitions (minus the ones this request leaves
/// out), then the request's own. Cloning it copies only the request's own definitions.
#[derive(Debug, Clone, Default)]
pub struct ToolList {
    shared: Option<Arc<SharedTools>>,
    /// Indices into `shared` of definitions this request does not send.
    omitted: Vec<usize>,
    own: Vec<ToolDefinition>,
}

impl ToolList {
    /// The shared definitions, except those whose name `omit` returns true for.
    pub fn shared(tools: Arc<SharedTools>, omit: impl Fn(&str) -> bool) -> Self {
        let omitted = tools
            .names()
            .enumerate()
            .filter(|(_, name)| omit(name))
            .map(|(index, _)| index)
            .collect();
        ToolList {
            shared: Some(tools),
            omitted,
            own: Vec::new(),
        }
    }

    /// Adds definitions after the shared ones.
    pub fn extend(&mut self, definitions: impl IntoIterator<Item = ToolDefinition>) {
        self.own.extend(definitions);
    }

    /// How many definitions are sent.
    pub fn len(&self) -> usize {
        let shared = self
            .shared
            .as_ref()
            .map_or(0, |tools| tools.encoded.len() - self.omitted.len());
        shared + self.own.len()
    }

    /// True when no definition is sent (the `tools` key is then left out of the request).
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn shared_encoded(&self) -> impl Iterator<Item = &RawValue> {
        self.shared.iter().flat_map(|tools| {
            tools
                .encoded
                .iter()
                .enumerate()
                .filter(|(index, _)| !self.omitted.contains(index))
                .map(|(_, raw)| &**raw)
        })
    }
}

impl From<Vec<ToolDefinition>> for ToolList {
    fn from(own: Vec<ToolDefinition>) -> Self {
        ToolList {
            shared: None,
            omitted: Vec::new(),
            own,
        }
    }
}

impl Serialize for ToolList {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut seq = serializer.serialize_seq(Some(self.len()))?;
        for raw in self.shared_encoded() {
            seq.serialize_element(raw)?;
        }
        for definition in &self.own {
            seq.serialize_element(definition)?;
        }
        seq.end()
    }
}

impl<'de> Deserialize<'de> for ToolList {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        Vec::<ToolDefinition>::deserialize(deserializer).map(ToolList::from)
    }
}

impl PartialEq for ToolList {
    /// Equal when they send the same JSON.
    fn eq(&self, other: &Self) -> bool {
        serde_json::to_value(self).ok() == serde_json::to_value(other).ok()
    }
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;

    fn tool(name: &str) -> ToolDefinition {
        ToolDefinition::function(name, format!("{name} tool"), json!({"type": "object"}))
    }

    #[test]
    fn shared_definitions_are_sent_as_encoded_then_the_requests_own() {
        let shared = Arc::new(SharedTools::new(&[tool("a"), tool("b"), tool("c")]).unwrap());
        let mut list = ToolList::shared(shared, |name| name == "b");
        list.extend([tool("b"), tool("d")]);
        assert_eq!(list.len(), 4);
        let sent = serde_json::to_value(&list).unwrap();
        let expected =
            serde_json::to_value(vec![tool("a"), tool("c"), tool("b"), tool("d")]).unwrap();
        assert_eq!(sent, expected);
        assert_eq!(
            list,
            ToolList::from(vec![tool("a"), tool("c"), tool("b"), tool("d")])
        );
    }

    #[test]
    fn empty_lists_and_round_trip() {
        assert!(ToolList::default().is_empty());
        let shared = Arc::new(SharedTools::new(&[tool("a")]).unwrap());
        assert!(ToolList::shared(shared, |_| true).is_empty());
        let parsed: ToolList = serde_json::from_value(json!([
            {"type": "function", "function": {"name": "x", "parameters": {}}}
        ]))
        .unwrap();
        assert_eq!(parsed.len(), 1);
    }
}
