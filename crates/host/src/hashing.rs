//! SHA-256 of executables, cached by file identity (device, inode, size, modification
//! time): a binary is read once however often it runs, and read again once replaced.

use sha2::{Digest, Sha256};
use std::collections::HashMap;
use std::fs::File;
use std::io::Read;
use std::os::unix::fs::MetadataExt;

/// Binaries larger than this are not hashed (reading them would stall the agent).
pub const MAX_HASHED_BYTES: u64 = 256 << 20;
/// Cached hashes kept; past this the cache starts over.
const MAX_CACHED: usize = 8192;

type FileKey = (u64, u64, u64, i64, i64);

/// The hash cache.
#[derive(Default)]
pub struct ExeHasher {
    cache: HashMap<FileKey, String>,
    /// Files read (cache misses), for the agent's own metrics.
    pub files_hashed: u64,
}

/// The hex SHA-256 of everything `reader` yields, read in 64 KiB blocks; `None` on a read
/// error.
pub fn sha256_hex(reader: &mut impl Read) -> Option<String> {
    digest_hex::<Sha256>(reader)
}

/// The hex digest `D` (SHA-256, or the MD5 a package database records) of everything
/// `reader` yields, read in 64 KiB blocks; `None` on a read error.
pub fn digest_hex<D: Digest>(reader: &mut impl Read) -> Option<String> {
    let mut hasher = D::new();
    let mut buffer = vec![0u8; 64 * 1024];
    loop {
        let n = reader.read(&mut buffer).ok()?;
        if n == 0 {
            break;
        }
        hasher.update(&buffer[..n]);
    }
    Some(watchpost_core::hex(&hasher.finalize()))
}

impl ExeHasher {
    /// The hex SHA-256 of the open file `exe`, from the cache when this exact file was
    /// hashed before. `None` for files too large or unreadable.
    pub fn hash(&mut self, exe: &mut File) -> Option<String> {
        let meta = exe.metadata().ok()?;
        if meta.len() > MAX_HASHED_BYTES {
            return None;
        }
        let key = (
            meta.dev(),
            meta.ino(),
            meta.len(),
            meta.mtime(),
            meta.mtime_nsec(),
        );
        if let Some(hash) = self.cache.get(&key) {
            return Some(hash.clone());
        }
        let hash = sha256_hex(exe)?;
        if self.cache.len() >= MAX_CACHED {
            self.cache.clear();
        }
        self.cache.insert(key, hash.clone());
        self.files_hashed += 1;
        Some(hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::io::Write;

    #[test]
    fn hashes_once_per_file_version() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("bin");
        std::fs::write(&path, b"abc").unwrap();
        let mut hasher = ExeHasher::default();
        let first = hasher.hash(&mut File::open(&path).unwrap()).unwrap();
        assert_eq!(
            first,
            "ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad"
        );
        hasher.hash(&mut File::open(&path).unwrap()).unwrap();
        assert_eq!(hasher.files_hashed, 1);
        // A replaced binary is a new file: hashed again.
        std::fs::remove_file(&path).unwrap();
        File::create(&path).unwrap().write_all(b"abcd").unwrap();
        let second = hasher.hash(&mut File::open(&path).unwrap()).unwrap();
        assert_ne!(first, second);
        assert_eq!(hasher.files_hashed, 2);
    }
}
