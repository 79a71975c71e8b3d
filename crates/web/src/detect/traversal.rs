//! Path traversal and file inclusion: climbing out of a folder (`../`, `..\`, in any
//! encoding), naming files no request should name (`/etc/passwd`, `win.ini`, `/proc/self`),
//! stream wrappers (`php://filter`, `file://`), and remote includes (a URL handed to a
//! parameter that is then fetched and run).

use super::lists::{Literal, Patterns, patterns, without_chars};
use super::{Hit, Sink};
use crate::detect::Category::{Lfi, PathTraversal, Rfi};
use crate::targets::Location;
use aho_corasick::AhoCorasick;

/// Files and folders attackers read once they can name a path.
const SENSITIVE: &[&str] = &[
    "etc/passwd",
    "etc/shadow",
    "etc/group",
    "etc/hosts",
    "etc/issue",
    "etc/motd",
    "etc/hostname",
    "etc/crontab",
    "etc/sudoers",
    "etc/fstab",
    "etc/mysql",
    "etc/httpd",
    "etc/apache",
    "etc/nginx",
    "etc/ssh",
    "etc/security",
    "etc/profile",
    "etc/bashrc",
    "etc/resolv.conf",
    "etc/master.passwd",
    "etc/php",
    "etc/init",
    "etc/inetd",
    "etc/apt",
    "etc/redhat-release",
    "etc/lsb-release",
    "etc/network",
    "etc/ld.so",
    "etc/sysconfig",
    "etc/syslog",
    "etc/x11",
    "etc/samba",
    "etc/ftp",
    "etc/pam",
    "etc/modules",
    "etc/my.cnf",
    "etc/named",
    "etc/postfix",
    "etc/vsftpd",
    "etc/smb",
    "proc/self",
    "proc/version",
    "proc/cpuinfo",
    "proc/meminfo",
    "proc/net",
    "proc/mounts",
    "proc/sched_debug",
    "proc/[0-9]",
    "proc/1/",
    "proc/partitions",
    "proc/stat",
    "proc/devices",
    "proc/interrupts",
    "proc/ioports",
    "proc/loadavg",
    "proc/swaps",
    "proc/uptime",
    "proc/modules",
    "var/log/",
    "var/www/",
    "var/lib/",
    "var/mail",
    "var/spool",
    "var/run",
    "usr/local/apache",
    "usr/local/etc",
    "usr/local/www",
    "usr/local/lib",
    "usr/local/cpanel",
    "usr/local/psa",
    "usr/pkg/etc",
    "opt/lampp",
    "opt/xampp",
    "root/.",
    "home/",
    ".ssh/",
    "id_rsa",
    "id_dsa",
    ".bash_history",
    ".bashrc",
    ".htaccess",
    ".htpasswd",
    ".git/",
    ".svn/",
    ".env",
    "web.config",
    "wp-config.php",
    "config.php",
    "configuration.php",
    "localsettings.php",
    "settings.php",
    "boot.ini",
    "win.ini",
    "system.ini",
    "windows/system32",
    "winnt/system32",
    "windows\\system32",
    "winnt\\system32",
    "system32/",
    "inetpub",
    "autoexec.bat",
    "config.sys",
    "php.ini",
    "httpd.conf",
    "apache2.conf",
    "nginx.conf",
    "my.ini",
    "my.cnf",
    "sam",
    "repair/",
    "/dev/null",
    "access.log",
    "error.log",
    "access_log",
    "error_log",
    "desktop.ini",
    "ntuser.dat",
    "pagefile.sys",
    "unattend.xml",
    "sysprep",
    "applicationhost.config",
    "server.xml",
    "tomcat-users.xml",
    "web-inf/",
    "meta-inf/",
    "etc/",
    "boot/",
    "bin/sh",
    "bin/bash",
    "dev/tcp",
];

/// Stream wrappers that read files or run code when included.
const WRAPPERS: &[&str] = &[
    "php://",
    "file://",
    "expect://",
    "zip://",
    "phar://",
    "data://",
    "glob://",
    "zlib://",
    "compress.zlib://",
    "compress.bzip2://",
    "ogg://",
    "rar://",
    "ssh2.",
    "jar:",
    "netdoc:",
    "gopher://",
    "dict://",
    "tftp://",
    "ldap://",
];

