//! Behaviour checks replayed over generated request sequences with a controlled clock.

use std::net::IpAddr;
use watchpost_web::Request;
use watchpost_web::behaviour::{Behaviour, BehaviourConfig, BehaviourFinding};

fn ip(text: &str) -> Option<IpAddr> {
    Some(text.parse().unwrap())
}

fn login(user: &str) -> Request {
    Request {
        method: "POST".into(),
        path: "/login".into(),
        headers: vec![
            ("Host".into(), "shop.example".into()),
            (
                "Content-Type".into(),
                "application/x-www-form-urlencoded".into(),
            ),
        ],
        body: format!("username={user}&password=guess"),
        ..Request::default()
    }
}

fn page(path: &str, headers: &[(&str, &str)]) -> Request {
    Request {
        method: "GET".into(),
        path: path.into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        ..Request::default()
    }
}

fn rules(findings: &[BehaviourFinding]) -> Vec<&'static str> {
    findings.iter().map(|f| f.rule).collect()
}

const SECOND: u64 = 1000;

#[test]
fn brute_force_per_address_fires_once_inside_the_window() {
    let b = Behaviour::default();
    let mut fired = Vec::new();
    for i in 0..12u64 {
        fired.extend(b.on_response(&login("alice"), ip("203.0.113.9"), 401, i * 10 * SECOND));
    }
    let per_ip: Vec<_> = fired.iter().filter(|f| f.rule == "bruteforce.ip").collect();
    assert_eq!(per_ip.len(), 1, "{fired:?}");
    assert_eq!(per_ip[0].count, 10);
    // The same user also crossed the per-user threshold (5).
    assert!(rules(&fired).contains(&"bruteforce.user"));

    // Failures spread wider than the window, and successes, do not add up.
    let b = Behaviour::default();
    let mut fired = Vec::new();
    for i in 0..20u64 {
        fired.extend(b.on_response(
            &login(&format!("u{}", i % 3)),
            ip("198.51.100.7"),
            401,
            i * 60 * SECOND,
        ));
        fired.extend(b.on_response(&login("u0"), ip("198.51.100.7"), 200, i * 60 * SECOND + 1));
    }
    assert!(!rules(&fired).contains(&"bruteforce.ip"), "{fired:?}");
}

#[test]
fn one_user_from_many_addresses_and_many_users_from_one() {
    let b = Behaviour::default();
    let mut fired = Vec::new();
    for i in 0..5u64 {
        fired.extend(b.on_response(
            &login("ceo@shop.example"),
            ip(&format!("203.0.113.{}", i + 1)),
            401,
            i * SECOND,
        ));
    }
    assert_eq!(rules(&fired), vec!["bruteforce.user"]);
    assert_eq!(fired[0].key, "ceo@shop.example");

    let b = Behaviour::default();
    let mut fired = Vec::new();
    for i in 0..10u64 {
        fired.extend(b.on_response(
            &login(&format!("user{i}@mail.example")),
            ip("203.0.113.50"),
            401,
            i * SECOND,
        ));
    }
    assert!(rules(&fired).contains(&"bruteforce.stuffing"), "{fired:?}");
}

#[test]
fn floods_per_client_and_surges_against_the_baseline() {
    let b = Behaviour::default();
    let mut fired = Vec::new();
    // A steady crowd: 100 requests per 10 s from different clients, for 20 windows.
    for w in 0..20u64 {
        for i in 0..100u64 {
            fired.extend(b.on_request(
                &page("/", &[]),
                ip(&format!("198.51.100.{}", i % 200)),
                w * 10 * SECOND + i * 10,
            ));
        }
    }
    assert!(fired.is_empty(), "{fired:?}");
    // One client sends 400 requests in 4 seconds.
    for i in 0..400u64 {
        fired.extend(b.on_request(&page("/", &[]), ip("203.0.113.66"), 200 * SECOND + i * 10));
    }
    assert_eq!(rules(&fired), vec!["ddos.client_flood"]);
    // Then 2,500 requests from 250 clients within one window: a surge.
    let mut fired = Vec::new();
    for i in 0..2500u64 {
        fired.extend(b.on_request(
            &page("/", &[]),
            ip(&format!("192.0.2.{}", i % 250)),
            220 * SECOND + i,
        ));
    }
    assert_eq!(rules(&fired), vec!["ddos.surge"]);
}

