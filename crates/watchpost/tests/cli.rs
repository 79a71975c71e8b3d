//! The command-line tools: `config check`, `config show`, `db migrate`, `db stats`,
//! `bench ingest`, `version`.

mod common;

use common::run;

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

#[test]
fn config_check_names_file_line_and_key_and_exits_non_zero() {
    let dir = tempfile::tempdir().unwrap();
    let file = dir.path().join("bad.toml");
    std::fs::write(
        &file,
        "[api]\nport = 8080\nenable_cors = true\n\n[monitoring]\ncpu_threshold = 120\n",
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["config", "check", "--config", file.to_str().unwrap()][..],
    );
    assert!(!out.status.success());
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("bad.toml:line 6: monitoring.cpu_threshold: 120 is out of range"),
        "{stderr}"
    );
    assert!(
        stderr.contains("api.cors_origins: enable_cors is on but no origin is listed"),
        "{stderr}"
    );
    assert!(stderr.contains("2 error(s)"), "{stderr}");

    std::fs::write(&file, "[api]\nprot = 1\n").unwrap();
    let out = run(
        dir.path(),
        &["--config", file.to_str().unwrap(), "config", "check"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("bad.toml:line 2, column 1: unknown field `prot`"),
        "{}",
        text(&out.stderr)
    );

    let good = dir.path().join("good.json");
    std::fs::write(
        &good,
        r#"{"api": {"port": 9000}, "storage": {"retention_days": 7}}"#,
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["--config", good.to_str().unwrap(), "config", "check"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
}

#[test]
fn config_check_reads_channel_templates_and_names_the_file_and_line() {
    let dir = tempfile::tempdir().unwrap();
    let template = dir.path().join("mail.j2");
    std::fs::write(&template, "Alert: {{ headline }}\n{% for a in alerts %}\n").unwrap();
    let file = dir.path().join("watchpost.toml");
    std::fs::write(
        &file,
        format!(
            "[alerting.route]\nreceiver = \"soc-mail\"\n[[alerting.channels]]\nname = \"soc-mail\"\n\
             type = \"email\"\nsmtp_host = \"mail.example.org\"\nfrom = \"w@example.org\"\n\
             to = [\"soc@example.org\"]\ntemplate = \"{}\"\nurl = \"https://x\"\n",
            template.display()
        ),
    )
    .unwrap();
    let out = run(
        dir.path(),
        &["--config", file.to_str().unwrap(), "config", "check"],
    );
    assert!(!out.status.success());
    assert!(
        text(&out.stderr).contains("alerting.channels[0].url: does not apply to type email"),
        "{}",
        text(&out.stderr)
    );

    let config = std::fs::read_to_string(&file)
        .unwrap()
        .replace("url = \"https://x\"\n", "");
    std::fs::write(&file, config).unwrap();
    let out = run(
        dir.path(),
        &["--config", file.to_str().unwrap(), "config", "check"],
    );
    assert!(!out.status.success());
    let expected = format!(
        "channel `soc-mail`: template {} line 2: syntax error",
        template.display()
    );
    assert!(
        text(&out.stderr).contains(&expected),
        "{}",
        text(&out.stderr)
    );
}

#[test]
fn config_show_prints_the_effective_config_with_secrets_masked() {
    let dir = tempfile::tempdir().unwrap();
    let out = std::process::Command::new(common::BIN)
        .current_dir(dir.path())
        .args(["config", "show", "--format", "json"])
        .env(
            "WATCHPOST_STORAGE__DATABASE_URL",
            "postgres://wp:hunter2@db.internal/wp",
        )
        .env("WATCHPOST_API__PORT", "9191")
        .env_remove("WATCHPOST_CONFIG")
        .output()
        .unwrap();
    assert!(out.status.success(), "{}", text(&out.stderr));
    let shown: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(shown["api"]["port"], 9191);
    assert_eq!(
        shown["storage"]["database_url"],
        "postgres://wp:********@db.internal/wp"
    );
    assert!(!text(&out.stdout).contains("hunter2"));
    let toml_out = run(dir.path(), &["config", "show"]);
    assert!(text(&toml_out.stdout).contains("[monitoring]"));
}

#[test]
fn db_migrate_and_stats_work_on_a_fresh_data_dir() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(dir.path(), &["db", "migrate"]);
    assert!(out.status.success(), "{}", text(&out.stderr));
    assert!(text(&out.stdout).contains("sqlite store is at schema version 13"));
    let out = run(dir.path(), &["db", "stats", "--json"]);
    let stats: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(stats["tables"][0]["table"], "events");
    assert_eq!(stats["tables"][0]["rows"], 0);
    let out = run(dir.path(), &["db", "stats"]);
    assert!(text(&out.stdout).contains("events"));
}

#[test]
fn bench_ingest_reports_a_rate() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "bench", "ingest", "--events", "3000", "--batch", "1000", "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(report["events"], 3000);
    assert!(report["events_per_second"].as_f64().unwrap() > 0.0);
}

#[test]
fn every_subcommand_has_help_and_version_prints() {
    let dir = tempfile::tempdir().unwrap();
    for args in [
        &["--help"][..],
        &["serve", "--help"],
        &["config", "check", "--help"],
        &["config", "show", "--help"],
        &["db", "migrate", "--help"],
        &["db", "stats", "--help"],
        &["bench", "ingest", "--help"],
        &["bench", "proxy", "--help"],
        &["hunt", "--help"],
        &["rules", "check", "--help"],
        &["eval", "sigma-regression", "--help"],
        &["eval", "peer-agreement", "--help"],
        &["eval", "web", "--help"],
        &["proxy", "--help"],
        &["agent", "--help"],
        &["eval", "gtfobins", "--help"],
        &["eval", "host-fp", "--help"],
        &["eval", "lolbas", "--help"],
        &["bench", "exec-capture", "--help"],
        &["bench", "agent", "--help"],
    ] {
        let out = run(dir.path(), args);
        assert!(
            out.status.success() && text(&out.stdout).contains("Usage"),
            "{args:?}"
        );
    }
    let out = run(dir.path(), &["version"]);
    assert_eq!(
        text(&out.stdout).trim(),
        format!("watchpost {}", env!("CARGO_PKG_VERSION"))
    );
}

#[test]
fn json_log_format_writes_one_json_object_per_line() {
    let dir = tempfile::tempdir().unwrap();
    let out = run(
        dir.path(),
        &[
            "--log-format",
            "json",
            "--log-level",
            "info",
            "db",
            "migrate",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    let lines: Vec<serde_json::Value> = stderr
        .lines()
        .map(|l| serde_json::from_str(l).unwrap_or_else(|e| panic!("not JSON ({e}): {l}")))
        .collect();
    let migration = lines
        .iter()
        .find(|l| l["message"] == "applied schema migration")
        .unwrap_or_else(|| panic!("no migration line in {stderr}"));
    assert_eq!(migration["level"], "INFO");
    assert_eq!(migration["version"], 1);
}