/// Files no web path or parameter names legitimately, wherever they appear.
const STRONG: &[&str] = &[
    "etc/passwd",
    "etc/shadow",
    "etc/master.passwd",
    "boot.ini",
    "win.ini",
    "system.ini",
    "ntuser.dat",
    "windows/system32",
    "winnt/system32",
    "proc/self",
    ".htpasswd",
    "id_rsa",
    "web-inf/web.xml",
    "global.asa",
    "etc/issue",
    "etc/hosts",
    "etc/group",
];

pub(crate) fn check(location: Location, lower: &str, sink: &mut Sink) {
    let location_is_path = location == Location::Path;
    let path = separators(lower);
    let path: &str = &path;
    let climbs = climbs(path);
    if climbs >= 2 || (climbs >= 1 && !location_is_path) {
        sink.hit(Hit::new(PathTraversal, "traversal.dot_dot", 5, 1, lower));
        return;
    }
    // UNC paths to a host's shares (`\\host\c$\`), and runs of `./` or `///` that only
    // serve to defeat path filters.
    if path.starts_with("//") && (path.has("/c$") || path.has("/admin$") || path.has("/ipc$"))
        || (!location_is_path && (path.each_at("/./").nth(1).is_some() || path.starts_with("///")))
    {
        sink.hit(Hit::new(
            PathTraversal,
            "traversal.path_evasion",
            5,
            1,
            lower,
        ));
        return;
    }
    // Runs of four or more dots at the start of a path (`/......`, `..........oot.ini`),
    // which some normalisers fold into climbs.
    if dot_run(path) {
        sink.hit(Hit::new(PathTraversal, "traversal.dot_run", 5, 1, lower));
        return;
    }
    if encoded_climb(path) {
        sink.hit(Hit::new(
            PathTraversal,
            "traversal.encoded_climb",
            5,
            1,
            lower,
        ));
        return;
    }
    if named_files(&STRONG_FILES, STRONG, path).next().is_some()
        && (location_is_path || !path.contains(' '))
    {
        sink.hit(Hit::new(Lfi, "lfi.sensitive_file", 5, 1, lower));
        return;
    }
    static WRAPPER_NAMES: Patterns = patterns!(WRAPPERS);
    if WRAPPER_NAMES.is_match(path) {
        sink.hit(Hit::new(Lfi, "lfi.wrapper", 5, 1, lower));
        return;
    }
    let squeezed = without_chars(path, |c| c.is_whitespace() || c == '\0');
    let squeezed: &str = &squeezed;
    let weak = |file: &str| {
        matches!(
            file,
            "etc/"
                | "boot/"
                | "home/"
                | "sam"
                | "repair/"
                | "var/lib/"
                | "var/run"
                | "system32/"
                | "bin/sh"
                | "bin/bash"
        )
    };
    let named: Vec<&str> = named_files(&SENSITIVE_FILES, SENSITIVE, squeezed).collect();
    if !named.is_empty() {
        let found = if location_is_path {
            climbs >= 1
        } else {
            named
                .iter()
                .any(|file| !weak(file) || squeezed.starts_with(&format!("/{file}")) || climbs >= 1)
        };
        if found {
            sink.hit(Hit::new(Lfi, "lfi.sensitive_file", 5, 1, lower));
            return;
        }
    }
    if !matches!(location, Location::Path | Location::Header)
        && system_path(squeezed, lower.trim_start().starts_with('\\'))
    {
        sink.hit(Hit::new(Lfi, "lfi.system_path", 5, 1, lower));
        return;
    }
    if location_is_path && restricted_file(path) {
        sink.hit(Hit::new(Lfi, "lfi.restricted_file", 5, 1, lower));
        return;
    }
    if !matches!(location, Location::Path | Location::Header) && remote_include(squeezed) {
        sink.hit(Hit::new(Rfi, "rfi.remote_include", 5, 1, lower));
        return;
    }
    // A NUL byte cutting a path short (`x.php%00.jpg`).
    if lower.contains('\0') && (lower.contains('/') || lower.contains('.')) {
        sink.hit(Hit::new(Lfi, "lfi.null_byte", 4, 1, lower));
    }
}

