//! The other injections, each a short list of techniques: OS commands, server-side
//! templates, Java expression languages and JNDI lookups, PHP code, NoSQL operators, LDAP
//! filters, server-side includes, CRLF and mail header injection, XML external entities,
//! and scanner signatures.

use super::lists::{Literal, Patterns, Words, patterns, without_chars, words};
use super::{Hit, Sink};
use crate::detect::Category::*;
use crate::targets::Location;

/// Commands an injected shell line runs first (recon, download, reverse shells).
const COMMANDS: &[&str] = &[
    "cat",
    "ls",
    "id",
    "whoami",
    "uname",
    "pwd",
    "ifconfig",
    "ip",
    "ipconfig",
    "netstat",
    "ping",
    "wget",
    "curl",
    "nc",
    "ncat",
    "netcat",
    "bash",
    "sh",
    "zsh",
    "ksh",
    "csh",
    "tcsh",
    "dash",
    "python",
    "python3",
    "perl",
    "ruby",
    "php",
    "echo",
    "sleep",
    "nslookup",
    "dig",
    "host",
    "telnet",
    "ssh",
    "chmod",
    "chown",
    "rm",
    "mv",
    "cp",
    "touch",
    "mkdir",
    "find",
    "grep",
    "awk",
    "sed",
    "head",
    "tail",
    "more",
    "less",
    "env",
    "printenv",
    "set",
    "export",
    "kill",
    "ps",
    "top",
    "crontab",
    "useradd",
    "passwd",
    "sudo",
    "su",
    "systeminfo",
    "tasklist",
    "net",
    "cmd",
    "powershell",
    "certutil",
    "bitsadmin",
    "reg",
    "wmic",
    "type",
    "dir",
    "del",
    "copy",
    "xcopy",
    "tftp",
    "ftp",
    "base64",
    "xxd",
    "od",
    "dd",
    "tar",
    "zip",
    "unzip",
    "gzip",
    "timeout",
    "expr",
    "eval",
    "exec",
    "nohup",
    "setsid",
    "socat",
    "busybox",
    "mkfifo",
    "mknod",
    "hostname",
    "uptime",
    "w",
    "who",
    "last",
    "history",
    "lsof",
    "route",
    "arp",
    "iptables",
    "mail",
    "sendmail",
    "xterm",
    "start",
    "cmd.exe",
    "powershell.exe",
    "wscript",
    "cscript",
    "mshta",
    "rundll32",
    "regsvr32",
    "nmap",
    "shutdown",
    "reboot",
    "halt",
    "test",
    "true",
    "false",
    "exit",
    "cd",
    "echo.",
    "ver",
    "vol",
    "getent",
    "lwp-download",
    "lynx",
    "fetch",
    "openssl",
    "node",
    "java",
    "gcc",
    "cc",
    "make",
    "tclsh",
    "lua",
    "irb",
    "pip",
    "apt",
    "apt-get",
    "aptitude",
    "dpkg",
    "rpm",
    "zypper",
    "pacman",
    "yum",
    "dnf",
    "apk",
    "systemctl",
    "service",
    "at",
    "sysinfo",
    "invoke-webrequest",
    "invoke-expression",
    "invoke-restmethod",
    "iwr",
    "iex",
    "irm",
    "start-process",
    "new-object",
    "set-mppreference",
    "add-mppreference",
    "invoke-command",
    "invoke-wmimethod",
    "getuid",
    "ansible",
    "ansible-galaxy",
    "ansible-vault",
    "chef-shell",
    "chef",
    "column",
    "alias",
    "pwsh",
    "net1",
    "schtasks",
    "vssadmin",
    "wevtutil",
    "icacls",
    "takeown",
    "attrib",
    "msiexec",
    "uname",
    "gdb",
    "visudo",
    "printf",
    "rev",
    "rmt",
    "tee",
    "strace",
    "ltrace",
    "nmcli",
    "perf",
    "docker",
    "kubectl",
    "aws",
    "gcloud",
    "az",
];

static COMMAND_WORDS: Words = words!(COMMANDS);

/// Administration and build tools with names no prose or form field uses: a value that
/// opens with one is a command line, whatever its arguments (`ansible all -m ping`,
/// `cscli alerts list`, `visudo`).
static ADMIN_TOOLS: Words = std::sync::LazyLock::new(|| {
    [
        "ansible",
        "ansible-playbook",
        "ansible-galaxy",
        "ansible-vault",
        "ansible-config",
        "ansible-console",
        "ansible-inventory",
        "ansible-pull",
        "ansible-doc",
        "chef-client",
        "chef-shell",
        "chef-run",
        "chef-vault",
        "chef-solo",
        "knife",
        "salt-call",
        "salt-run",
        "kubectl",
        "crictl",
        "systemctl",
        "journalctl",
        "visudo",
        "sudoedit",
        "useradd",
        "usermod",
        "userdel",
        "groupadd",
        "chpasswd",
        "chattr",
        "setfacl",
        "cscli",
        "cpulimit",
        "flock",
        "ionice",
        "taskset",
        "strace",
        "ltrace",
        "tcpdump",
        "tshark",
        "nmap",
        "masscan",
        "socat",
        "ncat",
        "smbclient",
        "rpcclient",
        "crontab",
        "aa-disable",
        "aa-enforce",
        "aa-complain",
        "aa-status",
        "aa-teardown",
        "setenforce",
        "iptables",
        "ip6tables",
        "firewall-cmd",
        "modprobe",
        "insmod",
        "rmmod",
        "losetup",
        "sysctl",
        "pkexec",
        "runuser",
        "busybox",
        "pip",
        "pip3",
        "pipx",
        "ifconfig",
        "nslookup",
    ]
    .iter()
    .chain(WINDOWS_TOOLS)
    .copied()
    .collect()
});

/// Windows' own administration tools, which cmd.exe also runs with a switch glued on.
static WINDOWS_TOOL_NAMES: Words = words!(WINDOWS_TOOLS);
const WINDOWS_TOOLS: &[&str] = &[
    "whoami",
    "netsh",
    "cmdkey",
    "auditpol",
    "fsutil",
    "gpresult",
    "ntdsutil",
    "setspn",
    "driverquery",
    "qwinsta",
    "wbadmin",
    "bootcfg",
    "forfiles",
    "ipconfig",
    "netstat",
    "systeminfo",
    "tasklist",
    "taskkill",
    "wmic",
    "certutil",
    "bitsadmin",
    "regsvr32",
    "rundll32",
    "mshta",
    "schtasks",
    "vssadmin",
    "wevtutil",
    "bcdedit",
    "bcdboot",
    "regedit",
    "nltest",
    "dsquery",
    "icacls",
    "takeown",
    "diskpart",
];

/// Interpreters and compilers named with their version (`python3.10`, `gcc7.4`, `pip3`).
fn versioned_tool(word: &str) -> bool {
    // Most words have no digit: no need to try every name.
    if !word.bytes().any(|b| b.is_ascii_digit()) {
        return false;
    }
    [
        "python", "pip", "perl", "ruby", "php", "node", "gcc", "g++", "clang", "lua", "java",
    ]
    .iter()
    .any(|tool| {
        word.strip_prefix(tool).is_some_and(|v| {
            !v.is_empty()
                && v.starts_with(|c: char| c.is_ascii_digit())
                && v.bytes().all(|b| b.is_ascii_digit() || b == b'.')
        })
    })
}

/// Commands that are also English words: they count only with shell-shaped arguments.
static AMBIGUOUS: Words = words!(AMBIGUOUS_COMMANDS);
const AMBIGUOUS_COMMANDS: &[&str] = &[
    "set", "test", "true", "false", "at", "w", "start", "more", "less", "type", "find", "host",
    "last", "history", "top", "head", "tail", "copy", "make", "mail", "exit", "cd", "net", "dir",
    "ver", "vol", "echo", "touch", "env", "exec", "eval", "kill", "sleep", "cat", "route", "who",
    "fetch", "service", "tar", "time", "print", "zip", "find", "sh", "ps", "id", "ls", "rm", "cp",
    "mv", "dd", "od", "su", "node", "java", "ruby", "php", "python", "perl", "lua", "cc", "reg",
    "apt", "pip", "del", "timeout", "expr", "export", "passwd", "nc", "date", "ip", "chef",
];

/// Checks one value of a request; `decoded` keeps case (some techniques are case-bound).
pub(crate) fn check(location: Location, lower: &str, decoded: &str, sink: &mut Sink) {
    let squeezed = Squeezed::of(lower);
    command(lower, sink);
    template(lower, sink);
    java(lower, decoded, &squeezed, sink);
    php(lower, sink);
    javascript(lower, decoded, &squeezed, sink);
    perl(lower, sink);
    nosql(location, lower, &squeezed, sink);
    ldap(lower, &squeezed, sink);
    ssi(lower, &squeezed, sink);
    xxe(location, lower, sink);
    if matches!(
        location,
        Location::Header
            | Location::Query
            | Location::RefererParam
            | Location::Form
            | Location::Cookie
    ) {
        crlf(location, decoded, sink);
    }
}

/// A value without its whitespace, as code reads it (`new Function (`, `${ jndi:`,
/// `<!-- #exec`): made on first use, once for all the detectors that read it.
struct Squeezed<'a> {
    lower: &'a str,
    text: std::cell::OnceCell<std::borrow::Cow<'a, str>>,
}

impl<'a> Squeezed<'a> {
    fn of(lower: &'a str) -> Self {
        Squeezed {
            lower,
            text: std::cell::OnceCell::new(),
        }
    }

    fn get(&self) -> &str {
        self.text
            .get_or_init(|| without_chars(self.lower, char::is_whitespace))
    }
}

fn is_command(word: &str) -> bool {
    let word = word.trim_matches(|c: char| matches!(c, '"' | '\'' | '\\' | '(' | ')' | '{' | '}'));
    if glued_switch(word) {
        return true;
    }
    let base = word.rsplit(['/', '\\']).next().unwrap_or(word);
    let base = base.strip_suffix(".exe").unwrap_or(base);
    !base.is_empty()
        && (COMMAND_WORDS.contains(base) || ADMIN_TOOLS.contains(base) || versioned_tool(base))
}

/// A Windows tool with its switch glued on (`ipconfig/all`, `bcdboot/r`, `whoami/priv`):
/// cmd.exe reads `/` as the start of a switch, so the word runs the tool, and a filter
/// that looks for the tool's name followed by a space misses it.
fn glued_switch(word: &str) -> bool {
    // Most words with a slash are paths and URLs: the switch's shape rules them out before
    // the tool's name is looked up.
    word.split_once('/').is_some_and(|(tool, switch)| {
        (1..=8).contains(&switch.len())
            && (switch == "?" || switch.bytes().all(|b| b.is_ascii_alphabetic()))
            && WINDOWS_TOOL_NAMES.contains(tool.strip_suffix(".exe").unwrap_or(tool))
    })
}

/// The first word after `at` (skipping spaces and shell noise like `${IFS}`).
fn next_word(text: &str) -> &str {
    let t = text.trim_start_matches([' ', '\t', '\n', '\r', '(', '{', '\'', '"', '\\']);
    let t = t.strip_prefix("${ifs}").unwrap_or(t);
    // Read as bytes: words are mostly ASCII, and a long value may be one long word.
    let b = t.as_bytes();
    let mut end = 0;
    while end < b.len() {
        let c = b[end];
        if c.is_ascii() {
            if matches!(
                c,
                b' ' | b'\t'
                    | b'\n'
                    | b'\x0b'
                    | b'\x0c'
                    | b'\r'
                    | b';'
                    | b'|'
                    | b'&'
                    | b'`'
                    | b')'
                    | b'$'
                    | b'<'
                    | b'>'
                    | b','
                    | b'\''
            ) {
                break;
            }
            end += 1;
        } else {
            let c = t[end..].chars().next().unwrap_or_default();
            if c.is_whitespace() {
                break;
            }
            end += c.len_utf8();
        }
    }
    &t[..end]
}

