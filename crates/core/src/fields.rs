//! The one table that maps Sigma / Sysmon / Windows field names onto Watchpost's ECS names.
//!
//! Sigma rules name fields the way their log source does (`Image`, `CommandLine`, `c-uri`);
//! Watchpost's own sources emit ECS names. Detectors look a Sigma field up here first and fall
//! back to the raw record when there is no mapping, so source-specific fields keep working.

/// `(sigma_or_source_name, ecs_name)` pairs. Names are matched case-sensitively, as Sigma does.
pub const SIGMA_TO_ECS: &[(&str, &str)] = &[
    // Process creation (Sysmon 1, Security 4688, auditd EXECVE, the agent)
    ("Image", "process.executable"),
    ("NewProcessName", "process.executable"),
    ("CommandLine", "process.command_line"),
    ("ProcessId", "process.pid"),
    ("NewProcessId", "process.pid"),
    ("CurrentDirectory", "process.working_directory"),
    ("ParentImage", "process.parent.executable"),
    ("ParentProcessName", "process.parent.executable"),
    ("ParentCommandLine", "process.parent.command_line"),
    ("ParentProcessId", "process.parent.pid"),
    ("User", "user.name"),
    ("UserId", "process.real_user.id"),
    ("EffectiveUserId", "process.user.id"),
    ("ParentUserId", "process.parent.real_user.id"),
    ("Capabilities", "process.capabilities"),
    ("PreviousImage", "process.previous.executable"),
    ("OriginalFileName", "process.original_file_name"),
    ("SubjectUserName", "user.name"),
    ("TargetUserName", "user.name"),
    ("SubjectDomainName", "user.domain"),
    ("Computer", "host.name"),
    ("EventID", "event.code"),
    ("sha256", "process.hash.sha256"),
    // What the agent records beside the command line: the standard streams at the exec
    // (a pipe and the program at its other end, a socket and its remote address, a
    // terminal), the environment that changes what runs, a deleted or memory-only
    // executable, the package of a privileged program.
    ("StdinType", "process.stdin.type"),
    ("StdinPeer", "process.stdin.peer.executable"),
    ("StdinPeerCommandLine", "process.stdin.peer.command_line"),
    ("StdinRemoteIp", "process.stdin.remote.ip"),
    ("StdoutType", "process.stdout.type"),
    ("StdoutPeer", "process.stdout.peer.executable"),
    ("StdoutPeerCommandLine", "process.stdout.peer.command_line"),
    ("StdoutRemoteIp", "process.stdout.remote.ip"),
    ("StderrType", "process.stderr.type"),
    ("ParentStdinType", "process.parent.stdin.type"),
    ("ParentStdinRemoteIp", "process.parent.stdin.remote.ip"),
    ("LdPreload", "process.env.LD_PRELOAD"),
    ("LdLibraryPath", "process.env.LD_LIBRARY_PATH"),
    ("LdAudit", "process.env.LD_AUDIT"),
    ("HistFile", "process.env.HISTFILE"),
    ("HistSize", "process.env.HISTSIZE"),
    ("HistFileSize", "process.env.HISTFILESIZE"),
    ("ExecutableDeleted", "process.executable_deleted"),
    ("Package", "process.package"),
    ("DownloadedBy", "process.downloaded_by.command_line"),
    ("MadeExecutableBy", "process.downloaded_by.chmod"),
    // Network (Sysmon 3, firewall, proxy)
    ("SourceIp", "source.ip"),
    ("SourcePort", "source.port"),
    ("SourceHostname", "source.domain"),
    ("DestinationIp", "destination.ip"),
    ("DestinationPort", "destination.port"),
    ("DestinationHostname", "destination.domain"),
    ("IpAddress", "source.ip"),
    ("Protocol", "network.transport"),
    // Files (Sysmon 11, 23, FIM)
    ("TargetFilename", "file.path"),
    ("FileName", "file.name"),
    // Web server logs (Sigma's webserver taxonomy, W3C names)
    ("c-ip", "source.ip"),
    ("c-uri", "url.original"),
    ("c-uri-query", "url.query"),
    ("c-uri-stem", "url.path"),
    ("c-useragent", "user_agent.original"),
    ("cs-method", "http.request.method"),
    ("cs-host", "url.domain"),
    ("cs-referrer", "http.request.referrer"),
    ("sc-status", "http.response.status_code"),
];

/// The ECS name for a Sigma/source field name, if Watchpost types it.
pub fn ecs_name(sigma_field: &str) -> Option<&'static str> {
    SIGMA_TO_ECS
        .iter()
        .find(|(sigma, _)| *sigma == sigma_field)
        .map(|(_, ecs)| *ecs)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::Event;

    #[test]
    fn every_mapped_name_is_one_event_field_reads() {
        // An event with every typed field set: each ECS target in the table must resolve
        // to a value, so the table can never point at a name `Event::field` ignores.
        let event = Event::from_json(serde_json::json!({
            "@timestamp": "2026-11-22T10:00:00Z",
            "event": {"code": "1"},
            "host": {"name": "h"},
            "process": {"pid": 1, "executable": "/x", "command_line": "x", "working_directory": "/",
                        "original_file_name": "sh",
                        "hash": {"sha256": "ab"}, "user": {"id": "0"}, "real_user": {"id": "1000"},
                        "capabilities": ["cap_setuid"],
                        "stdin": {"type": "pipe", "peer": {"executable": "/usr/bin/curl",
                                                           "command_line": "curl x"},
                                  "remote": {"ip": "192.0.2.1"}},
                        "stdout": {"type": "socket", "peer": {"executable": "/usr/bin/nc",
                                                              "command_line": "nc x"},
                                   "remote": {"ip": "192.0.2.1"}},
                        "stderr": {"type": "tty"},
                        "env": {"LD_PRELOAD": "/tmp/x.so", "LD_LIBRARY_PATH": "/tmp", "LD_AUDIT": "/tmp/a.so",
                                "HISTFILE": "/dev/null", "HISTSIZE": "0", "HISTFILESIZE": "0"},
                        "executable_deleted": true, "package": "sudo",
                        "downloaded_by": {"command_line": "wget http://x/a", "chmod": "chmod +x a"},
                        "parent": {"pid": 1, "executable": "/p", "command_line": "p",
                                   "real_user": {"id": "1000"},
                                   "stdin": {"type": "socket", "remote": {"ip": "192.0.2.1"}}},
                        "previous": {"executable": "/usr/bin/python3"}},
            "user": {"name": "u", "domain": "d"},
            "source": {"ip": "10.0.0.1", "port": 1, "domain": "s"},
            "destination": {"ip": "10.0.0.2", "port": 2, "domain": "d"},
            "network": {"transport": "tcp"},
            "file": {"path": "/f", "name": "f"},
            "url": {"original": "/a?b", "query": "b", "path": "/a", "domain": "x"},
            "http": {"request_method": "GET", "response_status_code": 200, "request_referrer": "r"},
            "user_agent": {"original": "ua"}
        }))
        .unwrap();
        for (sigma, ecs) in SIGMA_TO_ECS {
            assert!(
                event.field(ecs).is_some(),
                "{sigma} -> {ecs} is not readable"
            );
        }
        assert_eq!(ecs_name("CommandLine"), Some("process.command_line"));
        assert_eq!(ecs_name("commandline"), None);
    }
}
