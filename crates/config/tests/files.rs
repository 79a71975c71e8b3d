//! Configuration files as users write them: TOML and JSON, good and bad.

use std::path::Path;
use watchpost_config::{Config, Format};

#[test]
fn the_reference_json_layout_is_accepted() {
    let text = r#"{
  "monitoring": {"cpu_threshold": 85, "memory_threshold": 80.5, "disk_threshold": 95, "monitor_interval": 5},
  "alerting": {"alert_cooldown_seconds": 600, "max_alerts_per_hour": 50},
  "api": {"host": "0.0.0.0", "port": 9000, "enable_cors": true, "cors_origins": ["https://soc.example.com"],
          "enable_rate_limiting": true, "enable_authentication": true},
  "storage": {"retention_days": 14, "alert_retention_days": 180}
}"#;
    let c = Config::parse(text, Format::Json, None).unwrap();
    assert_eq!(c.monitoring.cpu_threshold, 85.0);
    assert_eq!(c.alerting.alert_cooldown_seconds, 600);
    assert_eq!(c.api.port, 9000);
    assert_eq!(c.storage.alert_retention_days, 180);
}

#[test]
fn toml_errors_name_file_line_and_key() {
    let file = Path::new("/etc/watchpost/watchpost.toml");
    let text =
        "[api]\nhost = \"127.0.0.1\"\nmax_batch_events = 0\n\n[monitoring]\ncpu_threshold = 150\n";
    let errors = Config::parse(text, Format::Toml, Some(file))
        .unwrap_err()
        .to_string();
    assert!(errors.contains("/etc/watchpost/watchpost.toml:line 3: api.max_batch_events: 0 is out of range: allowed 1 to 1000000"), "{errors}");
    assert!(
        errors.contains("line 6: monitoring.cpu_threshold: 150 is out of range"),
        "{errors}"
    );

    let typo = "[api]\nprot = 8080\n";
    let errors = Config::parse(typo, Format::Toml, Some(file)).unwrap_err();
    let e = &errors.0[0];
    assert_eq!((e.line, e.column), (Some(2), Some(1)));
    assert!(
        e.message.contains("unknown field `prot`") && e.message.contains("`port`"),
        "{}",
        e.message
    );

    let wrong_type = "[storage]\nretention_days = \"thirty\"\n";
    let e = &Config::parse(wrong_type, Format::Toml, None).unwrap_err().0[0];
    assert_eq!(e.line, Some(2));
    assert!(e.message.contains("invalid type"), "{}", e.message);

    let broken = "[api\nport = 1\n";
    assert_eq!(
        Config::parse(broken, Format::Toml, None).unwrap_err().0[0].line,
        Some(1)
    );
}

#[test]
fn json_errors_name_line_and_column() {
    let text = "{\n  \"api\": {\n    \"port\": \"eighty\"\n  }\n}";
    let e = &Config::parse(text, Format::Json, None).unwrap_err().0[0];
    assert_eq!(e.line, Some(3));
    assert!(e.message.contains("invalid type"), "{}", e.message);
    let text = "{\n  \"api\": {\n    \"max_batch_events\": 0\n  }\n}";
    let e = &Config::parse(text, Format::Json, None).unwrap_err().0[0];
    assert_eq!(
        (e.line, e.key.as_deref()),
        (Some(3), Some("api.max_batch_events"))
    );
}

#[test]
fn no_file_means_defaults_and_masking_hides_url_passwords() {
    let c = Config::load_with_env(None, Vec::new()).unwrap();
    assert_eq!(c, Config::default());
    assert_eq!(c.database_url(), "sqlite://./watchpost-data/watchpost.db");
    let c = Config::load_with_env(
        None,
        vec![(
            "WATCHPOST_STORAGE__DATABASE_URL".into(),
            "postgres://wp:s3cret@db/wp".into(),
        )],
    )
    .unwrap();
    assert_eq!(
        c.masked_json()["storage"]["database_url"],
        "postgres://wp:********@db/wp"
    );
    let missing =
        Config::load_with_env(Some(Path::new("/nonexistent/w.toml")), Vec::new()).unwrap_err();
    assert!(
        missing
            .to_string()
            .starts_with("/nonexistent/w.toml: cannot read"),
        "{missing}"
    );
}