/// Windows' `reg` tool changing or reading a registry hive (`reg add "HKLM\System\…" /v
/// fDenyTSConnections`, `reg save hklm\sam sam.hive`): a command line, not a value.
fn registry_command(lower: &str) -> bool {
    lower.has("reg ")
        && lower.each_at("reg ").any(|at| {
            let standalone = at == 0 || !lower.as_bytes()[at - 1].is_ascii_alphanumeric();
            let rest = &lower[at + 4..];
            let verb = next_word(rest.trim_start());
            let target = rest.trim_start()[verb.len()..].trim_start_matches([' ', '"', '\'']);
            standalone
                && matches!(
                    verb,
                    "add" | "delete" | "query" | "save" | "export" | "import" | "copy"
                )
                && ["hklm", "hkcu", "hkcr", "hku\\", "hkcc", "hkey_"]
                    .iter()
                    .any(|hive| target.starts_with(hive))
        })
}

/// OS command injection: a separator or substitution followed by a command, shell syntax
/// that only a shell reads (`${IFS}`, `$(...)`, brace expansion, `/???/` globs), Windows
/// batch constructs, or a value that is itself a command line. Quotes and empty
/// substitutions inside words (`w'g'et`, `who$()ami`) are removed first, as the shell does.
fn command(lower: &str, sink: &mut Sink) {
    if let Some(rule) = command_rule(lower) {
        sink.hit(Hit::new(Cmdi, rule, 5, 1, lower));
        return;
    }
    if registry_command(lower) {
        sink.hit(Hit::new(Cmdi, "cmdi.registry_command", 5, 1, lower));
        return;
    }
    if assembled_from_variables(lower) {
        sink.hit(Hit::new(Cmdi, "cmdi.assembled_command", 5, 1, lower));
        return;
    }
    if sqlite_shell_command(lower) {
        sink.hit(Hit::new(Cmdi, "cmdi.sqlite_shell", 5, 1, lower));
        return;
    }
    if pipe_open(lower) {
        sink.hit(Hit::new(Cmdi, "cmdi.pipe_open", 5, 1, lower));
        return;
    }
    if quoted_command(lower) {
        sink.hit(Hit::new(Cmdi, "cmdi.quoted_command", 5, 1, lower));
        return;
    }
    if sink.paranoia >= 2 && tool_lookup(lower) {
        sink.hit(Hit::new(Cmdi, "cmdi.tool_lookup", 5, 2, lower));
        return;
    }
    // Bodies sent without a type keep `+` for spaces (`whxami|sh+``), and payloads
    // encoded once too often keep them beside separators (`&&+|+dir c:/`) or where the
    // value opened with a space (`+dir+c:`).
    if lower.contains('+')
        && (!lower.contains(' ')
            || lower.starts_with('+')
            || ["+|", "|+", "+&", "&+", "+;", ";+"]
                .iter()
                .any(|p| lower.has(p)))
    {
        let spaced = lower.replace('+', " ");
        if let Some(rule) = command_rule(&spaced) {
            sink.hit(Hit::new(Cmdi, rule, 5, 1, lower));
            return;
        }
    }
    // Payload lists write newlines as `\n`.
    if lower.has("\\n") {
        let lines = lower.replace("\\n", "\n");
        if let Some(rule) = command_rule(&lines) {
            sink.hit(Hit::new(Cmdi, rule, 5, 1, lower));
            return;
        }
    }
    if lower.contains('^') && caret_split_command(lower) {
        sink.hit(Hit::new(Cmdi, "cmdi.split_command", 5, 1, lower));
        return;
    }
    // Nothing for the shell to strip: the value reads as it is.
    if !lower.contains(['\'', '"', '\\', '$', '`']) {
        return;
    }
    let unquoted = shell_unquote(lower);
    if unquoted != lower {
        if let Some(rule) = command_rule(&unquoted) {
            sink.hit(Hit::new(Cmdi, rule, 5, 1, lower));
            return;
        }
        if sqlite_shell_command(&unquoted) {
            sink.hit(Hit::new(Cmdi, "cmdi.sqlite_shell", 5, 1, lower));
            return;
        }
        // A command word split by quotes or empty expansions (`'i'fconfig`, `w"h"oami`,
        // `c$@at`): nobody writes a word so but to slip it past a filter. One apostrophe
        // is a contraction (`I'd like…` is not `id`): quotes split a word in pairs.
        let opening = lower.trim_start_matches([';', '|', '&', ' ', '`']);
        let first = next_word(unquoted.trim_start_matches([';', '|', '&', ' ', '`']));
        let first_sent = next_word(opening);
        let token_sent = opening
            .split(char::is_whitespace)
            .next()
            .unwrap_or_default();
        let split =
            token_sent.matches(['\'', '"']).count() >= 2 || token_sent.contains(['$', '\\', '`']);
        if is_command(first)
            && first.len() >= 2
            && split
            && first != first_sent.trim_matches(['\'', '"'])
        {
            sink.hit(Hit::new(Cmdi, "cmdi.split_command", 5, 1, lower));
        }
    }
}

/// `which nc`, `whereis gcc python`, `command -v curl`: a value that only asks where the
/// tools of the next step are (a downloader, netcat, an interpreter, a compiler), which
/// is how an injection learns what it can run. Every word after the lookup must be such a
/// tool, so a question (`which one`, `which python version`) is left alone. Paranoia 2:
/// a search for the lookup itself reads the same.
fn tool_lookup(lower: &str) -> bool {
    const TOOLS_SOUGHT: &[&str] = &[
        "curl",
        "wget",
        "nc",
        "ncat",
        "netcat",
        "socat",
        "telnet",
        "tftp",
        "ftp",
        "python",
        "python2",
        "python3",
        "perl",
        "ruby",
        "php",
        "lua",
        "node",
        "gcc",
        "cc",
        "bash",
        "sh",
        "nmap",
        "powershell",
        "pwsh",
    ];
    let value = lower.trim();
    let Some(rest) = ["which ", "whereis ", "command -v "]
        .iter()
        .find_map(|lookup| value.strip_prefix(lookup))
    else {
        return false;
    };
    let sought: Vec<&str> = rest.split_whitespace().take(9).collect();
    (1..=8).contains(&sought.len()) && sought.iter().all(|w| TOOLS_SOUGHT.contains(w))
}

/// `'uname'`, `'true'`, `"whoami"`: a command alone in quotes. The shell drops the quotes
/// and runs it, and the quotes slip it past filters that look for the bare word. People
/// search for a phrase in double quotes, so a word that is also English (`"test"`,
/// `"TRUE"`) counts only in single quotes.
fn quoted_command(lower: &str) -> bool {
    let value = lower.trim();
    let Some(quote) = value.chars().next().filter(|q| matches!(q, '\'' | '"')) else {
        return false;
    };
    let Some(word) = value[1..].strip_suffix(quote) else {
        return false;
    };
    !word.is_empty()
        && word
            .bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'))
        && is_command(word)
        && (quote == '\'' || !AMBIGUOUS.contains(word))
}

/// `who^ami`, `@^p^o^w^e^r^shell`: cmd.exe drops a caret before any character, so a
/// command word split by carets runs as the word and slips past filters. Only carets
/// between letters count (`x^2`, `^start` and `^_^` are not words split), and a word that
/// is also English needs four letters (`a^t` is a transpose).
fn caret_split_command(lower: &str) -> bool {
    lower
        .split(|c: char| c.is_whitespace() || matches!(c, ';' | '&' | '|' | '(' | ')'))
        .filter(|token| {
            let b = token.as_bytes();
            (1..b.len().saturating_sub(1)).any(|i| {
                b[i] == b'^' && b[i - 1].is_ascii_alphabetic() && b[i + 1].is_ascii_alphabetic()
            })
        })
        .any(|token| {
            let word: String = token
                .trim_start_matches('@')
                .chars()
                .filter(|c| *c != '^')
                .collect();
            is_command(&word) && (!AMBIGUOUS.contains(word.as_str()) || word.len() >= 4)
        })
}

/// `id|`, `cat /etc/passwd |`: a command line ending in a pipe. Perl's two-argument
/// `open` (and languages that copied it) runs such a "file name" as a command and reads
/// its output; a list that ends in a delimiter has more than one item.
fn pipe_open(lower: &str) -> bool {
    let Some(line) = lower.trim_end().strip_suffix('|') else {
        return false;
    };
    let line = line.trim();
    if line.contains(['|', ';', '&', '\n']) {
        return false;
    }
    let (first, args) = line
        .split_once(char::is_whitespace)
        .map_or((line, ""), |(first, args)| (first, args.trim_start()));
    is_command(first) && (args.is_empty() || args.starts_with(['-', '/']))
}

/// `c1=c;c2=a;c3=t;$c1$c2$c3 /etc/passwd`: a command spelled out a few letters at a time in
/// variables and put together where it runs, so that no filter sees its name.
fn assembled_from_variables(lower: &str) -> bool {
    if !lower.contains('$') || !lower.contains(';') {
        return false;
    }
    let short_assignments = lower
        .split(';')
        .filter(|part| {
            part.trim_start()
                .split_once('=')
                .is_some_and(|(name, value)| {
                    !name.is_empty()
                        && name.len() <= 16
                        && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                        && value.chars().count() <= 3
                })
        })
        .count();
    if short_assignments < 3 {
        return false;
    }
    // The longest run of expansions with nothing between them (`$c1$c2$c3`, `${a}${b}${c}`).
    let b = lower.as_bytes();
    let (mut i, mut run, mut longest) = (0, 0, 0);
    while i < b.len() {
        if b[i] != b'$' {
            run = 0;
            i += 1;
            continue;
        }
        let braced = b.get(i + 1) == Some(&b'{');
        let start = i + 1 + usize::from(braced);
        let len = b[start..]
            .iter()
            .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
            .count();
        if len == 0 {
            run = 0;
            i += 1;
            continue;
        }
        i = start + len + usize::from(braced && b.get(start + len) == Some(&b'}'));
        run += 1;
        longest = longest.max(run);
    }
    longest >= 3
}

/// `text` without the special parameters glued inside a word (`c$@at`, `c$*at` expand to
/// nothing; `c$?at`, `/et$$c` to digits, an evasion that misfires but shows its aim) nor
/// the unset variables glued to a word (`uname$u`, `n$u\c$u`).
fn without_inner_variables(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains('$') {
        return std::borrow::Cow::Borrowed(text);
    }
    let b = text.as_bytes();
    let mut out = String::with_capacity(text.len());
    let mut i = 0;
    while i < b.len() {
        let letter_before = i > 0 && b[i - 1].is_ascii_alphabetic();
        if b[i] == b'$' && letter_before {
            match b.get(i + 1) {
                Some(b'@' | b'*' | b'_' | b'-' | b'!' | b'?' | b'$') => {
                    i += 2;
                    continue;
                }
                Some(c) if c.is_ascii_alphabetic() => {
                    let len = b[i + 1..]
                        .iter()
                        .take_while(|c| c.is_ascii_alphanumeric() || **c == b'_')
                        .count();
                    // One or two letters: a throwaway name, not a variable being used.
                    if len <= 2 {
                        i += 1 + len;
                        continue;
                    }
                }
                _ => {}
            }
        }
        let c = text[i..].chars().next().unwrap_or(' ');
        out.push(c);
        i += c.len_utf8();
    }
    std::borrow::Cow::Owned(out)
}

/// `lower` with what the shell strips from inside words: quotes, backslashes, and empty
/// `$()`, `${}` and backtick pairs.
fn shell_unquote(lower: &str) -> String {
    // `$'…'` is ANSI-C quoting: its quotes go like any others.
    let mut s = without_inner_variables(lower).into_owned();
    for (from, to) in [("$'", "'"), ("$()", ""), ("${}", ""), ("``", "")] {
        if s.has(from) {
            s = s.replace(from, to);
        }
    }
    s.retain(|c| !matches!(c, '\'' | '"' | '\\'));
    s
}

