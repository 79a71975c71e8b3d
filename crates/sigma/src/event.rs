//! [`FlatEvent`]: an event as the matcher sees it, a flat list of named text values.

/// One field: name and value as written, and both lowercased.
#[derive(Debug, Clone)]
struct Field {
    name: String,
    value: String,
    lower_name: String,
    lower_value: String,
}

/// An event flattened for matching: Windows routing keys plus named text values. Values
/// and names are lowercased once here so that every case-insensitive comparison against
/// the event is a plain byte comparison.
#[derive(Debug, Clone, Default)]
pub struct FlatEvent {
    /// The Windows channel (`Security`, `Microsoft-Windows-Sysmon/Operational`), if any.
    pub channel: Option<String>,
    pub event_id: Option<u32>,
    /// For other events, the source a reader recognised ([`crate::sources`]); events with
    /// neither a channel nor a source are offered to every rule that is not for Windows.
    pub source: Option<&'static str>,
    fields: Vec<Field>,
}

impl FlatEvent {
    /// An empty Windows event from `channel` with `event_id`; its `EventID` and `Channel`
    /// fields are set too, since rules test them.
    pub fn windows(channel: &str, event_id: u32) -> FlatEvent {
        let mut e = FlatEvent {
            channel: Some(channel.to_string()),
            event_id: Some(event_id),
            ..FlatEvent::default()
        };
        e.push("EventID", &event_id.to_string());
        e.push("Channel", channel);
        e
    }

    /// An empty event from a recognised non-Windows `source` ([`crate::sources`]).
    pub fn from_source(source: &'static str) -> FlatEvent {
        FlatEvent {
            source: Some(source),
            ..FlatEvent::default()
        }
    }

    /// Adds a field. A name seen twice keeps both values; the first is used for matching.
    pub fn push(&mut self, name: &str, value: &str) {
        self.fields.push(Field {
            name: name.to_string(),
            value: value.to_string(),
            lower_name: name.to_ascii_lowercase(),
            lower_value: value.to_lowercase(),
        });
    }

    /// The value of `name` as written and lowercased; exact name first, then ignoring case.
    pub fn get(&self, name: &str) -> Option<(&str, &str)> {
        self.fields
            .iter()
            .find(|f| f.name == name)
            .or_else(|| {
                self.fields
                    .iter()
                    .find(|f| f.name.eq_ignore_ascii_case(name))
            })
            .map(|f| (f.value.as_str(), f.lower_value.as_str()))
    }

    /// Every value of `name` (a field such as the unnamed `Data` of Application events can
    /// repeat), as written and lowercased; exact name first, then ignoring case.
    pub(crate) fn get_all<'a>(
        &'a self,
        name: &'a str,
    ) -> impl Iterator<Item = (&'a str, &'a str)> + 'a {
        let exact = self.fields.iter().any(|f| f.name == name);
        self.fields
            .iter()
            .filter(move |f| {
                if exact {
                    f.name == name
                } else {
                    f.name.eq_ignore_ascii_case(name)
                }
            })
            .map(|f| (f.value.as_str(), f.lower_value.as_str()))
    }

    /// Every field as `(name, value)`.
    pub fn fields(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|f| (f.name.as_str(), f.value.as_str()))
    }

    /// `(value, lowercase value)` of every field, for keyword searches.
    pub(crate) fn lowered_values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|f| (f.value.as_str(), f.lower_value.as_str()))
    }

    /// `(lowercase name, lowercase value)` of every field, for the prefilter.
    pub(crate) fn lowered_names_values(&self) -> impl Iterator<Item = (&str, &str)> {
        self.fields
            .iter()
            .map(|f| (f.lower_name.as_str(), f.lower_value.as_str()))
    }
}
