//! File integrity monitoring: a hashed baseline of watched files (owner, mode, size,
//! SHA-256), inotify to hear of changes at once, and each change reported with its
//! before and after as an event and a detection.
//!
//! The baseline is saved after every change, so changes made while the agent was stopped
//! are reported when it starts again. Directories are watched for the files directly in
//! them (cron and systemd folders); a file is watched through its parent directory,
//! because editors replace files by renaming a new one over them. A full rescan every few
//! minutes catches what inotify can miss (a watch added after the file's folder appeared,
//! an overflowing event queue).

use crate::hashing::MAX_HASHED_BYTES;
use notify::{RecursiveMode, Watcher};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};
use watchpost_core::event::{File, Hashes};
use watchpost_core::{AttackTags, Detection, Entity, Event, Severity};

/// Files read from one watched directory, at most.
const MAX_FILES_PER_DIRECTORY: usize = 1000;
/// How often everything is rescanned regardless of inotify.
const RESCAN_EVERY: Duration = Duration::from_secs(300);
/// Changes to one file within this window are reported once.
const SETTLE: Duration = Duration::from_millis(200);

/// The paths watched when none are configured.
pub fn default_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = [
        "/etc/passwd",
        "/etc/shadow",
        "/etc/group",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/sudoers.d",
        "/etc/ssh/sshd_config",
        "/etc/ld.so.preload",
        "/etc/crontab",
        "/etc/cron.d",
        "/etc/cron.hourly",
        "/etc/cron.daily",
        "/etc/cron.weekly",
        "/etc/cron.monthly",
        "/var/spool/cron/crontabs",
        "/etc/systemd/system",
        "/root/.ssh/authorized_keys",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    if let Ok(homes) = std::fs::read_dir("/home") {
        for home in homes.flatten().take(MAX_FILES_PER_DIRECTORY) {
            paths.push(home.path().join(".ssh/authorized_keys"));
        }
    }
    paths
}

/// What a file looked like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    pub sha256: Option<String>,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits and file type, as `st_mode`.
    pub mode: u32,
}

impl FileState {
    /// Reads `path` now; `None` when it does not exist or is not a regular file.
    pub fn read(path: &Path) -> Option<FileState> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        if !meta.is_file() {
            return None;
        }
        let sha256 = (meta.len() <= MAX_HASHED_BYTES)
            .then(|| hash_file(path))
            .flatten();
        Some(FileState {
            sha256,
            size: meta.len(),
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode(),
        })
    }
}

fn hash_file(path: &Path) -> Option<String> {
    crate::hashing::sha256_hex(&mut std::fs::File::open(path).ok()?)
}

/// One change to a watched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: PathBuf,
    pub before: Option<FileState>,
    pub after: Option<FileState>,
}

impl FileChange {
    /// `file-created`, `file-deleted`, `file-modified` (content) or
    /// `file-attributes-changed` (owner or mode only).
    pub fn action(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, Some(_)) => "file-created",
            (Some(_), None) => "file-deleted",
            (Some(b), Some(a)) if b.sha256 != a.sha256 || b.size != a.size => "file-modified",
            _ => "file-attributes-changed",
        }
    }
}

/// The monitor.
pub struct Fim {
    watched: Vec<PathBuf>,
    baseline: BTreeMap<PathBuf, FileState>,
    state_file: Option<PathBuf>,
    events: mpsc::Receiver<PathBuf>,
    _watcher: Option<notify::RecommendedWatcher>,
    last_rescan: Instant,
}

impl Fim {
    /// Starts watching `paths`. The baseline saved in `state_file` (if any) is compared
    /// with the files now: what changed while nobody watched is returned at once.
    pub fn start(paths: Vec<PathBuf>, state_file: Option<PathBuf>) -> (Fim, Vec<FileChange>) {
        let saved: Option<BTreeMap<PathBuf, FileState>> = crate::state::load(state_file.as_deref());
        let (tx, events) = mpsc::channel();
        let watcher = watch(&paths, tx);
        let mut fim = Fim {
            watched: paths,
            baseline: BTreeMap::new(),
            state_file,
            events,
            _watcher: watcher,
            last_rescan: Instant::now(),
        };
        let now = fim.scan_all();
        let changes = match saved {
            Some(saved) => diff(&saved, &now),
            None => Vec::new(),
        };
        fim.baseline = now;
        fim.save();
        (fim, changes)
    }

