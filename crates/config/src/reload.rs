//! The live configuration and its hot reload.
//!
//! Readers call [`ConfigHandle::get`] (lock-free, via `ArcSwap`). When the file changes, the
//! new text is parsed and validated; only a valid configuration replaces the current one.
//! An invalid file is logged and remembered as the last error, and the old configuration
//! stays in force, so a typo never takes a running server down.

use crate::{Config, ConfigErrors};
use arc_swap::ArcSwap;
use notify::{EventKind, RecursiveMode, Watcher};
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// How long to wait after a change before reading the file: editors write in several steps
/// (truncate, write, rename), and one reload should see the finished file.
const DEBOUNCE: Duration = Duration::from_millis(250);

/// Settings that a running server cannot change in place; a new value is kept in the
/// configuration (so `config show` tells the truth) and takes effect at the next start.
const RESTART_KEYS: &[&str] = &[
    "api.host",
    "api.port",
    "storage.data_dir",
    "storage.database_url",
];

/// What a reload did.
#[derive(Debug)]
pub enum ReloadOutcome {
    /// The new configuration is in force. Lists changed keys that need a restart.
    Applied { restart_needed: Vec<&'static str> },
    /// The file holds the configuration already in force.
    Unchanged,
    /// The new configuration is invalid; the old one stays.
    Rejected(ConfigErrors),
}

/// The configuration in force, where it came from, and how reloads went.
pub struct ConfigHandle {
    current: ArcSwap<Config>,
    path: Option<PathBuf>,
    generation: AtomicU64,
    last_error: Mutex<Option<String>>,
    /// `WATCHPOST_SECTION__KEY` pairs that win over the environment (command-line flags),
    /// re-applied at every reload so a reload never undoes them.
    overrides: Vec<(String, String)>,
}

impl ConfigHandle {
    /// A handle on `config`, loaded from `path` if it came from a file.
    pub fn new(config: Config, path: Option<PathBuf>) -> Arc<ConfigHandle> {
        ConfigHandle::with_overrides(config, path, Vec::new())
    }

    /// Loads the configuration from `path` (or defaults), the environment and `overrides`
    /// (`WATCHPOST_SECTION__KEY` pairs that win over the environment), and keeps applying
    /// them on reload.
    pub fn load(
        path: Option<PathBuf>,
        overrides: Vec<(String, String)>,
    ) -> Result<Arc<ConfigHandle>, ConfigErrors> {
        let config = Config::load_with_env(
            path.as_deref(),
            std::env::vars().chain(overrides.iter().cloned()),
        )?;
        Ok(ConfigHandle::with_overrides(config, path, overrides))
    }

    fn with_overrides(
        config: Config,
        path: Option<PathBuf>,
        overrides: Vec<(String, String)>,
    ) -> Arc<ConfigHandle> {
        Arc::new(ConfigHandle {
            current: ArcSwap::from_pointee(config),
            path,
            generation: AtomicU64::new(1),
            last_error: Mutex::new(None),
            overrides,
        })
    }

    /// The configuration in force now.
    pub fn get(&self) -> Arc<Config> {
        self.current.load_full()
    }

    /// The file the configuration comes from, if any.
    pub fn path(&self) -> Option<&Path> {
        self.path.as_deref()
    }

    /// Starts at 1 and grows by one with every applied reload.
    pub fn generation(&self) -> u64 {
        self.generation.load(Ordering::Relaxed)
    }

    /// The errors of the last rejected reload, cleared by the next applied one.
    pub fn last_error(&self) -> Option<String> {
        self.last_error
            .lock()
            .map(|e| e.clone())
            .unwrap_or_default()
    }

    /// Re-reads the file (with environment overrides) and swaps it in if valid.
    pub fn reload(&self) -> ReloadOutcome {
        let env = std::env::vars().chain(self.overrides.iter().cloned());
        let outcome = match Config::load_with_env(self.path.as_deref(), env) {
            Err(errors) => ReloadOutcome::Rejected(errors),
            Ok(new) => self.install(new),
        };
        self.record(&outcome);
        outcome
    }

    /// Puts an already validated configuration in force.
    fn install(&self, new: Config) -> ReloadOutcome {
        let old = self.get();
        if *old == new {
            return ReloadOutcome::Unchanged;
        }
        let old_json = serde_json::to_value(&*old).unwrap_or_default();
        let new_json = serde_json::to_value(&new).unwrap_or_default();
        let restart_needed = RESTART_KEYS
            .iter()
            .copied()
            .filter(|key| {
                let pointer = format!("/{}", key.replace('.', "/"));
                old_json.pointer(&pointer) != new_json.pointer(&pointer)
            })
            .collect();
        self.current.store(Arc::new(new));
        self.generation.fetch_add(1, Ordering::Relaxed);
        ReloadOutcome::Applied { restart_needed }
    }

