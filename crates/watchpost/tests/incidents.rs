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
