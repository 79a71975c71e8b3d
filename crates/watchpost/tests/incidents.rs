//! Incidents through a live server: web attacks from one address become one incident with
//! its chain and risk terms, another address another incident; people change status,
//! assignee and notes with a timeline naming them; and after a restart a new attack from
//! the first address joins its incident again.

mod common;

use common::{Server, eventually, get_json, http, run};
use serde_json::{Value, json};

async fn analyze(http: &reqwest::Client, server: &Server, ip: &str, path: &str, query: &str) {
    let response = http
        .post(server.url("/api/v1/ids/analyze"))
        .json(
            &json!({"method": "GET", "path": path, "query": query, "client_ip": ip,
                      "headers": {"user-agent": "Mozilla/5.0", "host": "shop.example"}}),
        )
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

async fn incidents(http: &reqwest::Client, server: &Server) -> Vec<Value> {
    get_json(http, server.url("/api/v1/incidents")).await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

fn naming<'a>(list: &'a [Value], ip: &str) -> Option<&'a Value> {
    list.iter().find(|i| {
        i["entities"]
            .as_array()
            .is_some_and(|e| e.iter().any(|k| k == &json!(format!("ip:{ip}"))))
    })
}

async fn first_risk_at_least(
    http: &reqwest::Client,
    server: &Server,
    ip: &str,
    score: u64,
) -> bool {
    let list = incidents(http, server).await;
    naming(&list, ip).is_some_and(|i| i["risk"]["score"].as_u64().unwrap_or(0) >= score)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn web_attacks_from_one_address_are_one_incident_that_survives_a_restart() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(&config, "[incidents]\nnotices = true\n").unwrap();
    let flags = ["--config", config.to_str().unwrap()];
    let mut server = Server::start_with(dir.path(), &flags);
    let http = http();
    let (x, y) = ("203.0.113.7", "198.51.100.9");
    analyze(
        &http,
        &server,
        x,
        "/search",
        "q=1%27%20union%20select%20password%20from%20users--",
    )
    .await;
    analyze(
        &http,
        &server,
        x,
        "/download",
        "file=../../../../etc/passwd",
    )
    .await;
    analyze(&http, &server, x, "/.env", "").await;
    analyze(&http, &server, y, "/search", "q=1%27%20or%201%3D1--").await;
    eventually("two incidents, one per attacker", || async {
        let list = incidents(&http, &server).await;
        naming(&list, x).is_some_and(|i| i["chain"].as_array().unwrap().len() >= 3)
            && naming(&list, y).is_some()
    })
    .await;
    let list = incidents(&http, &server).await;
    assert_eq!(list.len(), 2, "{list:#?}");
    // Each incident's opening is an alert of its own, routed like any other; the notices
    // join no incident.
    eventually("an alert per incident opened", || async {
        let alerts = get_json(
            &http,
            server.url("/api/v1/alerts?rule_id=watchpost.incident_opened"),
        )
        .await;
        alerts["items"].as_array().is_some_and(|a| a.len() == 2)
    })
    .await;
    let alerts = get_json(
        &http,
        server.url("/api/v1/alerts?rule_id=watchpost.incident_opened"),
    )
    .await;
    for alert in alerts["items"].as_array().unwrap() {
        assert_eq!(alert["detector"], "incident", "{alert}");
        assert!(
            alert["title"]
                .as_str()
                .unwrap()
                .starts_with("Incident opened"),
            "{alert}"
        );
    }
    // The first attacker's incident crossed into the high risk band (40) as the decoy hit
    // added a second detector: one escalation notice.
    assert!(first_risk_at_least(&http, &server, x, 40).await);
    eventually("an escalation notice", || async {
        let alerts = get_json(
            &http,
            server.url("/api/v1/alerts?rule_id=watchpost.incident_escalated"),
        )
        .await;
        alerts["items"].as_array().is_some_and(|a| a.len() == 1)
    })
    .await;
    for incident in incidents(&http, &server).await {
        assert!(
            incident["chain"]
                .as_array()
                .unwrap()
                .iter()
                .all(|s| s["detector"] != "incident"),
            "{incident:#}"
        );
    }
    let first = naming(&list, x).unwrap().clone();
    let id = first["id"].as_str().unwrap().to_string();
    assert_eq!(first["status"], "open");
    let steps = first["chain"].as_array().unwrap();
    let times: Vec<&str> = steps
        .iter()
        .map(|s| s["first_seen"].as_str().unwrap())
        .collect();
    assert!(
        times.windows(2).all(|w| w[0] <= w[1]),
        "time order: {times:?}"
    );
    assert!(steps.iter().all(|s| s["tactic"].is_string()), "{steps:#?}");
    assert!(
        steps[1..]
            .iter()
            .all(|s| s["joined_by"] == json!(format!("ip:{x}"))),
        "{steps:#?}"
    );
    let risk = &first["risk"];
    let total: u64 = risk["terms"]
        .as_array()
        .unwrap()
        .iter()
        .map(|t| t["points"].as_u64().unwrap())
        .sum();
    assert_eq!(risk["score"].as_u64().unwrap(), total.min(100), "{risk}");
    assert!(
        risk["terms"]
            .as_array()
            .unwrap()
            .iter()
            .all(|t| t["why"].is_string())
    );

    // People: status, assignee, a note; each in the timeline with who did it.
    let patched = http
        .patch(server.url(&format!("/api/v1/incidents/{id}")))
        .json(&json!({"status": "investigating", "assignee": "maya"}))
        .send()
        .await
        .unwrap();
    assert_eq!(patched.status(), 200);
    let noted = http
        .post(server.url(&format!("/api/v1/incidents/{id}/notes")))
        .json(&json!({"text": "blocked at the edge; checking the web server"}))
        .send()
        .await
        .unwrap();
    assert_eq!(noted.status(), 201);
    let escape = http
        .post(server.url(&format!("/api/v1/incidents/{id}/notes")))
        .json(&json!({"text": "looks fine\u{1b}[2J"}))
        .send()
        .await
        .unwrap();
    assert_eq!(escape.status(), 400, "a terminal escape is refused");
    let bad = http
        .patch(server.url(&format!("/api/v1/incidents/{id}")))
        .json(&json!({"status": "done"}))
        .send()
        .await
        .unwrap();
    assert_eq!(bad.status(), 400);
    let shown = get_json(&http, server.url(&format!("/api/v1/incidents/{id}"))).await;
    assert_eq!(shown["status"], "investigating");
    assert_eq!(shown["assignee"], "maya");
    let timeline: Vec<&str> = shown["timeline"]
        .as_array()
        .unwrap()
        .iter()
        .map(|e| e["what"].as_str().unwrap())
        .collect();
    for line in [
        "status open → investigating",
        "assigned to maya",
        "note: blocked at the edge",
    ] {
        assert!(
            timeline.iter().any(|t| t.starts_with(line)),
            "{line}: {timeline:?}"
        );
    }
    assert!(
        shown["timeline"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["by"].as_str().unwrap().starts_with("api:"))
    );

    // A restart: the index comes back from the store.
    assert!(server.terminate().success());
    let server = Server::start_with(dir.path(), &flags);
    analyze(
        &http,
        &server,
        x,
        "/comment",
        "text=%3Cscript%3Ealert(1)%3C%2Fscript%3E",
    )
    .await;
    eventually("the new attack joins the incident", || async {
        let list = incidents(&http, &server).await;
        naming(&list, x).is_some_and(|i| i["chain"].as_array().unwrap().len() > steps.len())
    })
    .await;
    assert_eq!(incidents(&http, &server).await.len(), 2);

    // The CLI, through the same API.
    let cli = |args: &[&str]| {
        let mut all: Vec<&str> = args.to_vec();
        all.extend(["--server", &server.base]);
        let out = run(dir.path(), &all);
        assert!(
            out.status.success(),
            "{args:?}: {}",
            String::from_utf8_lossy(&out.stderr)
        );
        String::from_utf8(out.stdout).unwrap()
    };
    let listed = cli(&["incidents", "list"]);
    let line = listed
        .lines()
        .find(|l| l.starts_with(&id))
        .unwrap_or_default();
    assert!(
        line.contains("investigating") && line.ends_with("· maya"),
        "{listed}"
    );
    let shown = cli(&["incidents", "show", &id]);
    for part in [
        "risk:",
        "severity",
        "chain:",
        "TA0001",
        "timeline:",
        "note: blocked at the edge",
    ] {
        assert!(shown.contains(part), "{part}: {shown}");
    }
    cli(&["incidents", "note", &id, "web server rebuilt"]);
    let closed = cli(&["incidents", "close", &id]);
    assert!(closed.contains("is closed"), "{closed}");
    let after = get_json(&http, server.url(&format!("/api/v1/incidents/{id}"))).await;
    assert_eq!(after["status"], "closed");
    assert!(after["timeline"].to_string().contains("web server rebuilt"));
    let missing = http
        .get(server.url("/api/v1/incidents/01900000-0000-7000-8000-000000000000"))
        .send()
        .await
        .unwrap();
    assert_eq!(missing.status(), 404);
}

