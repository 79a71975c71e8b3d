//! The detectors, and what a detection says: category, rule, severity, the value it saw.

mod injection;
mod lists;
pub(crate) mod protocol;
mod sqli;
mod ssrf;
mod traversal;
mod xss;

use crate::targets::{Location, Target};
use lists::Literal;
use serde::Serialize;

/// What kind of attack a finding is.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, Serialize)]
#[serde(rename_all = "snake_case")]
pub enum Category {
    Sqli,
    Xss,
    PathTraversal,
    Lfi,
    Rfi,
    Cmdi,
    Ldapi,
    Xxe,
    Ssrf,
    Ssti,
    JavaInjection,
    PhpInjection,
    Nosqli,
    Crlf,
    MailInjection,
    Ssi,
    FileUpload,
    Scanner,
    Protocol,
    SessionFixation,
    JsInjection,
    PerlInjection,
}

impl Category {
    pub fn as_str(self) -> &'static str {
        match self {
            Category::Sqli => "sqli",
            Category::Xss => "xss",
            Category::PathTraversal => "path_traversal",
            Category::Lfi => "lfi",
            Category::Rfi => "rfi",
            Category::Cmdi => "cmdi",
            Category::Ldapi => "ldapi",
            Category::Xxe => "xxe",
            Category::Ssrf => "ssrf",
            Category::Ssti => "ssti",
            Category::JavaInjection => "java_injection",
            Category::PhpInjection => "php_injection",
            Category::Nosqli => "nosqli",
            Category::Crlf => "crlf",
            Category::MailInjection => "mail_injection",
            Category::Ssi => "ssi",
            Category::FileUpload => "file_upload",
            Category::Scanner => "scanner",
            Category::Protocol => "protocol",
            Category::SessionFixation => "session_fixation",
            Category::JsInjection => "js_injection",
            Category::PerlInjection => "perl_injection",
        }
    }

    /// The CWE the weakness is filed under.
    pub fn cwe(self) -> u32 {
        match self {
            Category::Sqli => 89,
            Category::Xss => 79,
            Category::PathTraversal => 22,
            Category::Lfi | Category::Rfi => 98,
            Category::Cmdi => 78,
            Category::Ldapi => 90,
            Category::Xxe => 611,
            Category::Ssrf => 918,
            Category::Ssti => 1336,
            Category::JavaInjection => 917,
            Category::PhpInjection => 94,
            Category::Nosqli => 943,
            Category::Crlf => 113,
            Category::MailInjection => 93,
            Category::Ssi => 97,
            Category::FileUpload => 434,
            Category::Scanner => 200,
            Category::Protocol => 444,
            Category::SessionFixation => 384,
            Category::JsInjection | Category::PerlInjection => 94,
        }
    }

    /// The ATT&CK technique: exploitation of a public-facing application, or for
    /// scanners, active scanning.
    pub fn attack_technique(self) -> &'static str {
        match self {
            Category::Scanner => "T1595.002",
            _ => "T1190",
        }
    }
}

/// One rule that fired.
#[derive(Debug, Clone, Serialize)]
pub struct Hit {
    pub category: Category,
    /// The rule (`sqli.union_select`).
    pub rule: &'static str,
    /// Anomaly points: 5 critical, 4 error, 3 warning, 2 notice.
    pub score: u8,
    /// The lowest paranoia level at which the rule runs.
    pub paranoia: u8,
    /// The decoded value it fired on (cut to 160 characters).
    pub matched: String,
}

impl Hit {
    pub(crate) fn new(
        category: Category,
        rule: &'static str,
        score: u8,
        paranoia: u8,
        value: &str,
    ) -> Hit {
        let matched = match value.char_indices().nth(160) {
            Some((end, _)) => format!("{}…", &value[..end]),
            None => value.to_string(),
        };
        Hit {
            category,
            rule,
            score,
            paranoia,
            matched,
        }
    }
}

