//! Paths in the configuration, and the rule for those set through the API: a path
//! written by `PUT /api/v1/config` (or the dashboard) must lie in a folder the operator
//! fixed, `api.allowed_path_dirs` (this file, or `serve --allow-path`), with links
//! resolved, so that an admin key cannot make the server read `/etc/shadow` as a
//! notification template or a rule folder. The list itself cannot be changed there.

use crate::{Config, ConfigError};
use std::path::{Component, Path, PathBuf};

/// Every path-valued setting with its dotted key, rule folders and channel files
/// included. `api.allowed_path_dirs` is the rule, not a setting it applies to.
pub fn path_settings(config: &Config) -> Vec<(String, PathBuf)> {
    let mut out = vec![(
        "storage.data_dir".to_string(),
        config.storage.data_dir.clone(),
    )];
    let api = &config.api;
    for (key, value) in [
        ("api.tls_cert_file", &api.tls_cert_file),
        ("api.tls_key_file", &api.tls_key_file),
    ] {
        if let Some(path) = value {
            out.push((key.to_string(), path.clone()));
        }
    }
    for (i, dir) in config.detection.rules_dirs.iter().enumerate() {
        out.push((format!("detection.rules_dirs[{i}]"), dir.clone()));
    }
    for (i, channel) in config.alerting.channels.iter().enumerate() {
        for (name, value) in [
            ("ca_file", &channel.ca_file),
            ("template", &channel.template),
            ("html_template", &channel.html_template),
        ] {
            if let Some(path) = value {
                out.push((format!("alerting.channels[{i}].{name}"), path.clone()));
            }
        }
    }
    out
}

/// What is wrong with `new`, written through the API over `current` (the file's own
/// configuration), when paths may only be set inside `allowed` (the folders in force):
/// each path setting that changed and lies outside them, and any change to the list.
pub fn check_api_paths(current: &Config, new: &Config, allowed: &[PathBuf]) -> Vec<ConfigError> {
    let error = |key: String, message: String| ConfigError {
        file: None,
        line: None,
        column: None,
        key: Some(key),
        message,
    };
    let mut errors = Vec::new();
    // The list as the file has it, or as it is in force (`serve --allow-path`, which the
    // shown configuration carries back), and nothing else.
    if new.api.allowed_path_dirs != current.api.allowed_path_dirs
        && new.api.allowed_path_dirs != allowed
    {
        errors.push(error(
            "api.allowed_path_dirs".into(),
            "is fixed by the operator (in the configuration file on the server, or `serve \
             --allow-path`); it cannot be changed through the API"
                .into(),
        ));
    }
    let before = path_settings(current);
    let roots: Vec<PathBuf> = allowed
        .iter()
        .filter_map(|dir| std::fs::canonicalize(dir).ok())
        .collect();
    for (key, path) in path_settings(new) {
        if before.iter().any(|(k, p)| *k == key && *p == path) {
            continue;
        }
        if let Err(why) = confined(&path, &roots) {
            errors.push(error(key, why));
        }
    }
    errors
}

/// Whether `path`, links resolved, lies inside one of `roots` (already resolved).
fn confined(path: &Path, roots: &[PathBuf]) -> Result<(), String> {
    if roots.is_empty() {
        return Err(format!(
            "`{}`: paths cannot be set through the API until the operator names the folders \
             they may lie in (api.allowed_path_dirs in the file, or `serve --allow-path DIR`)",
            path.display()
        ));
    }
    if !path.is_absolute() || path.components().any(|c| c == Component::ParentDir) {
        return Err(format!(
            "`{}` must be an absolute path without `..`",
            path.display()
        ));
    }
    let resolved = resolve(path).map_err(|e| format!("`{}`: {e}", path.display()))?;
    if roots.iter().any(|root| resolved.starts_with(root)) {
        Ok(())
    } else {
        Err(format!(
            "`{}` (resolved: `{}`) lies outside the folders paths may be set in through the \
             API: {}",
            path.display(),
            resolved.display(),
            roots
                .iter()
                .map(|r| r.display().to_string())
                .collect::<Vec<_>>()
                .join(", ")
        ))
    }
}