/// `c:`, `c:\windows`, `d:/`: a Windows drive as a command's argument (`&&dir c:`).
fn windows_drive(args: &str) -> bool {
    let b = args.as_bytes();
    b.len() >= 2
        && b[0].is_ascii_alphabetic()
        && b[1] == b':'
        && b.get(2)
            .is_none_or(|c| matches!(c, b'\\' | b'/' | b' ' | b'"' | b'\'' | b'&' | b'|' | b';'))
}

/// `1;.shell whoami`, `;.system id`: the SQLite command-line shell's dot commands that run
/// a program, sent where a statement reaches `sqlite3`.
fn sqlite_shell_command(lower: &str) -> bool {
    // Every dot command that runs a program starts `.s`; most values have none.
    lower.has(".s")
        && lower.match_indices(['\n', ';']).any(|(at, _)| {
            let rest = lower[at + 1..].trim_start();
            ["sh ", "shell ", "system "].iter().any(|cmd| {
                rest.strip_prefix('.')
                    .and_then(|r| r.strip_prefix(cmd))
                    .is_some_and(|r| !next_word(r).is_empty())
            })
        })
}

/// `vi -c ':!sh'`, `vim +'!id'`, `;vi x +silent\ \!whoami +wq`: vi told to run an ex
/// command at start-up that runs a program (`!…`) or a shell (`:sh`), the GTFOBins escape.
fn editor_shell_escape(lower: &str) -> bool {
    const EDITORS: &[&str] = &["vi", "vim", "nvim", "rvim", "gvim"];
    if !lower.contains('!') && !lower.has(":sh") {
        return false;
    }
    lower.split([';', '|', '&', '\n', '`']).any(|segment| {
        let mut words = segment.split_whitespace();
        if !words.any(|w| EDITORS.contains(&w)) {
            return false;
        }
        // What follows the editor, as the shell passes it on (quotes and escapes gone).
        let args: Vec<&str> = words.collect();
        let startup = args.iter().any(|a| *a == "-c" || a.starts_with('+'));
        let args_text = args.join(" ");
        let command = without_chars(&args_text, |c| matches!(c, '\'' | '"' | '\\'));
        startup
            && (command.has(":sh")
                || command.match_indices('!').any(|(i, _)| {
                    command[i + 1..].starts_with(|c: char| c.is_ascii_alphabetic() || c == '/')
                }))
    })
}

/// Unix shells, by the names they are run with.
const SHELLS: &[&str] = &["sh", "bash", "zsh", "ksh", "dash", "csh", "tcsh", "ash"];

/// Output piped into a shell (`… | sh`, `|bash -i`, and `echo id | $0` from a command,
/// `$0` naming the shell that runs the line): whatever comes before runs as code.
fn pipe_to_shell(lower: &str) -> bool {
    lower.match_indices('|').any(|(at, _)| {
        let rest = lower[at + 1..].trim_start_matches(['|', ' ', '\t']);
        if let Some(after) = rest
            .strip_prefix("$0")
            .or_else(|| rest.strip_prefix("${0}"))
            && is_command(next_word(lower))
            && after
                .trim_start()
                .chars()
                .next()
                .is_none_or(|c| matches!(c, ';' | '&' | '|' | '`' | ')' | '-'))
        {
            return true;
        }
        let word = next_word(rest);
        SHELLS.contains(&word)
            && rest[word.len()..]
                .trim_start()
                .chars()
                .next()
                .is_none_or(|c| matches!(c, '-' | ';' | '#' | '&' | '|' | '`' | ')'))
    })
}

/// Programs that wrap another command (`time`, `nohup`, `sudo`) and say nothing alone.
static WRAPPERS: Words = words!([
    "time", "nohup", "sudo", "exec", "env", "nice", "timeout", "xargs", "setsid", "strace",
]);

/// Syntax only a shell reads: `${IFS}`, arithmetic and process substitution, `/dev/tcp`,
/// shells started with a command, Windows command interpreters and their variables.
static SHELL_SYNTAX: Patterns = patterns!([
    "${ifs",
    "$shell",
    "${shell}",
    "$((",
    "$[",
    "<(",
    ">(",
    "$ifs",
    "/dev/tcp/",
    "/dev/udp/",
    "sh -c",
    "bash -c",
    "sh,-c",
    "zsh -c",
    "ksh -c",
    "/bin/sh",
    "/bin/bash",
    "cmd /c",
    "cmd.exe /c",
    "cmd /k",
    "powershell -",
    "powershell.exe",
    "%comspec%",
    "%systemroot%",
    "%windir%",
    "net.webclient",
    ".downloadstring(",
    ".downloadfile(",
]);

/// Globbed paths (`/???/c?t`, `/bin/c*`), as filter evasions.
static GLOB_PATHS: Patterns = patterns!([
    "/???/", "/?in/", "/b?n/", "/e??/", "/bi?/", "/u?r/", "/???/??t",
]);

fn command_rule(lower: &str) -> Option<&'static str> {
    let b = lower.as_bytes();
    let trimmed = lower.trim_start_matches([' ', '\t', '\'', '"']);
    let starts_with_separator =
        trimmed.starts_with([';', '|', '&', '`', '\n']) || trimmed.starts_with("$(");
    for (i, &c) in b.iter().enumerate() {
        let after = match c {
            b';' | b'|' | b'\n' | b'`' | b'&' => &lower[i + 1..],
            b'$' if b.get(i + 1) == Some(&b'(') => &lower[i + 2..],
            _ => continue,
        };
        let doubled = after.starts_with(['|', '&']);
        let after = after.trim_start_matches(['|', '&']);
        let mut word = next_word(after);
        let mut trimmed_after =
            after.trim_start_matches([' ', '\t', '\n', '\r', '(', '{', '\'', '"', '\\']);
        if WRAPPERS.contains(word) {
            let wrapped = trimmed_after[word.len()..].trim_start();
            // A wrapper run alone (`;env`, `|time`) or with its own options
            // (`;env --version`) is a command of its own.
            if !next_word(wrapped).is_empty() && !wrapped.starts_with('-') {
                trimmed_after = wrapped;
                word = next_word(trimmed_after);
            }
        }
        // A value that opens with `;` or `|` and a program name: injection by its shape,
        // whatever the program (`;flock -u / whoami`, `;rmt-tar`, `|iwr http://…`).
        let opens = starts_with_separator && i == lower.len() - trimmed.len() && c != b'&';
        // `a=nc&&$a -nlvp 555`: a variable run as the command after a separator.
        let variable = after
            .trim_start()
            .strip_prefix('$')
            .map(|v| {
                v.bytes()
                    .take_while(|b| b.is_ascii_alphabetic() || *b == b'_')
                    .count()
            })
            .unwrap_or(0);
        let variable_ends = after.trim_start().as_bytes().get(1 + variable);
        let runs_variable = variable > 0
            && variable_ends.is_none_or(|b| matches!(b, b' ' | b';' | b'|' | b'&'))
            && matches!(c, b';' | b'&' | b'|' | b'\n')
            && (lower[..i].contains('=') || lower[..i].trim().is_empty());
        // `echo | ${x}gcc`: a command piped into a braced expansion, which makes the
        // name of the program that runs.
        let piped_into_expansion = c == b'|'
            && is_command(next_word(lower))
            && after
                .trim_start()
                .strip_prefix("${")
                .and_then(|r| r.find('}'))
                .is_some_and(|end| (1..=32).contains(&end));
        if runs_variable || piped_into_expansion {
            return Some("cmdi.variable_command");
        }
        if !is_command(word) {
            let program = word.len() >= 2
                && word.as_bytes()[0].is_ascii_alphabetic()
                && word
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'-' | b'_' | b'.'));
            let rest = trimmed_after.get(word.len()..).unwrap_or_default();
            if opens
                && program
                && (rest.trim().is_empty() || rest.starts_with([' ', '<', '>', '|', ';']))
            {
                return Some("cmdi.separator_command");
            }
            continue;
        }
        let base = word
            .rsplit(['/', '\\'])
            .next()
            .unwrap_or(word)
            .trim_end_matches(".exe");
        let rest = trimmed_after.get(word.len()..).unwrap_or_default();
        // What follows the command: its end, a separator, or arguments.
        let ends = rest.trim_end().is_empty()
            || rest.starts_with([';', '|', '&', '`', '\n', '>', '<'])
            || (matches!(c, b'`' | b'$') && rest.starts_with([')', '`']));
        let args = rest.trim_start();
        // A switch glued to the tool (`bcdboot/r`) is as shell-shaped as one after it.
        let shell_args = glued_switch(word)
            || rest.starts_with([' ', '\t', '$'])
                && (args.starts_with([
                    '-', '/', '$', '>', '<', '|', '.', '\'', '"', '`', '%', '~', '*', '\\',
                ]) || windows_drive(args));
        let plain_args = rest.starts_with([' ', '\t']) && !args.is_empty();
        let command_sure = !AMBIGUOUS.contains(base) || word.contains('/');
        // A separator that opens the value (`;id`, `| net view`) is injection by shape.
        let strong_separator = matches!(c, b';' | b'\n' | b'`' | b'$') || doubled || c == b'|';
        let substitution = matches!(c, b'`' | b'$');
        let opens_value = starts_with_separator && i == lower.len() - trimmed.len();
        // What comes before the separator looks like a parameter value (`127.0.0.1`,
        // `a`, `x.txt`, `backup_name`), not a word of prose.
        let prefix = lower[..i].trim();
        let value_like = prefix.len() <= 3
            || prefix
                .bytes()
                .any(|b| b.is_ascii_digit() || matches!(b, b'.' | b'/' | b'\'' | b'"' | b'_'));
        let hit = if substitution || opens_value {
            ends || plain_args || shell_args
        } else if command_sure {
            ((ends || plain_args) && strong_separator) || shell_args
        } else {
            // `arm; touch; nokia`: a word in a `; `-separated list (User-Agent comments)
            // is an item, not a command.
            let listed = c == b';' && after.starts_with(' ') && rest.starts_with(';');
            shell_args
                || (ends && strong_separator && word.len() <= 8 && value_like && !listed)
                || (strong_separator && value_like && command_line(trimmed_after))
        };
        if hit && !(c == b'&' && rest.starts_with('=')) {
            return Some("cmdi.separator_command");
        }
    }
    if SHELL_SYNTAX.is_match(lower) || socket_redirect(lower) || substring_expansion(lower) {
        return Some("cmdi.shell_syntax");
    }
    if let Some(rule) = shell_feature_rule(lower) {
        return Some(rule);
    }
    if pipe_to_shell(lower) {
        return Some("cmdi.pipe_to_shell");
    }
    if editor_shell_escape(lower) {
        return Some("cmdi.editor_shell_escape");
    }
    // `~+`, `~-`, `~-1`: the shell's directory-stack expansions, alone in a value.
    if let Some(rest) = lower.trim().strip_prefix('~')
        && rest.starts_with(['+', '-'])
        && rest[1..].bytes().all(|b| b.is_ascii_digit())
    {
        return Some("cmdi.tilde_expansion");
    }
    // A function that pipes into itself in the background: the fork bomb
    // (`:(){ :|:& };:`).
    let squeezed_fn = if lower.contains('(') && lower.contains('{') {
        without_chars(lower, char::is_whitespace)
    } else {
        "".into()
    };
    if let Some(at) = squeezed_fn.at("(){") {
        let body = &squeezed_fn[at + 3..];
        let name = &squeezed_fn[..at];
        let name = name.rsplit([';', '&', '|', ' ']).next().unwrap_or(name);
        // `:|:&`, or the function called twice with one call sent to the background
        // (`f(){ f() & f(); }; f`).
        let piped = body.contains(&format!("{name}|{name}&"));
        let backgrounded = body.contains(&format!("{name}()&{name}()"))
            || body.contains(&format!("{name}&{name}"));
        if !name.is_empty() && (piped || backgrounded) {
            return Some("cmdi.fork_bomb");
        }
    }
    // Globbed paths (`/???/c?t`, `/bin/c*`), as filter evasions.
    if GLOB_PATHS.is_match(lower)
        || (lower.contains('?') && lower.split_whitespace().any(wildcard_path))
    {
        return Some("cmdi.glob_path");
    }
    if command_line(lower) {
        return Some("cmdi.command_line");
    }
    // `alias name='command'`.
    if let Some(rest) = lower.trim_start().strip_prefix("alias ")
        && rest.contains('=')
    {
        return Some("cmdi.command_line");
    }
    // Windows batch constructs: `if %errorlevel% equ 2 goto`, `for %i in (*) do`.
    let statement = lower.trim_start_matches(['&', '|', ';', ' ']);
    let opening = statement.trim_start();
    // A block opened after the condition, `if (a == b) { … }`, is C-family code (batch
    // takes braces only as quotes: `if not {%1} == {}`).
    if !(opening.starts_with("if") || opening.starts_with("for"))
        || without_chars(lower, char::is_whitespace).has("){")
    {
        return None;
    }
    let words: Vec<&str> = statement.split_whitespace().collect();
    let batch_if = (words.first() == Some(&"if")
        || words.first().is_some_and(|w| w.starts_with("if/")))
        && (lower.has("==")
            || words.iter().any(|w| {
                matches!(
                    *w,
                    "equ"
                        | "neq"
                        | "lss"
                        | "leq"
                        | "gtr"
                        | "geq"
                        | "exist"
                        | "errorlevel"
                        | "cmdextversion"
                        | "defined"
                        | "goto"
                )
            }));
    let batch_for = words.first() == Some(&"for")
        && (words
            .get(1)
            .is_some_and(|w| w.starts_with('%') || w.starts_with('/')))
        && words
            .iter()
            .any(|w| *w == "do" || w.ends_with(")do") || w.starts_with("do("));
    if batch_if || batch_for {
        return Some("cmdi.windows_batch");
    }
    None
}