async fn send(
    http: &reqwest::Client,
    method: reqwest::Method,
    url: String,
    body: Value,
) -> (u16, Value) {
    let response = http.request(method, url).json(&body).send().await.unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn people_link_unlink_and_merge_by_hand() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = http();
    let (x, y) = ("203.0.113.8", "198.51.100.8");
    analyze(
        &http,
        &server,
        x,
        "/search",
        "q=1%27%20union%20select%20password%20from%20users--",
    )
    .await;
    analyze(
        &http,
        &server,
        y,
        "/download",
        "file=../../../../etc/passwd",
    )
    .await;
    eventually("an incident per attacker", || async {
        let list = incidents(&http, &server).await;
        naming(&list, x).is_some() && naming(&list, y).is_some()
    })
    .await;
    let list = incidents(&http, &server).await;
    let a = naming(&list, x).unwrap()["id"]
        .as_str()
        .unwrap()
        .to_string();
    let b = naming(&list, y).unwrap().clone();
    let b_id = b["id"].as_str().unwrap().to_string();
    let b_alert = b["alert_ids"][0].as_str().unwrap().to_string();

    // Merge y's incident into x's: one incident, the other closed, both timelines say so.
    let (status, merged) = send(
        &http,
        reqwest::Method::POST,
        server.url(&format!("/api/v1/incidents/{a}/merge")),
        json!({"incident_id": b_id}),
    )
    .await;
    assert_eq!(status, 200, "{merged}");
    assert!(
        merged["alert_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(b_alert))
    );
    assert!(
        merged["entities"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("ip:{y}")))
    );
    let closed = get_json(&http, server.url(&format!("/api/v1/incidents/{b_id}"))).await;
    assert_eq!(closed["status"], "closed");
    let last = |i: &Value| i["timeline"].as_array().unwrap().last().unwrap().clone();
    assert!(
        last(&closed)["what"]
            .as_str()
            .unwrap()
            .starts_with(&format!("merged into incident {a}"))
    );
    assert_eq!(last(&merged)["by"], "api:anonymous (authentication off)");
    let (status, again) = send(
        &http,
        reqwest::Method::POST,
        server.url(&format!("/api/v1/incidents/{a}/merge")),
        json!({"incident_id": b_id}),
    )
    .await;
    assert_eq!(
        status, 409,
        "a closed incident is not merged twice: {again}"
    );

    // Unlink y's alert: its step and the address only it named go.
    let (status, unlinked) = send(
        &http,
        reqwest::Method::DELETE,
        server.url(&format!("/api/v1/incidents/{a}/alerts/{b_alert}")),
        json!(null),
    )
    .await;
    assert_eq!(status, 200, "{unlinked}");
    assert!(
        !unlinked["alert_ids"]
            .as_array()
            .unwrap()
            .contains(&json!(b_alert))
    );
    assert!(
        !unlinked["entities"]
            .as_array()
            .unwrap()
            .contains(&json!(format!("ip:{y}")))
    );
    assert!(
        unlinked["chain"]
            .as_array()
            .unwrap()
            .iter()
            .all(|s| s["alert_id"] != b_alert.as_str())
    );
    // Link it back by hand; twice is a conflict.
    let link = || {
        send(
            &http,
            reqwest::Method::POST,
            server.url(&format!("/api/v1/incidents/{a}/alerts")),
            json!({"alert_id": b_alert}),
        )
    };
    let (status, linked) = link().await;
    assert_eq!(status, 201, "{linked}");
    let step = linked["chain"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["alert_id"] == b_alert.as_str())
        .unwrap();
    assert_eq!(
        step["joined_by"],
        "api:anonymous (authentication off) (by hand)"
    );
    assert_eq!(link().await.0, 409);
    // An incident opened by hand from an alert.
    let (status, opened) = send(
        &http,
        reqwest::Method::POST,
        server.url("/api/v1/incidents"),
        json!({"title": "Scanner from the partner network", "alert_ids": [b_alert]}),
    )
    .await;
    assert_eq!(status, 201, "{opened}");
    assert_eq!(opened["alert_ids"], json!([b_alert]));
    assert_eq!(opened["timeline"][0]["what"], "opened by hand");
    // Bad input names its field.
    let (status, bad) = send(
        &http,
        reqwest::Method::POST,
        server.url("/api/v1/incidents"),
        json!({"title": "x", "alert_ids": ["not-an-id"]}),
    )
    .await;
    assert_eq!(status, 400);
    assert!(
        bad["error"]["message"]
            .as_str()
            .unwrap()
            .contains("alert_ids[0]"),
        "{bad}"
    );
}
