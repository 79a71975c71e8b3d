//! Email over SMTP: a text and an HTML part, threaded per alert group.
//!
//! Security follows RFC 8314 and RFC 6409: `starttls` (port 587; the connection must
//! upgrade before credentials or mail are sent, so a downgrade is refused), `tls` (implicit
//! TLS, port 465) or `none` (a relay on this host, and then no credentials). Every notice of
//! one group for one receiver carries the same `In-Reply-To`/`References`, so mail clients
//! show a group's firing, acknowledged and resolved notices as one thread.

use crate::channel::{Channel, SendError};
use crate::render::{clip, headline, html_body, text_body};
use crate::template::{Template, text_or};
use async_trait::async_trait;
use lettre::message::{Mailbox, MultiPart};
use lettre::transport::smtp::authentication::Credentials;
use lettre::transport::smtp::client::{Certificate, Tls, TlsParameters};
use lettre::{AsyncSmtpTransport, AsyncTransport, Message, Tokio1Executor};
use sha2::{Digest, Sha256};
use std::sync::Arc;
use std::time::Duration;
use watchpost_alert::Notification;
use watchpost_alert::config::ChannelConfig;

/// Longest subject line.
const MAX_SUBJECT: usize = 200;

pub struct Email {
    transport: AsyncSmtpTransport<Tokio1Executor>,
    from: Mailbox,
    to: Vec<Mailbox>,
    /// `host:port`, for error messages.
    server: String,
    username: Option<String>,
    text_template: Option<Arc<Template>>,
    html_template: Option<Arc<Template>>,
}

impl Email {
    /// Builds the channel from its (validated) configuration.
    pub fn from_config(
        c: &ChannelConfig,
        text_template: Option<Arc<Template>>,
        html_template: Option<Arc<Template>>,
    ) -> Result<Email, String> {
        let _ = rustls::crypto::ring::default_provider().install_default();
        let host = c.smtp_host.clone().unwrap_or_default();
        let security = c.smtp_security.as_deref().unwrap_or("starttls");
        let port = c.smtp_port.unwrap_or(match security {
            "tls" => 465,
            "none" => 25,
            _ => 587,
        });
        let tls = match security {
            "none" => Tls::None,
            _ => {
                let mut params = TlsParameters::builder(host.clone());
                if let Some(path) = &c.ca_file {
                    for der in crate::tls::read_ca_file(path)? {
                        let cert = Certificate::from_der(der.to_vec())
                            .map_err(|e| format!("ca_file {}: {e}", path.display()))?;
                        params = params.add_root_certificate(cert);
                    }
                }
                let params = params
                    .build_rustls()
                    .map_err(|e| format!("TLS settings for {host}: {e}"))?;
                if security == "tls" {
                    Tls::Wrapper(params)
                } else {
                    Tls::Required(params)
                }
            }
        };
        let mut builder = AsyncSmtpTransport::<Tokio1Executor>::builder_dangerous(host.clone())
            .port(port)
            .tls(tls)
            .timeout(Some(Duration::from_secs(c.timeout_seconds)));
        if let (Some(user), Some(password)) = (&c.username, &c.password) {
            builder = builder.credentials(Credentials::new(
                user.clone(),
                password.expose().to_string(),
            ));
        }
        let from: Mailbox = c.from.as_deref().unwrap_or_default().parse().map_err(|e| {
            format!(
                "from: `{}` is not an address: {e}",
                c.from.as_deref().unwrap_or("")
            )
        })?;
        let to =
            c.to.iter()
                .enumerate()
                .map(|(i, a)| {
                    a.parse::<Mailbox>()
                        .map_err(|e| format!("to[{i}]: `{a}` is not an address: {e}"))
                })
                .collect::<Result<Vec<_>, _>>()?;
        Ok(Email {
            transport: builder.build(),
            from,
            to,
            server: format!("{host}:{port}"),
            username: c.username.clone(),
            text_template,
            html_template,
        })
    }

    /// The message for `n`.
    pub fn message(&self, n: &Notification) -> Result<Message, SendError> {
        let domain = self.from.email.domain().to_string();
        let thread = format!("<{}@{domain}>", thread_id(&n.receiver, &n.group_key));
        let text = text_or(self.text_template.as_deref(), n, || text_body(n))?;
        let html = text_or(self.html_template.as_deref(), n, || html_body(n))?;
        let subject = clip(&headline(n).replace(['\r', '\n'], " "), MAX_SUBJECT);
        let mut builder = Message::builder()
            .from(self.from.clone())
            .subject(subject)
            .message_id(Some(format!("<{}@{domain}>", n.id)))
            .in_reply_to(thread.clone())
            .references(thread);
        for to in &self.to {
            builder = builder.to(to.clone());
        }
        builder
            .multipart(MultiPart::alternative_plain_html(text, html))
            .map_err(|e| SendError::permanent(format!("cannot build the message: {e}")))
    }

    /// Turns an SMTP failure into a message that says what to fix.
    fn failure(&self, e: lettre::transport::smtp::Error) -> SendError {
        let code = e.status().map(|c| c.to_string());
        if matches!(code.as_deref(), Some("535" | "534" | "530" | "538")) {
            return SendError::permanent(format!(
                "{}: the SMTP server refused the credentials of `{}` ({e})",
                self.server,
                self.username.as_deref().unwrap_or("")
            ));
        }
        if let Some(tls) = tls_failure(&e) {
            return SendError::permanent(format!("{}: TLS failed: {tls}", self.server));
        }
        if e.is_permanent() {
            return SendError::permanent(format!("{}: the SMTP server refused: {e}", self.server));
        }
        if e.is_timeout() {
            return SendError::transient(format!("{}: timed out", self.server));
        }
        SendError::transient(format!("{}: {e}", self.server))
    }
}

/// The TLS failure behind `e`, if that is what it was: lettre reports a refused
/// certificate as a connection error whose I/O error wraps the rustls error.
fn tls_failure(e: &lettre::transport::smtp::Error) -> Option<String> {
    if e.is_tls() {
        return Some(e.to_string());
    }
    let mut source: Option<&(dyn std::error::Error + 'static)> = std::error::Error::source(e);
    while let Some(s) = source {
        if let Some(tls) = s.downcast_ref::<rustls::Error>() {
            return Some(tls.to_string());
        }
        if let Some(tls) = s
            .downcast_ref::<std::io::Error>()
            .and_then(|io| io.get_ref())
            .and_then(|inner| inner.downcast_ref::<rustls::Error>())
        {
            return Some(tls.to_string());
        }
        source = s.source();
    }
    None
}

/// The id every notice of one group for one receiver refers to.
pub fn thread_id(receiver: &str, group_key: &str) -> String {
    let digest = Sha256::new()
        .chain_update(receiver.as_bytes())
        .chain_update([0])
        .chain_update(group_key.as_bytes())
        .finalize();
    format!("group-{}", watchpost_core::hex(&digest[..16]))
}

#[async_trait]
impl Channel for Email {
    fn kind(&self) -> &'static str {
        "email"
    }

    async fn send(&self, n: &Notification) -> Result<String, SendError> {
        let message = self.message(n)?;
        let response = self
            .transport
            .send(message)
            .await
            .map_err(|e| self.failure(e))?;
        let said = response.message().collect::<Vec<_>>().join(" ");
        Ok(format!("SMTP {} {said}", response.code()))
    }
}