/// Shell features no form field needs: the Shellshock function prefix, history
/// expansion, a command word escaped past aliases and filters (`\ls`), and brace
/// expansions whose words join into a command (`{l,-lh}s` runs `ls -lhs`).
fn shell_feature_rule(lower: &str) -> Option<&'static str> {
    let value = lower.trim();
    // Bash imports a variable that starts with `() {` as a function and, unpatched, runs
    // whatever follows its body (CVE-2014-6271).
    if let Some(rest) = value.strip_prefix("()")
        && rest.trim_start().starts_with('{')
    {
        return Some("cmdi.shellshock");
    }
    // `!-2`, `!-1!-2`, `!!!-1`: earlier commands re-run by their position in the history
    // (`!!` alone is also an exclamation).
    if value.has("!-") && history_expansion(value) {
        return Some("cmdi.history_expansion");
    }
    // `\ls`: the backslash makes the shell skip aliases, and slips past filters that look
    // for the bare word.
    if let Some(rest) = value.strip_prefix('\\') {
        let word = next_word(rest);
        let after = rest.strip_prefix(word).unwrap_or(" ");
        if rest.starts_with(word)
            && word.len() >= 2
            && !word.contains(['\\', '/', '.'])
            && is_command(word)
            && (after.is_empty() || after.starts_with(' '))
        {
            return Some("cmdi.escaped_command");
        }
    }
    if brace_expansion_command(value) {
        return Some("cmdi.brace_expansion");
    }
    None
}

/// `${HOME:0:1}`, `${PATH:0:1}`: a character cut out of a variable, the shell's way of
/// writing `/` (or any letter) where a filter looks for it.
fn substring_expansion(lower: &str) -> bool {
    lower.has("${")
        && lower.each_at("${").any(|at| {
            let rest = &lower[at + 2..];
            let name = rest
                .bytes()
                .take_while(|b| b.is_ascii_alphanumeric() || *b == b'_')
                .count();
            let Some(range) = rest[name..].strip_prefix(':') else {
                return false;
            };
            let offset = range.bytes().take_while(u8::is_ascii_digit).count();
            let Some(length) = range[offset..].strip_prefix(':') else {
                return false;
            };
            let digits = length.bytes().take_while(u8::is_ascii_digit).count();
            name > 0 && offset > 0 && digits > 0 && length[digits..].starts_with('}')
        })
}

/// A value made only of history designators: `!!`, `!-N`.
fn history_expansion(value: &str) -> bool {
    let mut rest = value;
    while !rest.is_empty() {
        if let Some(r) = rest.strip_prefix("!!") {
            rest = r;
        } else if let Some(r) = rest.strip_prefix("!-") {
            let digits = r.bytes().take_while(u8::is_ascii_digit).count();
            if digits == 0 {
                return false;
            }
            rest = &r[digits..];
        } else {
            return false;
        }
    }
    true
}

/// Brace expansion that builds a command: its first word, with what is glued before and
/// after the braces, is a command or a globbed path (`{cat,/etc/passwd}`, `{,echo,#test}`,
/// `{l,-lh}s` → `ls -lhs`, `{/?s?/?i?/c?t,}` → `/?s?/?i?/c?t`).
fn brace_expansion_command(value: &str) -> bool {
    let Some(open) = value.find('{') else {
        return false;
    };
    let rest = &value[open + 1..];
    let (inner, after) = match rest.find('}') {
        Some(close) => (&rest[..close], &rest[close + 1..]),
        None => (rest, ""),
    };
    if !inner.contains(',') {
        return false;
    }
    let word_end = |c: char| c.is_whitespace() || matches!(c, ';' | '|' | '&');
    let prefix = value[..open].rsplit(word_end).next().unwrap_or_default();
    let suffix = after.split(word_end).next().unwrap_or_default();
    inner
        .split(',')
        .map(|alternative| format!("{prefix}{alternative}{suffix}"))
        .find(|word| !word.is_empty())
        .is_some_and(|first| is_command(&first) || wildcard_path(&first))
}

/// An absolute path whose segments are mostly wildcards (`/?s?/?i?/c?t`, `/b??/c*t`): a
/// program named without spelling its name, to pass word filters.
fn wildcard_path(word: &str) -> bool {
    let Some(path) = word.strip_prefix('/') else {
        return false;
    };
    let segments: Vec<&str> = path.split('/').collect();
    segments.len() >= 2
        && segments.iter().all(|s| {
            !s.is_empty()
                && s.len() <= 8
                && s.bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'?' | b'*' | b'[' | b']'))
        })
        && segments.iter().filter(|s| s.contains(['?', '*'])).count() >= 2
        && segments.last().is_some_and(|s| {
            s.contains(['?', '*']) && s.len() <= 4 && s.bytes().any(|b| b.is_ascii_alphabetic())
        })
        && segments.iter().any(|s| s.contains('?'))
}

/// A redirection to a network socket through a variable holding `/dev`
/// (`d=/dev; sh 0>$d/tcp/203.0.113.9/80`).
fn socket_redirect(lower: &str) -> bool {
    ["/tcp/", "/udp/"].iter().any(|proto| {
        lower.has(proto)
            && lower.match_indices(proto).any(|(at, _)| {
                let before = &lower[..at];
                let Some(dollar) = before.rfind('$') else {
                    return false;
                };
                let name = before[dollar + 1..].trim_matches(['{', '}']);
                let port = lower[at + proto.len()..]
                    .split('/')
                    .nth(1)
                    .unwrap_or_default();
                !name.is_empty()
                    && name.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'_')
                    && before[..dollar].trim_end().ends_with(['>', '<', '&'])
                    && port.starts_with(|c: char| c.is_ascii_digit())
            })
    })
}

/// Whether `text` is itself a command line: a command with options, a path, a drive or an
/// environment variable as argument, `net user`-style subcommands, or a command followed
/// by a separator.
fn command_line(text: &str) -> bool {
    let lower = text;
    // A value that is a command line: a command with options or a path argument, or a
    // command followed by a separator.
    let mut first = next_word(lower);
    let mut rest = lower.trim_start_matches([' ', '\t', '\n', '\r', '(', '{', '\'', '"', '\\']);
    let opening = first.trim_matches(|c: char| matches!(c, '"' | '\''));
    if ADMIN_TOOLS.contains(opening) || versioned_tool(opening) || glued_switch(opening) {
        return true;
    }
    // `sh x.sh`, `rc script.sh`: a shell given a script to run. Plan 9's `rc` counts here,
    // where the script file leaves no doubt (alone it is a release channel).
    let script = rest
        .get(first.len()..)
        .map_or("", |r| next_word(r.trim_start()));
    if (SHELLS.contains(&opening) || opening == "rc")
        && [".sh", ".bash", ".zsh", ".ksh", ".csh"]
            .iter()
            .any(|ext| script.len() > ext.len() && script.ends_with(ext))
    {
        return true;
    }
    let wrapped = WRAPPERS.contains(first) && rest.len() > first.len();
    if wrapped {
        rest = rest[first.len()..].trim_start();
        // A wrapper run with its own long options (`env --version`).
        if rest.starts_with("--") {
            return true;
        }
        first = next_word(rest);
        // `time ifconfig`, `nohup whoami`: a wrapper around a program is a command line,
        // and so is one around a program whose name is also a word (`time who`) when
        // nothing but options follow.
        let base = first.rsplit('/').next().unwrap_or(first);
        let after = rest[first.len()..].trim();
        if is_command(first)
            && (!AMBIGUOUS.contains(base) || after.is_empty() || after.starts_with('-'))
        {
            return true;
        }
    }
    // A path to a program (`bin/visudo`, `/usr/sbin/useradd`).
    if [("bin/", "/bin/"), ("sbin/", "/sbin/")]
        .iter()
        .any(|(d, inside)| {
            lower.trim_start().starts_with(d)
                || lower.at(inside).is_some_and(|at| {
                    lower[at + inside.len()..].starts_with(|c: char| c.is_ascii_alphabetic())
                })
        })
        && !lower.has("://")
    {
        return true;
    }
    if is_command(first) {
        let base = first.rsplit(['/', '\\']).next().unwrap_or(first);
        let args = rest.get(first.len()..).unwrap_or_default();
        // `-l`, `--all`, `-1`; a dash alone or a double dash before words is punctuation
        // (`tail -- end`).
        let option = args.starts_with(' ')
            && args
                .trim_start()
                .strip_prefix("--")
                .or_else(|| args.trim_start().strip_prefix('-'))
                .is_some_and(|name| name.starts_with(|c: char| c.is_ascii_alphanumeric()));
        let path = args.starts_with(' ')
            && args.trim_start().starts_with('/')
            && args.trim_start().len() > 1;
        let separated = args.starts_with([';', '|', '&', '`']) && !args.starts_with("&&&");
        // A download or connection target: a URL or an IP address.
        let target = args.starts_with(' ') && {
            let a = args.trim_start();
            ["http://", "https://", "ftp://", "tftp://", "//"]
                .iter()
                .any(|p| a.starts_with(p))
                || a.split(['/', ':', ' '])
                    .next()
                    .is_some_and(|h| h.parse::<std::net::Ipv4Addr>().is_ok())
        };
        // Windows: a drive path or an environment variable as the argument
        // (`type c:\\windows\\repair\\sam`, `dir %userprofile%`), or `net user|localgroup`.
        let a = args.trim_start().as_bytes();
        let drive = a.len() >= 2
            && a[0].is_ascii_alphabetic()
            && a[1] == b':'
            && (a.len() == 2 || matches!(a[2], b'\\' | b'/' | b' ' | b'"' | b'\''));
        let env_var = a.first() == Some(&b'%')
            && a[1..]
                .iter()
                .position(|c| *c == b'%')
                .is_some_and(|e| e > 1);
        // `sleep 10`: the delay a blind injection is timed by.
        let delay = base == "sleep"
            && args.starts_with(' ')
            && args
                .trim()
                .parse::<f32>()
                .is_ok_and(|s| s > 0.0 && s <= 3600.0);
        // `dd if=/etc/passwd of=…`: dd's own argument syntax.
        let dd = base == "dd"
            && (args.trim_start().starts_with("if=") || args.trim_start().starts_with("of="));
        let net = base == "net"
            && [
                "user",
                "localgroup",
                "view",
                "share",
                "use",
                "group",
                "accounts",
                "session",
            ]
            .iter()
            .any(|sub| args.trim_start().starts_with(sub));
        let sure = !AMBIGUOUS.contains(base) || first.contains('/');
        if (args.starts_with(' ') && (drive || env_var)) || net || dd || delay {
            return true;
        }
        if (sure && (option || path || separated || target || args.starts_with(" ${")))
            || (!sure
                && (option || path)
                && !matches!(
                    base,
                    "set"
                        | "test"
                        | "at"
                        | "w"
                        | "start"
                        | "more"
                        | "less"
                        | "find"
                        | "host"
                        | "last"
                        | "top"
                        | "make"
                        | "mail"
                        | "dir"
                        | "echo"
                        | "type"
                        | "copy"
                        | "net"
                ))
            || ([
                "/bin/",
                "/usr/bin/",
                "/sbin/",
                "/usr/sbin/",
                "/usr/local/bin/",
            ]
            .iter()
            .any(|d| first.starts_with(d))
                && args.is_empty())
        {
            return true;
        }
    }
    false
}