/// `path` with every link resolved; a part that does not exist yet is kept as written
/// after the deepest one that does (a data folder made at the next start).
fn resolve(path: &Path) -> std::io::Result<PathBuf> {
    let mut existing = path.to_path_buf();
    let mut rest = Vec::new();
    loop {
        match std::fs::canonicalize(&existing) {
            Ok(resolved) => {
                let mut out = resolved;
                for part in rest.iter().rev() {
                    out.push(part);
                }
                return Ok(out);
            }
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
                let Some(name) = existing.file_name().map(|n| n.to_os_string()) else {
                    return Err(e);
                };
                rest.push(name);
                if !existing.pop() {
                    return Err(e);
                }
            }
            Err(e) => return Err(e),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn every_path_valued_field_is_walked() {
        // Each field typed with a path in the settings must come out of path_settings.
        let sources = [
            include_str!("settings.rs"),
            include_str!("../../alert/src/channel_config.rs"),
        ];
        let mut fields = Vec::new();
        for source in sources {
            for line in source.lines() {
                let line = line.trim();
                if let Some(rest) = line.strip_prefix("pub ")
                    && let Some((name, ty)) = rest.split_once(':')
                    && ty.contains("PathBuf")
                {
                    fields.push(name.trim().to_string());
                }
            }
        }
        let mut config = Config::default();
        config.api.tls_cert_file = Some("/c".into());
        config.api.tls_key_file = Some("/k".into());
        config.detection.rules_dirs = vec!["/r".into()];
        config.alerting.channels = vec![watchpost_alert::config::ChannelConfig {
            ca_file: Some("/ca".into()),
            template: Some("/t".into()),
            html_template: Some("/h".into()),
            ..Default::default()
        }];
        let walked: Vec<String> = path_settings(&config).into_iter().map(|(k, _)| k).collect();
        assert!(fields.len() >= 7, "{fields:?}");
        for field in fields.iter().filter(|f| *f != "allowed_path_dirs") {
            assert!(
                walked
                    .iter()
                    .any(|k| k.ends_with(field.as_str()) || k.contains(&format!("{field}["))),
                "{field} is a path setting that path_settings does not walk: {walked:?}"
            );
        }
    }

    #[test]
    fn api_paths_stay_inside_the_operators_folders() {
        let dir = tempfile::tempdir().unwrap();
        let allowed = dir.path().join("templates");
        std::fs::create_dir(&allowed).unwrap();
        std::fs::write(allowed.join("ok.j2"), "x").unwrap();
        std::os::unix::fs::symlink("/etc/shadow", allowed.join("shadow.j2")).unwrap();
        let current = Config::default();
        let with_template = |path: &Path| {
            let mut c = Config::default();
            c.alerting.channels = vec![watchpost_alert::config::ChannelConfig {
                name: "ops".into(),
                template: Some(path.to_path_buf()),
                ..Default::default()
            }];
            c
        };
        let roots = [allowed.clone()];
        assert!(
            check_api_paths(&current, &with_template(&allowed.join("ok.j2")), &roots).is_empty()
        );
        for bad in [
            PathBuf::from("/etc/shadow"),
            allowed.join("shadow.j2"),
            allowed.join("../templates/../../etc/passwd"),
            PathBuf::from("relative.j2"),
        ] {
            let errors = check_api_paths(&current, &with_template(&bad), &roots);
            assert_eq!(errors.len(), 1, "{bad:?}");
            assert_eq!(
                errors[0].key.as_deref(),
                Some("alerting.channels[0].template")
            );
        }
        // Nothing allowed: no path may be set; an unchanged one stays.
        let set = with_template(&allowed.join("ok.j2"));
        assert_eq!(check_api_paths(&current, &set, &[]).len(), 1);
        assert!(check_api_paths(&set, &set, &[]).is_empty());
        // The list itself is the operator's.
        let mut kept = Config::default();
        kept.api.allowed_path_dirs = roots.to_vec();
        assert!(
            check_api_paths(&current, &kept, &roots).is_empty(),
            "as in force"
        );
        let mut widened = Config::default();
        widened.api.allowed_path_dirs = vec!["/".into()];
        let errors = check_api_paths(&current, &widened, &roots);
        assert_eq!(errors[0].key.as_deref(), Some("api.allowed_path_dirs"));
    }
}
