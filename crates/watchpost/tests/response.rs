//! Playbooks through a live server: a playbook in `simulate` mode records what it would
//! have done (guards included) and changes nothing; switched to `auto` by a configuration
//! reload it bans attackers (a decision the web shield applies at once), and its guards
//! refuse loopback, allowlisted addresses and the server's own address, each refusal
//! recorded; a burst past the action budget trips its breaker, sending further actions to
//! an analyst, who sees their blast radius, approves one and rejects another; undoing a
//! ban lifts its decision. Host actions reach only the agent of their host, over its own
//! token: a real agent run with `--respond` kills the process tree a host alert named and
//! reports the result.

mod common;

use common::{BIN, Server, create_token, eventually, get_json, http};
use serde_json::{Value, json};
use std::path::Path;
use std::process::{Command, Stdio};

const PLAYBOOK: &str = r#"
[[response.playbooks]]
name = "contain"
mode = "MODE"
matchers = ['detector="web"']
actions = [{ kind = "block_address", ttl = "1h" }]
"#;

fn config_text(mode: &str, budget: u32) -> String {
    format!(
        "[response]\nallowlist = [\"198.51.100.0/24\"]\nbudget_per_minute = {{ block_address = {budget} }}\n{}",
        PLAYBOOK.replace("MODE", mode)
    )
}

fn write_config(dir: &Path, mode: &str, budget: u32) {
    // Written aside and renamed, so the watcher never reads half a file.
    let tmp = dir.join("watchpost.toml.new");
    std::fs::write(&tmp, config_text(mode, budget)).unwrap();
    std::fs::rename(&tmp, dir.join("watchpost.toml")).unwrap();
}

/// An SQL injection from `ip` through the analyze API; returns the shield's action.
async fn attack(http: &reqwest::Client, server: &Server, ip: &str) -> String {
    inspect(
        http,
        server,
        ip,
        "q=1%27%20union%20select%20password%20from%20users--",
    )
    .await
}

async fn inspect(http: &reqwest::Client, server: &Server, ip: &str, query: &str) -> String {
    let answer: Value = http
        .post(server.url("/api/v1/ids/analyze"))
        .json(
            &json!({"method": "GET", "path": "/search", "query": query, "client_ip": ip,
                      "headers": {"user-agent": "Mozilla/5.0", "host": "shop.example"}}),
        )
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    answer["decision"]["action"]
        .as_str()
        .unwrap_or("")
        .to_string()
}

async fn actions(http: &reqwest::Client, server: &Server) -> Vec<Value> {
    get_json(http, server.url("/api/v1/actions?limit=1000")).await["items"]
        .as_array()
        .cloned()
        .unwrap_or_default()
}

/// What `check` gives once it gives something, polled every 50 ms for up to `seconds`.
async fn until<T, F, Fut>(what: &str, seconds: u64, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    for _ in 0..seconds * 20 {
        if let Some(found) = check().await {
            return found;
        }
        tokio::time::sleep(std::time::Duration::from_millis(50)).await;
    }
    panic!("timed out waiting for: {what}");
}

/// The action aimed at address `ip`, once there is one.
async fn action_on(http: &reqwest::Client, server: &Server, ip: &str) -> Value {
    until(&format!("an action on {ip}"), 10, || async {
        actions(http, server)
            .await
            .into_iter()
            .find(|a| a["target"]["ip"] == ip)
    })
    .await
}

