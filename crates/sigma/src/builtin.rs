//! The rules Watchpost ships, compiled into the binary so that a server detects with no
//! rule files on disk. Their sources live in `rules/builtin/`; a test checks that this list
//! and that folder agree.

/// `(path under rules/builtin, YAML text)` of every built-in rule.
pub const BUILTIN_RULES: &[(&str, &str)] = &[
    (
        "windows/proc_creation_win_bitsadmin_transfer_notify.yml",
        include_str!(
            "../../../rules/builtin/windows/proc_creation_win_bitsadmin_transfer_notify.yml"
        ),
    ),
    (
        "windows/proc_creation_win_certutil_download_decode.yml",
        include_str!(
            "../../../rules/builtin/windows/proc_creation_win_certutil_download_decode.yml"
        ),
    ),
    (
        "windows/proc_creation_win_installutil_execution.yml",
        include_str!("../../../rules/builtin/windows/proc_creation_win_installutil_execution.yml"),
    ),
    (
        "windows/proc_creation_win_msbuild_inline_task.yml",
        include_str!("../../../rules/builtin/windows/proc_creation_win_msbuild_inline_task.yml"),
    ),
    (
        "windows/proc_creation_win_mshta_script_or_remote.yml",
        include_str!("../../../rules/builtin/windows/proc_creation_win_mshta_script_or_remote.yml"),
    ),
    (
        "windows/proc_creation_win_powershell_download_cradle.yml",
        include_str!(
            "../../../rules/builtin/windows/proc_creation_win_powershell_download_cradle.yml"
        ),
    ),
    (
        "windows/proc_creation_win_powershell_encoded_command.yml",
        include_str!(
            "../../../rules/builtin/windows/proc_creation_win_powershell_encoded_command.yml"
        ),
    ),
    (
        "windows/proc_creation_win_powershell_hidden_window.yml",
        include_str!(
            "../../../rules/builtin/windows/proc_creation_win_powershell_hidden_window.yml"
        ),
    ),
    (
        "windows/proc_creation_win_regsvr32_scriptlet.yml",
        include_str!("../../../rules/builtin/windows/proc_creation_win_regsvr32_scriptlet.yml"),
    ),
    (
        "windows/proc_creation_win_rundll32_javascript.yml",
        include_str!("../../../rules/builtin/windows/proc_creation_win_rundll32_javascript.yml"),
    ),
    (
        "windows/proc_creation_win_wmic_remote_process_create.yml",
        include_str!(
            "../../../rules/builtin/windows/proc_creation_win_wmic_remote_process_create.yml"
        ),
    ),
];

impl crate::RuleSet {
    /// Adds every built-in rule (their paths start with `builtin:`).
    pub fn add_builtin(&mut self) {
        for (path, text) in BUILTIN_RULES {
            let _ = self.add_yaml(text, &format!("builtin:{path}"));
        }
    }
}
