//! The email channel against a real SMTP server (aiosmtpd, started by each test) that
//! requires TLS and AUTH: STARTTLS and implicit TLS, the text and HTML parts as Python's
//! email package reads them, threading per group, and the clear errors of bad credentials
//! and an untrusted certificate.
//!
//! Needs `python3` with `aiosmtpd` (`pip install aiosmtpd`) and `openssl`; without them the
//! tests say they are skipped, and under `CI=true` they fail.

mod common;

use common::{alert, deliver_all, notice};
use serde_json::Value;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::Duration;
use watchpost_alert::NotificationKind;
use watchpost_alert::config::ChannelConfig;
use watchpost_core::{AlertStatus, Severity};
use watchpost_notify::Channel;
use watchpost_notify::email::Email;
use watchpost_store::DeliveryStatus;

const USER: &str = "watchpost";
const PASSWORD: &str = "correct horse";

/// Whether the SMTP server can run here; says why not when it cannot.
fn server_available() -> bool {
    let ok = Command::new("python3")
        .args(["-c", "import aiosmtpd"])
        .stderr(Stdio::null())
        .status()
        .is_ok_and(|s| s.success());
    if !ok {
        assert!(
            std::env::var("CI").as_deref() != Ok("true"),
            "python3 with aiosmtpd is required under CI=true (pip install aiosmtpd)"
        );
        eprintln!("skipped: python3 with aiosmtpd is missing (pip install aiosmtpd)");
    }
    ok
}

/// An SMTP server and where it writes what it accepts; stopped when dropped.
struct SmtpServer {
    child: Child,
    port: u16,
    out: PathBuf,
    /// The CA that signed the server's certificate (an operator's internal CA).
    ca: PathBuf,
    _dir: tempfile::TempDir,
}

impl Drop for SmtpServer {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

impl SmtpServer {
    fn start(mode: &str) -> SmtpServer {
        let dir = tempfile::tempdir().unwrap();
        let watchpost_testkit::TestCertificates { ca, cert, key } =
            watchpost_testkit::test_certificates(dir.path());
        let out = dir.path().join("mail");
        std::fs::create_dir(&out).unwrap();
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let script = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/smtp_server.py");
        let mut child = Command::new("python3")
            .arg(script)
            .arg(port.to_string())
            .arg(mode)
            .arg(&cert)
            .arg(&key)
            .args([USER, PASSWORD])
            .arg(&out)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .spawn()
            .unwrap();
        let mut line = String::new();
        std::io::BufRead::read_line(
            &mut std::io::BufReader::new(child.stdout.take().unwrap()),
            &mut line,
        )
        .unwrap();
        assert_eq!(line.trim(), "ready", "the SMTP server did not start");
        SmtpServer {
            child,
            port,
            out,
            ca,
            _dir: dir,
        }
    }

    fn channel(&self, security: &str, password: &str) -> ChannelConfig {
        ChannelConfig {
            name: "mail".into(),
            kind: "email".into(),
            smtp_host: Some("localhost".into()),
            smtp_port: Some(self.port),
            smtp_security: Some(security.into()),
            username: Some(USER.into()),
            password: Some(password.into()),
            from: Some("Watchpost <watchpost@example.org>".into()),
            to: vec!["soc@example.org".into(), "oncall@example.org".into()],
            ca_file: Some(self.ca.clone()),
            max_attempts: 3,
            ..ChannelConfig::default()
        }
    }

    /// The messages accepted so far, in order.
    fn received(&self) -> Vec<Value> {
        let mut files: Vec<_> = std::fs::read_dir(&self.out)
            .unwrap()
            .map(|e| e.unwrap().path())
            .filter(|p| p.extension().is_some_and(|x| x == "json"))
            .collect();
        files.sort();
        files
            .iter()
            .map(|p| serde_json::from_slice(&std::fs::read(p).unwrap()).unwrap())
            .collect()
    }
}

fn part<'a>(message: &'a Value, content_type: &str) -> &'a str {
    message["parts"]
        .as_array()
        .unwrap()
        .iter()
        .find(|p| p["type"] == content_type)
        .and_then(|p| p["text"].as_str())
        .unwrap_or_else(|| panic!("no {content_type} part in {message}"))
}