/// What a template expression reaches for to run code or read the server's state.
static TEMPLATE_CODE: Patterns = patterns!([
    "exec", "system", "popen", "eval", "import", "require", "process", "runtime", "class",
    "include", "range(", "self", "config", "request", "env", "os.", "getattr", "attr(", "lookup",
    "new ", "t(java", "7*7",
]);

/// Server-side template injection: expressions inside template delimiters, and the object
/// walks used to reach code from them.
fn template(lower: &str, sink: &mut Sink) {
    if TEMPLATE_WALKS.is_match(lower) {
        sink.hit(Hit::new(Ssti, "ssti.object_walk", 5, 1, lower));
        return;
    }
    // Every delimiter below holds one of these.
    if !lower.contains(['{', '(', '[', '%']) {
        return;
    }
    // A control block, opened and closed (`{% for c in [1,2] %}…{% endfor %}`,
    // `{% if x %}…{%endif%}`): template code, whatever it does.
    if let Some(at) = lower.at("{%")
        && let Some(end) = lower[at..].at("%}")
        && ["for ", "if ", "with ", "macro "]
            .iter()
            .any(|w| lower[at + 2..at + end].trim_start().starts_with(w))
        && (lower[at + end..].has("{% end") || lower[at + end..].has("{%end"))
    {
        sink.hit(Hit::new(Ssti, "ssti.control_block", 5, 1, lower));
        return;
    }
    for (open, close) in [
        ("{{", "}}"),
        ("${", "}"),
        ("#{", "}"),
        ("<%=", "%>"),
        ("{%", "%}"),
        ("*{", "}"),
        ("@(", ")"),
        ("[[", "]]"),
        ("{#", "#}"),
    ] {
        let Some(at) = lower.at(open) else { continue };
        let inner = &lower[at + open.len()..];
        let inner = &inner[..inner.at(close).unwrap_or(inner.len())];
        let arithmetic = inner.contains(['*', '+'])
            && inner.bytes().any(|c| c.is_ascii_digit())
            && inner.bytes().all(|c| {
                c.is_ascii_digit() || matches!(c, b'*' | b'+' | b'-' | b' ' | b'/' | b'\'' | b'"')
            });
        let code = TEMPLATE_CODE.is_match(inner);
        if arithmetic || (code && open != "${") || (code && inner.contains('(')) {
            sink.hit(Hit::new(Ssti, "ssti.expression", 5, 1, lower));
            return;
        }
    }
}

/// Java: JNDI lookups (Log4Shell, with its nested-lookup obfuscations), expression
/// languages (OGNL, SpEL, EL), and the classes deserialization and RCE gadgets name.
fn java(lower: &str, decoded: &str, squeezed: &Squeezed, sink: &mut Sink) {
    // Java classes named by their package: deserialization gadgets and reflection need
    // them, forms never hold them.
    const PACKAGES: &[&str] = &[
        "java.io.",
        "java.lang.",
        "java.net.",
        "java.util.",
        "java.nio.",
        "java.rmi.",
        "java.beans.",
        "java.security.",
        "javax.",
        "org.apache.commons",
        "org.apache.xalan",
        "com.opensymphony.xwork2",
        "org.omg.corba",
        "com.sun.",
        "sun.misc.",
        "jdk.internal",
        "org.codehaus.groovy",
        "org.mozilla.javascript",
        "com.mchange.",
        "bsh.",
    ];
    static PACKAGE_NAMES: Patterns = patterns!(PACKAGES);
    if lower.contains('.')
        && PACKAGE_NAMES.find_overlapping_iter(lower).any(|m| {
            let at = m.start();
            let before = lower.as_bytes().get(at.wrapping_sub(1)).copied();
            let rest = &lower[m.end()..];
            // A package followed by a class (`java.io.File`), or a whole name
            // (`com.opensymphony.xwork2`) standing alone.
            let named = rest.starts_with(|c: char| c.is_ascii_alphabetic())
                || (!PACKAGES[m.pattern().as_usize()].ends_with('.')
                    && !rest.starts_with(|c: char| c.is_ascii_alphanumeric()));
            (at == 0 || !before.is_some_and(|b| b.is_ascii_alphanumeric())) && named
        })
    {
        sink.hit(Hit::new(JavaInjection, "java.class_name", 5, 1, lower));
        return;
    }
    if java_gadget_base64(decoded) {
        sink.hit(Hit::new(JavaInjection, "java.encoded_gadget", 5, 1, lower));
        return;
    }
    if lower.has("${") {
        let squeezed = squeezed.get();
        // `${jndi:`, and `${${lower:j}ndi:`, `${${::-j}${::-n}di:` spellings.
        let unwrapped = unwrap_lookups(squeezed);
        if unwrapped.has("jndi:")
            || [
                "${env:",
                "${sys:",
                "${java:",
                "${lower:",
                "${upper:",
                "${main:",
                "${ctx:",
                "${date:",
                "${base64:",
                "${spring:",
                "${k8s:",
                "${docker:",
                "${web:",
                "${log4j:",
                "${bundle:",
                "${marker:",
                "${sd:",
                "${event:",
            ]
            .iter()
            .any(|p| squeezed.contains(p))
        {
            sink.hit(Hit::new(JavaInjection, "java.jndi_lookup", 5, 1, lower));
            return;
        }
    }

    if GADGET_NAMES.is_match(lower) {
        sink.hit(Hit::new(JavaInjection, "java.gadget", 5, 1, lower));
        return;
    }
    // Serialized Java objects: `aced0005` in hex, `rO0AB` in base64 (and `KztAA`,
    // `Cs7QA` when the magic sits at the other two alignments of a base64 string).
    if lower.has("aced0005") || lower.has("ro0ab") || decoded.has("KztAA") || decoded.has("Cs7QA") {
        sink.hit(Hit::new(
            JavaInjection,
            "java.serialized_object",
            5,
            1,
            lower,
        ));
        return;
    }
    // `%{...}` OGNL and `#{...}` / `${...}` EL with method calls.
    for open in ["%{", "#{", "${"] {
        if let Some(at) = lower.at(open) {
            let inner = &lower[at + 2..];
            if inner.contains('(') && inner.contains(['.', '@', '#']) {
                sink.hit(Hit::new(JavaInjection, "java.expression", 5, 1, lower));
                return;
            }
        }
    }
}

/// `${${lower:j}${::-n}di:` → `${jndi:`: nested lookups that spell a word.
fn unwrap_lookups(text: &str) -> String {
    let mut current = text.to_string();
    for _ in 0..8 {
        let mut next = String::with_capacity(current.len());
        let mut rest = current.as_str();
        let mut changed = false;
        while let Some(at) = rest.at("${") {
            next.push_str(&rest[..at]);
            let inner = &rest[at + 2..];
            match inner.find('}') {
                Some(end) if !inner[..end].has("${") => {
                    let body = &inner[..end];
                    let value = body
                        .rsplit_once(":-")
                        .map(|(_, v)| v.to_string())
                        .or_else(|| {
                            body.split_once(':')
                                .filter(|(k, _)| matches!(*k, "lower" | "upper"))
                                .map(|(_, v)| v.to_string())
                        });
                    match value {
                        Some(v) => {
                            next.push_str(&v);
                            changed = true;
                        }
                        None => {
                            next.push_str("${");
                            next.push_str(body);
                            next.push('}');
                        }
                    }
                    rest = &inner[end + 1..];
                }
                _ => {
                    next.push_str("${");
                    rest = inner;
                }
            }
        }
        next.push_str(rest);
        if !changed {
            return next;
        }
        current = next;
    }
    current
}

/// PHP functions that run commands, evaluate or decode code, or touch files.
const PHP_CALLS: &[&str] = &[
    "system(",
    "exec(",
    "shell_exec(",
    "passthru(",
    "popen(",
    "proc_open(",
    "eval(",
    "assert(",
    "base64_decode(",
    "gzinflate(",
    "str_rot13(",
    "phpinfo(",
    "file_get_contents(",
    "file_put_contents(",
    "fopen(",
    "fwrite(",
    "include(",
    "require(",
    "include_once(",
    "require_once(",
    "preg_replace(",
    "create_function(",
    "call_user_func(",
    "unserialize(",
    "highlight_file(",
    "show_source(",
    "readfile(",
    "pcntl_exec(",
    "chr(",
    "move_uploaded_file(",
];

/// PHP code: open tags, dangerous calls, and superglobals.
fn php(lower: &str, sink: &mut Sink) {
    // Every construct below needs one of these: calls, variables, tags, directives,
    // serialized objects.
    if !lower.contains(['(', '$', '<', '[', '{', '=', ':', '`']) {
        return;
    }
    // Whitespace and comments vanish to PHP's parser (`$a/*c*/()`, `system /**/ (ls)`).
    let uncommented = crate::decode::without_block_comments(lower);
    let uncommented = strip_line_comments(&uncommented);
    let squeezed = without_chars(&uncommented, |c| c.is_whitespace() || c == '\x0b');
    let squeezed: &str = &squeezed;
    if let Some(rule) = php_call(squeezed) {
        sink.hit(Hit::new(PhpInjection, rule, 5, 1, lower));
        return;
    }
    // Every tag below opens with one of these.
    if squeezed.contains(['<', '{', '['])
        && (squeezed.has("<?php")
            || squeezed.ends_with("<?")
            || squeezed.has("{php}")
            || squeezed.has("{/php}")
            || squeezed.has("[/php]")
            || squeezed.has("[\\php]")
            || squeezed.has("<?=")
            || (squeezed.has("<?")
                && (squeezed.has("?>")
                    || squeezed.contains('$')
                    || squeezed.has("echo")
                    || squeezed.has("system")))
            || squeezed.has("[php]"))
    {
        sink.hit(Hit::new(PhpInjection, "php.open_tag", 5, 1, lower));
        return;
    }
    static CALLS: Patterns = patterns!(PHP_CALLS);
    static SUPERGLOBALS: Patterns = patterns!([
        "$_get",
        "$_post",
        "$_request",
        "$_cookie",
        "$_server",
        "$_files",
        "$_env",
        "$_session",
        "$globals",
    ]);
    let global = squeezed.contains('$') && SUPERGLOBALS.is_match(squeezed);
    // Calls that also read as words of prose or other languages count only next to PHP's
    // own punctuation.
    let code_around = squeezed.contains([';', '$']);
    let call = CALLS.find_overlapping_iter(squeezed).any(|m| {
        code_around
            || !matches!(
                PHP_CALLS[m.pattern().as_usize()],
                "chr(" | "eval(" | "include(" | "fopen("
            )
    });
    if global || call {
        sink.hit(Hit::new(PhpInjection, "php.code", 5, 1, lower));
        return;
    }
    // Variable variables: `${a}`, `${'_VAR'.'IABLE'}`, `$ {$a}`.
    if let Some(at) = squeezed.at("${") {
        let inner = &squeezed[at + 2..];
        let inner = &inner[..inner.find('}').unwrap_or(inner.len())];
        if inner.starts_with('$')
            || (inner.starts_with(['\'', '"']) && inner.contains('.'))
            || (inner.len() <= 2
                && inner.bytes().all(|b| b.is_ascii_alphabetic())
                && !inner.is_empty())
        {
            sink.hit(Hit::new(PhpInjection, "php.variable_variable", 5, 1, lower));
            return;
        }
    }
    // Serialized PHP objects: `O:8:"stdClass":1:{`.
    if squeezed.starts_with("o:") && squeezed.has(":{")
        || squeezed.has("a:2:{") && squeezed.has("s:")
    {
        sink.hit(Hit::new(PhpInjection, "php.serialized_object", 5, 1, lower));
    }
}

