//! The syslog channel against local collectors: UDP datagrams, TCP and TLS streams with
//! octet counting, each message checked against RFC 5424's grammar.

mod common;

use common::{alert, notice};
use regex::Regex;
use rustls::pki_types::pem::PemObject;
use rustls::pki_types::{CertificateDer, PrivateKeyDer};
use std::collections::BTreeMap;
use std::sync::Arc;
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;
use watchpost_alert::NotificationKind;
use watchpost_alert::config::ChannelConfig;
use watchpost_core::{Alert, Severity};
use watchpost_notify::Channel;
use watchpost_notify::syslog::Syslog;

/// One message taken apart by RFC 5424's grammar (section 6).
#[derive(Debug)]
struct Parsed {
    pri: u16,
    timestamp: String,
    hostname: String,
    app_name: String,
    msgid: String,
    sd_id: String,
    params: BTreeMap<String, String>,
    msg: String,
}

fn parse(message: &str) -> Parsed {
    let header = Regex::new(
        r#"^<(\d{1,3})>1 (\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d(?:\.\d{1,6})?(?:Z|[+-]\d\d:\d\d)) ([!-~]{1,255}) ([!-~]{1,48}) ([!-~]{1,128}) ([!-~]{1,32}) (.*)$"#,
    )
    .unwrap();
    let c = header
        .captures(message)
        .unwrap_or_else(|| panic!("not RFC 5424: {message:?}"));
    let rest = c.get(7).unwrap().as_str();
    // STRUCTURED-DATA: one element `[SD-ID *(SP PARAM-NAME="escaped value")]`.
    let element =
        Regex::new(r#"^\[([^ =\]"]{1,32})((?: [^ =\]"]{1,32}="(?:[^"\\\]]|\\["\\\]])*")*)\] "#)
            .unwrap();
    let sd = element
        .captures(rest)
        .unwrap_or_else(|| panic!("bad structured data: {rest:?}"));
    let param = Regex::new(r#" ([^ =\]"]{1,32})="((?:[^"\\\]]|\\["\\\]])*)""#).unwrap();
    let params = param
        .captures_iter(sd.get(2).unwrap().as_str())
        .map(|p| {
            let unescaped = Regex::new(r#"\\(["\\\]])"#)
                .unwrap()
                .replace_all(&p[2], "$1")
                .to_string();
            (p[1].to_string(), unescaped)
        })
        .collect();
    let msg = &rest[sd.get(0).unwrap().end()..];
    let msg = msg
        .strip_prefix('\u{feff}')
        .unwrap_or_else(|| panic!("MSG without BOM: {msg:?}"));
    chrono::DateTime::parse_from_rfc3339(&c[2]).expect("an RFC 3339 timestamp");
    Parsed {
        pri: c[1].parse().unwrap(),
        timestamp: c[2].to_string(),
        hostname: c[3].to_string(),
        app_name: c[4].to_string(),
        msgid: c[6].to_string(),
        sd_id: sd[1].to_string(),
        params,
        msg: msg.to_string(),
    }
}

/// Reads octet-counted frames (`LEN SP MSG`, RFC 6587 §3.4.1) until the peer closes.
async fn read_frames(mut stream: impl AsyncRead + Unpin, out: mpsc::UnboundedSender<String>) {
    let mut buf = Vec::new();
    let mut chunk = [0u8; 4096];
    loop {
        let n = stream.read(&mut chunk).await.unwrap_or(0);
        if n == 0 {
            return;
        }
        buf.extend_from_slice(&chunk[..n]);
        while let Some(space) = buf.iter().position(|b| *b == b' ') {
            let len: usize = std::str::from_utf8(&buf[..space])
                .unwrap()
                .parse()
                .expect("a frame starts with its length");
            if buf.len() < space + 1 + len {
                break;
            }
            let frame = buf[space + 1..space + 1 + len].to_vec();
            buf.drain(..space + 1 + len);
            out.send(String::from_utf8(frame).unwrap()).unwrap();
        }
    }
}

/// The next two messages a collector got (a test that waits longer has failed).
async fn two(rx: &mut mpsc::UnboundedReceiver<String>) -> Vec<String> {
    let mut got = Vec::new();
    for _ in 0..2 {
        let m = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("the collector got no message within 10 s");
        got.push(m.unwrap());
    }
    got
}

fn syslog_channel(address: String, transport: &str) -> ChannelConfig {
    ChannelConfig {
        name: "siem".into(),
        kind: "syslog".into(),
        address: Some(address),
        transport: Some(transport.into()),
        facility: Some("local4".into()),
        ..ChannelConfig::default()
    }
}

fn two_alerts() -> Vec<Alert> {
    let mut sqli = alert("SQL injection \"blocked\" [942100]", Severity::High);
    sqli.source_ip = Some("203.0.113.7".into());
    vec![sqli, alert("Reverse shell", Severity::Critical)]
}

fn check(messages: &[String], n: &watchpost_alert::Notification) {
    assert_eq!(messages.len(), 2, "one message per alert");
    for (m, a) in messages.iter().zip(&n.alerts) {
        let p = parse(m);
        let severity = match a.severity {
            Severity::Critical => 2,
            _ => 3,
        };
        assert_eq!(p.pri, 20 * 8 + severity, "local4 and the alert's severity");
        assert_eq!(p.app_name, "watchpost");
        assert_eq!(p.msgid, "FIRING");
        assert_eq!(p.sd_id, "watchpost@32473");
        assert!(!p.hostname.is_empty() && !p.timestamp.is_empty());
        assert_eq!(p.params["alert"], a.id.to_string());
        assert_eq!(p.params["notice"], n.id.to_string());
        assert_eq!(p.params["rule"], a.rule_id);
        assert_eq!(p.params["severity"], a.severity.as_str());
        assert!(p.msg.contains(&a.title), "{}", p.msg);
    }
    let first = parse(&messages[0]);
    assert_eq!(first.params["src"], "203.0.113.7");
}

#[tokio::test]
async fn udp_datagrams_are_rfc_5424() {
    let socket = UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let address = socket.local_addr().unwrap().to_string();
    let config = syslog_channel(address, "udp");
    assert!(config.problems().is_empty(), "{:?}", config.problems());
    let channel = Syslog::from_config(&config, None).unwrap();
    let n = notice("siem", NotificationKind::Firing, two_alerts());
    channel.send(&n).await.unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 4096];
    for _ in 0..2 {
        let len = socket.recv(&mut buf).await.unwrap();
        got.push(String::from_utf8(buf[..len].to_vec()).unwrap());
    }
    check(&got, &n);
}

#[tokio::test]
async fn tcp_frames_are_octet_counted_and_the_stream_is_reopened_when_dropped() {
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let address = listener.local_addr().unwrap().to_string();
    let (tx, mut rx) = mpsc::unbounded_channel();
    let (drop_tx, mut drop_rx) = mpsc::unbounded_channel::<()>();
    tokio::spawn(async move {
        // The first connection is closed by the collector after one notice.
        let (first, _) = listener.accept().await.unwrap();
        let tx1 = tx.clone();
        let reader = tokio::spawn(read_frames(first, tx1));
        drop_rx.recv().await;
        reader.abort();
        let (second, _) = listener.accept().await.unwrap();
        read_frames(second, tx).await;
    });
    let channel = Syslog::from_config(&syslog_channel(address, "tcp"), None).unwrap();
    let n = notice("siem", NotificationKind::Firing, two_alerts());
    channel.send(&n).await.unwrap();
    let got = two(&mut rx).await;
    check(&got, &n);

    drop_tx.send(()).unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    let again = notice("siem", NotificationKind::Firing, two_alerts());
    // The channel sees the collector's close before writing, so nothing is lost.
    channel.send(&again).await.unwrap();
    let got = two(&mut rx).await;
    check(&got, &again);
}

#[tokio::test]
async fn tls_to_a_collector_whose_ca_is_in_ca_file() {
    let dir = tempfile::tempdir().unwrap();
    let watchpost_testkit::TestCertificates { ca, cert, key } =
        watchpost_testkit::test_certificates(dir.path());
    let certs: Vec<CertificateDer<'static>> = CertificateDer::pem_file_iter(&cert)
        .unwrap()
        .collect::<Result<_, _>>()
        .unwrap();
    let key = PrivateKeyDer::from_pem_file(&key).unwrap();
    let server = rustls::ServerConfig::builder_with_provider(Arc::new(
        rustls::crypto::ring::default_provider(),
    ))
    .with_safe_default_protocol_versions()
    .unwrap()
    .with_no_client_auth()
    .with_single_cert(certs, key)
    .unwrap();
    let acceptor = tokio_rustls::TlsAcceptor::from(Arc::new(server));
    let listener = TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = listener.local_addr().unwrap().port();
    let (tx, mut rx) = mpsc::unbounded_channel();
    tokio::spawn(async move {
        loop {
            let (tcp, _) = listener.accept().await.unwrap();
            if let Ok(tls) = acceptor.accept(tcp).await {
                tokio::spawn(read_frames(tls, tx.clone()));
            }
        }
    });

    let mut config = syslog_channel(format!("localhost:{port}"), "tls");
    let untrusted = Syslog::from_config(&config, None).unwrap();
    let n = notice("siem", NotificationKind::Firing, two_alerts());
    let err = untrusted.send(&n).await.unwrap_err();
    assert!(
        !err.retryable && err.message.contains("TLS failed"),
        "{err:?}"
    );

    config.ca_file = Some(ca);
    let channel = Syslog::from_config(&config, None).unwrap();
    channel.send(&n).await.unwrap();
    let got = two(&mut rx).await;
    check(&got, &n);
}

#[test]
fn bad_syslog_settings_name_their_key() {
    let mut c = syslog_channel("collector".into(), "rfc3164");
    c.facility = Some("local9".into());
    let keys: Vec<String> = c.problems().into_iter().map(|(k, _)| k).collect();
    assert_eq!(keys, ["address", "transport", "facility"]);
}
