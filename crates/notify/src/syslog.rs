//! Syslog (RFC 5424): one message per alert, to a collector over UDP (RFC 5426), TCP with
//! octet counting (RFC 6587) or TLS (RFC 5425, which makes octet counting mandatory).
//!
//! `<PRI>1 TIMESTAMP HOSTNAME watchpost PROCID MSGID [watchpost@32473 …] BOM MSG`, with PRI =
//! facility × 8 + severity (critical → 2 crit, high → 3 err, medium → 4 warning, low → 5
//! notice, info → 6 info), MSGID the notice's kind (`FIRING`, `RESOLVED`…), and the alert's
//! facts as structured data a SIEM can index without parsing the text. 32473 is the
//! enterprise number IANA keeps for examples (RFC 5612); collectors match on the name.
//! TCP and TLS connections are kept and reopened once when the collector dropped them.

use crate::channel::{Channel, SendError};
use crate::render::{alert_line, headline};
use crate::template::{Template, for_alert, text_or};
use async_trait::async_trait;
use chrono::{DateTime, Utc};
use rustls::pki_types::ServerName;
use std::sync::Arc;
use std::time::Duration;
use tokio::io::{AsyncRead, AsyncReadExt, AsyncWrite, AsyncWriteExt};
use tokio::net::{TcpStream, UdpSocket};
use tokio::sync::Mutex;
use watchpost_alert::Notification;
use watchpost_alert::config::{ChannelConfig, SYSLOG_FACILITIES};
use watchpost_core::{Alert, Severity};

/// The structured-data id of our parameters.
pub const SD_ID: &str = "watchpost@32473";
/// Longest datagram sent over UDP (RFC 5426 asks receivers for at least 2,048 octets).
const MAX_UDP_MESSAGE: usize = 2048;
/// Longest message over TCP or TLS.
const MAX_STREAM_MESSAGE: usize = 64 * 1024;

/// A facility code by name.
pub fn facility_code(name: &str) -> Option<u8> {
    SYSLOG_FACILITIES
        .iter()
        .find(|(n, _)| *n == name)
        .map(|(_, code)| *code)
}

/// RFC 5424 severity for ours.
pub fn severity_code(s: Severity) -> u8 {
    match s {
        Severity::Critical => 2,
        Severity::High => 3,
        Severity::Medium => 4,
        Severity::Low => 5,
        Severity::Info => 6,
    }
}

/// Escapes a structured-data parameter value: `"`, `\` and `]` (RFC 5424 §6.3.3).
pub fn escape_param(value: &str) -> String {
    let mut out = String::with_capacity(value.len());
    for c in value.chars() {
        if matches!(c, '"' | '\\' | ']') {
            out.push('\\');
        }
        out.push(c);
    }
    out
}

/// A header field: printable US-ASCII only, at most `max` long, `-` when empty.
fn header_field(value: &str, max: usize) -> String {
    let clean: String = value
        .chars()
        .filter(|c| c.is_ascii_graphic())
        .take(max)
        .collect();
    if clean.is_empty() { "-".into() } else { clean }
}

/// One syslog message.
pub struct Record<'a> {
    pub facility: u8,
    pub severity: Severity,
    pub at: DateTime<Utc>,
    pub hostname: &'a str,
    pub procid: u32,
    pub msgid: &'a str,
    pub params: Vec<(&'static str, String)>,
    pub text: &'a str,
}

impl Record<'_> {
    /// The message in RFC 5424 syntax.
    pub fn format(&self) -> String {
        let pri = u16::from(self.facility) * 8 + u16::from(severity_code(self.severity));
        let mut sd = String::new();
        if self.params.is_empty() {
            sd.push('-');
        } else {
            sd.push('[');
            sd.push_str(SD_ID);
            for (name, value) in &self.params {
                sd.push_str(&format!(" {name}=\"{}\"", escape_param(value)));
            }
            sd.push(']');
        }
        format!(
            "<{pri}>1 {} {} watchpost {} {} {sd} \u{feff}{}",
            self.at.format("%Y-%m-%dT%H:%M:%S%.6fZ"),
            header_field(self.hostname, 255),
            self.procid,
            header_field(self.msgid, 32),
            self.text.replace(['\r', '\n'], " ")
        )
    }
}