/// Collects the hits on one value.
pub(crate) struct Sink {
    pub hits: Vec<Hit>,
    /// The engine's paranoia level: detectors skip the work of stricter rules below it.
    pub paranoia: u8,
}

impl Sink {
    pub(crate) fn at(paranoia: u8) -> Sink {
        Sink {
            hits: Vec::new(),
            paranoia,
        }
    }

    pub(crate) fn hit(&mut self, hit: Hit) {
        if !self.hits.iter().any(|h| h.rule == hit.rule) {
            self.hits.push(hit);
        }
    }
}

/// Words that make a single token worth inspecting: SQL Server and Oracle procedure
/// prefixes, Java and PHP markers, serialized-object magic, and system catalogues named
/// alone.
static CODE_WORDS: lists::Patterns = lists::patterns!([
    "xp_",
    "sp_",
    "utl_",
    "dbms_",
    "java",
    "php",
    "jndi",
    "ognl",
    "ysoserial",
    "ro0ab",
    "kztaa",
    "cs7qa",
    "aced0005",
    "information_schema",
    "pg_catalog",
    "msdb",
    "northwind",
    "sysobjects",
    "msysaccess",
    "sqlite_",
]);

/// Runs every detector on one target.
pub(crate) fn inspect(target: &Target, sink: &mut Sink) {
    let lower = target.lower.as_str();
    if lower.is_empty() {
        return;
    }
    if target.location == Location::FileName {
        upload_name(lower, sink);
    }
    // Its values are targets of their own; the document is judged for markup alone.
    if target.location == Location::XmlDocument {
        injection::xml_document(lower, sink);
        xss::xml_document(lower, sink);
        return;
    }
    if target.location == Location::Header {
        injection::header_command(&target.name, &target.decoded, lower, sink);
    }
    injection::line_break_probe(target.location, &target.raw, lower, sink);
    // Most values are one plain token (ids, numbers, words, hashes): no detector can fire
    // on those, except that they may be base64 hiding something.
    if lower
        .bytes()
        .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'_' | b'-'))
        && !CODE_WORDS.is_match(lower)
    {
        injection::java_encoded(&target.decoded, sink);
        injection::lone_command(lower, sink);
        if lower.len() >= 12
            && let Some(inner) = crate::decode::base64_text(&target.decoded)
        {
            inspect_decoded(target.location, &inner.to_lowercase(), sink);
        }
        return;
    }
    traversal::check(target.location, lower, sink);
    // Paths carry traversal and include attacks; the injections live in values.
    if target.location == Location::Path {
        injection::check(target.location, lower, &target.decoded, sink);
        xss::check(lower, sink);
        sqli::check(lower, true, sink);
        // Path segments sent base64-encoded (`/api/PHNjcmlwdD4…`).
        for segment in target.decoded.split('/').filter(|s| s.len() >= 12) {
            if let Some(inner) = crate::decode::base64_text(segment) {
                inspect_decoded(Location::Query, &inner.to_lowercase(), sink);
            }
        }
        return;
    }
    sqli::check(lower, false, sink);
    xss::check(lower, sink);
    // Angle brackets spelled as numeric character references (`&#x003C`, `&#60;`) or as
    // escapes (`\u003c`, `\x3c`, raw or percent-encoded): a user types `<`, a filter
    // evasion writes it this way.
    if target.raw.contains('&')
        || target.raw.has("%26")
        || ((target.raw.contains('\\') || target.raw.has("%5")) && {
            let raw = target.raw.to_ascii_lowercase();
            raw.has("\\u003") || raw.has("%5cu003") || raw.has("\\x3") || raw.has("%5cx3")
        })
    {
        let raw = crate::decode::url_decode(&target.raw, true).to_ascii_lowercase();
        if numeric_angle_bracket(&raw) || lone_bracket_escape(&raw) {
            sink.hit(Hit::new(Category::Xss, "xss.encoded_markup", 5, 1, lower));
        }
    }
    ssrf::check(target.location, lower, sink);
    injection::check(target.location, lower, &target.decoded, sink);
    // A value sent base64-encoded is inspected once more, decoded; so are base64 strings
    // quoted inside a structured value (`{'id': 'MCcgfHwg…'}`).
    if let Some(inner) = crate::decode::base64_text(&target.decoded) {
        inspect_decoded(target.location, &inner.to_lowercase(), sink);
    } else if target.decoded.contains(['\'', '"']) {
        for quoted in target
            .decoded
            .split(['\'', '"'])
            .skip(1)
            .step_by(2)
            .filter(|s| s.len() >= 16)
            .take(MAX_QUOTED_BASE64)
        {
            if let Some(inner) = crate::decode::base64_text(quoted) {
                inspect_decoded(target.location, &inner.to_lowercase(), sink);
            }
        }
    }
}

