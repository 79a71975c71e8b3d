//! Copies of well-known programs run under another name.
//!
//! `cp /bin/sh /tmp/updater; /tmp/updater` gives a shell whose name, path and command line
//! say nothing of a shell; rules that look for shells by name miss it (masquerading,
//! ATT&CK T1036.003). The binary's content gives it away: the agent hashes every exec
//! anyway, and a hash equal to an installed shell's (or netcat's, socat's, an
//! interpreter's) on a different file under a name the original does not have is a copy.
//! Such an exec carries the original's name in `process.original_file_name`, the field
//! Sysmon fills from a Windows binary's version resource, so rules read it the same way.

use crate::hashing::{MAX_HASHED_BYTES, sha256_hex};
use std::collections::{HashMap, HashSet};
use std::os::unix::fs::MetadataExt;
use std::path::Path;

/// Programs whose copies are worth naming: shells, network relays, interpreters.
pub const WATCHED_PROGRAMS: &[&str] = &[
    "sh",
    "bash",
    "dash",
    "zsh",
    "ksh",
    "ksh93",
    "mksh",
    "ash",
    "yash",
    "tcsh",
    "csh",
    "fish",
    "busybox",
    "nc",
    "ncat",
    "netcat",
    "nc.openbsd",
    "nc.traditional",
    "socat",
    "python3",
    "python2",
    "perl",
    "php",
    "ruby",
    "node",
    "lua",
];

/// Where the originals are looked for.
pub const PROGRAM_DIRS: &[&str] = &["/usr/bin", "/bin", "/usr/sbin", "/sbin", "/usr/local/bin"];

/// Entries read from one program folder, at most (a bound on a strange `/usr/bin`).
const MAX_DIR_ENTRIES: usize = 50_000;

type FileId = (u64, u64);

/// One watched program: the name it is known by and every name its file has in the
/// program folders (links, alternatives: `nc`, `nc.openbsd`).
struct Original {
    name: String,
    names: HashSet<String>,
}

/// The watched programs installed on this host, by content.
#[derive(Default)]
pub struct KnownPrograms {
    by_hash: HashMap<String, Original>,
    /// The originals' own files, whatever name runs them.
    originals: HashSet<FileId>,
}

impl KnownPrograms {
    /// Hashes the watched programs found in the usual program folders.
    pub fn scan() -> KnownPrograms {
        let dirs: Vec<&Path> = PROGRAM_DIRS.iter().map(Path::new).collect();
        KnownPrograms::scan_dirs(&dirs, WATCHED_PROGRAMS)
    }

    /// Hashes the programs `names` found in `dirs`.
    pub fn scan_dirs(dirs: &[&Path], names: &[&str]) -> KnownPrograms {
        // Every name each file has in these folders (symbolic links followed).
        let mut names_of: HashMap<FileId, HashSet<String>> = HashMap::new();
        for dir in dirs {
            let Ok(entries) = std::fs::read_dir(dir) else {
                continue;
            };
            for entry in entries.flatten().take(MAX_DIR_ENTRIES) {
                if let Ok(meta) = std::fs::metadata(entry.path())
                    && meta.is_file()
                {
                    names_of
                        .entry((meta.dev(), meta.ino()))
                        .or_default()
                        .insert(entry.file_name().to_string_lossy().into_owned());
                }
            }
        }
        let mut known = KnownPrograms::default();
        for name in names {
            for dir in dirs {
                let path = dir.join(name);
                let Ok(meta) = std::fs::metadata(&path) else {
                    continue;
                };
                let id = (meta.dev(), meta.ino());
                if !meta.is_file() || meta.len() > MAX_HASHED_BYTES || known.originals.contains(&id)
                {
                    continue;
                }
                let Some(hash) = std::fs::File::open(&path)
                    .ok()
                    .and_then(|mut f| sha256_hex(&mut f))
                else {
                    continue;
                };
                known.originals.insert(id);
                let mut all_names = names_of.remove(&id).unwrap_or_default();
                all_names.insert(name.to_string());
                known
                    .by_hash
                    .entry(hash)
                    .and_modify(|o| o.names.extend(all_names.iter().cloned()))
                    .or_insert(Original {
                        name: name.to_string(),
                        names: all_names,
                    });
            }
        }
        known
    }

    /// The watched program that the file `file` (device, inode), run as `file_name`, is a
    /// renamed copy of, given its content hash; `None` for the original itself, a copy
    /// under one of the original's names (a container's `/bin/bash`), or anything else.
    pub fn original_of(&self, hash: &str, file: (u64, u64), file_name: &str) -> Option<&str> {
        let original = self.by_hash.get(hash)?;
        if self.originals.contains(&file) || original.names.contains(file_name) {
            return None;
        }
        Some(&original.name)
    }

    /// How many programs were found.
    pub fn len(&self) -> usize {
        self.by_hash.len()
    }

    /// Whether none was found.
    pub fn is_empty(&self) -> bool {
        self.by_hash.is_empty()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn id(path: &Path) -> FileId {
        let meta = std::fs::metadata(path).unwrap();
        (meta.dev(), meta.ino())
    }

    #[test]
    fn a_renamed_copy_is_named_and_the_original_is_not() {
        let bin = tempfile::tempdir().unwrap();
        let elsewhere = tempfile::tempdir().unwrap();
        std::fs::write(bin.path().join("dash"), b"the dash binary").unwrap();
        std::os::unix::fs::symlink("dash", bin.path().join("sh")).unwrap();
        std::fs::hard_link(bin.path().join("dash"), bin.path().join("dash.static")).unwrap();
        std::fs::write(bin.path().join("ls"), b"the ls binary").unwrap();
        let known = KnownPrograms::scan_dirs(&[bin.path()], &["sh", "dash"]);
        assert_eq!(known.len(), 1, "sh and dash are one file");
        let hash = sha256_hex(&mut std::fs::File::open(bin.path().join("dash")).unwrap()).unwrap();

        let copy = elsewhere.path().join("zypper-x");
        std::fs::copy(bin.path().join("dash"), &copy).unwrap();
        assert_eq!(known.original_of(&hash, id(&copy), "zypper-x"), Some("sh"));
        // The original, under any of its names.
        let original = id(&bin.path().join("dash"));
        assert_eq!(known.original_of(&hash, original, "dash.static"), None);
        // A copy that keeps a name of the original: a container's own shell.
        assert_eq!(known.original_of(&hash, id(&copy), "dash"), None);
        // Not a watched program's content.
        let ls = sha256_hex(&mut std::fs::File::open(bin.path().join("ls")).unwrap()).unwrap();
        assert_eq!(known.original_of(&ls, id(&copy), "zypper-x"), None);
    }
}