/// MongoDB query and aggregation operators.
static NOSQL_OPERATORS: Patterns = patterns!([
    "$ne",
    "$gt",
    "$gte",
    "$lt",
    "$lte",
    "$nin",
    "$in",
    "$regex",
    "$where",
    "$exists",
    "$or",
    "$and",
    "$not",
    "$nor",
    "$expr",
    "$function",
    "$accumulator",
    "$elemmatch",
    "$eq",
    "$type",
    "$jsonschema",
    "$lookup",
    "$text",
    "$search",
    "$all",
    "$size",
    "$mod",
]);

/// What server-side JavaScript (Node.js) injection reaches for: the module system and the
/// process, the Function constructor by any path, serialized functions
/// (`_$$ND_FUNC$$_`, `__js_function`), prototype walks in React Flight payloads, and
/// loops that never end.
static NODE_CODE: Patterns = patterns!([
    "require(",
    "require[",
    "process.env",
    "process.mainmodule",
    "process.binding",
    "process.kill",
    "process[",
    "child_process",
    "module.exports",
    "module.constructor",
    "constructor.constructor",
    "newfunction(",
    ".execsync(",
    ".spawnsync(",
    "process.spawn(",
    "_$$nd_func$$_",
    "__proto__[",
    "__proto__.",
    "__proto__\"",
    "constructor[prototype]",
    "constructor.prototype",
    "__js_function",
    ":__proto__:",
    ":constructor:",
    "module:prototype",
    "for(;;)",
]);

/// `_$$ND_FUNC$$_` (node-serialize's function marker) base64-encoded at any alignment.
static NODE_FUNCTION_BASE64: Patterns = patterns!(crate::decode::base64_offsets(b"_$$ND_FUNC$$_"));

fn javascript(lower: &str, decoded: &str, squeezed: &Squeezed, sink: &mut Sink) {
    // Whitespace inside the code (`new Function (`) is squeezed out only when there are
    // brackets to call with.
    let squeezed = if lower.contains(['(', '[']) {
        squeezed.get()
    } else {
        lower
    };
    if NODE_CODE.is_match(squeezed)
        || infinite_loop(squeezed)
        || busy_wait(squeezed)
        || (base64_run(decoded, 16) && NODE_FUNCTION_BASE64.is_match(decoded))
    {
        sink.hit(Hit::new(JsInjection, "js.node_code", 5, 1, lower));
    }
}

/// Perl code interpolated into a string: `@{[ system 'id' ]}` runs its expression wherever
/// Perl evaluates a double-quoted string or a template built from input.
fn perl(lower: &str, sink: &mut Sink) {
    let interpolated = lower.has("@{")
        && lower.each_at("@{").any(|at| {
            let rest = lower[at + 2..].trim_start();
            rest.starts_with('[') && rest[1..].contains(']')
        });
    if interpolated {
        sink.hit(Hit::new(
            PerlInjection,
            "perl.interpolated_code",
            5,
            1,
            lower,
        ));
    }
}

/// `do{d2=new Date();}while(d2-d1<10000)`: a loop that spins until some time has passed,
/// the timing probe of injections into server-side JavaScript (MongoDB `$where`).
fn busy_wait(squeezed: &str) -> bool {
    squeezed.has("while(")
        && (squeezed.has("newdate(") || squeezed.has("date.now("))
        && squeezed.each_at("while(").any(|at| {
            let cond = squeezed[at + 6..].split(')').next().unwrap_or_default();
            cond.contains('-')
                && cond.contains(['<', '>'])
                && cond.bytes().any(|b| b.is_ascii_digit())
        })
}

/// `while(!false)`, `while(Infinity)`, `while(!![])`: a loop whose condition is a
/// constant, which ties up the server's event loop.
fn infinite_loop(squeezed: &str) -> bool {
    squeezed.has("while(")
        && squeezed.each_at("while(").any(|at| {
            // The condition up to its closing parenthesis (nested ones included).
            let mut depth = 1;
            let cond: String = squeezed[at + 6..]
                .chars()
                .take_while(|c| {
                    match c {
                        '(' => depth += 1,
                        ')' => depth -= 1,
                        _ => {}
                    }
                    depth > 0
                })
                .collect();
            // Nothing in it can change: literals, signs, negations and names of constants.
            let bare: String = cond
                .chars()
                .filter(|c| {
                    !matches!(
                        c,
                        '(' | ')' | '!' | '+' | '-' | '[' | ']' | '"' | '\'' | '`'
                    )
                })
                .collect();
            !cond.contains(['<', '>', '=', '.', ',', ';'])
                && (bare.is_empty()
                    || bare.bytes().all(|b| b.is_ascii_digit())
                    || matches!(
                        bare.as_str(),
                        "true"
                            | "false"
                            | "infinity"
                            | "this"
                            | "string"
                            | "object"
                            | "array"
                            | "number"
                            | "function"
                            | "null"
                            | "undefined"
                            | "nan"
                    ))
        })
}

/// NoSQL operators in names or values: `user[$ne]=`, `{"$where": …}`, `$regex`.
fn nosql(location: Location, lower: &str, squeezed: &Squeezed, sink: &mut Sink) {
    let b = lower.as_bytes();
    let operator = lower.contains('$')
        && NOSQL_OPERATORS.find_overlapping_iter(lower).any(|m| {
            let (at, end) = (m.start(), m.end());
            let before_ok =
                at == 0 || matches!(b[at - 1], b'[' | b'"' | b'\'' | b'{' | b' ' | b',');
            let after_ok = end == b.len() || matches!(b[end], b']' | b'"' | b'\'' | b':' | b' ');
            before_ok && after_ok
        });
    if operator && (location != Location::Path) {
        sink.hit(Hit::new(Nosqli, "nosqli.operator", 5, 1, lower));
        return;
    }
    // Server-side JavaScript in a `$where`-style string: a property of the document
    // joined to a condition (`' && this.pass`), a return of a constant, or the shell's
    // collection methods.
    static WHERE_CODE: Patterns = patterns!([
        "&&this.",
        "||this.",
        ";returntrue",
        ";return1",
        "db.getcollection(",
        ".mapreduce(",
        ".insert({",
        "db.injection",
    ]);
    // Both forms below name the document, return something or call the shell's `db`.
    static SCRIPT_MARKERS: Patterns = patterns!(["this.", "return", "db."]);
    if !SCRIPT_MARKERS.is_match(lower) {
        return;
    }
    if WHERE_CODE.is_match(squeezed.get()) {
        sink.hit(Hit::new(Nosqli, "nosqli.javascript", 5, 1, lower));
        return;
    }
    // Server-side JavaScript in a `$where`-style string: `'; return true; var x='`.
    if (lower.has("this.") || lower.has("return "))
        && (lower.has("';") || lower.has("\";") || lower.has("||") && lower.has("=="))
        && (lower.has("return") || lower.has("sleep(") || lower.has("db."))
    {
        sink.hit(Hit::new(Nosqli, "nosqli.javascript", 5, 1, lower));
    }
}

/// LDAP filter injection: closing a filter and opening another, or wildcard attributes.
fn ldap(lower: &str, squeezed: &Squeezed, sink: &mut Sink) {
    // Both a breakout and an attribute test need one of these.
    if !lower.contains(['(', ')', '*', '|', '&']) {
        return;
    }
    let squeezed = squeezed.get();
    static BREAKOUTS: Patterns = patterns!([
        "*)(", ")(|", ")(&", ")(!", "*))", "(|(", "(&(", "(!(", "))(", "*)%00", "*()|", "*))%00",
    ]);
    static ATTRIBUTE_TESTS: Patterns = patterns!([
        "objectclass=",
        "uid=*",
        "cn=*",
        "mail=*",
        "userpassword",
        "samaccountname",
        "description=*",
        "givenname=*",
        "sn=*",
        "admin*",
        "ou=*",
    ]);
    // A breakout followed by a comparison or a wildcard, or one that ends the value
    // (`admin)(|`, `bar)(&)`).
    let breakout_at_end = BREAKOUTS
        .find_iter(squeezed)
        .any(|m| squeezed.len() - m.end() <= 2);
    if BREAKOUTS.is_match(squeezed)
        && (squeezed.contains(['=', '*', '<', '>', '~']) || breakout_at_end)
        || ATTRIBUTE_TESTS.is_match(squeezed)
    {
        sink.hit(Hit::new(Ldapi, "ldapi.filter", 5, 1, lower));
    }
}

/// Server-side includes: `<!--#exec cmd=…-->`.
fn ssi(lower: &str, squeezed: &Squeezed, sink: &mut Sink) {
    if !lower.contains('<') || !lower.contains('#') {
        return;
    }
    let squeezed = squeezed.get();
    static DIRECTIVES: Patterns = patterns!([
        "<!--#exec",
        "<!--#include",
        "<!--#echo",
        "<!--#config",
        "<!--#printenv",
        "<!--#set",
        "<!--#fsize",
        "<!--#flastmod",
        "<!--#if",
    ]);
    if DIRECTIVES.is_match(squeezed) {
        sink.hit(Hit::new(Ssi, "ssi.directive", 5, 1, lower));
    }
}

/// XML external entities: a DOCTYPE that declares entities, or an external reference.
fn xxe(location: Location, lower: &str, sink: &mut Sink) {
    if !lower.has("<!") {
        return;
    }
    let squeezed: String = lower.split_whitespace().collect::<Vec<_>>().join(" ");
    if squeezed.has("<!entity")
        || (squeezed.has("<!doctype")
            && (squeezed.has(" system ") || squeezed.has(" public ") || squeezed.contains('[')))
        || squeezed.has("<!attlist")
        || squeezed.has("<!element")
    {
        sink.hit(Hit::new(Xxe, "xxe.entity", 5, 1, lower));
        return;
    }
    let _ = location;
    if squeezed.has("xinclude") || squeezed.has("<xi:include") {
        sink.hit(Hit::new(Xxe, "xxe.xinclude", 5, 1, lower));
    }
}

/// What the markup of a well-formed XML document can do on its own: declare entities or
/// include files (XXE), and carry processing instructions other than the XML declaration
/// and style sheets (`<?php … ?>`), which PHP's short tags run.
pub(crate) fn xml_document(lower: &str, sink: &mut Sink) {
    xxe(Location::XmlDocument, lower, sink);
    // `xsi:schemaLocation="http://…"`, `<xs:include namespace="http://…">`: a validating
    // parser fetches the schema a document names, from wherever it points.
    if lower.has("schemalocation=")
        || [
            "<xs:include",
            "<xs:import",
            "<xs:redefine",
            "<xsd:include",
            "<xsd:import",
        ]
        .iter()
        .any(|tag| lower.has(tag))
    {
        sink.hit(Hit::new(Xxe, "xxe.external_schema", 5, 1, lower));
    }
    for (at, _) in lower.match_indices("<?") {
        let instruction = &lower[at..];
        let target = &instruction[2..];
        if target.starts_with("xml ")
            || target.starts_with("xml?")
            || target.starts_with("xml-stylesheet")
        {
            continue;
        }
        let end = instruction.find("?>").map_or(instruction.len(), |e| e + 2);
        php(&instruction[..end], sink);
    }
}