    fn record(&self, outcome: &ReloadOutcome) {
        let error = match outcome {
            ReloadOutcome::Applied { restart_needed } => {
                tracing::info!(generation = self.generation(), "configuration reloaded");
                if !restart_needed.is_empty() {
                    tracing::warn!(keys = ?restart_needed, "changed settings take effect after a restart");
                }
                None
            }
            ReloadOutcome::Unchanged => return,
            ReloadOutcome::Rejected(errors) => {
                tracing::error!(errors = %errors, "configuration change rejected; the previous configuration stays in force");
                Some(errors.to_string())
            }
        };
        if let Ok(mut last) = self.last_error.lock() {
            *last = error;
        }
    }

    /// Replaces the configuration file with `edited` (the configuration as JSON, as it is
    /// shown: values still masked keep the file's own), then reloads it. The new text is
    /// validated first, and paths that change must lie in `api.allowed_path_dirs`, which
    /// itself cannot change here ([`crate::check_api_paths`]); an invalid configuration
    /// is refused with its errors and nothing changes. The file keeps its format, TOML or JSON, but not its comments; it is
    /// written to a temporary file and renamed, so a reader never sees half of it.
    pub fn save(&self, mut edited: serde_json::Value) -> Result<ReloadOutcome, SaveError> {
        let path = self.path.as_deref().ok_or(SaveError::NoFile)?;
        // What the file says now (what is in force, when the file is broken): masked values
        // come back from it, and paths are judged against it.
        let current = Config::load_with_env(Some(path), std::iter::empty())
            .unwrap_or_else(|_| (*self.get()).clone());
        let in_file = serde_json::to_value(&current).unwrap_or_default();
        crate::mask::unmask(&mut edited, &in_file);
        drop_nulls(&mut edited);
        let format = crate::Format::of(path);
        let text = match format {
            crate::Format::Json => {
                serde_json::to_string_pretty(&edited).map_err(|e| SaveError::Io(e.to_string()))?
            }
            crate::Format::Toml => {
                let value: toml::Value = serde_json::from_value(edited).map_err(|e| {
                    SaveError::Invalid(ConfigErrors::single(crate::ConfigError {
                        file: None,
                        line: None,
                        column: None,
                        key: None,
                        message: format!("not a configuration: {e}"),
                    }))
                })?;
                toml::to_string_pretty(&value).map_err(|e| SaveError::Io(e.to_string()))?
            }
        };
        let new = Config::parse(&text, format, Some(path)).map_err(SaveError::Invalid)?;
        let path_errors = crate::check_api_paths(&current, &new, &self.get().api.allowed_path_dirs);
        if !path_errors.is_empty() {
            return Err(SaveError::Invalid(ConfigErrors(path_errors)));
        }
        let temporary = path.with_extension("saving");
        std::fs::write(&temporary, &text)
            .and_then(|()| std::fs::rename(&temporary, path))
            .map_err(|e| SaveError::Io(format!("writing {}: {e}", path.display())))?;
        Ok(self.reload())
    }

