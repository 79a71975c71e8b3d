//! File integrity monitoring: a hashed baseline of watched files (owner, mode, size,
//! SHA-256, link target, inode), inotify to hear of changes at once, and each change
//! reported with its before and after as an event and a detection.
//!
//! The baseline is saved after every change, so changes made while the agent was stopped
//! are reported when it starts again. Folders are watched with the files in them and in
//! their subfolders ([`places::MAX_DEPTH`]: `systemctl enable` adds links under
//! `*.wants/`); a file is watched through its folder, because editors replace files by
//! renaming a new one over them. The nearest existing ancestor of every watched path is
//! watched too, so a folder created, deleted or recreated after start (`~/.ssh` removed
//! and made again with a new `authorized_keys`) re-arms the watches and is compared at
//! once. Logs and shell histories only grow: they are not hashed and only their emptying,
//! deletion or replacement by a link is reported ([`places::grows_only`]). A full rescan
//! every few minutes catches what inotify can miss (an overflowing event queue).

mod places;
mod report;
mod state;

pub use places::{classify, default_paths, grows_only};
pub use report::{change_detection, change_event};
pub use state::{FileChange, FileState};

use notify::{RecursiveMode, Watcher};
use places::{MAX_DEPTH, MAX_FILES_PER_DIRECTORY, rotated_by_copy};
use std::collections::{BTreeMap, BTreeSet};
use std::path::{Path, PathBuf};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// How often everything is rescanned regardless of inotify.
const RESCAN_EVERY: Duration = Duration::from_secs(300);
/// Changes to one file within this window are reported once.
const SETTLE: Duration = Duration::from_millis(200);

/// The monitor.
pub struct Fim {
    watched: Vec<PathBuf>,
    baseline: BTreeMap<PathBuf, FileState>,
    state_file: Option<PathBuf>,
    events: mpsc::Receiver<PathBuf>,
    sender: mpsc::Sender<PathBuf>,
    watcher: Option<notify::RecommendedWatcher>,
    /// The folders the watcher was armed on: an event naming one of them itself (it was
    /// removed, renamed, or replaced by a new folder of the same name, which may even
    /// reuse its inode number) re-arms the watcher.
    armed: BTreeSet<PathBuf>,
    last_rescan: Instant,
}