/// HTTP headers whose name is one word, which a line break in a value may inject.
const SINGLE_WORD_HEADERS: &[&str] = &[
    "location",
    "refresh",
    "link",
    "host",
    "cookie",
    "server",
    "expires",
    "pragma",
    "vary",
    "via",
    "etag",
    "authorization",
    "origin",
    "referer",
    "upgrade",
    "range",
    "connection",
    "allow",
];

/// CR/LF followed by a header line: response splitting and header injection.
fn crlf(location: Location, decoded: &str, sink: &mut Sink) {
    // A request line inside a value (`GET http://x/ HTTP/1.1`): a second request smuggled
    // or split into the first.
    if request_line(decoded) {
        sink.hit(Hit::new(Crlf, "crlf.request_line", 5, 1, decoded));
        return;
    }
    let b = decoded.as_bytes();
    for (i, c) in b.iter().enumerate() {
        if *c != b'\r' && *c != b'\n' {
            continue;
        }
        let rest = decoded[i + 1..].trim_start_matches(['\r', '\n', ' ', '\t']);
        let name_len = rest
            .bytes()
            .take_while(|c| c.is_ascii_alphanumeric() || *c == b'-')
            .count();
        if name_len > 1 && rest[name_len..].starts_with(':') {
            let name = rest[..name_len].to_ascii_lowercase();
            // Headers only mail has (`Content-Type`, which both have, counts as HTTP).
            let mail = matches!(
                name.as_str(),
                "bcc"
                    | "cc"
                    | "to"
                    | "from"
                    | "subject"
                    | "reply-to"
                    | "mime-version"
                    | "sender"
                    | "x-mailer"
            );
            if mail {
                sink.hit(Hit::new(
                    MailInjection,
                    "mail.header_injection",
                    5,
                    1,
                    decoded,
                ));
                return;
            }
            // A compound name as headers have (`Set-Cookie`, `X-Injected`) or a one-word
            // HTTP header (`Location`); in a parameter, a single word and a colon on a new line
            // (`Timestamp:`, `Status: 500`) is how log lines and error texts label values.
            // In a header's own value any line break is forged.
            if location == Location::Header
                || name.contains('-')
                || SINGLE_WORD_HEADERS.contains(&name.as_str())
            {
                sink.hit(Hit::new(Crlf, "crlf.header_injection", 5, 1, decoded));
                return;
            }
        }
        // SMTP and IMAP commands on a line of their own: a mail session driven from a
        // parameter.
        let verb = rest
            .split(['\r', '\n', ' '])
            .next()
            .unwrap_or_default()
            .to_ascii_uppercase();
        if matches!(
            verb.as_str(),
            "QUIT" | "HELO" | "EHLO" | "RSET" | "VRFY" | "EXPN" | "NOOP" | "DATA" | "STARTTLS"
        ) || rest.to_ascii_uppercase().starts_with("MAIL FROM:")
            || rest.to_ascii_uppercase().starts_with("RCPT TO:")
        {
            sink.hit(Hit::new(MailInjection, "mail.smtp_command", 5, 1, decoded));
            return;
        }
        if mail_protocol_line(rest.split(['\r', '\n']).next().unwrap_or_default()) {
            sink.hit(Hit::new(
                MailInjection,
                "mail.imap_pop3_command",
                5,
                1,
                decoded,
            ));
            return;
        }
        if rest.starts_with("<") || rest.to_ascii_lowercase().starts_with("http/1.") {
            sink.hit(Hit::new(Crlf, "crlf.response_splitting", 5, 1, decoded));
            return;
        }
    }
}

/// A line an IMAP or POP3 server would run, injected into a mail session the application
/// drives: `a001 STATUS INBOX (MESSAGES)`, `d store 2 +FLAGS (\Deleted)`, `RETR 123`,
/// `TOP 1 2`. Each verb needs arguments of its own shape, so prose lines do not qualify.
fn mail_protocol_line(line: &str) -> bool {
    let words: Vec<&str> = line.split_whitespace().collect();
    let lower = |k: usize| {
        words
            .get(k)
            .map(|w| w.to_ascii_lowercase())
            .unwrap_or_default()
    };
    // POP3: the verb and one or two numbers, nothing else.
    if matches!(lower(0).as_str(), "retr" | "top" | "list" | "dele" | "uidl")
        && (2..=3).contains(&words.len())
        && words[1..]
            .iter()
            .all(|w| w.bytes().all(|b| b.is_ascii_digit()))
    {
        return true;
    }
    // IMAP: a tag, a command, and that command's arguments.
    let tag_ok = words
        .first()
        .is_some_and(|t| t.len() <= 8 && t.bytes().all(|b| b.is_ascii_alphanumeric()));
    if !tag_ok || words.len() < 3 {
        return false;
    }
    let sequence = |w: &str| {
        w.bytes()
            .all(|b| b.is_ascii_digit() || matches!(b, b':' | b'*' | b','))
    };
    let line_lower = line.to_ascii_lowercase();
    match lower(1).as_str() {
        "store" | "fetch" | "copy" => sequence(words[2]),
        "uid" => matches!(
            lower(2).as_str(),
            "fetch" | "store" | "copy" | "search" | "expunge"
        ),
        "select" | "examine" | "status" | "list" | "lsub" | "create" | "delete" | "rename"
        | "subscribe" => line_lower.has("inbox") || words[2].starts_with('"'),
        // Search keys are written in capitals by clients and by payloads; prose is not.
        "search" => words[1] == "SEARCH",
        _ => false,
    }
}

/// `METHOD target HTTP/n.n` anywhere in the text.
fn request_line(text: &str) -> bool {
    text.has(" HTTP/")
        && text.split(['\r', '\n']).any(|line| {
            let mut words = line.split_whitespace().skip_while(|w| {
                !matches!(
                    *w,
                    "GET"
                        | "POST"
                        | "HEAD"
                        | "PUT"
                        | "DELETE"
                        | "OPTIONS"
                        | "PATCH"
                        | "CONNECT"
                        | "TRACE"
                )
            });
            words.next().is_some()
                && words.next().is_some()
                && words.next().is_some_and(|v| {
                    v.strip_prefix("HTTP/")
                        .is_some_and(|n| n.starts_with(|c: char| c.is_ascii_digit()))
                })
        })
}

/// Names of deserialization gadgets, found base64-encoded at any alignment inside a value
/// (`cHJvdG90eXBlY2xvbmVmYWN0b3J5` holds `prototypeclonefactory`).
static GADGETS_BASE64: Patterns = std::sync::LazyLock::new(|| {
    const GADGETS: &[&str] = &[
        "processbuilder",
        "clonetransformer",
        "prototypeclonefactory",
        "prototypeserializationfactory",
        "instantiatefactory",
        "instantiatetransformer",
        "invokertransformer",
        "whileclosure",
        "forclosure",
        "chainedtransformer",
        "constanttransformer",
        "templatesimpl",
        "getruntime",
        "java.lang.runtime",
        "javax.script",
        "xmldecoder",
        "badattributevalueexpexception",
    ];
    let mut patterns = Vec::new();
    for g in GADGETS {
        patterns.extend(crate::decode::base64_offsets(g.as_bytes()));
    }
    super::lists::automaton(patterns)
});

fn java_gadget_base64(decoded: &str) -> bool {
    base64_run(decoded, 8) && GADGETS_BASE64.is_match(decoded)
}

/// Whether `text` holds `len` base64 characters in a row: the least any encoded name
/// needs, checked before scanning for the names themselves.
fn base64_run(text: &str, len: usize) -> bool {
    let mut run = 0;
    for b in text.bytes() {
        if b.is_ascii_alphanumeric() || matches!(b, b'+' | b'/' | b'-' | b'_') {
            run += 1;
            if run >= len {
                return true;
            }
        } else {
            run = 0;
        }
    }
    false
}

/// A value sent as nothing but percent-encoded line breaks (`%0a`, `%0a%0d`, `%250a`)
/// where input is one line: a query parameter or a Referer's, a header, a cookie,
/// or a JSON string (JSON carries a line break as `\n`, never percent-encoded). A line
/// break ends a shell command, and the bare break is the probe for it, the first entry of
/// every separator list; a single-line input never sends one (CRS flags any line break in
/// a query argument from paranoia 2). Form fields are left alone, since a textarea holding
/// only Enter sends `%0D%0A`, and so are breaks spelled as escapes (`\r\n`), which is what
/// a search for the escape itself sends. Runs from paranoia 2: a parameter that takes a
/// line delimiter (`delimiter=%0A`) is excluded by name.
pub(crate) fn line_break_probe(location: Location, raw: &str, lower: &str, sink: &mut Sink) {
    let only_breaks =
        |text: &str| !text.is_empty() && text.bytes().all(|b| b == b'\r' || b == b'\n');
    if sink.paranoia >= 2
        && matches!(
            location,
            Location::Query
                | Location::RefererParam
                | Location::Header
                | Location::Cookie
                | Location::Json
        )
        && raw.starts_with('%')
        && raw.len() <= MAX_LINE_BREAK_PROBE
        && only_breaks(lower)
        && only_breaks(&crate::decode::url_decode(raw, false))
    {
        sink.hit(Hit::new(Cmdi, "cmdi.line_break_probe", 5, 2, lower));
    }
}

/// The longest raw value read as a line-break probe: eight breaks, each encoded twice.
const MAX_LINE_BREAK_PROBE: usize = 40;

/// A value that is nothing but the name of an administration tool (`visudo`,
/// `chef-shell`): plain tokens skip the other detectors, so this one runs on them too.
pub(crate) fn lone_command(lower: &str, sink: &mut Sink) {
    if ADMIN_TOOLS.contains(lower) || versioned_tool(lower) {
        sink.hit(Hit::new(Cmdi, "cmdi.command_line", 5, 1, lower));
    }
}

/// A User-Agent or Referer that is itself a command line (`id`, `set -o history`, `chef
/// report nodes`, or `code=ansible-console`, a parameter pasted in): these headers carry
/// a product with its version or the address of a page, never a command, and CGI scripts
/// and log pipelines that hand them to a shell run what they hold. Product names are
/// capitalised or versioned (`Wget/1.21`, `CC Metadata Scraper`) and comments sit in
/// brackets, so only a lowercase value without a version, comment or URL is read; programs
/// that fetch pages send their bare name (`wget`, `python`) and are left alone, and a
/// command alone counts only when it shows who and where the shell is (`id`, `uname`,
/// `ls`) or administers the machine (`visudo`): monitors name themselves `ping` or
/// `uptime`, and developers `test`.
pub(crate) fn header_command(header: &str, decoded: &str, lower: &str, sink: &mut Sink) {
    if !(header.eq_ignore_ascii_case("user-agent") || header.eq_ignore_ascii_case("referer"))
        || decoded.bytes().any(|b| b.is_ascii_uppercase())
        || lower.contains(['(', ')'])
        || lower.has("://")
    {
        return;
    }
    let value = lower.trim();
    let line = match value.split_once('=') {
        Some((name, line))
            if !name.is_empty()
                && name
                    .bytes()
                    .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-')) =>
        {
            line
        }
        _ => value,
    };
    let first = next_word(line);
    if first.contains(['/', '\\']) || !is_command(first) || HTTP_CLIENTS.contains(first) {
        return;
    }
    let rest = line.split_once(first).map_or("", |(_, rest)| rest.trim());
    if !rest.is_empty() || RECONNAISSANCE.contains(first) || ADMIN_TOOLS.contains(first) {
        sink.hit(Hit::new(Cmdi, "cmdi.header_command", 5, 1, lower));
    }
}

