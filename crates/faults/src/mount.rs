//! A small tmpfs mounted for one scenario (the disk that fills), unmounted when dropped.

use anyhow::{Context, bail};
use std::path::{Path, PathBuf};
use std::process::Command;

pub struct Tmpfs {
    pub path: PathBuf,
}

impl Tmpfs {
    /// Mounts a tmpfs of `mib` MiB at `path` (root only).
    pub fn mount(path: &Path, mib: u64) -> anyhow::Result<Tmpfs> {
        std::fs::create_dir_all(path)?;
        let status = Command::new("mount")
            .args([
                "-t",
                "tmpfs",
                "-o",
                &format!("size={mib}m,mode=0755"),
                "tmpfs",
            ])
            .arg(path)
            .status()
            .context("running mount")?;
        if !status.success() {
            bail!(
                "mounting a {mib} MiB tmpfs at {} failed (the suite runs as root)",
                path.display()
            );
        }
        Ok(Tmpfs {
            path: path.to_path_buf(),
        })
    }

    /// Fills `bytes` of the filesystem with a file that can be deleted to free space.
    pub fn ballast(&self, bytes: usize) -> anyhow::Result<PathBuf> {
        let file = self.path.join("ballast");
        std::fs::write(&file, vec![0x42u8; bytes])?;
        Ok(file)
    }
}

impl Drop for Tmpfs {
    fn drop(&mut self) {
        let _ = Command::new("umount").arg("-l").arg(&self.path).status();
    }
}