#[test]
fn error_bursts_and_denied_admin_requests() {
    let b = Behaviour::default();
    let mut fired = Vec::new();
    for i in 0..30u64 {
        fired.extend(b.on_response(
            &page(&format!("/backup{i}.zip"), &[]),
            ip("203.0.113.7"),
            404,
            i * SECOND,
        ));
    }
    assert_eq!(rules(&fired), vec!["scan.error_burst"]);
    let mut fired = Vec::new();
    for i in 0..3u64 {
        let r = page("/admin/users", &[("Cookie", "session=abc123def456")]);
        fired.extend(b.on_response(&r, ip("198.51.100.20"), 403, i * SECOND));
    }
    assert_eq!(rules(&fired), vec!["privesc.admin_probe"]);
    assert!(
        fired[0].key.starts_with("session abc123de"),
        "the id is shortened: {}",
        fired[0].key
    );
}

#[test]
fn a_session_moving_to_another_network_and_browser() {
    let b = Behaviour::default();
    let firefox = "Mozilla/5.0 (X11; Linux x86_64; rv:128.0) Firefox/128.0";
    let cookie = "session=9f8e7d6c5b4a";
    assert!(
        b.on_request(
            &page("/account", &[("Cookie", cookie), ("User-Agent", firefox)]),
            ip("198.51.100.7"),
            0
        )
        .is_empty()
    );
    // Same network, new browser version: fine.
    let newer = "Mozilla/5.0 (X11; Linux x86_64; rv:129.0) Firefox/129.0";
    assert!(
        b.on_request(
            &page("/account", &[("Cookie", cookie), ("User-Agent", newer)]),
            ip("198.51.100.99"),
            SECOND
        )
        .is_empty()
    );
    // Another network and another client: the session id was taken.
    let fired = b.on_request(
        &page(
            "/account",
            &[("Cookie", cookie), ("User-Agent", "curl/8.5")],
        ),
        ip("203.0.113.9"),
        2 * SECOND,
    );
    assert_eq!(rules(&fired), vec!["session.hijack"]);
}

#[test]
fn role_fields_in_bodies() {
    let b = Behaviour::default();
    let json = Request {
        method: "POST".into(),
        path: "/api/profile".into(),
        headers: vec![("Content-Type".into(), "application/json".into())],
        body: r#"{"name": "Mallory", "role": "admin"}"#.into(),
        ..Request::default()
    };
    assert_eq!(
        rules(&b.on_request(&json, ip("203.0.113.9"), 0)),
        vec!["privesc.role_field"]
    );
    let form = Request {
        method: "PUT".into(),
        path: "/users/7".into(),
        body: "user%5Bname%5D=m&user%5Bis_admin%5D=1".into(),
        ..Request::default()
    };
    assert_eq!(
        rules(&b.on_request(&form, ip("203.0.113.9"), 0)),
        vec!["privesc.role_field"]
    );
    let ordinary = Request {
        method: "POST".into(),
        path: "/api/profile".into(),
        body: r#"{"name": "Alice", "role": "editor", "level": 3}"#.into(),
        ..Request::default()
    };
    assert!(b.on_request(&ordinary, ip("198.51.100.7"), 0).is_empty());
}

