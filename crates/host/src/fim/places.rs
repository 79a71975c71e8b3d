//! Which files are watched by default, which of them only ever grow, and what a change to
//! each means.

use std::path::{Path, PathBuf};
use std::time::{Duration, SystemTime};
use watchpost_core::Severity;

/// Files read from one watched directory, at most.
pub const MAX_FILES_PER_DIRECTORY: usize = 1000;
/// How deep below a watched folder files are watched: `/etc/systemd/system` holds its
/// enabled units as links in `*.wants/` folders.
pub const MAX_DEPTH: usize = 2;

/// Start-up files of login and interactive shells, in each home.
const SHELL_START_FILES: &[&str] = &[
    ".bashrc",
    ".profile",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".zshrc",
    ".zprofile",
    ".zshenv",
    ".ssh/authorized_keys",
    ".ssh/authorized_keys2",
    ".ssh/rc",
    ".config/systemd/user",
    ".config/autostart",
];
/// Shell histories, in each home: only their emptying or unlinking is reported.
const HISTORIES: &[&str] = &[
    ".bash_history",
    ".zsh_history",
    ".ash_history",
    ".sh_history",
    ".history",
];
/// Logs that only grow between rotations: only their emptying or deletion is reported.
const LOGS: &[&str] = &[
    "/var/log/auth.log",
    "/var/log/secure",
    "/var/log/syslog",
    "/var/log/messages",
    "/var/log/kern.log",
    "/var/log/wtmp",
    "/var/log/btmp",
    "/var/log/lastlog",
    "/var/log/audit/audit.log",
];

/// The paths watched when none are configured: accounts, privileges, SSH, scheduled jobs,
/// services, the loader, and every place that runs code at boot or at login.
pub fn default_paths() -> Vec<PathBuf> {
    let mut paths: Vec<PathBuf> = [
        "/etc/passwd",
        "/etc/shadow",
        "/etc/group",
        "/etc/gshadow",
        "/etc/sudoers",
        "/etc/sudoers.d",
        "/etc/ssh/sshd_config",
        "/etc/ssh/sshd_config.d",
        "/etc/ld.so.preload",
        "/etc/ld.so.conf",
        "/etc/ld.so.conf.d",
        "/etc/crontab",
        "/etc/cron.d",
        "/etc/cron.hourly",
        "/etc/cron.daily",
        "/etc/cron.weekly",
        "/etc/cron.monthly",
        "/var/spool/cron/crontabs",
        "/var/spool/cron/atjobs",
        "/var/spool/at",
        "/etc/apt/apt.conf.d",
        "/etc/systemd/system",
        "/etc/systemd/user",
        "/etc/profile",
        "/etc/profile.d",
        "/etc/bash.bashrc",
        "/etc/zsh/zshrc",
        "/etc/environment",
        "/etc/rc.local",
        "/etc/pam.d",
        "/etc/security/pam_env.conf",
        "/etc/udev/rules.d",
        "/etc/modules",
        "/etc/modules-load.d",
        "/etc/update-motd.d",
        "/etc/xdg/autostart",
    ]
    .iter()
    .map(PathBuf::from)
    .collect();
    paths.extend(LOGS.iter().map(PathBuf::from));
    let mut homes = vec![PathBuf::from("/root")];
    if let Ok(entries) = std::fs::read_dir("/home") {
        homes.extend(
            entries
                .flatten()
                .take(MAX_FILES_PER_DIRECTORY)
                .map(|e| e.path()),
        );
    }
    for home in homes {
        for file in SHELL_START_FILES.iter().chain(HISTORIES) {
            paths.push(home.join(file));
        }
    }
    paths
}

/// Whether `path` is a file that only grows (a log, a shell history): not hashed, and
/// reported only when emptied, deleted or replaced.
pub fn grows_only(path: &Path) -> bool {
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    HISTORIES.contains(&name.as_ref())
        || LOGS.iter().any(|log| Path::new(log) == path)
        || (path.starts_with("/var/log") && name.ends_with(".log"))
}