/// The path with every spelling of a separator as `/` and of a dot as `.`: backslashes,
/// `0x2f`/`0x5c`/`0x2e` (as fuzzers write them), and leftover `%2f`/`%5c`/`%2e`.
fn separators(lower: &str) -> std::borrow::Cow<'_, str> {
    // Most values hold none of the spellings: they are read as they are.
    if !lower.contains(['\\', '%']) && !lower.has("0x") && !lower.has("..") {
        return lower.into();
    }
    let mut p = lower.replace('\\', "/");
    for (from, to) in [
        ("0x2f", "/"),
        ("0x5c", "/"),
        ("0x2e", "."),
        ("%2f", "/"),
        ("%5c", "/"),
        ("%2e", "."),
    ] {
        if p.contains(from) {
            p = p.replace(from, to);
        }
    }
    // Hex separators with their `%` dropped (`..2f..2fetc2fpasswd`), once climbs show it.
    if p.matches("..2f").count() + p.matches("..5c").count() >= 2 {
        p = p.replace("2f", "/").replace("5c", "/");
    }
    p.into()
}

/// A parameter holding an absolute path into the operating system's own folders
/// (`/var/adm/messages`, `/usr/local/apache/conf`, `C:\\xampp\\phpMyAdmin\\config.inc.php`):
/// no form field of a web application takes one.
fn system_path(path: &str, backslashed: bool) -> bool {
    const UNIX_ROOTS: &[&str] = &[
        "/var/",
        "/usr/",
        "/etc/",
        "/opt/",
        "/proc/",
        "/root/",
        "/sys/",
        "/boot/",
        "/dev/",
        "/bin/",
        "/sbin/",
        "/lib/",
        "/lib64/",
        "/logs/",
        "/private/",
        "/srv/",
        "/.rhosts",
        "/.ssh/",
        "/.bash",
        "/.profile",
        "/.netrc",
    ];
    const WINDOWS_DIRS: &[&str] = &[
        "windows",
        "winnt",
        "program files",
        "programfiles",
        "program files (x86)",
        "documents and settings",
        "users",
        "xampp",
        "appserv",
        "inetpub",
        "wamp",
        "wamp64",
        "php",
        "mysql",
        "apache",
        "tomcat",
        "boot.ini",
        "unattend",
        "sysprep",
        "temp",
        "perl",
        "filezillaftp",
        "mercurymail",
    ];
    let p = path.trim_matches(|c: char| c == '"' || c == '\'' || c.is_whitespace());
    if UNIX_ROOTS.iter().any(|r| p.starts_with(r)) && p.len() > 5 {
        return true;
    }
    // `c:/…`, `/c:/…` or `/xampp/…` (backslashes are already slashes here).
    let p = p.strip_prefix('/').unwrap_or(p);
    let after_drive = match p.as_bytes() {
        [d, b':', b'/', ..] if d.is_ascii_alphabetic() => &p[3..],
        _ => p,
    };
    let first = after_drive.split('/').next().unwrap_or_default();
    // Any path under a drive letter (`c:/unattend.txt`, `c:\\php5\\sessions\\`) names the
    // server's disk; browsers send `c:\\fakepath\\…` for uploads, which is not one.
    if after_drive.len() < p.len() && !first.is_empty() && first != "fakepath" {
        return true;
    }
    // Windows folders count with a drive letter or a leading backslash (`\\xampp\\…`),
    // never after a plain slash, which is a URL path (`/users/42`).
    (after_drive.len() < p.len() || backslashed)
        && WINDOWS_DIRS.contains(&first)
        && after_drive.contains('/')
}

/// A request for a file no site serves on purpose: dot-folders of tools and version
/// control, secrets, dumps and backups (`/.git/config`, `/.a0proj/secrets.env`,
/// `/backup.sql`, `/wp-content/errors.log`).
fn restricted_file(path: &str) -> bool {
    const DOT_DIRS: &[&str] = &[
        ".git",
        ".svn",
        ".hg",
        ".bzr",
        ".aws",
        ".ssh",
        ".docker",
        ".kube",
        ".azure",
        ".gnupg",
        ".idea",
        ".vscode",
        ".env",
        ".npmrc",
        ".pypirc",
        ".netrc",
        ".htpasswd",
        ".htaccess",
        ".bash_history",
        ".zsh_history",
        ".mysql_history",
        ".ds_store",
        ".git-credentials",
        // AI coding assistants' settings, rules and histories.
        ".cursor",
        ".cursorignore",
        ".continue",
        ".aider",
        ".codex",
        ".claude",
        ".opencode",
        ".plandex",
        ".rovodev",
        ".aiignore",
        ".windsurf",
        ".gemini",
    ];
    const EXTENSIONS: &[&str] = &[
        "env", "sql", "bak", "swp", "old", "orig", "pem", "key", "log", "sqlite", "db", "kdbx",
    ];
    let path = path.split('?').next().unwrap_or(path);
    path.split('/').any(|c| DOT_DIRS.contains(&c))
        || path
            .rsplit('/')
            .next()
            .and_then(|name| name.rsplit_once('.'))
            .is_some_and(|(stem, ext)| !stem.is_empty() && EXTENSIONS.contains(&ext))
}

