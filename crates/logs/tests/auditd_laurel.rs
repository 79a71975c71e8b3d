//! The audit reader against LAUREL's test records (`../shared/corpus/auditd`): every
//! `record-*.txt` beside a `record-*.json` is read, and the arguments, titles, paths,
//! working folders and system-call fields must equal LAUREL's JSON rendering of them.

use serde_json::Value;
use std::collections::BTreeMap;
use std::path::PathBuf;

fn testdata() -> PathBuf {
    let dir = PathBuf::from(env!("CARGO_MANIFEST_DIR"))
        .join("../../../shared/corpus/auditd/laurel-testdata");
    assert!(
        dir.is_dir(),
        "the shared corpus is missing: {}",
        dir.display()
    );
    dir
}

/// Our records of one file, grouped by serial: `type` → the records' fields.
type Records = BTreeMap<String, Vec<BTreeMap<String, String>>>;

fn read(path: &std::path::Path) -> (BTreeMap<String, Records>, Vec<watchpost_logs::LogRecord>) {
    let mut by_serial: BTreeMap<String, Records> = BTreeMap::new();
    let mut derived = Vec::new();
    let stats = watchpost_logs::read_auditd(path, |record| match record.event.source {
        Some(watchpost_sigma::sources::AUDITD) => {
            let fields: BTreeMap<String, String> = record
                .event
                .fields()
                .map(|(k, v)| (k.to_string(), v.to_string()))
                .collect();
            by_serial
                .entry(fields["serial"].clone())
                .or_default()
                .entry(fields["type"].clone())
                .or_default()
                .push(fields);
        }
        _ => derived.push(record),
    })
    .unwrap();
    assert_eq!(stats.skipped, 0, "{}: {:?}", path.display(), stats.problems);
    (by_serial, derived)
}

fn text(v: &Value) -> String {
    match v {
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}

#[test]
fn records_decode_as_laurel_renders_them() {
    let mut compared = 0;
    let mut files = 0;
    for entry in std::fs::read_dir(testdata()).unwrap() {
        let json_path = entry.unwrap().path();
        let name = json_path.file_name().unwrap().to_str().unwrap().to_string();
        if !(name.starts_with("record-") && name.ends_with(".json")) {
            continue;
        }
        let txt = json_path.with_extension("txt");
        let (ours, _) = read(&txt);
        files += 1;
        for line in std::fs::read_to_string(&json_path).unwrap().lines() {
            let laurel: Value = serde_json::from_str(line).unwrap();
            let id = laurel["ID"].as_str().unwrap();
            let serial = id.rsplit(':').next().unwrap();
            let records = ours
                .get(serial)
                .unwrap_or_else(|| panic!("{name}: event {id} not read"));
            let one = |kind: &str| -> &BTreeMap<String, String> {
                &records
                    .get(kind)
                    .unwrap_or_else(|| panic!("{name}: no {kind}"))[0]
            };
            if let Some(execve) = laurel.get("EXECVE") {
                let ours = one("EXECVE");
                let argv = execve["ARGV"].as_array().unwrap();
                assert_eq!(ours["argc"], argv.len().to_string(), "{name}");
                for (i, arg) in argv.iter().enumerate() {
                    assert_eq!(ours[&format!("a{i}")], text(arg), "{name}: a{i}");
                }
                compared += 1;
            }
            if let Some(title) = laurel.pointer("/PROCTITLE/ARGV") {
                let joined: Vec<String> = title.as_array().unwrap().iter().map(text).collect();
                assert_eq!(one("PROCTITLE")["proctitle"], joined.join(" "), "{name}");
                compared += 1;
            }
            if let Some(cwd) = laurel.pointer("/CWD/cwd") {
                assert_eq!(one("CWD")["cwd"], text(cwd), "{name}");
                compared += 1;
            }
            if let Some(paths) = laurel.get("PATH").and_then(Value::as_array) {
                let ours: Vec<Option<&String>> =
                    records["PATH"].iter().map(|p| p.get("name")).collect();
                let theirs: Vec<Option<String>> =
                    paths.iter().map(|p| p.get("name").map(text)).collect();
                assert_eq!(
                    ours.iter().map(|o| o.cloned()).collect::<Vec<_>>(),
                    theirs,
                    "{name}"
                );
                compared += 1;
            }
            if let Some(syscall) = laurel.get("SYSCALL") {
                let ours = one("SYSCALL");
                if syscall.get("SYSCALL").is_none() && syscall["syscall"] == 59 {
                    // Not enriched: the name comes from our x86_64 table.
                    assert_eq!(ours["SYSCALL"], "execve", "{name}");
                }
                for field in [
                    "exe", "comm", "pid", "ppid", "success", "exit", "SYSCALL", "key",
                ] {
                    if field == "SYSCALL" && syscall.get(field).is_none() {
                        continue;
                    }
                    match syscall.get(field) {
                        Some(Value::Null) | None => {
                            assert!(!ours.contains_key(field), "{name}: {field}")
                        }
                        Some(v) => assert_eq!(ours.get(field), Some(&text(v)), "{name}: {field}"),
                    }
                }
                compared += 1;
            }
        }
    }
    assert_eq!(files, 14, "every LAUREL record with a JSON rendering");
    assert!(compared >= 30, "{compared} comparisons");
}

#[test]
fn an_execve_becomes_a_process_creation_event_with_its_parent() {
    let (_, derived) = read(&testdata().join("record-perl-reverse-shell.txt"));
    let process = derived
        .iter()
        .find(|r| r.event.source == Some(watchpost_sigma::sources::LINUX_PROCESS_CREATION))
        .expect("a process-creation event");
    let get = |k: &str| process.event.get(k).map(|(v, _)| v.to_string());
    assert_eq!(get("Image").as_deref(), Some("/usr/bin/perl"));
    assert!(
        get("CommandLine")
            .unwrap()
            .starts_with("perl -e use Socket;$i=\"10.0.0.1\"")
    );
    assert_eq!(get("User").as_deref(), Some("root"));
    assert_eq!(get("CurrentDirectory").as_deref(), Some("/root"));
    assert_eq!(process.record_id, 1, "the SYSCALL line");
    assert_eq!(
        process.timestamp.unwrap().to_rfc3339(),
        "2021-07-18T12:29:23.720+00:00"
    );

    // A shell that runs a command: the child's parent image is the shell's own execve.
    let (_, derived) = read(&testdata().join("shell-proc-trace.txt"));
    let processes: Vec<_> = derived
        .iter()
        .filter(|r| r.event.source == Some(watchpost_sigma::sources::LINUX_PROCESS_CREATION))
        .collect();
    assert!(processes.len() >= 2, "{}", processes.len());
    assert!(
        processes
            .iter()
            .any(|p| p.event.get("ParentImage").is_some()),
        "some parent is known"
    );
}

#[test]
fn sigma_auditd_and_linux_process_rules_match_the_perl_reverse_shell() {
    let sigma = testdata().join("../../sigma/rules/linux");
    let mut set = watchpost_sigma::RuleSet::default();
    set.load_dir(&sigma);
    let set = set.compile();
    let mut titles = Vec::new();
    watchpost_logs::read_auditd(&testdata().join("record-perl-reverse-shell.txt"), |r| {
        titles.extend(set.matches(&r.event).iter().map(|m| m.rule.id.clone()));
    })
    .unwrap();
    // proc_creation_lnx_perl_reverse_shell.yml
    assert!(
        titles.contains(&"259df6bc-003f-4306-9f54-4ff1a08fa38e".to_string()),
        "{titles:?}"
    );
}
