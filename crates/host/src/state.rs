//! What collectors keep across restarts (baselines), as JSON files written atomically:
//! a crash mid-write leaves the previous file, never half of one.

use serde::Serialize;
use serde::de::DeserializeOwned;
use std::path::Path;

/// Reads the state saved in `file`; `None` when there is none or it is unreadable (a
/// collector then starts afresh).
pub fn load<T: DeserializeOwned>(file: Option<&Path>) -> Option<T> {
    let bytes = std::fs::read(file?).ok()?;
    serde_json::from_slice(&bytes).ok()
}

/// Writes `value` to `file` through a temporary file and a rename. `what` names it in
/// the warning when that fails.
pub fn save<T: Serialize>(file: &Path, value: &T, what: &str) -> bool {
    let temporary = file.with_extension("tmp");
    let written = serde_json::to_vec(value)
        .map_err(std::io::Error::other)
        .and_then(|json| std::fs::write(&temporary, json))
        .and_then(|_| std::fs::rename(&temporary, file));
    if let Err(e) = &written {
        tracing::warn!(file = %file.display(), error = %e, "the {what} could not be saved");
    }
    written.is_ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn saves_and_loads_atomically() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("state.json");
        assert_eq!(load::<Vec<u32>>(Some(&file)), None);
        assert!(save(&file, &vec![1u32, 2], "test state"));
        assert_eq!(load::<Vec<u32>>(Some(&file)), Some(vec![1, 2]));
        assert!(!dir.path().join("state.tmp").exists());
        std::fs::write(&file, "not json").unwrap();
        assert_eq!(load::<Vec<u32>>(Some(&file)), None);
    }
}