/// Quoted strings of one value tried as base64: a bound on the work one value can cause.
const MAX_QUOTED_BASE64: usize = 8;

/// Runs the value detectors on text decoded from base64.
fn inspect_decoded(location: Location, inner: &str, sink: &mut Sink) {
    sqli::check(inner, false, sink);
    xss::check(inner, sink);
    injection::check(location, inner, inner, sink);
    traversal::check(location, inner, sink);
}

/// Tools that announce themselves in the User-Agent.
static SCANNERS: lists::Patterns = lists::patterns!([
    "sqlmap",
    "nikto",
    "nmap",
    "masscan",
    "zgrab",
    "nuclei",
    "acunetix",
    "nessus",
    "openvas",
    "w3af",
    "wpscan",
    "dirbuster",
    "gobuster",
    "dirb/",
    "ffuf",
    "feroxbuster",
    "wfuzz",
    "burp",
    "zap/",
    "owasp zap",
    "arachni",
    "skipfish",
    "whatweb",
    "jaeles",
    "commix",
    "havij",
    "netsparker",
    "appscan",
    "qualys",
    "nmap scripting engine",
    "hydra",
    "medusa",
    "xsstrike",
    "paros",
    "webinspect",
    "grabber",
    "morfeus",
    "zmeu",
    "fimap",
    "brutus",
    "teh forest lobster",
    "metasploit",
    "struts-pwn",
    "jorgee",
]);

/// Scanner signatures in the User-Agent and friends.
pub(crate) fn scanner(user_agent: &str, sink: &mut Sink) {
    let ua = user_agent.to_ascii_lowercase();
    // A scanner's name as a word of its own (`webinspect`, not `webinspector`).
    if lists::any_word(&SCANNERS, &ua) {
        sink.hit(Hit::new(
            Category::Scanner,
            "scanner.user_agent",
            5,
            1,
            user_agent,
        ));
    }
}

/// Extensions a web server may run: an upload named so is a web shell in waiting.
const SCRIPT_EXTENSIONS: &[&str] = &[
    "php", "php3", "php4", "php5", "php7", "phtml", "phar", "pht", "phps", "jsp", "jspx", "jsw",
    "jsv", "jspf", "asp", "aspx", "asa", "asax", "ascx", "ashx", "asmx", "cer", "cgi", "pl", "py",
    "rb", "sh", "shtml", "war", "exe", "dll", "bat", "cmd", "ps1", "vbs", "hta", "htaccess",
    "config", "svg",
];

/// Dotfiles of shells, clients and servers that an upload must never be named.
const CONFIGURATION_FILES: &[&str] = &[
    ".bashrc",
    ".bash_profile",
    ".bash_login",
    ".bash_logout",
    ".profile",
    ".zshrc",
    ".zprofile",
    ".cshrc",
    ".tcshrc",
    ".kshrc",
    ".inputrc",
    ".vimrc",
    ".gitconfig",
    ".git-credentials",
    ".netrc",
    ".npmrc",
    ".pypirc",
    ".boto",
    ".s3cfg",
    ".pgpass",
    ".my.cnf",
    ".mysql_history",
    ".psql_history",
    ".bash_history",
    ".htpasswd",
    ".htdigest",
    ".user.ini",
    "authorized_keys",
    "authorized_keys2",
    "web.config",
];