    /// Files in the baseline.
    pub fn baseline(&self) -> &BTreeMap<PathBuf, FileState> {
        &self.baseline
    }

    /// Waits up to `timeout` for changes and returns them.
    pub fn next_changes(&mut self, timeout: Duration) -> Vec<FileChange> {
        let mut touched = BTreeSet::new();
        if let Ok(path) = self.events.recv_timeout(timeout) {
            touched.insert(path);
            // Let a burst (write, chmod, rename) settle into one report.
            let until = Instant::now() + SETTLE;
            while let Some(left) = until.checked_duration_since(Instant::now()) {
                match self.events.recv_timeout(left) {
                    Ok(path) => {
                        touched.insert(path);
                    }
                    Err(_) => break,
                }
            }
        }
        let mut changes = Vec::new();
        if self.last_rescan.elapsed() >= RESCAN_EVERY {
            self.last_rescan = Instant::now();
            let now = self.scan_all();
            changes = diff(&self.baseline, &now);
            self.baseline = now;
        } else {
            let touched: Vec<PathBuf> =
                touched.into_iter().filter(|p| self.is_watched(p)).collect();
            for path in touched {
                let before = self.baseline.get(&path).cloned();
                let after = FileState::read(&path);
                if before != after {
                    match &after {
                        Some(state) => self.baseline.insert(path.clone(), state.clone()),
                        None => self.baseline.remove(&path),
                    };
                    changes.push(FileChange {
                        path,
                        before,
                        after,
                    });
                }
            }
        }
        if !changes.is_empty() {
            self.save();
        }
        changes
    }

    fn is_watched(&self, path: &Path) -> bool {
        self.watched
            .iter()
            .any(|w| w == path || (path.parent() == Some(w.as_path()) && w.is_dir()))
    }

    fn scan_all(&self) -> BTreeMap<PathBuf, FileState> {
        let mut out = BTreeMap::new();
        for path in &self.watched {
            if path.is_dir() {
                let Ok(entries) = std::fs::read_dir(path) else {
                    continue;
                };
                for entry in entries.flatten().take(MAX_FILES_PER_DIRECTORY) {
                    if let Some(state) = FileState::read(&entry.path()) {
                        out.insert(entry.path(), state);
                    }
                }
            } else if let Some(state) = FileState::read(path) {
                out.insert(path.clone(), state);
            }
        }
        out
    }

    fn save(&self) {
        if let Some(file) = &self.state_file {
            crate::state::save(file, &self.baseline, "file-integrity baseline");
        }
    }
}

/// Watches every watched directory, and the parent directory of every watched file.
fn watch(paths: &[PathBuf], tx: mpsc::Sender<PathBuf>) -> Option<notify::RecommendedWatcher> {
    let mut watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
        if let Ok(event) = res {
            for path in event.paths {
                let _ = tx.send(path);
            }
        }
    })
    .map_err(|e| tracing::warn!(error = %e, "inotify is not available; files are rescanned every few minutes only"))
    .ok()?;
    let mut folders = BTreeSet::new();
    for path in paths {
        if path.is_dir() {
            folders.insert(path.clone());
        } else if let Some(parent) = path.parent().filter(|p| p.is_dir()) {
            folders.insert(parent.to_path_buf());
        }
    }
    for folder in folders {
        if let Err(e) = watcher.watch(&folder, RecursiveMode::NonRecursive) {
            tracing::warn!(folder = %folder.display(), error = %e, "cannot watch folder");
        }
    }
    Some(watcher)
}