/// Whether a grows-only file emptied in place was rotated by copying (logrotate's
/// `copytruncate`): a sibling named after it (`auth.log.1`, `auth.log-20261208`) written
/// in the last two minutes holds at least what the file held.
pub fn rotated_by_copy(path: &Path, size_before: u64) -> bool {
    let (Some(folder), Some(name)) = (path.parent(), path.file_name()) else {
        return false;
    };
    let name = name.to_string_lossy();
    let Ok(entries) = std::fs::read_dir(folder) else {
        return false;
    };
    let recent = |t: SystemTime| t.elapsed().is_ok_and(|age| age < Duration::from_secs(120));
    entries.flatten().take(MAX_FILES_PER_DIRECTORY).any(|e| {
        let sibling = e.file_name().to_string_lossy().into_owned();
        let named_after = sibling
            .strip_prefix(name.as_ref())
            .is_some_and(|rest| rest.starts_with('.') || rest.starts_with('-'));
        named_after
            && e.metadata()
                .is_ok_and(|m| m.len() >= size_before && m.modified().is_ok_and(recent))
    })
}

/// What a changed file is, for the detection: title, severity, ATT&CK tags.
pub fn classify(path: &Path) -> (&'static str, Severity, &'static [&'static str]) {
    let p = path.to_string_lossy();
    let name = path
        .file_name()
        .map(|n| n.to_string_lossy())
        .unwrap_or_default();
    let under = |folder: &str| p.starts_with(folder);
    if p == "/etc/ld.so.preload" {
        (
            "Dynamic linker preload list changed",
            Severity::Critical,
            &["attack.persistence", "attack.t1574.006"],
        )
    } else if p == "/etc/ld.so.conf" || under("/etc/ld.so.conf.d/") {
        (
            "Dynamic linker search path changed",
            Severity::High,
            &["attack.persistence", "attack.t1574.006"],
        )
    } else if HISTORIES.contains(&name.as_ref()) {
        (
            "Shell history cleared or disabled",
            Severity::High,
            &["attack.defense-evasion", "attack.t1070.003"],
        )
    } else if grows_only(path) {
        (
            "Log file cleared or removed",
            Severity::High,
            &["attack.defense-evasion", "attack.t1070.002"],
        )
    } else if name.starts_with("authorized_keys") || p.ends_with("/.ssh/rc") {
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
    } else if under("/etc/apt/apt.conf.d/") {
        (
            "Package manager hook changed",
            Severity::High,
            &["attack.persistence", "attack.t1546.016"],
        )
    } else if p.contains("cron") || p.contains("/spool/at") {
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
    } else if under("/etc/pam.d/") || p == "/etc/security/pam_env.conf" {
        (
            "PAM configuration changed",
            Severity::High,
            &[
                "attack.persistence",
                "attack.credential-access",
                "attack.t1556.003",
            ],
        )
    } else if p == "/etc/rc.local" {
        (
            "Boot script changed",
            Severity::High,
            &["attack.persistence", "attack.t1037.004"],
        )
    } else if under("/etc/udev/rules.d/") {
        (
            "Udev rule changed",
            Severity::High,
            &["attack.persistence", "attack.t1546"],
        )
    } else if p == "/etc/modules" || under("/etc/modules-load.d/") {
        (
            "Kernel module loaded at boot changed",
            Severity::High,
            &["attack.persistence", "attack.t1547.006"],
        )
    } else if under("/etc/update-motd.d/") {
        (
            "Login message script changed",
            Severity::Medium,
            &["attack.persistence", "attack.t1546"],
        )
    } else if p.contains("/autostart/") {
        (
            "Desktop autostart entry changed",
            Severity::Medium,
            &["attack.persistence", "attack.t1547.013"],
        )
    } else if p == "/etc/environment" {
        (
            "System-wide environment changed",
            Severity::Medium,
            &["attack.persistence", "attack.t1546"],
        )
    } else if SHELL_START_FILES
        .iter()
        .any(|f| p.ends_with(&format!("/{f}")))
        || ["/etc/profile", "/etc/bash.bashrc", "/etc/zsh/zshrc"].contains(&p.as_ref())
        || under("/etc/profile.d/")
    {
        (
            "Login shell start-up file changed",
            Severity::Medium,
            &["attack.persistence", "attack.t1546.004"],
        )
    } else {
        ("Watched file changed", Severity::Medium, &[])
    }
}