fn history(action: &Value) -> String {
    action["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["what"].as_str().unwrap_or(""))
        .collect::<Vec<_>>()
        .join(" | ")
}

async fn post(http: &reqwest::Client, server: &Server, path: &str, body: Value) -> (u16, Value) {
    let response = http
        .post(server.url(path))
        .json(&body)
        .send()
        .await
        .unwrap();
    let status = response.status().as_u16();
    (status, response.json().await.unwrap_or_default())
}

async fn mode_is(http: &reqwest::Client, server: &Server, mode: &str, budget: u32) -> bool {
    let config = get_json(http, server.url("/api/v1/config")).await;
    let response = &config["config"]["response"];
    response["playbooks"][0]["mode"] == mode
        && response["budget_per_minute"]["block_address"] == budget
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn playbooks_simulate_then_act_within_their_guards_and_budget() {
    let dir = tempfile::tempdir().unwrap();
    write_config(dir.path(), "simulate", 10);
    let config = dir.path().join("watchpost.toml");
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let http = http();

    // Simulate: recorded as "would have", nothing changed.
    attack(&http, &server, "203.0.113.7").await;
    let simulated = action_on(&http, &server, "203.0.113.7").await;
    assert_eq!(simulated["state"], "simulated", "{simulated:#}");
    assert_eq!(simulated["origin"], "playbook:contain");
    assert!(
        history(&simulated).contains("would have done: ban 203.0.113.7"),
        "{simulated:#}"
    );
    attack(&http, &server, "198.51.100.9").await;
    let would_refuse = action_on(&http, &server, "198.51.100.9").await;
    assert_eq!(would_refuse["state"], "simulated");
    assert!(
        history(&would_refuse).contains("would have been refused")
            && history(&would_refuse).contains("allowlisted"),
        "{would_refuse:#}"
    );
    let decisions = get_json(&http, server.url("/api/v1/decisions")).await;
    assert_eq!(
        decisions["items"],
        json!([]),
        "a simulation decides nothing"
    );
    assert_eq!(
        inspect(&http, &server, "203.0.113.7", "q=shoes").await,
        "pass"
    );

    // Auto, by a reload: bans within the guards.
    write_config(dir.path(), "auto", 10);
    eventually("the reload", || mode_is(&http, &server, "auto", 10)).await;
    attack(&http, &server, "203.0.113.20").await;
    let ban = action_on(&http, &server, "203.0.113.20").await;
    eventually("the ban is done", || async {
        let a = action_on(&http, &server, "203.0.113.20").await;
        a["state"] == "done"
    })
    .await;
    let ban = get_json(
        &http,
        server.url(&format!("/api/v1/actions/{}", ban["id"].as_str().unwrap())),
    )
    .await;
    assert!(
        ban["undo"].as_str().unwrap().starts_with("lift decision "),
        "{ban:#}"
    );
    assert_eq!(
        inspect(&http, &server, "203.0.113.20", "q=shoes").await,
        "block",
        "the server's own shield applies the ban at once"
    );
    let mut guarded = vec![("127.0.0.1", "loopback"), ("198.51.100.10", "allowlisted")];
    let own = watchpost_response::own_addresses::read()
        .into_iter()
        .find(|ip| ip.is_ipv4() && !ip.is_loopback())
        .map(|ip| ip.to_string());
    if let Some(own) = &own {
        guarded.push((own, "this server"));
    }
    for (ip, why) in &guarded {
        attack(&http, &server, ip).await;
        let refused = until(&format!("the action on {ip} is refused"), 10, || async {
            Some(action_on(&http, &server, ip).await).filter(|a| a["state"] == "refused")
        })
        .await;
        let message = refused["result"]["message"].as_str().unwrap();
        assert!(message.contains(why), "{ip}: {message}");
        assert!(history(&refused).contains("refused"), "{refused:#}");
    }
    assert!(
        server
            .metrics_text()
            .await
            .contains("reason=\"response_guard\""),
        "refusals are counted"
    );

    // A burst past the budget (1 per minute here) trips the breaker: the rest wait.
    write_config(dir.path(), "auto", 1);
    eventually("the reload", || mode_is(&http, &server, "auto", 1)).await;
    for ip in ["203.0.113.30", "203.0.113.31", "203.0.113.32"] {
        attack(&http, &server, ip).await;
        action_on(&http, &server, ip).await;
    }
    let states: Vec<(String, Value)> = until("one ban done and two waiting", 10, || async {
        let mut states = Vec::new();
        for ip in ["203.0.113.30", "203.0.113.31", "203.0.113.32"] {
            let a = action_on(&http, &server, ip).await;
            states.push((a["state"].as_str().unwrap_or("").to_string(), a));
        }
        (states.iter().filter(|(s, _)| s == "done").count() == 1
            && states.iter().filter(|(s, _)| s == "pending").count() == 2)
            .then_some(states)
    })
    .await;
    let waiting: Vec<&Value> = states
        .iter()
        .filter(|(s, _)| s == "pending")
        .map(|(_, a)| a)
        .collect();
    assert!(
        history(waiting[0]).contains("breaker is open"),
        "{:#}",
        waiting[0]
    );
    assert!(
        server
            .metrics_text()
            .await
            .contains("reason=\"response_breaker\"")
    );
    // The analyst sees what approving would touch, then approves one, rejects the other.
    let id = waiting[0]["id"].as_str().unwrap();
    let shown = get_json(&http, server.url(&format!("/api/v1/actions/{id}"))).await;
    let ip = waiting[0]["target"]["ip"].as_str().unwrap();
    assert_eq!(shown["blast_radius"]["addresses"], json!([ip]), "{shown:#}");
    assert!(
        shown["blast_radius"]["events_last_hour"].is_u64(),
        "{shown:#}"
    );
    let (status, approved) = post(
        &http,
        &server,
        &format!("/api/v1/actions/{id}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{approved}");
    assert_eq!(approved["state"], "done", "{approved:#}");
    assert!(history(&approved).contains("approved"));
    assert_eq!(inspect(&http, &server, ip, "q=shoes").await, "block");
    let other = waiting[1]["id"].as_str().unwrap();
    let (status, rejected) = post(
        &http,
        &server,
        &format!("/api/v1/actions/{other}/reject"),
        json!({"reason": "a partner's scanner"}),
    )
    .await;
    assert_eq!(status, 200);
    assert_eq!(rejected["state"], "rejected");
    let (status, again) = post(
        &http,
        &server,
        &format!("/api/v1/actions/{other}/approve"),
        json!({}),
    )
    .await;
    assert_eq!(status, 409, "a rejected action stays rejected: {again}");

    // Undo: the ban's decision is lifted and the address passes again.
    let ban_id = ban["id"].as_str().unwrap();
    let (status, undone) = post(
        &http,
        &server,
        &format!("/api/v1/actions/{ban_id}/undo"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(undone["state"], "undone");
    assert_eq!(
        inspect(&http, &server, "203.0.113.20", "q=shoes").await,
        "pass"
    );
    let decisions = get_json(&http, server.url("/api/v1/decisions")).await;
    let in_force: Vec<&Value> = decisions["items"]
        .as_array()
        .unwrap()
        .iter()
        .filter(|d| d["in_force"] == true)
        .collect();
    assert_eq!(
        in_force.len(),
        2,
        "the burst's two bans stay: {decisions:#}"
    );
    assert!(in_force.iter().all(|d| d["origin"] == "playbook:contain"));

    // The incident shows what was done about it.
    let incidents = get_json(&http, server.url("/api/v1/incidents")).await;
    let with_ban = incidents["items"]
        .as_array()
        .unwrap()
        .iter()
        .find(|i| {
            i["subjects"]
                .as_array()
                .unwrap()
                .contains(&json!("ip:203.0.113.20"))
        })
        .unwrap()
        .clone();
    let incident = get_json(
        &http,
        server.url(&format!(
            "/api/v1/incidents/{}",
            with_ban["id"].as_str().unwrap()
        )),
    )
    .await;
    assert_eq!(incident["actions"][0]["id"], ban["id"], "{incident:#}");
}

/// Ships a host detection naming process `pid` as the agent `token` speaks for.
async fn ship_host_detection(http: &reqwest::Client, server: &Server, token: &str, pid: u32) {
    let mut d = watchpost_core::Detection::new(
        "test.web_server_shell",
        "Shell spawned by the web server",
        watchpost_core::Severity::High,
        "host",
    );
    d.host = Some("ignored".into());
    d.entity = Some(watchpost_core::Entity::Process {
        host: "ignored".into(),
        pid: i64::from(pid),
        name: Some("sh".into()),
    });
    let detection = serde_json::to_value(&d).unwrap();
    let batch = json!({"sender": {"kind": "agent", "version": "test"}, "sequence": 1,
                       "records": [{"detection": detection}]});
    let response = http
        .post(server.url("/api/v1/ingest"))
        .bearer_auth(token)
        .json(&batch)
        .send()
        .await
        .unwrap();
    assert!(
        response.status().is_success(),
        "{}",
        response.text().await.unwrap()
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn host_actions_reach_only_their_agent_which_kills_the_process_tree() {
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(
        &config,
        r#"
[[response.playbooks]]
name = "contain-host"
mode = "auto"
matchers = ['rule="test.web_server_shell"']
actions = [{ kind = "kill_process" }]
"#,
    )
    .unwrap();
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let http = http();
    let web1 = create_token(dir.path(), "web-1", "agent");
    let web2 = create_token(dir.path(), "web-2", "agent");
    let proxy = create_token(dir.path(), "edge", "proxy");

    // The channel: another host's agent sees nothing and may not report; a proxy may not ask.
    let mut decoy = Command::new("sleep").arg("300").spawn().unwrap();
    ship_host_detection(&http, &server, &web1, decoy.id()).await;
    let queued = until("a kill queued for web-1", 10, || async {
        Some(get_json(&http, server.url("/api/v1/actions?status=queued")).await["items"][0].clone())
            .filter(|a| !a.is_null())
    })
    .await;
    assert_eq!(
        queued["target"],
        json!({"type": "process", "host": "web-1", "pid": decoy.id()})
    );
    let poll = |token: String| {
        let http = http.clone();
        let url = server.url("/api/v1/agent/actions?wait=0");
        async move {
            let r = http.get(url).bearer_auth(token).send().await.unwrap();
            (
                r.status().as_u16(),
                r.json::<Value>().await.unwrap_or_default(),
            )
        }
    };
    let (status, body) = poll(web2.clone()).await;
    assert_eq!((status, body["items"].clone()), (200, json!([])));
    let (status, _) = poll(proxy.clone()).await;
    assert_eq!(status, 403);
    let (status, body) = poll(web1.clone()).await;
    assert_eq!(status, 200);
    let taken = body["items"][0].clone();
    assert_eq!(taken["id"], queued["id"]);
    assert_eq!(taken["state"], "running");
    let id = taken["id"].as_str().unwrap();
    let report = |token: &str| {
        http.post(server.url(&format!("/api/v1/agent/actions/{id}/result")))
            .bearer_auth(token.to_string())
            .json(&json!({"ok": true, "message": "killed 1 process(es): 1 sleep"}))
            .send()
    };
    assert_eq!(
        report(&web2).await.unwrap().status(),
        404,
        "not web-2's action"
    );
    assert_eq!(report(&web1).await.unwrap().status(), 200);
    let done = get_json(&http, server.url(&format!("/api/v1/actions/{id}"))).await;
    assert_eq!(done["state"], "done", "{done:#}");
    assert_eq!(report(&web1).await.unwrap().status(), 409, "reported once");
    decoy.kill().unwrap();
    decoy.wait().unwrap();

    // A real agent with --respond carries the kill out: the shell and what it forked.
    let mut shell = Command::new("sh")
        .args(["-c", "sleep 300 & sleep 300 & wait"])
        .spawn()
        .unwrap();
    let mut agent = Command::new(BIN)
        .current_dir(dir.path())
        .args([
            "agent",
            "--server",
            &server.url(""),
            "--respond",
            "--exec-source",
            "proc-poll",
            "--no-file-integrity",
            "--no-network",
            "--quarantine-dir",
            dir.path().join("quarantine").to_str().unwrap(),
        ])
        .env("WATCHPOST_TOKEN", &web1)
        .env_remove("WATCHPOST_CONFIG")
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    tokio::time::sleep(std::time::Duration::from_millis(300)).await;
    ship_host_detection(&http, &server, &web1, shell.id()).await;
    // (polled for up to forty seconds: the agent starts, reads /proc, then polls)
    let mut killed = Value::Null;
    for _ in 0..400 {
        killed = get_json(&http, server.url("/api/v1/actions?status=done")).await["items"]
            .as_array()
            .unwrap()
            .iter()
            .find(|a| a["target"]["pid"] == shell.id())
            .cloned()
            .unwrap_or(Value::Null);
        if !killed.is_null() {
            break;
        }
        tokio::time::sleep(std::time::Duration::from_millis(100)).await;
    }
    let _ = agent.kill();
    let _ = agent.wait();
    assert!(!killed.is_null(), "the agent never reported the kill");
    let message = killed["result"]["message"].as_str().unwrap();
    assert!(message.starts_with("killed 3 process(es)"), "{message}");
    assert!(!shell.wait().unwrap().success(), "the shell was killed");
    let by: Vec<&str> = killed["history"]
        .as_array()
        .unwrap()
        .iter()
        .map(|s| s["by"].as_str().unwrap())
        .collect();
    assert_eq!(
        by,
        [
            "playbook:contain-host",
            "playbook:contain-host",
            "agent:web-1",
            "agent:web-1"
        ],
        "proposed, queued, taken, done: {killed:#}"
    );
}

/// A local application receiving the account webhooks: headers and raw bodies.
type Received = std::sync::Arc<std::sync::Mutex<Vec<(axum::http::HeaderMap, Vec<u8>)>>>;

async fn account_receiver() -> (String, Received) {
    use axum::routing::post;
    let received: Received = Default::default();
    let sink = received.clone();
    let app = axum::Router::new().route(
        "/accounts",
        post(
            move |headers: axum::http::HeaderMap, body: axum::body::Bytes| {
                let sink = sink.clone();
                async move {
                    sink.lock().unwrap().push((headers, body.to_vec()));
                    axum::http::StatusCode::NO_CONTENT
                }
            },
        ),
    );
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    tokio::spawn(async move { axum::serve(listener, app).await.unwrap() });
    (format!("http://{addr}/accounts"), received)
}

/// HMAC-SHA256 by an independent tool.
fn openssl_hmac(secret: &str, data: &[u8]) -> String {
    let path = std::env::temp_dir().join(format!("wp-acct-hmac-{}", std::process::id()));
    std::fs::write(&path, data).unwrap();
    let out = Command::new("openssl")
        .args(["dgst", "-sha256", "-hmac", secret, "-r"])
        .arg(&path)
        .output()
        .unwrap();
    std::fs::remove_file(&path).unwrap();
    String::from_utf8(out.stdout)
        .unwrap()
        .split_whitespace()
        .next()
        .unwrap()
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_account_the_attacker_logged_into_is_suspended_and_the_applications_are_told() {
    let dir = tempfile::tempdir().unwrap();
    let (hook_url, received) = account_receiver().await;
    let config = dir.path().join("watchpost.toml");
    std::fs::write(
        &config,
        format!(
            r#"
[response]
account_webhooks = [{{ url = "{hook_url}", secret = "s3cret" }}]

[[response.playbooks]]
name = "contain-account"
mode = "auto"
matchers = ['rule="login.after_attack"']
actions = [{{ kind = "suspend_account", ttl = "2h" }}]
"#
        ),
    )
    .unwrap();
    let server = Server::start_with(dir.path(), &["--config", config.to_str().unwrap()]);
    let http = http();
    let bouncer = create_token(dir.path(), "app-accounts", "bouncer");
    // The attacker probes, then logs in as alice.
    attack(&http, &server, "203.0.113.44").await;
    let login: Value = http
        .post(server.url("/api/v1/ids/analyze"))
        .json(&json!({"method": "POST", "path": "/login", "client_ip": "203.0.113.44",
                      "headers": {"content-type": "application/x-www-form-urlencoded", "host": "shop.example"},
                      "body": "username=alice&password=hunter2", "response_status": 302}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(
        login["detections"].as_array().map(Vec::len),
        Some(1),
        "the login after the attack is a detection: {login}"
    );
    let suspended = until("the account suspended", 10, || async {
        actions(&http, &server)
            .await
            .into_iter()
            .find(|a| a["kind"] == "suspend_account" && a["state"] == "done")
    })
    .await;
    assert_eq!(
        suspended["target"],
        json!({"type": "app_account", "user": "alice"})
    );
    let message = suspended["result"]["message"].as_str().unwrap();
    assert!(message.contains("suspends account alice"), "{message}");
    assert!(message.contains(&format!("{hook_url}: 204")), "{message}");

    // The application was told, signed.
    let (headers, body) = received.lock().unwrap()[0].clone();
    let told: Value = serde_json::from_slice(&body).unwrap();
    assert_eq!(told["event"], "account.suspended");
    assert_eq!(told["user"], "alice");
    assert_eq!(told["action_id"], suspended["id"]);
    assert_eq!(headers["x-watchpost-event"], "account.suspended");
    let ts = headers["x-watchpost-timestamp"].to_str().unwrap();
    let mut signed = format!("{ts}.").into_bytes();
    signed.extend_from_slice(&body);
    assert_eq!(
        headers["x-watchpost-signature"].to_str().unwrap(),
        format!("v1={}", openssl_hmac("s3cret", &signed))
    );

    // The decision stream gives the suspension to those who ask for accounts only.
    let stream = |query: &'static str| {
        let http = http.clone();
        let url = server.url(&format!("/v1/decisions/stream{query}"));
        let key = bouncer.clone();
        async move {
            http.get(url)
                .header("X-Api-Key", key)
                .send()
                .await
                .unwrap()
                .json::<Value>()
                .await
                .unwrap()
        }
    };
    let firewall = stream("?startup=true").await;
    assert!(
        !firewall.to_string().contains("alice"),
        "a firewall never sees a user name: {firewall}"
    );
    let accounts = stream("?startup=true&scopes=username").await;
    let new = accounts["new"].as_array().unwrap();
    assert_eq!(new.len(), 1, "{accounts}");
    assert_eq!(
        (new[0]["scope"].as_str(), new[0]["value"].as_str()),
        (Some("Username"), Some("alice"))
    );

    // Undone: the decision is lifted and the application told.
    let id = suspended["id"].as_str().unwrap();
    let (status, undone) = post(
        &http,
        &server,
        &format!("/api/v1/actions/{id}/undo"),
        json!({}),
    )
    .await;
    assert_eq!(status, 200, "{undone}");
    assert_eq!(undone["state"], "undone");
    let last: Value = serde_json::from_slice(&received.lock().unwrap().last().unwrap().1).unwrap();
    assert_eq!(
        (last["event"].as_str(), last["user"].as_str()),
        (Some("account.reinstated"), Some("alice"))
    );
    let after = stream("?startup=false&scopes=username").await;
    assert!(after["deleted"].to_string().contains("alice"), "{after}");
}
