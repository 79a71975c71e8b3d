//! Which privileged programs the distribution installed, as its package database records
//! them: a set-user-id or set-group-id binary from a package, unchanged since, doing its
//! job (`sudo`, `passwd`, `mount`, exim's `exim4`) is not an escalation; a copy, a
//! replacement or a file the package manager never installed is.
//!
//! Reads dpkg's database (`/var/lib/dpkg/info/*.md5sums`): the MD5 of every file each
//! package installed. Only the files that carry a set-id bit now are kept, so the index is
//! a few dozen entries. A program is named as packaged only when its bytes still have the
//! recorded MD5, checked once per file identity (device, inode, size, modification time).

use crate::hashing::{MAX_HASHED_BYTES, digest_hex};
use md5::Md5;
use std::collections::HashMap;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::Path;

/// Where dpkg keeps what each package installed.
const DPKG_INFO: &str = "/var/lib/dpkg/info";
/// Package lists read at most, and files kept at most.
const MAX_LISTS: usize = 20_000;
const MAX_KEPT: usize = 4096;
/// Identities whose check is remembered at most.
const MAX_CHECKED: usize = 4096;

/// A file's identity: device, inode, size, modification time.
type Identity = (u64, u64, u64, i64);

/// Set-id files the package database knows.
#[derive(Default)]
pub struct PackagedPrograms {
    /// Path → (package, recorded MD5 in hex).
    files: HashMap<String, (String, String)>,
    /// Whether a file identity had its package's MD5.
    checked: HashMap<Identity, bool>,
}

impl PackagedPrograms {
    /// Reads dpkg's database; empty where there is none.
    pub fn scan() -> PackagedPrograms {
        PackagedPrograms::scan_dir(Path::new(DPKG_INFO), Path::new("/"))
    }

    /// Reads `*.md5sums` in `info`, whose paths are relative to `root`.
    pub fn scan_dir(info: &Path, root: &Path) -> PackagedPrograms {
        let mut programs = PackagedPrograms::default();
        let Ok(dir) = std::fs::read_dir(info) else {
            return programs;
        };
        for entry in dir.flatten().take(MAX_LISTS) {
            let name = entry.file_name().to_string_lossy().into_owned();
            let Some(package) = name.strip_suffix(".md5sums") else {
                continue;
            };
            let package = package.split(':').next().unwrap_or(package);
            let Ok(text) = std::fs::read_to_string(entry.path()) else {
                continue;
            };
            for line in text.lines() {
                let Some((md5, relative)) = line.split_once("  ") else {
                    continue;
                };
                let path = root.join(relative);
                let set_id = std::fs::symlink_metadata(&path)
                    .is_ok_and(|m| m.is_file() && m.permissions().mode() & 0o6000 != 0);
                if !set_id || programs.files.len() >= MAX_KEPT {
                    continue;
                }
                // Where the program runs from: packages list `bin/mount`, which a merged
                // /usr makes /usr/bin/mount, the path the kernel reports.
                let Some(running) = running_path(&path, root) else {
                    continue;
                };
                programs
                    .files
                    .insert(running, (package.to_string(), md5.to_ascii_lowercase()));
            }
        }
        programs
    }

    /// Set-id files known.
    pub fn len(&self) -> usize {
        self.files.len()
    }

    /// Whether none is known (no package database, or none installed).
    pub fn is_empty(&self) -> bool {
        self.files.is_empty()
    }

    /// The package that installed `path`, when `file` (the running program's binary) is
    /// still what the package installed there.
    pub fn package_of(&mut self, path: &str, file: &mut std::fs::File) -> Option<String> {
        let (package, md5) = self.files.get(path)?.clone();
        let meta = file.metadata().ok()?;
        let identity = (meta.dev(), meta.ino(), meta.size(), meta.mtime());
        let unchanged = match self.checked.get(&identity) {
            Some(known) => *known,
            None => {
                let same = md5_of(file).is_some_and(|actual| actual == md5);
                if self.checked.len() >= MAX_CHECKED {
                    self.checked.clear();
                }
                self.checked.insert(identity, same);
                same
            }
        };
        unchanged.then_some(package)
    }
}

/// `path` (under `root`) with its folders' links resolved, as an absolute path below
/// `root`.
fn running_path(path: &Path, root: &Path) -> Option<String> {
    let folder = path.parent()?.canonicalize().ok()?;
    let root = root.canonicalize().ok()?;
    let relative = folder.strip_prefix(&root).ok()?;
    let name = path.file_name()?.to_str()?;
    Some(format!("/{}", relative.join(name).to_str()?))
}

/// The MD5 of a whole file, read from its start, in hex; `None` for a file larger than
/// any binary worth hashing ([`MAX_HASHED_BYTES`]: a planted giant must not stall the
/// agent) or unreadable.
fn md5_of(file: &mut std::fs::File) -> Option<String> {
    use std::io::Seek;
    if file.metadata().ok()?.len() > MAX_HASHED_BYTES {
        return None;
    }
    file.seek(std::io::SeekFrom::Start(0)).ok()?;
    digest_hex::<Md5>(file)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_packaged_set_id_file_is_named_until_it_changes() {
        let dir = tempfile::tempdir().unwrap();
        let root = dir.path().join("root");
        std::fs::create_dir_all(root.join("usr/bin")).unwrap();
        let helper = root.join("usr/bin/helper");
        std::fs::write(&helper, b"helper v1").unwrap();
        std::fs::set_permissions(&helper, std::fs::Permissions::from_mode(0o4755)).unwrap();
        std::fs::write(root.join("usr/bin/plain"), b"plain").unwrap();
        // A merged /usr: the package lists bin/helper.
        std::os::unix::fs::symlink("usr/bin", root.join("bin")).unwrap();
        let info = dir.path().join("info");
        std::fs::create_dir_all(&info).unwrap();
        let digest = digest_hex::<Md5>(&mut &b"helper v1"[..]).unwrap();
        assert_eq!(
            digest, "711e6d997f207cd742412e972acd7295",
            "dpkg's md5sum of the bytes"
        );
        std::fs::write(
            info.join("helper-pkg:amd64.md5sums"),
            format!("{digest}  bin/helper\n0123  usr/bin/plain\n"),
        )
        .unwrap();
        let mut programs = PackagedPrograms::scan_dir(&info, &root);
        assert_eq!(programs.len(), 1, "only set-id files are kept");
        let mut file = std::fs::File::open(&helper).unwrap();
        assert_eq!(
            programs.package_of("/usr/bin/helper", &mut file).as_deref(),
            Some("helper-pkg")
        );
        // Replaced in place: the bytes no longer match the package.
        std::fs::write(&helper, b"helper v2 (planted)").unwrap();
        let mut file = std::fs::File::open(&helper).unwrap();
        assert_eq!(programs.package_of("/usr/bin/helper", &mut file), None);
        // A copy elsewhere is not the package's file.
        assert_eq!(programs.package_of("/tmp/helper", &mut file), None);
    }

    #[test]
    fn this_machine_s_set_id_programs_are_found() {
        let programs = PackagedPrograms::scan();
        if Path::new(DPKG_INFO).is_dir() && Path::new("/usr/bin/passwd").exists() {
            assert!(
                programs.files.contains_key("/usr/bin/passwd")
                    && (!Path::new("/usr/bin/mount").exists()
                        || programs.files.contains_key("/usr/bin/mount")),
                "{:?}",
                programs.files.keys().collect::<Vec<_>>()
            );
        }
    }
}
