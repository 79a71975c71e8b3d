//! User names for uids, from `/etc/passwd`, re-read when an unknown uid shows up (at most
//! every few seconds, so a burst of processes from a deleted user costs one read).

use std::collections::HashMap;
use std::path::PathBuf;
use std::time::{Duration, Instant};

const REREAD_AFTER: Duration = Duration::from_secs(10);

/// A uid → name table.
pub struct UserNames {
    path: PathBuf,
    names: HashMap<u32, String>,
    read_at: Option<Instant>,
}

impl Default for UserNames {
    fn default() -> Self {
        UserNames::from_file("/etc/passwd")
    }
}

impl UserNames {
    /// A table read from `path` (a file in passwd format).
    pub fn from_file(path: impl Into<PathBuf>) -> UserNames {
        UserNames {
            path: path.into(),
            names: HashMap::new(),
            read_at: None,
        }
    }

    /// The name of `uid`, if the passwd file has one.
    pub fn name(&mut self, uid: u32) -> Option<String> {
        if let Some(name) = self.names.get(&uid) {
            return Some(name.clone());
        }
        if self.read_at.is_none_or(|t| t.elapsed() >= REREAD_AFTER) {
            self.read_at = Some(Instant::now());
            if let Ok(text) = std::fs::read_to_string(&self.path) {
                self.names = parse_passwd(&text);
            }
        }
        self.names.get(&uid).cloned()
    }
}

fn parse_passwd(text: &str) -> HashMap<u32, String> {
    text.lines()
        .filter_map(|line| {
            let mut fields = line.split(':');
            let name = fields.next()?;
            let uid = fields.nth(1)?.parse().ok()?;
            Some((uid, name.to_string()))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_come_from_the_passwd_file() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("passwd");
        std::fs::write(
            &path,
            "root:x:0:0:root:/root:/bin/bash\nbad line\nalice:x:1000:1000::/home/alice:/bin/sh\n",
        )
        .unwrap();
        let mut users = UserNames::from_file(&path);
        assert_eq!(users.name(0).as_deref(), Some("root"));
        assert_eq!(users.name(1000).as_deref(), Some("alice"));
        assert_eq!(users.name(4242), None);
    }
}