/// Programs that fetch pages or run scripts that fetch them, and name themselves in a
/// User-Agent by their bare name.
static HTTP_CLIENTS: Words = words!([
    "wget",
    "curl",
    "lynx",
    "fetch",
    "python",
    "python3",
    "perl",
    "ruby",
    "php",
    "java",
    "node",
    "lua",
    "aws",
    "gcloud",
    "az",
    "docker",
    "kubectl",
    "pip",
    "pip3",
    "apt",
    "apt-get",
    "yum",
    "dnf",
    "apk",
    "zypper",
    "pacman",
    "lwp-download",
    "openssl",
    "ftp",
    "tftp",
    "irb",
]);

/// Commands an attacker runs first, to see who and where the shell is: alone in a
/// header, they are a probe.
static RECONNAISSANCE: Words = words!([
    "id",
    "whoami",
    "uname",
    "hostname",
    "pwd",
    "ls",
    "ps",
    "env",
    "printenv",
    "set",
    "who",
    "w",
    "history",
    "ver",
    "dir",
    "ip",
    "ifconfig",
    "ipconfig",
    "netstat",
    "systeminfo",
    "tasklist",
    "getuid",
]);

/// The checks that apply to plain tokens too (which skip the other detectors).
pub(crate) fn java_encoded(decoded: &str, sink: &mut Sink) {
    if java_gadget_base64(decoded) {
        sink.hit(Hit::new(
            JavaInjection,
            "java.encoded_gadget",
            5,
            1,
            decoded,
        ));
    }
}

/// `text` without `// …` and `# …` comments running to the end of a line, where a line
/// follows (`exec //x\n (ls)`); a URL's `//` is not one.
fn strip_line_comments(text: &str) -> std::borrow::Cow<'_, str> {
    if !text.contains(['\n', '\r']) || !(text.has("//") || text.contains('#')) {
        return std::borrow::Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len());
    for line in text.split_inclusive('\n') {
        let cut = line
            .match_indices("//")
            .map(|(i, _)| i)
            .find(|&i| i == 0 || line.as_bytes()[i - 1] != b':')
            .into_iter()
            .chain(line.find('#'))
            .min();
        match cut {
            Some(at) if line.ends_with('\n') => {
                out.push_str(&line[..at]);
                out.push('\n');
            }
            _ => out.push_str(line),
        }
    }
    std::borrow::Cow::Owned(out)
}

/// PHP functions an attacker calls and a form never names, and `php.ini` directives.
const PHP_FUNCTIONS: &[&str] = &[
    "gzdecode",
    "gzinflate",
    "gzuncompress",
    "bzdecompress",
    "str_rot13",
    "base64_decode",
    "chroot",
    "gethostbyname",
    "get_defined_functions",
    "get_defined_vars",
    "get_defined_constants",
    "phpinfo",
    "ini_set",
    "ini_get",
    "ini_restore",
    "putenv",
    "getenv",
    "proc_open",
    "popen",
    "pcntl_exec",
    "pcntl_fork",
    "posix_kill",
    "posix_setuid",
    "posix_getpwuid",
    "dl",
    "symlink",
    "readlink",
    "fsockopen",
    "pfsockopen",
    "stream_socket_client",
    "curl_exec",
    "curl_multi_exec",
    "mb_send_mail",
    "create_function",
    "call_user_func_array",
    "call_user_func",
    "preg_replace_callback",
    "assert_options",
    "extract",
    "parse_str",
    "highlight_file",
    "show_source",
    "php_uname",
    "phpversion",
    "get_current_user",
    "getmypid",
    "getcwd",
    "move_uploaded_file",
    "copy",
    "unlink",
    "rmdir",
    "scandir",
    "glob",
    "opendir",
    "file",
    "readfile",
    "fpassthru",
    "system",
    "exec",
    "shell_exec",
    "passthru",
    "eval",
    "assert",
    "checkdate",
    "zend_version",
    "get_loaded_extensions",
    "apache_setenv",
    "virtual",
    "escapeshellcmd",
    "gzdecode",
    "zlib_decode",
    "curl_init",
    "posix_getegid",
    "posix_geteuid",
    "posix_getgid",
    "posix_getuid",
    "print_r",
    "var_dump",
    "var_export",
    "strrev",
    "file_exists",
    "fileowner",
    "filegroup",
    "fileperms",
    "unpack",
    "stream_get_contents",
    "array_map",
    "usort",
    "ob_start",
];

const PHP_DIRECTIVES: &[&str] = &[
    "allow_url_include",
    "allow_url_fopen",
    "auto_prepend_file",
    "auto_append_file",
    "disable_functions",
    "open_basedir",
    "memory_limit",
    "unserialize_max_depth",
    "mbstring.",
    "safe_mode",
    "register_globals",
    "display_errors",
    "error_log",
    "max_execution_time",
    "upload_tmp_dir",
    "session.save_path",
    "zend_extension",
    "extension_dir",
    "phar.readonly",
];

/// Dangerous functions named in a string or an array and then called.
static INDIRECT_CALLS: Patterns = std::sync::LazyLock::new(|| {
    let mut patterns = Vec::new();
    for f in [
        "system",
        "exec",
        "passthru",
        "shell_exec",
        "assert",
        "eval",
        "popen",
        "phpinfo",
    ] {
        for close in [
            "\"(", "')(", ")(", "](", "\")(", "'](", "\"](", "][0](", "\"][0](",
        ] {
            patterns.push(format!("{f}{close}"));
        }
    }
    super::lists::automaton(patterns)
});
static FUNCTION_NAMES: Patterns = patterns!(PHP_FUNCTIONS);
static DIRECTIVE_NAMES: Patterns = patterns!(PHP_DIRECTIVES);

/// The length of the bracketed group `b` opens with (`[…]` or `{…}`, nested in either
/// kind), if it closes within `limit` bytes.
fn balanced_end(b: &[u8], limit: usize) -> Option<usize> {
    let mut depth = 0usize;
    for (k, c) in b.iter().enumerate().take(limit) {
        match c {
            b'[' | b'{' => depth += 1,
            b']' | b'}' => {
                depth = depth.checked_sub(1)?;
                if depth == 0 {
                    return Some(k + 1);
                }
            }
            _ => {}
        }
    }
    None
}

/// PHP call syntax that only code has: variable functions (`$a(`, `$$b(2)`,
/// `$_[1](7)`, `Foo::$f()`), function names in strings or brackets (`"system"(ls)`,
/// `[system][0](ls)`), calls to functions from the list, and `php.ini` directives set.
fn php_call(squeezed: &str) -> Option<&'static str> {
    let b = squeezed.as_bytes();
    for (i, _) in squeezed.match_indices('$') {
        let Some(&next) = b.get(i + 1) else { continue };
        if !(next.is_ascii_alphabetic() || next == b'_' || next == b'$' || next == b'{') {
            continue;
        }
        // The variable (a name, `$$name`, or `${expression}`), any chain of `[…]` and
        // `{…}` indexes after it (`$____[_]{_}[@_]`), then `(`.
        let mut j = i + 1;
        while j < b.len() && j - i <= 64 {
            if b[j].is_ascii_alphanumeric() || matches!(b[j], b'_' | b'$') {
                j += 1;
            } else if matches!(b[j], b'[' | b'{') {
                match balanced_end(&b[j..], 64) {
                    Some(len) => j += len,
                    None => break,
                }
            } else {
                break;
            }
        }
        if b.get(j) == Some(&b'(') {
            return Some("php.variable_call");
        }
    }
    if !squeezed.contains(['(', '=']) {
        return None;
    }
    if INDIRECT_CALLS.is_match(squeezed) {
        return Some("php.indirect_call");
    }
    let function = FUNCTION_NAMES.find_overlapping_iter(squeezed).any(|m| {
        let at = m.start();
        let before_ok = at == 0 || !(b[at - 1].is_ascii_alphanumeric() || b[at - 1] == b'_');
        // Names of eight letters or more count glued to other text too (`FOOfsockopen(`).
        (before_ok || m.end() - at >= 8)
            && squeezed[m.end()..].starts_with('(')
            && m.end() - at >= 4
    });
    if function {
        return Some("php.function_call");
    }
    let directive = DIRECTIVE_NAMES.find_iter(squeezed).any(|m| {
        let rest = squeezed[m.end()..]
            .trim_start_matches(|c: char| c.is_ascii_alphanumeric() || c == '_' || c == '.');
        rest.starts_with('=')
    });
    if directive {
        return Some("php.ini_directive");
    }
    None
}

/// Java classes and idioms deserialization and expression-language payloads use.
const GADGETS: &[&str] = &[
    "java.lang.runtime",
    "java.lang.processbuilder",
    "java.lang.system",
    "java.io.file",
    "java.net.url",
    "java.lang.class",
    "java.lang.reflect",
    "javax.script",
    "javax.naming",
    "getruntime()",
    ".exec(",
    "processbuilder",
    "classloader",
    "org.apache.commons.collections",
    "com.sun.org.apache",
    "org.springframework",
    "ognl",
    "@java.lang",
    "#_memberaccess",
    "#context",
    "#request",
    "#application",
    "#session",
    "#parameters",
    "#attr",
    "new java.",
    "t(java.",
    "getclass().",
    "java.util.scanner",
    "java.beans.xmldecoder",
    "xalan",
    "bsh.interpreter",
    "groovy.lang",
    "jdk.jshell",
    "rmi://",
    "ldap://",
    "iiop://",
    "corba",
    "com.mchange",
    "org.hibernate",
    "com.sun.rowset",
    "net.sf.json",
    "invokertransformer",
    "instantiatetransformer",
    "chainedtransformer",
    "clonetransformer",
    "constanttransformer",
    "instantiatefactory",
    "prototypeclonefactory",
    "prototypeserializationfactory",
    "forclosure",
    "whileclosure",
    "serialversionuid",
    "ysoserial",
    "class.module.classloader",
    "class.classloader",
];

/// Object walks that reach code from inside a template.
const WALKS: &[&str] = &[
    "__class__",
    "__mro__",
    "__subclasses__",
    "__globals__",
    "__builtins__",
    "__import__",
    "__init__",
    "config.items",
    "request.application",
    "lipsum.",
    "cycler.",
    "joiner.",
    "namespace.__",
    "self._templatereference",
    "getclass()",
    "freemarker.template",
    "classloader",
    "runtime.getruntime",
    "?new()",
    "_self.env",
    "registerundefinedfiltercallback",
];

static GADGET_NAMES: Patterns = patterns!(GADGETS);
static TEMPLATE_WALKS: Patterns = patterns!(WALKS);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn next_word_ends_at_whitespace_of_any_script_and_at_shell_separators() {
        // The definition the byte loop implements.
        let by_chars = |text: &str| -> String {
            let t = text.trim_start_matches([' ', '\t', '\n', '\r', '(', '{', '\'', '"', '\\']);
            let t = t.strip_prefix("${ifs}").unwrap_or(t);
            let end = t
                .find(|c: char| {
                    c.is_whitespace()
                        || matches!(
                            c,
                            ';' | '|' | '&' | '`' | ')' | '$' | '<' | '>' | ',' | '\''
                        )
                })
                .unwrap_or(t.len());
            t[..end].to_string()
        };
        for text in [
            "",
            "  whoami;ls",
            "${ifs}cat\t/etc/passwd",
            "café\u{a0}au lait",
            "ping\u{3000}-n 1",
            "id\u{85}x",
            "naïve\u{b}x",
            "wget\x0chttp://x",
            "(echo)",
            "{{7*7}}",
            "日本語テキスト",
        ] {
            assert_eq!(next_word(text), by_chars(text), "{text:?}");
        }
    }
}