/// Kernel interfaces under `/proc` and `/sys` that change the machine when written:
/// `core_pattern`, `release_agent`, `uevent_helper` and `modprobe` name a program the
/// kernel runs as root (the container escapes), `sysrq-trigger` crashes or reboots,
/// `mtrr` and the `acpi` entries reconfigure hardware. An upload named so is aimed at a
/// path that writes through to the kernel; no document is called that.
const KERNEL_INTERFACES: &[&str] = &[
    "core_pattern",
    "release_agent",
    "uevent_helper",
    "modprobe",
    "sysrq-trigger",
    "mtrr",
    "acpi",
];

/// An uploaded file name with a server-side script extension, anywhere in its chain of
/// extensions (`shell.php`, `info.php.jpg`, `x.php%00.png`, `.htaccess`), or named like a
/// configuration file or a kernel interface.
fn upload_name(name: &str, sink: &mut Sink) {
    let base = name.rsplit(['/', '\\']).next().unwrap_or(name);
    // A file named like a PHP session (`sess_<id>`): written into the session directory,
    // it becomes someone's session.
    if let Some(id) = base.strip_prefix("sess_")
        && id.len() >= 16
        // PHP's session ids use `,` and `-` besides letters and digits.
        && id.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b',')
    {
        sink.hit(Hit::new(
            Category::PhpInjection,
            "php.session_file",
            5,
            1,
            name,
        ));
        return;
    }
    // A file that configures a shell, a client's credentials or the web server itself
    // (written where it is read, it runs commands, leaks secrets or changes what runs), or
    // a kernel interface.
    let file = base.trim_end_matches(['\0', ' ', '.']);
    for (files, rule) in [
        (CONFIGURATION_FILES, "upload.configuration_file"),
        (KERNEL_INTERFACES, "upload.kernel_interface"),
    ] {
        if files.contains(&file) {
            sink.hit(Hit::new(Category::FileUpload, rule, 5, 1, name));
            return;
        }
    }
    let parts: Vec<&str> = base.split(['.', '\0', ';']).collect();
    if parts.len() < 2 {
        return;
    }
    if parts[1..]
        .iter()
        .any(|ext| SCRIPT_EXTENSIONS.contains(&ext.trim()))
    {
        sink.hit(Hit::new(
            Category::FileUpload,
            "upload.script_extension",
            5,
            1,
            name,
        ));
    }
}

/// `&#60`, `&#x3c`, `&#0000060`, `&#x00003e`: a numeric reference to `<` or `>`.
fn numeric_angle_bracket(raw: &str) -> bool {
    raw.match_indices("&#").any(|(at, _)| {
        let rest = &raw[at + 2..];
        let (digits, radix) = match rest.strip_prefix('x') {
            Some(h) => (h, 16),
            None => (rest, 10),
        };
        let len = digits
            .bytes()
            .take_while(|b| {
                if radix == 16 {
                    b.is_ascii_hexdigit()
                } else {
                    b.is_ascii_digit()
                }
            })
            .take(10)
            .count();
        u32::from_str_radix(&digits[..len], radix).is_ok_and(|c| c == 0x3c || c == 0x3e)
    })
}

/// A value that is nothing but an escaped `<` or `>` (`&lt;`, `&LT`, `\u003C`, `\x3c`):
/// a probe of which encodings reach the page unfiltered.
fn lone_bracket_escape(raw: &str) -> bool {
    let v = raw.trim().trim_end_matches(';');
    matches!(
        v,
        "&lt" | "&gt" | "\\u003c" | "\\u003e" | "\\x3c" | "\\x3e" | "\\u{3c}" | "\\u{3e}"
    )
}