/// System files as they read with separators removed.
const FILE_SKELETONS: &[&str] = &[
    "windowssystem32driversetchosts",
    "winntsystem32driversetchosts",
    "windowswin.ini",
    "winntwin.ini",
    "etcpasswd",
    "etcshadow",
    "etcissue",
    "etchosts",
    "etcgroup",
    "boot.ini",
    "win.ini",
    "system.ini",
    "ntuser.dat",
    "web.config",
    "webinfweb.xml",
    "system32",
    "etcmotd",
];

/// The length of the longest of [`FILE_SKELETONS`].
const LONGEST_SKELETON: usize = {
    let mut longest = 0;
    let mut i = 0;
    while i < FILE_SKELETONS.len() {
        if FILE_SKELETONS[i].len() > longest {
            longest = FILE_SKELETONS[i].len();
        }
        i += 1;
    }
    longest
};

/// A system file reached through separators and dots spelled in ways no decoder agrees on
/// (`..%c1%1c..%c1%1cboot.ini`, `%c0%fe%c0%fe%25%32%25%66etc%25%32%25%66issue`): the
/// value ends in a system file, and what comes before it is mostly punctuation.
fn encoded_climb(path: &str) -> bool {
    // Percent escapes no decoder could read (`%bg`, `%8s`) are separators in disguise, and
    // so are escapes split into nibbles (`%5%c` for `\\`, `%2%f` for `/`).
    let cleaned: std::borrow::Cow<str> = if path.contains('%') {
        let nibbles = path
            .replace("%5%c", "/")
            .replace("%2%f", "/")
            .replace("%2%e", ".");
        drop_bad_escapes(&nibbles).into()
    } else {
        path.into()
    };
    let path: &str = &cleaned;
    // The letters, digits and dots of the path, of which only the end is compared.
    let mut skeleton_end: Vec<u8> = path
        .bytes()
        .rev()
        .filter(|b| b.is_ascii_alphanumeric() || *b == b'.')
        .take(LONGEST_SKELETON)
        .collect();
    skeleton_end.reverse();
    let Some(file) = FILE_SKELETONS
        .iter()
        .find(|f| skeleton_end.ends_with(f.as_bytes()))
    else {
        return false;
    };
    // Where the file's first character sits in the original text.
    let first = file.chars().next().unwrap_or('e');
    let mut remaining = file.chars().filter(|c| *c != '.').count();
    let mut start = path.len();
    for (i, c) in path.char_indices().rev() {
        if c.is_ascii_alphanumeric() {
            remaining = remaining.saturating_sub(1);
            if remaining == 0 && c == first {
                start = i;
                break;
            }
        }
    }
    // The climb starts at the first dot (a URL path's own folders come before it).
    let prefix = &path[..start];
    let prefix = &prefix[prefix
        .find(|c: char| !(c.is_ascii_alphanumeric() || matches!(c, '/' | '_' | '-')))
        .unwrap_or(0)..];
    let letters = prefix.chars().filter(char::is_ascii_alphanumeric).count();
    let total = prefix.chars().count();
    total >= 3 && letters * 4 <= total
}

/// Four or more dots right after a slash, or opening the value.
fn dot_run(path: &str) -> bool {
    path.each_at("....")
        .any(|at| at == 0 || path.as_bytes()[at - 1] == b'/')
}