#[test]
fn cross_site_requests_without_a_token() {
    let b = Behaviour::new(BehaviourConfig::default());
    let post = |headers: &[(&str, &str)]| Request {
        method: "POST".into(),
        path: "/transfer".into(),
        headers: headers
            .iter()
            .map(|(n, v)| (n.to_string(), v.to_string()))
            .collect(),
        body: "to=mallory&amount=1000".into(),
        ..Request::default()
    };
    let forged = post(&[
        ("Host", "bank.example"),
        ("Cookie", "session=s1"),
        ("Origin", "https://evil.example"),
    ]);
    assert_eq!(
        rules(&b.on_request(&forged, ip("198.51.100.7"), 0)),
        vec!["csrf.cross_origin"]
    );
    let no_origin = post(&[("Host", "bank.example"), ("Cookie", "session=s2")]);
    assert_eq!(
        rules(&b.on_request(&no_origin, ip("198.51.100.8"), 0)),
        vec!["csrf.cross_origin"]
    );
    for fine in [
        post(&[
            ("Host", "bank.example"),
            ("Cookie", "session=s3"),
            ("Origin", "https://bank.example"),
        ]),
        post(&[
            ("Host", "bank.example"),
            ("Cookie", "session=s4"),
            ("Referer", "https://bank.example/transfer"),
        ]),
        post(&[
            ("Host", "bank.example"),
            ("Cookie", "session=s5"),
            ("Origin", "https://evil.example"),
            ("X-CSRF-Token", "t"),
        ]),
        post(&[("Host", "bank.example"), ("Origin", "https://evil.example")]), // no cookies: nothing to forge
    ] {
        assert!(
            b.on_request(&fine, ip("198.51.100.9"), 0).is_empty(),
            "{fine:?}"
        );
    }
    let allowed = Behaviour::new(BehaviourConfig {
        allowed_origins: vec!["https://app.bank.example".into()],
        ..BehaviourConfig::default()
    });
    let from_app = post(&[
        ("Host", "api.bank.example"),
        ("Cookie", "session=s6"),
        ("Origin", "https://app.bank.example"),
    ]);
    assert!(
        allowed
            .on_request(&from_app, ip("198.51.100.9"), 0)
            .is_empty()
    );
}

#[test]
fn memory_stays_bounded_under_many_clients() {
    let b = Behaviour::default();
    for i in 0..(watchpost_web::behaviour::MAX_KEYS as u64 + 20_000) {
        let addr = IpAddr::from(std::net::Ipv4Addr::from(0x0a00_0000u32 + i as u32));
        b.on_request(
            &page("/", &[("Cookie", &format!("session=s{i}"))]),
            Some(addr),
            i,
        );
        b.on_response(&page("/missing", &[]), Some(addr), 404, i);
    }
    let largest = b.largest_map();
    assert!(largest <= watchpost_web::behaviour::MAX_KEYS, "{largest}");
    assert!(largest > 1000, "the maps were in use: {largest}");
}

#[test]
fn a_login_that_succeeds_after_the_address_attacked() {
    let b = Behaviour::new(BehaviourConfig::default());
    let attacker = ip("203.0.113.7");
    let t0 = 1_000_000;
    // A login from an address that never attacked is ordinary.
    assert!(b.on_response(&login("alice"), attacker, 200, t0).is_empty());
    b.attacked(attacker, t0);
    // A failed login is the brute-force detector's business, not this one's.
    assert!(
        !rules(&b.on_response(&login("alice"), attacker, 401, t0 + 1))
            .contains(&"login.after_attack")
    );
    let fired = b.on_response(&login("alice"), attacker, 302, t0 + 2);
    assert_eq!(rules(&fired), vec!["login.after_attack"], "{fired:?}");
    assert_eq!(
        fired[0].user.as_deref(),
        Some("alice"),
        "the account it got into"
    );
    // Once per attack: the next login is not reported again.
    assert!(
        b.on_response(&login("alice"), attacker, 200, t0 + 3)
            .is_empty()
    );
    // Another address, or a login long after the attack, is not reported.
    b.attacked(attacker, t0);
    assert!(
        b.on_response(&login("bob"), ip("198.51.100.9"), 200, t0 + 4)
            .is_empty()
    );
    let later = t0 + BehaviourConfig::default().login_window_seconds * 1000 + 1;
    assert!(
        b.on_response(&login("alice"), attacker, 200, later)
            .is_empty()
    );
    // A page that is not a login route is not a login.
    b.attacked(attacker, t0);
    assert!(
        b.on_response(&page("/account", &[]), attacker, 200, t0 + 5)
            .is_empty()
    );
}