impl Fim {
    /// Starts watching `paths`. The baseline saved in `state_file` (if any) is compared
    /// with the files now: what changed while nobody watched is returned at once.
    pub fn start(paths: Vec<PathBuf>, state_file: Option<PathBuf>) -> (Fim, Vec<FileChange>) {
        let saved: Option<BTreeMap<PathBuf, FileState>> = crate::state::load(state_file.as_deref());
        let (sender, events) = mpsc::channel();
        let mut fim = Fim {
            watched: paths,
            baseline: BTreeMap::new(),
            state_file,
            events,
            sender,
            watcher: None,
            armed: BTreeSet::new(),
            last_rescan: Instant::now(),
        };
        fim.arm();
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
        let rearm = touched.iter().any(|p| self.changes_the_watch(p));
        if rearm {
            // A folder on the way to a watched path appeared or went: watch anew and
            // compare everything (what was made inside it before the watch was there).
            self.arm();
        }
        let mut changes = Vec::new();
        if rearm || self.last_rescan.elapsed() >= RESCAN_EVERY {
            self.last_rescan = Instant::now();
            let now = self.scan_all();
            changes = diff(&self.baseline, &now);
            self.baseline = now;
        } else {
            let touched: Vec<PathBuf> =
                touched.into_iter().filter(|p| self.is_watched(p)).collect();
            for path in touched {
                let before = self.baseline.get(&path).cloned();
                let after = FileState::read(&path, grows_only(&path));
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
        changes.retain(worth_reporting);
        if !changes.is_empty() || rearm {
            self.save();
        }
        changes
    }

    /// Whether `path` is watched: one of the paths, or a file at most [`MAX_DEPTH`]
    /// folders below a watched folder.
    fn is_watched(&self, path: &Path) -> bool {
        self.watched.iter().any(|w| {
            w == path
                || path
                    .strip_prefix(w)
                    .is_ok_and(|rest| rest.components().count() <= MAX_DEPTH && is_real_folder(w))
        })
    }

    /// Whether an event on `path` changes what must be watched: a watched folder or a
    /// folder on the way to a watched path was created, deleted or renamed.
    fn changes_the_watch(&self, path: &Path) -> bool {
        if self.armed.contains(path) {
            // `rm -rf ~/.ssh; mkdir ~/.ssh`: the watch went with the old folder.
            return true;
        }
        // A folder on the way to a watched path appeared. Most events (a log written
        // beside a watched one) end before the stat.
        self.watched.iter().any(|w| w.starts_with(path)) && path.is_dir()
    }

    fn scan_all(&self) -> BTreeMap<PathBuf, FileState> {
        let mut out = BTreeMap::new();
        for path in &self.watched {
            if is_real_folder(path) {
                scan_folder(path, MAX_DEPTH, &mut out);
            } else if let Some(state) = FileState::read(path, grows_only(path)) {
                out.insert(path.clone(), state);
            }
        }
        out
    }

    /// (Re)creates the watcher on every watched folder (recursively, to [`MAX_DEPTH`]),
    /// the folder of every watched file, and the nearest existing ancestor of each.
    fn arm(&mut self) {
        let sender = self.sender.clone();
        let watcher = notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
            if let Ok(event) = res {
                for path in event.paths {
                    let _ = sender.send(path);
                }
            }
        });
        let mut watcher = match watcher {
            Ok(w) => w,
            Err(e) => {
                tracing::warn!(error = %e, "inotify is not available; files are rescanned every few minutes only");
                return;
            }
        };
        let mut folders = BTreeSet::new();
        for path in &self.watched {
            let folder = if is_real_folder(path) {
                scan_subfolders(path, MAX_DEPTH, &mut folders);
                path.clone()
            } else {
                path.parent().map(Path::to_path_buf).unwrap_or_default()
            };
            // The folder, or the nearest ancestor that exists, and the one above it (so
            // that the folder's own deletion and re-creation are heard).
            let existing = folder
                .ancestors()
                .find(|a| a.is_dir())
                .map(Path::to_path_buf);
            if let Some(existing) = existing {
                if let Some(parent) = existing.parent() {
                    folders.insert(parent.to_path_buf());
                }
                folders.insert(existing);
            }
        }
        for folder in &folders {
            if let Err(e) = watcher.watch(folder, RecursiveMode::NonRecursive) {
                tracing::warn!(folder = %folder.display(), error = %e, "cannot watch folder");
            }
        }
        self.armed = folders;
        self.watcher = Some(watcher);
    }

    fn save(&self) {
        if let Some(file) = &self.state_file {
            crate::state::save(file, &self.baseline, "file-integrity baseline");
        }
    }
}

/// Whether `path` is a folder reached through no symbolic link. A watched folder in a
/// user's home (`~/.config/autostart`) that is a link, or lies under one, is reported as
/// what it is and never descended into: the agent runs as root, and a user must not point
/// it at folders of their choosing to read and hash.
fn is_real_folder(path: &Path) -> bool {
    path.is_dir() && path.canonicalize().is_ok_and(|real| real == path)
}

/// The files of `folder` and of its subfolders `depth` deep, bounded per folder.
fn scan_folder(folder: &Path, depth: usize, out: &mut BTreeMap<PathBuf, FileState>) {
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten().take(MAX_FILES_PER_DIRECTORY) {
        let path = entry.path();
        let is_folder = entry.file_type().is_ok_and(|t| t.is_dir());
        if is_folder {
            if depth > 1 {
                scan_folder(&path, depth - 1, out);
            }
        } else if let Some(state) = FileState::read(&path, grows_only(&path)) {
            out.insert(path, state);
        }
    }
}

/// The subfolders of `folder`, `depth` deep (links to folders are not followed).
fn scan_subfolders(folder: &Path, depth: usize, out: &mut BTreeSet<PathBuf>) {
    if depth <= 1 {
        return;
    }
    let Ok(entries) = std::fs::read_dir(folder) else {
        return;
    };
    for entry in entries.flatten().take(MAX_FILES_PER_DIRECTORY) {
        if entry.file_type().is_ok_and(|t| t.is_dir()) {
            out.insert(entry.path());
            scan_subfolders(&entry.path(), depth - 1, out);
        }
    }
}

