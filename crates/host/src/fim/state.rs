//! What a watched file looked like, and what one change did to it.

use crate::hashing::MAX_HASHED_BYTES;
use serde::{Deserialize, Serialize};
use std::os::unix::fs::MetadataExt;
use std::path::{Path, PathBuf};

/// What a file looked like.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileState {
    /// The content's hash; none for a symbolic link, a file too large to hash, or a
    /// file that only grows (a log, a shell history: its size and inode say enough).
    pub sha256: Option<String>,
    pub size: u64,
    pub uid: u32,
    pub gid: u32,
    /// Permission bits and file type, as `st_mode`.
    pub mode: u32,
    /// Where a symbolic link points (`systemctl enable` makes links; a history file
    /// linked to /dev/null records nothing).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub link: Option<String>,
    /// The inode: a file truncated in place keeps it, a rotated one is a new file.
    #[serde(default)]
    pub inode: u64,
}

impl FileState {
    /// Reads `path` now (a symbolic link itself, not what it points to); `None` when it
    /// does not exist or is a folder or a device. `grows_only` files are not hashed.
    pub fn read(path: &Path, grows_only: bool) -> Option<FileState> {
        let meta = std::fs::symlink_metadata(path).ok()?;
        let link = if meta.file_type().is_symlink() {
            Some(
                std::fs::read_link(path)
                    .ok()?
                    .to_string_lossy()
                    .into_owned(),
            )
        } else if meta.is_file() {
            None
        } else {
            return None;
        };
        let sha256 = (link.is_none() && !grows_only && meta.len() <= MAX_HASHED_BYTES)
            .then(|| hash_file(path))
            .flatten();
        Some(FileState {
            sha256,
            size: meta.len(),
            uid: meta.uid(),
            gid: meta.gid(),
            mode: meta.mode(),
            link,
            inode: meta.ino(),
        })
    }
}

fn hash_file(path: &Path) -> Option<String> {
    crate::hashing::sha256_hex(&mut std::fs::File::open(path).ok()?)
}

/// One change to a watched file.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct FileChange {
    pub path: PathBuf,
    pub before: Option<FileState>,
    pub after: Option<FileState>,
}

impl FileChange {
    /// `file-created`, `file-deleted`, `file-modified` (content), `file-truncated`
    /// (smaller, same inode), `symlink-created`, `symlink-retargeted`,
    /// `replaced-by-symlink` or `file-attributes-changed` (owner or mode only).
    pub fn action(&self) -> &'static str {
        match (&self.before, &self.after) {
            (None, Some(a)) if a.link.is_some() => "symlink-created",
            (None, Some(_)) => "file-created",
            (Some(_), None) => "file-deleted",
            (Some(b), Some(a)) if b.link.is_none() && a.link.is_some() => "replaced-by-symlink",
            (Some(b), Some(a)) if a.link.is_some() && b.link != a.link => "symlink-retargeted",
            // Unhashed (a log, a history): shrinking in place is emptying it.
            (Some(b), Some(a))
                if a.sha256.is_none() && b.inode == a.inode && a.inode != 0 && a.size < b.size =>
            {
                "file-truncated"
            }
            (Some(b), Some(a)) if b.sha256 != a.sha256 || b.size != a.size => "file-modified",
            _ => "file-attributes-changed",
        }
    }
}