    /// Watches the configuration file and reloads it on every change until the returned
    /// watcher is dropped. Needs a Tokio runtime. Without a file there is nothing to watch.
    pub fn watch(self: &Arc<Self>) -> Result<Option<ConfigWatcher>, notify::Error> {
        let Some(path) = self.path.clone() else {
            return Ok(None);
        };
        let dir = match path.parent() {
            Some(d) if !d.as_os_str().is_empty() => d.to_path_buf(),
            _ => PathBuf::from("."),
        };
        let file_name = path.file_name().map(|n| n.to_os_string());
        let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
        // Watch the directory, not the file: editors and config tools replace files by
        // rename, which would end a watch on the file itself.
        let mut watcher =
            notify::recommended_watcher(move |res: notify::Result<notify::Event>| {
                let Ok(event) = res else { return };
                if matches!(event.kind, EventKind::Access(_)) {
                    return;
                }
                if event
                    .paths
                    .iter()
                    .any(|p| p.file_name().map(|n| n.to_os_string()) == file_name)
                {
                    let _ = tx.send(());
                }
            })?;
        watcher.watch(&dir, RecursiveMode::NonRecursive)?;
        let handle = Arc::clone(self);
        let task = tokio::spawn(async move {
            while rx.recv().await.is_some() {
                tokio::time::sleep(DEBOUNCE).await;
                while rx.try_recv().is_ok() {}
                handle.reload();
            }
        });
        Ok(Some(ConfigWatcher {
            _watcher: watcher,
            task,
        }))
    }
}

/// Why [`ConfigHandle::save`] changed nothing.
#[derive(Debug)]
pub enum SaveError {
    /// The server runs on defaults and the environment: there is no file to write.
    NoFile,
    /// The new configuration is invalid.
    Invalid(ConfigErrors),
    Io(String),
}

/// Removes `null` values, which TOML cannot hold and which mean "the default" anyway.
pub(crate) fn drop_nulls(value: &mut serde_json::Value) {
    match value {
        serde_json::Value::Object(map) => {
            map.retain(|_, v| !v.is_null());
            map.values_mut().for_each(drop_nulls);
        }
        serde_json::Value::Array(items) => items.iter_mut().for_each(drop_nulls),
        _ => {}
    }
}

/// Keeps the file watch alive; dropping it stops reloading.
pub struct ConfigWatcher {
    _watcher: notify::RecommendedWatcher,
    task: tokio::task::JoinHandle<()>,
}

impl Drop for ConfigWatcher {
    fn drop(&mut self) {
        self.task.abort();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_shown_toml_leaves_unset_options_out() {
        let config = Config::parse(
            "[[web.routes]]\nprefix = \"/search\"\n",
            crate::Format::Toml,
            None,
        )
        .unwrap();
        let shown = config.masked_toml().unwrap();
        assert!(shown.contains("prefix = \"/search\""), "{shown}");
        assert!(!shown.contains("tls_cert_file"), "{shown}");
        // What is shown reads back as the same configuration.
        assert_eq!(
            Config::parse(&shown, crate::Format::Toml, None).unwrap(),
            config
        );
    }

    #[test]
    fn a_saved_edit_keeps_masked_secrets_and_an_invalid_one_changes_nothing() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchpost.toml");
        let original =
            "[storage]\nretention_days = 7\ndatabase_url = \"postgres://wp:hunter2@db/wp\"\n";
        std::fs::write(&path, original).unwrap();
        let handle = ConfigHandle::new(Config::load(Some(&path)).unwrap(), Some(path.clone()));
        let mut shown = handle.get().masked_json();
        assert!(!shown.to_string().contains("hunter2"));
        shown["storage"]["retention_days"] = 30.into();
        let outcome = handle.save(shown.clone()).unwrap();
        assert!(
            matches!(outcome, ReloadOutcome::Applied { .. }),
            "{outcome:?}"
        );
        assert_eq!(handle.get().storage.retention_days, 30);
        assert_eq!(
            handle.get().storage.database_url,
            "postgres://wp:hunter2@db/wp",
            "the masked password came back from the file"
        );
        let written = std::fs::read_to_string(&path).unwrap();
        assert!(written.contains("retention_days = 30"), "{written}");

        shown["storage"]["retention_days"] = 0.into();
        let Err(SaveError::Invalid(errors)) = handle.save(shown) else {
            panic!("an invalid edit is refused");
        };
        assert_eq!(errors.0[0].key.as_deref(), Some("storage.retention_days"));
        assert_eq!(
            std::fs::read_to_string(&path).unwrap(),
            written,
            "the file is untouched"
        );
        assert_eq!(handle.get().storage.retention_days, 30);

        let defaults = ConfigHandle::new(Config::default(), None);
        assert!(matches!(
            defaults.save(serde_json::json!({})),
            Err(SaveError::NoFile)
        ));
    }

    #[tokio::test]
    async fn a_watched_file_reloads_when_valid_and_keeps_the_old_config_when_not() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("watchpost.toml");
        std::fs::write(&path, "[storage]\nretention_days = 7\n").unwrap();
        let handle = ConfigHandle::new(Config::load(Some(&path)).unwrap(), Some(path.clone()));
        let _watcher = handle.watch().unwrap().unwrap();

        std::fs::write(
            &path,
            "[storage]\nretention_days = 14\n[api]\nport = 9999\n",
        )
        .unwrap();
        wait_for(|| handle.generation() == 2).await;
        assert_eq!(handle.get().storage.retention_days, 14);
        assert_eq!(handle.last_error(), None);

        std::fs::write(&path, "[storage]\nretention_days = 0\n").unwrap();
        wait_for(|| handle.last_error().is_some()).await;
        let error = handle.last_error().unwrap();
        assert!(
            error.contains("watchpost.toml:line 2: storage.retention_days"),
            "{error}"
        );
        assert_eq!(
            handle.get().storage.retention_days,
            14,
            "old config stays in force"
        );
        assert_eq!(handle.generation(), 2);
    }

    #[test]
    fn reports_keys_that_need_a_restart() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("c.json");
        std::fs::write(&path, r#"{"api": {"port": 8081}}"#).unwrap();
        let handle = ConfigHandle::new(Config::default(), Some(path.clone()));
        match handle.reload() {
            ReloadOutcome::Applied { restart_needed } => {
                assert_eq!(restart_needed, vec!["api.port"])
            }
            other => panic!("{other:?}"),
        }
        assert!(matches!(handle.reload(), ReloadOutcome::Unchanged));
    }

    /// Polls `condition` for up to ten seconds: file events arrive asynchronously.
    async fn wait_for(condition: impl Fn() -> bool) {
        for _ in 0..200 {
            if condition() {
                return;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        panic!("condition not reached");
    }
}