/// The structured data of one alert.
fn alert_params(n: &Notification, a: &Alert) -> Vec<(&'static str, String)> {
    let mut p = vec![
        ("notice", n.id.to_string()),
        ("alert", a.id.to_string()),
        ("fingerprint", a.fingerprint.0.clone()),
        ("rule", a.rule_id.clone()),
        ("severity", a.severity.as_str().to_string()),
        ("status", a.status.as_str().to_string()),
        ("count", a.count.to_string()),
        ("receiver", n.receiver.clone()),
    ];
    if let Some(h) = &a.host {
        p.push(("host", h.clone()));
    }
    if let Some(ip) = &a.source_ip {
        p.push(("src", ip.clone()));
    }
    if let Some(c) = &a.category {
        p.push(("category", c.clone()));
    }
    p
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum Transport {
    Udp,
    Tcp,
    Tls,
}

/// A kept stream to the collector.
trait Connection: AsyncRead + AsyncWrite + Send + Unpin {}
impl<T: AsyncRead + AsyncWrite + Send + Unpin> Connection for T {}
type Stream = Box<dyn Connection>;

/// Whether the collector closed a kept stream. Collectors never write on a syslog stream,
/// so anything readable (the end of the stream, an error) means it is gone; without this
/// check the first message after a close would vanish into the dead socket's buffer.
async fn closed_by_peer(stream: &mut Stream) -> bool {
    let mut probe = [0u8; 64];
    matches!(
        tokio::time::timeout(Duration::ZERO, stream.read(&mut probe)).await,
        Ok(Ok(0) | Err(_))
    )
}

pub struct Syslog {
    address: String,
    transport: Transport,
    facility: u8,
    hostname: String,
    timeout: Duration,
    tls: Option<(tokio_rustls::TlsConnector, ServerName<'static>)>,
    stream: Mutex<Option<Stream>>,
    template: Option<Arc<Template>>,
}

impl Syslog {
    pub fn from_config(
        c: &ChannelConfig,
        template: Option<Arc<Template>>,
    ) -> Result<Syslog, String> {
        let address = c.address.clone().unwrap_or_default();
        let transport = match c.transport.as_deref().unwrap_or("udp") {
            "tcp" => Transport::Tcp,
            "tls" => Transport::Tls,
            _ => Transport::Udp,
        };
        let tls = if transport == Transport::Tls {
            let host = address.rsplit_once(':').map(|(h, _)| h).unwrap_or(&address);
            let host = host.trim_start_matches('[').trim_end_matches(']');
            let name = ServerName::try_from(host.to_string()).map_err(|e| {
                format!("address: `{host}` cannot be checked against a certificate: {e}")
            })?;
            let roots = match &c.ca_file {
                Some(path) => crate::tls::read_ca_file(path)?,
                None => Vec::new(),
            };
            let config = crate::tls::client_config(roots)?;
            Some((tokio_rustls::TlsConnector::from(config), name))
        } else {
            None
        };
        Ok(Syslog {
            address,
            transport,
            facility: c.facility.as_deref().and_then(facility_code).unwrap_or(10),
            hostname: watchpost_core::hostname().unwrap_or_default(),
            timeout: Duration::from_secs(c.timeout_seconds),
            tls,
            stream: Mutex::new(None),
            template,
        })
    }

    /// The messages for `n`: one per alert, or one for a notice about no alert (a digest,
    /// a silence ending).
    pub fn messages(&self, n: &Notification) -> Result<Vec<String>, SendError> {
        let msgid = n.kind.name().to_ascii_uppercase();
        let procid = std::process::id();
        let mut out = Vec::new();
        for a in &n.alerts {
            let one = for_alert(n, a);
            let text = text_or(self.template.as_deref(), &one, || alert_line(a))?;
            out.push(
                Record {
                    facility: self.facility,
                    severity: a.severity,
                    at: n.created_at,
                    hostname: &self.hostname,
                    procid,
                    msgid: &msgid,
                    params: alert_params(n, a),
                    text: &text,
                }
                .format(),
            );
        }
        if n.alerts.is_empty() {
            let text = text_or(self.template.as_deref(), n, || headline(n))?;
            out.push(
                Record {
                    facility: self.facility,
                    severity: Severity::Info,
                    at: n.created_at,
                    hostname: &self.hostname,
                    procid,
                    msgid: &msgid,
                    params: vec![
                        ("notice", n.id.to_string()),
                        ("receiver", n.receiver.clone()),
                    ],
                    text: &text,
                }
                .format(),
            );
        }
        Ok(out)
    }

    async fn send_udp(&self, messages: &[String]) -> Result<(), SendError> {
        let socket = UdpSocket::bind(if self.address.starts_with('[') {
            "[::]:0"
        } else {
            "0.0.0.0:0"
        })
        .await
        .map_err(|e| SendError::transient(format!("cannot open a UDP socket: {e}")))?;
        socket
            .connect(&self.address)
            .await
            .map_err(|e| SendError::transient(format!("{}: {e}", self.address)))?;
        for m in messages {
            let bytes = cut_at_char(m, MAX_UDP_MESSAGE);
            socket
                .send(bytes)
                .await
                .map_err(|e| SendError::transient(format!("{}: {e}", self.address)))?;
        }
        Ok(())
    }

    async fn connect(&self) -> Result<Stream, SendError> {
        let tcp = tokio::time::timeout(self.timeout, TcpStream::connect(&self.address))
            .await
            .map_err(|_| SendError::transient(format!("{}: connecting timed out", self.address)))?
            .map_err(|e| SendError::transient(format!("{}: {e}", self.address)))?;
        let _ = tcp.set_nodelay(true);
        match &self.tls {
            None => Ok(Box::new(tcp)),
            Some((connector, name)) => {
                let tls = tokio::time::timeout(self.timeout, connector.connect(name.clone(), tcp))
                    .await
                    .map_err(|_| {
                        SendError::transient(format!("{}: TLS handshake timed out", self.address))
                    })?
                    .map_err(|e| {
                        SendError::permanent(format!("{}: TLS failed: {e}", self.address))
                    })?;
                Ok(Box::new(tls))
            }
        }
    }

    /// Writes octet-counted frames on the kept stream, reconnecting once if it broke.
    async fn send_stream(&self, messages: &[String]) -> Result<(), SendError> {
        let mut frames = Vec::new();
        for m in messages {
            let bytes = cut_at_char(m, MAX_STREAM_MESSAGE);
            frames.extend_from_slice(format!("{} ", bytes.len()).as_bytes());
            frames.extend_from_slice(bytes);
        }
        let mut kept = self.stream.lock().await;
        if let Some(stream) = kept.as_mut()
            && closed_by_peer(stream).await
        {
            *kept = None;
        }
        for attempt in 0..2 {
            if kept.is_none() {
                *kept = Some(self.connect().await?);
            }
            let Some(stream) = kept.as_mut() else {
                continue;
            };
            let written = tokio::time::timeout(self.timeout, async {
                stream.write_all(&frames).await?;
                stream.flush().await
            })
            .await;
            match written {
                Ok(Ok(())) => return Ok(()),
                Ok(Err(e)) if attempt == 0 => {
                    tracing::debug!(error = %e, address = %self.address, "syslog stream broke; reconnecting");
                    *kept = None;
                }
                Ok(Err(e)) => {
                    *kept = None;
                    return Err(SendError::transient(format!("{}: {e}", self.address)));
                }
                Err(_) => {
                    *kept = None;
                    return Err(SendError::transient(format!(
                        "{}: writing timed out",
                        self.address
                    )));
                }
            }
        }
        Err(SendError::transient(format!(
            "{}: cannot write",
            self.address
        )))
    }
}

/// At most `max` bytes of `text`, cut on a character boundary.
fn cut_at_char(text: &str, max: usize) -> &[u8] {
    let mut end = text.len().min(max);
    while !text.is_char_boundary(end) {
        end -= 1;
    }
    &text.as_bytes()[..end]
}

#[async_trait]
impl Channel for Syslog {
    fn kind(&self) -> &'static str {
        "syslog"
    }

    async fn send(&self, n: &Notification) -> Result<String, SendError> {
        let messages = self.messages(n)?;
        match self.transport {
            Transport::Udp => self.send_udp(&messages).await?,
            Transport::Tcp | Transport::Tls => self.send_stream(&messages).await?,
        }
        Ok(format!("{} message(s) to {}", messages.len(), self.address))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_record_follows_rfc_5424() {
        let at = DateTime::parse_from_rfc3339("2026-01-01T00:00:00.123Z")
            .unwrap()
            .with_timezone(&Utc);
        let r = Record {
            facility: 20,
            severity: Severity::High,
            at,
            hostname: "web 1",
            procid: 4242,
            msgid: "FIRING",
            params: vec![
                ("rule", "942100".into()),
                ("title", "a \"b\" [c] \\d".into()),
            ],
            text: "SQL injection\nattempt",
        };
        assert_eq!(
            r.format(),
            "<163>1 2026-01-01T00:00:00.123000Z web1 watchpost 4242 FIRING \
             [watchpost@32473 rule=\"942100\" title=\"a \\\"b\\\" [c\\] \\\\d\"] \u{feff}SQL injection attempt"
        );
    }
}