/// Whether a change is worth a report. A file that only grows is reported when it is
/// emptied in place (unless rotated by copying), deleted, replaced by a link or has its
/// owner or mode changed; its growth, and its re-creation by a rotation, are not.
fn worth_reporting(change: &FileChange) -> bool {
    if !grows_only(&change.path) {
        return true;
    }
    match change.action() {
        "file-truncated" => !change
            .before
            .as_ref()
            .is_some_and(|b| rotated_by_copy(&change.path, b.size)),
        "file-deleted" | "replaced-by-symlink" | "symlink-retargeted" | "symlink-created" => true,
        "file-attributes-changed" => change
            .before
            .as_ref()
            .zip(change.after.as_ref())
            .is_some_and(|(b, a)| {
                (b.uid, b.gid, b.mode) != (a.uid, a.gid, a.mode) && b.inode == a.inode
            }),
        _ => false,
    }
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

    #[test]
    fn links_in_subfolders_and_folders_made_after_start_are_seen() {
        let dir = tempfile::tempdir().unwrap();
        let units = dir.path().join("systemd/system");
        std::fs::create_dir_all(units.join("multi-user.target.wants")).unwrap();
        let home = dir.path().join("home/alice");
        std::fs::create_dir_all(home.join(".ssh")).unwrap();
        let keys = home.join(".ssh/authorized_keys");
        std::fs::write(&keys, "ssh-ed25519 AAAA alice\n").unwrap();
        let (mut fim, _) = Fim::start(vec![units.clone(), keys.clone()], None);

        // `systemctl enable`: a link in a *.wants folder.
        let unit = dir.path().join("evil.service");
        std::fs::write(&unit, "[Service]\nExecStart=/tmp/x\n").unwrap();
        let link = units.join("multi-user.target.wants/evil.service");
        std::os::unix::fs::symlink(&unit, &link).unwrap();
        let changes = wait_for_changes(&mut fim);
        assert_eq!(changes[0].path, link);
        assert_eq!(changes[0].action(), "symlink-created");
        let event = change_event(&changes[0], None);
        assert_eq!(event.labels["fim.link"], unit.display().to_string());
        assert_eq!(
            change_detection(&changes[0], &event).rule_title,
            "Systemd unit changed"
        );
        // Retargeted.
        std::fs::remove_file(&link).unwrap();
        std::os::unix::fs::symlink("/dev/null", &link).unwrap();
        let changes = wait_for_changes(&mut fim);
        assert!(
            changes.iter().any(|c| c.action() == "symlink-retargeted"),
            "{changes:?}"
        );

        // The key folder removed, then made again with a new key: seen at once.
        std::fs::remove_dir_all(home.join(".ssh")).unwrap();
        let changes = wait_for_changes(&mut fim);
        assert_eq!(changes[0].action(), "file-deleted");
        std::fs::create_dir(home.join(".ssh")).unwrap();
        std::fs::write(&keys, "ssh-ed25519 AAAA intruder\n").unwrap();
        let changes = wait_for_changes(&mut fim);
        assert_eq!(changes[0].path, keys, "{changes:?}");
        assert_eq!(changes[0].action(), "file-created");
        // All at once (`rm -rf ~/.ssh; mkdir ~/.ssh; echo … >> ~/.ssh/authorized_keys`):
        // the new folder is not the one watched, and is watched anew.
        std::fs::remove_dir_all(home.join(".ssh")).unwrap();
        std::fs::create_dir(home.join(".ssh")).unwrap();
        std::fs::write(&keys, "ssh-ed25519 AAAA second-intruder\n").unwrap();
        let changes = wait_for_changes(&mut fim);
        assert!(
            changes
                .iter()
                .any(|c| c.path == keys && c.action() == "file-modified"),
            "{changes:?}"
        );
        std::fs::write(&keys, "ssh-ed25519 AAAA third\n").unwrap();
        let changes = wait_for_changes(&mut fim);
        assert_eq!(
            changes[0].action(),
            "file-modified",
            "the new folder is watched"
        );
    }

    #[test]
    fn a_history_emptied_or_linked_away_is_reported_but_not_its_growth() {
        let dir = tempfile::tempdir().unwrap();
        let history = dir.path().join(".bash_history");
        std::fs::write(&history, "ls\ncd /tmp\n").unwrap();
        let (mut fim, _) = Fim::start(vec![history.clone()], None);
        assert_eq!(
            fim.baseline()[&history].sha256,
            None,
            "histories are not hashed"
        );

        use std::io::Write;
        let mut file = std::fs::OpenOptions::new()
            .append(true)
            .open(&history)
            .unwrap();
        file.write_all(b"whoami\n").unwrap();
        drop(file);
        assert!(
            no_changes(&mut fim),
            "growth is not a change worth a report"
        );

        // `> ~/.bash_history`, or `history -c; history -w`.
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&history)
            .unwrap();
        let changes = wait_for_changes(&mut fim);
        assert_eq!(changes[0].action(), "file-truncated");
        let event = change_event(&changes[0], None);
        assert_eq!(
            change_detection(&changes[0], &event).rule_title,
            "Shell history cleared or disabled"
        );

        // `ln -sf /dev/null ~/.bash_history`.
        std::fs::remove_file(&history).unwrap();
        std::os::unix::fs::symlink("/dev/null", &history).unwrap();
        let changes = wait_for_changes(&mut fim);
        assert!(
            changes
                .iter()
                .any(|c| matches!(c.action(), "replaced-by-symlink" | "file-deleted")),
            "{changes:?}"
        );
    }

    #[test]
    fn a_log_rotated_by_copy_is_not_reported_as_cleared() {
        let dir = tempfile::tempdir().unwrap();
        let log = dir.path().join("auth.log");
        std::fs::write(&log, "line\n".repeat(100)).unwrap();
        // A log under /var/log only grows; here the history name stands in for it.
        let history = dir.path().join(".zsh_history");
        std::fs::write(&history, "line\n".repeat(100)).unwrap();
        let (mut fim, _) = Fim::start(vec![history.clone()], None);
        // copytruncate: the contents copied beside it, then emptied in place.
        std::fs::copy(&history, dir.path().join(".zsh_history.1")).unwrap();
        std::fs::OpenOptions::new()
            .write(true)
            .truncate(true)
            .open(&history)
            .unwrap();
        assert!(no_changes(&mut fim), "a rotation by copy is not a clearing");
        assert!(grows_only(Path::new("/var/log/auth.log")));
        assert!(grows_only(Path::new("/var/log/nginx/access.log")));
        assert!(!grows_only(&log) && !grows_only(Path::new("/etc/passwd")));
    }

    #[test]
    fn a_watched_folder_that_is_a_link_is_not_followed() {
        let dir = tempfile::tempdir().unwrap();
        let dir = dir.path().canonicalize().unwrap();
        let elsewhere = dir.join("elsewhere");
        std::fs::create_dir_all(elsewhere.join("deeper")).unwrap();
        std::fs::write(elsewhere.join("secret"), "not the agent's to read\n").unwrap();
        std::fs::write(elsewhere.join("deeper/more"), "nor this\n").unwrap();
        let home = dir.join("home");
        std::fs::create_dir_all(home.join(".config")).unwrap();
        let autostart = home.join(".config/autostart");
        std::os::unix::fs::symlink(&elsewhere, &autostart).unwrap();
        let (fim, _) = Fim::start(vec![autostart.clone()], None);
        let kept: Vec<&PathBuf> = fim.baseline().keys().collect();
        assert_eq!(kept, [&autostart], "the link itself, nothing behind it");
        assert!(fim.baseline()[&autostart].link.is_some());
        // A link higher up the path is not followed either.
        std::fs::remove_file(&autostart).unwrap();
        std::fs::remove_dir(home.join(".config")).unwrap();
        std::fs::create_dir_all(dir.join("other/autostart")).unwrap();
        std::fs::write(dir.join("other/autostart/x"), "x\n").unwrap();
        std::os::unix::fs::symlink(dir.join("other"), home.join(".config")).unwrap();
        let (fim, _) = Fim::start(vec![autostart.clone()], None);
        assert!(fim.baseline().is_empty(), "{:?}", fim.baseline().keys());
    }

    /// Whether nothing is reported for a second.
    fn no_changes(fim: &mut Fim) -> bool {
        (0..10).all(|_| fim.next_changes(Duration::from_millis(100)).is_empty())
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