fn diff(
    before: &BTreeMap<PathBuf, FileState>,
    after: &BTreeMap<PathBuf, FileState>,
) -> Vec<FileChange> {
    let paths: BTreeSet<&PathBuf> = before.keys().chain(after.keys()).collect();
    paths
        .into_iter()
        .filter(|p| before.get(*p) != after.get(*p))
        .map(|p| FileChange {
            path: p.clone(),
            before: before.get(p).cloned(),
            after: after.get(p).cloned(),
        })
        .collect()
}

/// What a changed file is, for the detection: title, severity, ATT&CK tags.
fn classify(path: &Path) -> (&'static str, Severity, &'static [&'static str]) {
    let p = path.to_string_lossy();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    if p == "/etc/ld.so.preload" {
        (
            "Dynamic linker preload list changed",
            Severity::Critical,
            &["attack.persistence", "attack.t1574.006"],
        )
    } else if name == "authorized_keys" {
        (
            "SSH authorized keys changed",
            Severity::High,
            &["attack.persistence", "attack.t1098.004"],
        )
    } else if name.starts_with("sudoers") || p.contains("/sudoers.d/") {
        (
            "Sudo rules changed",
            Severity::High,
            &["attack.privilege-escalation", "attack.t1548.003"],
        )
    } else if ["passwd", "shadow", "group", "gshadow"].contains(&name.as_ref()) {
        (
            "Account database changed",
            Severity::High,
            &["attack.persistence", "attack.t1136.001", "attack.t1098"],
        )
    } else if p.contains("cron") {
        (
            "Scheduled job changed",
            Severity::High,
            &["attack.persistence", "attack.t1053.003"],
        )
    } else if p.contains("/systemd/") {
        (
            "Systemd unit changed",
            Severity::Medium,
            &["attack.persistence", "attack.t1543.002"],
        )
    } else if name == "sshd_config" || p.contains("/sshd_config.d/") {
        (
            "SSH server configuration changed",
            Severity::Medium,
            &["attack.persistence", "attack.t1021.004"],
        )
    } else {
        ("Watched file changed", Severity::Medium, &[])
    }
}

fn file_fields(path: &Path, state: Option<&FileState>) -> File {
    File {
        path: Some(path.display().to_string()),
        name: path.file_name().map(|n| n.to_string_lossy().into_owned()),
        size: state.map(|s| s.size),
        owner: state.map(|s| s.uid.to_string()),
        mode: state.map(|s| format!("{:o}", s.mode & 0o7777)),
        hash: state.and_then(|s| s.sha256.clone()).map(|sha256| Hashes {
            sha256: Some(sha256),
            ..Hashes::default()
        }),
    }
}

/// The event of a change: `file.*` is the file after it (or before, when deleted); the
/// state before is in `labels` (`fim.before.*`).
pub fn change_event(change: &FileChange, host: Option<String>) -> Event {
    let mut event = Event::new(chrono::Utc::now(), "agent");
    event.event.category = vec!["file".into()];
    event.event.action = Some(change.action().into());
    event.event.dataset = Some("file.integrity".into());
    event.host.name = host;
    event.file = Some(file_fields(
        &change.path,
        change.after.as_ref().or(change.before.as_ref()),
    ));
    if let Some(before) = &change.before {
        let labels = &mut event.labels;
        labels.insert("fim.before.size".into(), before.size.to_string());
        labels.insert(
            "fim.before.owner".into(),
            format!("{}:{}", before.uid, before.gid),
        );
        labels.insert(
            "fim.before.mode".into(),
            format!("{:o}", before.mode & 0o7777),
        );
        if let Some(hash) = &before.sha256 {
            labels.insert("fim.before.sha256".into(), hash.clone());
        }
    }
    event
}

/// The detection of a change, with both states as evidence.
pub fn change_detection(change: &FileChange, event: &Event) -> Detection {
    let (title, severity, tags) = classify(&change.path);
    let mut d = Detection::new(
        &format!("watchpost.fim.{}", change.action()),
        title,
        severity,
        "fim",
    );
    d.category = Some("file".into());
    d.host = event.host.name.clone();
    d.attack = AttackTags::from_sigma_tags(tags.iter().copied());
    d.event_ids = vec![event.id()];
    if let Some(host) = &d.host {
        d.entity = Some(Entity::Host { name: host.clone() });
    }
    d.summary = format!("{}: {} ({})", title, change.path.display(), change.action());
    let state = |s: &Option<FileState>| {
        s.as_ref().map(|s| {
            serde_json::json!({
                "sha256": s.sha256, "size": s.size, "owner": format!("{}:{}", s.uid, s.gid),
                "mode": format!("{:o}", s.mode & 0o7777),
            })
        })
    };
    d.evidence = serde_json::json!({
        "path": change.path.display().to_string(),
        "action": change.action(),
        "before": state(&change.before),
        "after": state(&change.after),
    });
    d
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn edits_renames_and_mode_changes_are_seen_with_before_and_after() {
        let dir = tempfile::tempdir().unwrap();
        let watched = dir.path().join("passwd");
        let folder = dir.path().join("cron.d");
        std::fs::write(&watched, "root:x:0:0::/root:/bin/sh\n").unwrap();
        std::fs::create_dir(&folder).unwrap();
        let state = dir.path().join("baseline.json");
        let (mut fim, initial) =
            Fim::start(vec![watched.clone(), folder.clone()], Some(state.clone()));
        assert!(initial.is_empty(), "no saved baseline: nothing to compare");
        assert_eq!(fim.baseline().len(), 1);

        // An edit the way editors do it: a new file renamed over the old one.
        let new = dir.path().join("passwd.new");
        std::fs::write(&new, "root:x:0:0::/root:/bin/sh\nevil:x:0:0::/:/bin/sh\n").unwrap();
        std::fs::rename(&new, &watched).unwrap();
        let changes = wait_for_changes(&mut fim);
        assert_eq!(changes.len(), 1, "{changes:?}");
        let change = &changes[0];
        assert_eq!(change.path, watched);
        assert_eq!(change.action(), "file-modified");
        assert_ne!(
            change.before.as_ref().unwrap().sha256,
            change.after.as_ref().unwrap().sha256
        );
        let event = change_event(change, Some("h".into()));
        let detection = change_detection(change, &event);
        assert_eq!(detection.rule_title, "Account database changed");
        assert_eq!(detection.evidence["before"]["size"], 26);
        assert!(
            detection.evidence["after"]["sha256"]
                .as_str()
                .unwrap()
                .len()
                == 64
        );

        // A file dropped into a watched folder, then a mode change.
        std::fs::write(folder.join("job"), "* * * * * root sh\n").unwrap();
        let changes = wait_for_changes(&mut fim);
        assert_eq!(changes[0].action(), "file-created");
        std::fs::set_permissions(&watched, std::fs::Permissions::from_mode(0o666)).unwrap();
        let changes = wait_for_changes(&mut fim);
        assert_eq!(changes[0].action(), "file-attributes-changed");
        assert_eq!(
            change_event(&changes[0], None)
                .file
                .unwrap()
                .mode
                .as_deref(),
            Some("666")
        );

        // Changes made while nobody watched are reported at the next start.
        drop(fim);
        std::fs::remove_file(folder.join("job")).unwrap();
        let (_fim, missed) = Fim::start(vec![watched, folder.clone()], Some(state));
        assert_eq!(missed.len(), 1);
        assert_eq!(missed[0].path, folder.join("job"));
        assert_eq!(missed[0].action(), "file-deleted");
    }

    fn wait_for_changes(fim: &mut Fim) -> Vec<FileChange> {
        for _ in 0..50 {
            let changes = fim.next_changes(Duration::from_millis(100));
            if !changes.is_empty() {
                return changes;
            }
        }
        panic!("no change seen");
    }
}