/// `path` without `%` and the two characters after it where they are not hex.
fn drop_bad_escapes(path: &str) -> String {
    let mut out = String::with_capacity(path.len());
    let mut chars = path.chars();
    while let Some(c) = chars.next() {
        if c == '%' {
            let mut ahead = chars.clone();
            let (a, b) = (ahead.next(), ahead.next());
            match a.zip(b) {
                Some((a, b)) if a.is_ascii_hexdigit() && b.is_ascii_hexdigit() => out.push('%'),
                // `%bg`, `%9v`: an escape no decoder reads, standing for a separator.
                Some((a, b)) if a.is_ascii_alphanumeric() && b.is_ascii_alphanumeric() => {
                    chars.next();
                    chars.next();
                    out.push('/');
                }
                _ => out.push('/'),
            }
            continue;
        }
        out.push(c);
    }
    out
}

/// `../`, `/..`, `..;/`, `.../`: steps up the tree.
fn climbs(path: &str) -> usize {
    let b = path.as_bytes();
    let mut n = 0;
    let mut from = 0;
    while let Some(at) = memchr::memmem::find(&b[from..], b"..").map(|i| from + i) {
        let mut end = at + 2;
        while b.get(end) == Some(&b'.') {
            end += 1;
        }
        from = end;
        let before = at == 0
            || b[at - 1] >= 0x80
            || matches!(
                b[at - 1],
                b'/' | b'=' | b' ' | b'"' | b'\'' | b':' | b';' | b'|' | b'(' | b'\0'
            );
        let after = end == b.len()
            || matches!(
                b[end],
                b'/' | b';' | b'\0' | b'%' | b'?' | b'\'' | b'"' | b' '
            )
            || b[end] >= 0x80;
        if before && after && (end < b.len() || at > 0) {
            n += 1;
        }
    }
    n
}

/// One automaton per file list: a value is scanned once, whatever the list's length.
static SENSITIVE_FILES: Patterns = patterns!(SENSITIVE);
static STRONG_FILES: Patterns = patterns!(STRONG);

/// The files of `files` (searched with `automaton`) that `path` names as path components,
/// once for each place it names them.
fn named_files<'p>(
    automaton: &'p AhoCorasick,
    files: &'static [&'static str],
    path: &'p str,
) -> impl Iterator<Item = &'static str> + 'p {
    // The overlapping search reports every occurrence of every file: each is judged
    // where it was found.
    automaton
        .find_overlapping_iter(path)
        .map(move |m| (files[m.pattern().as_usize()], m.start()))
        .filter(move |(file, at)| named_at(path, file, *at))
        .map(|(file, _)| file)
}

/// Whether the occurrence of `file` at `at` in `path` is a path component (not part of a
/// longer name).
fn named_at(path: &str, file: &str, at: usize) -> bool {
    let start_ok = at == 0
        || matches!(
            path.as_bytes()[at - 1],
            b'/' | b':' | b'=' | b'"' | b'\'' | b'~'
        )
        || (at >= 2 && &path.as_bytes()[at - 2..at] == b"..");
    let end = at + file.len();
    let end_ok = file.ends_with('/')
        || end == path.len()
        || matches!(
            path.as_bytes()[end],
            b'/' | b'\0' | b'?' | b'&' | b'#' | b'%' | b'.' | b'"' | b'\'' | b' ' | b';'
        );
    start_ok && end_ok && (at > 0 || file.contains('/') || file.starts_with('.'))
}

/// A URL handed over as a value, ending in a way that makes the server include it: a
/// trailing `?` or `%00`, a script extension, or a known shell name.
fn remote_include(value: &str) -> bool {
    let Some(rest) = ["http://", "https://", "ftp://", "\\\\", "//"]
        .iter()
        .find_map(|s| value.strip_prefix(s))
    else {
        return false;
    };
    if rest.contains(' ') || !rest.contains('/') {
        return rest.ends_with('?') || rest.contains('\0');
    }
    // A script the including page should run: a file with a script or text extension
    // that ends the URL (a query with parameters is a link to a page, not a file to
    // include), or a known web shell by name.
    let (path, query) = match rest.split_once('?') {
        Some((path, query)) => (path, Some(query)),
        None => (rest, None),
    };
    let script_file = [".txt", ".php", ".inc", ".asp", ".jsp", ".pl", ".cgi"]
        .iter()
        .any(|x| path.ends_with(x))
        && query.is_none_or(|q| !q.contains('='));
    let web_shell = ["shell", "c99", "r57"].iter().any(|x| path.contains(x));
    rest.ends_with('?') || rest.contains('\0') || script_file || web_shell
}
