//! [`FlatEvent`]: an event as the matcher sees it, a flat list of named text values.

/// An event flattened for matching: Windows routing keys plus `(name, value, lowercase
/// value)` triples. Values are lowercased once here so that every case-insensitive
/// comparison against it is a plain byte comparison.
#[derive(Debug, Clone, Default)]
pub struct FlatEvent {
    /// The Windows channel (`Security`, `Microsoft-Windows-Sysmon/Operational`), if any.
    pub channel: Option<String>,
    pub event_id: Option<u32>,
    fields: Vec<(String, String, String)>,
}

impl FlatEvent {
    /// An empty Windows event from `channel` with `event_id`; its `EventID` and `Channel`
    /// fields are set too, since rules test them.
    pub fn windows(channel: &str, event_id: u32) -> FlatEvent {
        let mut e = FlatEvent {
            channel: Some(channel.to_string()),
            event_id: Some(event_id),
            fields: Vec::new(),
        };
        e.push("EventID", &event_id.to_string());
        e.push("Channel", channel);
        e
    }

    /// Adds a field. A name seen twice keeps both values; the first is used for matching.
    pub fn push(&mut self, name: &str, value: &str) {
        self.fields
            .push((name.to_string(), value.to_string(), value.to_lowercase()));
    }

    /// The value of `name` as written and lowercased; exact name first, then ignoring case.
    pub fn get(&self, name: &str) -> Option<(&str, &str)> {
        self.fields
            .iter()
            .find(|(n, ..)| n == name)
            .or_else(|| {
                self.fields
                    .iter()
                    .find(|(n, ..)| n.eq_ignore_ascii_case(name))
            })
            .map(|(_, v, l)| (v.as_str(), l.as_str()))
    }

    /// Every field as `(name, value)`.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(n, v, _)| (n.as_str(), v.as_str()))
    }

    pub(crate) fn lowered_values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields.iter().map(|(_, v, l)| (v.as_str(), l.as_str()))
    }
}