#[tokio::test]
async fn starttls_with_auth_delivers_text_and_html_threaded_per_group() {
    if !server_available() {
        return;
    }
    let server = SmtpServer::start("starttls");
    let email = Email::from_config(&server.channel("starttls", PASSWORD), None, None).unwrap();
    let mut shell = alert("Reverse shell <script>", Severity::Critical);
    let firing = notice("mail", NotificationKind::Firing, vec![shell.clone()]);
    email.send(&firing).await.unwrap();
    shell.status = AlertStatus::Resolved;
    let resolved = notice("mail", NotificationKind::Resolved, vec![shell]);
    let said = email.send(&resolved).await.unwrap();
    assert!(said.starts_with("SMTP 250"), "{said}");

    let got = server.received();
    assert_eq!(got.len(), 2);
    for (m, n) in got.iter().zip([&firing, &resolved]) {
        assert_eq!(m["tls"], true, "sent before STARTTLS");
        assert_eq!(m["login"], USER);
        assert_eq!(m["mail_from"], "watchpost@example.org");
        assert_eq!(
            m["rcpt_tos"],
            serde_json::json!(["soc@example.org", "oncall@example.org"])
        );
        let h = &m["headers"];
        assert_eq!(h["from"], "Watchpost <watchpost@example.org>");
        assert_eq!(h["message-id"], format!("<{}@example.org>", n.id));
        assert!(
            h["content-type"]
                .as_str()
                .unwrap()
                .starts_with("multipart/alternative")
        );
        assert!(part(m, "text/plain").contains("Reverse shell <script>"));
        let html = part(m, "text/html");
        assert!(html.contains("Reverse shell &lt;script&gt;"), "{html}");
        assert!(!html.contains("<script>"));
    }
    assert_eq!(
        got[0]["headers"]["subject"],
        "[FIRING CRITICAL] Reverse shell <script> on web-1"
    );
    assert_eq!(
        got[1]["headers"]["subject"],
        "[RESOLVED] Reverse shell <script> on web-1"
    );
    // One thread: both refer to the same group id, which is not either message's own.
    let thread = got[0]["headers"]["in-reply-to"].as_str().unwrap();
    assert!(thread.starts_with("<group-"), "{thread}");
    assert_eq!(got[1]["headers"]["in-reply-to"], thread);
    assert_eq!(got[0]["headers"]["references"], thread);
    assert_eq!(got[1]["headers"]["references"], thread);
}

#[tokio::test]
async fn implicit_tls_and_custom_templates() {
    if !server_available() {
        return;
    }
    let server = SmtpServer::start("tls");
    let dir = tempfile::tempdir().unwrap();
    let text = dir.path().join("mail.txt.j2");
    std::fs::write(
        &text,
        "{{ kind | upper }}: {% for a in alerts %}{{ a.title }} x{{ a.count }}{% endfor %}",
    )
    .unwrap();
    let html = dir.path().join("mail.html.j2");
    std::fs::write(
        &html,
        "<b>{{ alerts[0].title }}</b> on {{ alerts[0].host }}",
    )
    .unwrap();
    let mut config = server.channel("tls", PASSWORD);
    config.template = Some(text);
    config.html_template = Some(html);
    let store_db = watchpost_store::testing::sqlite();
    let store = store_db.open().await;
    let n = notice(
        "mail",
        NotificationKind::Firing,
        vec![alert("Crontab <edit>", Severity::High)],
    );
    deliver_all(&store, &[config], std::slice::from_ref(&n)).await;
    let sent = store.get_notification(n.id).await.unwrap().unwrap();
    assert_eq!(sent.entry.status, DeliveryStatus::Sent, "{sent:?}");

    let got = server.received();
    assert_eq!(got.len(), 1);
    assert_eq!(got[0]["tls"], true);
    assert_eq!(
        part(&got[0], "text/plain").trim(),
        "FIRING: Crontab <edit> x1"
    );
    assert_eq!(
        part(&got[0], "text/html").trim(),
        "<b>Crontab &lt;edit&gt;</b> on web-1"
    );
}

#[tokio::test]
async fn bad_credentials_are_a_clear_error_and_not_retried() {
    if !server_available() {
        return;
    }
    let server = SmtpServer::start("starttls");
    let store_db = watchpost_store::testing::sqlite();
    let store = store_db.open().await;
    let n = notice(
        "mail",
        NotificationKind::Firing,
        vec![alert("Shell", Severity::Critical)],
    );
    deliver_all(
        &store,
        &[server.channel("starttls", "wrong password")],
        std::slice::from_ref(&n),
    )
    .await;
    let dead = store.get_notification(n.id).await.unwrap().unwrap();
    assert_eq!(
        dead.entry.status,
        DeliveryStatus::Dead,
        "{:?}",
        dead.entry.last_error
    );
    assert_eq!(
        dead.entry.attempts, 1,
        "a refusal of credentials is not retried"
    );
    let error = dead.entry.last_error.unwrap();
    assert!(
        error.contains(&format!(
            "localhost:{}: the SMTP server refused the credentials of `watchpost`",
            server.port
        )) && error.contains("535"),
        "{error}"
    );
    assert!(server.received().is_empty());
}

#[tokio::test]
async fn an_untrusted_certificate_is_refused_before_anything_is_sent() {
    if !server_available() {
        return;
    }
    let server = SmtpServer::start("starttls");
    let mut config = server.channel("starttls", PASSWORD);
    config.ca_file = None;
    let email = Email::from_config(&config, None, None).unwrap();
    let n = notice(
        "mail",
        NotificationKind::Firing,
        vec![alert("Shell", Severity::Critical)],
    );
    let err = tokio::time::timeout(Duration::from_secs(30), email.send(&n))
        .await
        .unwrap()
        .unwrap_err();
    assert!(!err.retryable);
    assert!(err.message.contains("TLS failed"), "{}", err.message);
    assert!(server.received().is_empty());
}
