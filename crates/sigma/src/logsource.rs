//! Where a rule's `logsource` is found: Windows channels and event ids, with the field
//! renames a source needs (Security 4688 names the image `NewProcessName`).

use crate::LogSource;

/// One concrete place a rule applies to.
#[derive(Debug, Clone, PartialEq)]
pub(crate) enum Route {
    /// Windows events from `channels` (any when empty) with one of `event_ids` (any when
    /// empty), with Sigma field names renamed.
    Windows {
        channels: &'static [&'static str],
        event_ids: &'static [u32],
        field_map: &'static [(&'static str, &'static str)],
    },
    /// Events of the recognised non-Windows sources listed ([`crate::sources`]), and events
    /// whose source is not known.
    Sources(&'static [&'static str]),
    /// Events from other sources (web servers, cloud audit logs, JSON logs): nothing to
    /// route by, so every event that is neither Windows nor from a recognised source.
    Other,
}

/// The non-Windows sources Watchpost's readers and agent recognise, by which rules for
/// `product: linux` are routed.
pub mod sources {
    /// One record of a Linux audit event (`type=SYSCALL`, `type=EXECVE`, ...).
    pub const AUDITD: &str = "linux/auditd";
    /// A process start: an audit `execve` or the agent's process events.
    pub const LINUX_PROCESS_CREATION: &str = "linux/process_creation";
    pub const LINUX_NETWORK_CONNECTION: &str = "linux/network_connection";
    pub const LINUX_FILE_EVENT: &str = "linux/file_event";
    /// A syslog line (`/var/log/syslog`, `auth.log`, `secure`, journald exports).
    pub const SYSLOG: &str = "linux/syslog";
}

/// Routes for `product: linux` rules.
fn linux_route(ls: &LogSource) -> Route {
    use sources::*;
    match (ls.service.as_deref(), ls.category.as_deref()) {
        (Some("auditd"), _) => Route::Sources(&[AUDITD]),
        // sshd, sudo, cron, auth, syslog, vsftpd, clamav...: all written through syslog.
        (Some(_), _) => Route::Sources(&[SYSLOG]),
        (None, Some("process_creation")) => Route::Sources(&[LINUX_PROCESS_CREATION]),
        (None, Some("network_connection")) => Route::Sources(&[LINUX_NETWORK_CONNECTION]),
        (None, Some("file_event" | "file_change" | "file_delete" | "file_rename")) => {
            Route::Sources(&[LINUX_FILE_EVENT])
        }
        (None, Some(_)) => Route::Other,
        // Keyword rules for the whole product: anything a Linux host logs.
        (None, None) => Route::Sources(&[SYSLOG, AUDITD]),
    }
}

const SYSMON: &[&str] = &["Microsoft-Windows-Sysmon/Operational"];
const SECURITY: &[&str] = &["Security"];
const POWERSHELL: &[&str] = &[
    "Microsoft-Windows-PowerShell/Operational",
    "PowerShellCore/Operational",
];
const POWERSHELL_CLASSIC: &[&str] = &["Windows PowerShell"];
const KERNEL_FILE: &[&str] = &["Microsoft-Windows-Kernel-File/Analytic"];
const DEFENDER: &[&str] = &["Microsoft-Windows-Windows Defender/Operational"];

/// `(category, channels, event ids, field renames)` for Windows categories.
///
/// `registry_add` and `registry_delete` are routed by event id alone, as pySigma's Sysmon
/// pipeline and other Sigma engines do; rules that care about the kind of change test
/// `EventType` in their own detection (docs/sigma-coverage.md).
#[allow(clippy::type_complexity)]
const CATEGORIES: &[(&str, &[&str], &[u32], &[(&str, &str)])] = &[
    ("process_creation", SYSMON, &[1], &[]),
    (
        "process_creation",
        SECURITY,
        &[4688],
        &[
            ("Image", "NewProcessName"),
            ("ParentImage", "ParentProcessName"),
        ],
    ),
    ("file_change", SYSMON, &[2], &[]),
    ("network_connection", SYSMON, &[3], &[]),
    ("sysmon_status", SYSMON, &[4, 16], &[]),
    ("process_termination", SYSMON, &[5], &[]),
    ("driver_load", SYSMON, &[6], &[]),
    ("image_load", SYSMON, &[7], &[]),
    ("create_remote_thread", SYSMON, &[8], &[]),
    ("raw_access_thread", SYSMON, &[9], &[]),
    ("raw_access_read", SYSMON, &[9], &[]),
    ("process_access", SYSMON, &[10], &[]),
    ("file_event", SYSMON, &[11], &[]),
    ("registry_event", SYSMON, &[12, 13, 14], &[]),
    ("registry_add", SYSMON, &[12], &[]),
    ("registry_delete", SYSMON, &[12], &[]),
    ("registry_set", SYSMON, &[13], &[]),
    ("registry_rename", SYSMON, &[14], &[]),
    ("create_stream_hash", SYSMON, &[15], &[]),
    ("pipe_created", SYSMON, &[17, 18], &[]),
    ("wmi_event", SYSMON, &[19, 20, 21], &[]),
    ("dns_query", SYSMON, &[22], &[]),
    ("file_delete", SYSMON, &[23], &[]),
    ("clipboard_change", SYSMON, &[24], &[]),
    ("process_tampering", SYSMON, &[25], &[]),
    ("file_delete_detected", SYSMON, &[26], &[]),
    ("file_block_executable", SYSMON, &[27], &[]),
    ("file_block_shredding", SYSMON, &[28], &[]),
    ("file_executable_detected", SYSMON, &[29], &[]),
    ("sysmon_error", SYSMON, &[255], &[]),
    // File access and renames come from the Kernel-File ETW provider, not Sysmon.
    ("file_access", KERNEL_FILE, &[], &[]),
    ("file_rename", KERNEL_FILE, &[], &[]),
    ("ps_module", POWERSHELL, &[4103], &[]),
    ("ps_script", POWERSHELL, &[4104], &[]),
    ("ps_classic_start", POWERSHELL_CLASSIC, &[400], &[]),
    ("ps_classic_provider_start", POWERSHELL_CLASSIC, &[600], &[]),
    ("ps_classic_script", POWERSHELL_CLASSIC, &[800], &[]),
    (
        "antivirus",
        DEFENDER,
        &[
            1006, 1007, 1008, 1009, 1010, 1011, 1012, 1017, 1018, 1019, 1115, 1116,
        ],
        &[("Signature", "ThreatName"), ("Filename", "Path")],
    ),
];

/// Windows `service` names and their channels.
const SERVICES: &[(&str, &[&str])] = &[
    ("security", SECURITY),
    ("system", &["System"]),
    ("application", &["Application"]),
    ("sysmon", SYSMON),
    ("powershell", POWERSHELL),
    ("powershell-classic", POWERSHELL_CLASSIC),
    ("ntlm", &["Microsoft-Windows-NTLM/Operational"]),
    (
        "taskscheduler",
        &["Microsoft-Windows-TaskScheduler/Operational"],
    ),
    ("wmi", &["Microsoft-Windows-WMI-Activity/Operational"]),
    ("dhcp", &["Microsoft-Windows-DHCP-Server/Operational"]),
    (
        "printservice-admin",
        &["Microsoft-Windows-PrintService/Admin"],
    ),
    (
        "printservice-operational",
        &["Microsoft-Windows-PrintService/Operational"],
    ),
    (
        "smbclient-security",
        &["Microsoft-Windows-SmbClient/Security"],
    ),
    (
        "smbclient-connectivity",
        &["Microsoft-Windows-SmbClient/Connectivity"],
    ),
    (
        "smbserver-connectivity",
        &["Microsoft-Windows-SMBServer/Connectivity"],
    ),
    (
        "terminalservices-localsessionmanager",
        &["Microsoft-Windows-TerminalServices-LocalSessionManager/Operational"],
    ),
    (
        "codeintegrity-operational",
        &["Microsoft-Windows-CodeIntegrity/Operational"],
    ),
    (
        "applocker",
        &[
            "Microsoft-Windows-AppLocker/MSI and Script",
            "Microsoft-Windows-AppLocker/EXE and DLL",
            "Microsoft-Windows-AppLocker/Packaged app-Deployment",
            "Microsoft-Windows-AppLocker/Packaged app-Execution",
        ],
    ),
    ("msexchange-management", &["MSExchange Management"]),
    ("windefend", DEFENDER),
    (
        "firewall-as",
        &["Microsoft-Windows-Windows Firewall With Advanced Security/Firewall"],
    ),
    (
        "bits-client",
        &["Microsoft-Windows-Bits-Client/Operational"],
    ),
    (
        "security-mitigations",
        &[
            "Microsoft-Windows-Security-Mitigations/Kernel Mode",
            "Microsoft-Windows-Security-Mitigations/User Mode",
        ],
    ),
    (
        "diagnosis-scripted",
        &["Microsoft-Windows-Diagnosis-Scripted/Operational"],
    ),
    ("shell-core", &["Microsoft-Windows-Shell-Core/Operational"]),
    ("openssh", &["OpenSSH/Operational"]),
    ("ldap", &["Microsoft-Windows-LDAP-Client/Debug"]),
    (
        "bitlocker",
        &["Microsoft-Windows-BitLocker/BitLocker Management"],
    ),
    ("vhdmp", &["Microsoft-Windows-VHDMP/Operational"]),
    (
        "appxdeployment-server",
        &["Microsoft-Windows-AppXDeploymentServer/Operational"],
    ),
    ("lsa-server", &["Microsoft-Windows-LSA/Operational"]),
    (
        "appxpackaging-om",
        &["Microsoft-Windows-AppxPackaging/Operational"],
    ),
    (
        "dns-client",
        &["Microsoft-Windows-DNS Client Events/Operational"],
    ),
    (
        "appmodel-runtime",
        &["Microsoft-Windows-AppModel-Runtime/Admin"],
    ),
    ("capi2", &["Microsoft-Windows-CAPI2/Operational"]),
    (
        "certificateservicesclient-lifecycle-system",
        &["Microsoft-Windows-CertificateServicesClient-Lifecycle-System/Operational"],
    ),
    (
        "kernel-shimengine",
        &[
            "Microsoft-Windows-Kernel-ShimEngine/Operational",
            "Microsoft-Windows-Kernel-ShimEngine/Diagnostic",
        ],
    ),
    (
        "application-experience",
        &[
            "Microsoft-Windows-Application-Experience/Program-Telemetry",
            "Microsoft-Windows-Application-Experience/Program-Compatibility-Assistant",
        ],
    ),
    ("ntfs", &["Microsoft-Windows-Ntfs/Operational"]),
    ("hyper-v-worker", &["Microsoft-Windows-Hyper-V-Worker"]),
    (
        "kernel-event-tracing",
        &["Microsoft-Windows-Kernel-EventTracing"],
    ),
    ("sense", &["Microsoft-Windows-SENSE/Operational"]),
    (
        "servicebus-client",
        &[
            "Microsoft-ServiceBus-Client/Admin",
            "Microsoft-ServiceBus-Client/Operational",
        ],
    ),
    (
        "microsoft-servicebus-client",
        &["Microsoft-ServiceBus-Client"],
    ),
    ("dns-server", &["DNS Server"]),
    (
        "dns-server-analytic",
        &["Microsoft-Windows-DNS-Server/Analytical"],
    ),
    (
        "driver-framework",
        &["Microsoft-Windows-DriverFrameworks-UserMode/Operational"],
    ),
    (
        "iis-configuration",
        &["Microsoft-IIS-Configuration/Operational"],
    ),
];

/// The routes of a rule's log source; an error names what has no mapping.
pub(crate) fn routes(ls: &LogSource) -> Result<Vec<Route>, String> {
    let windows = ls.product.as_deref() == Some("windows")
        || (ls.product.is_none() && ls.category.as_deref() == Some("antivirus"));
    if !windows {
        if ls.product.as_deref() == Some("linux") {
            return Ok(vec![linux_route(ls)]);
        }
        return Ok(vec![Route::Other]);
    }
    if let Some(service) = ls.service.as_deref() {
        let channels = SERVICES
            .iter()
            .find(|(name, _)| *name == service)
            .map(|(_, c)| *c)
            .ok_or_else(|| format!("no channel is known for windows service `{service}`"))?;
        return Ok(vec![Route::Windows {
            channels,
            event_ids: &[],
            field_map: &[],
        }]);
    }
    if let Some(category) = ls.category.as_deref() {
        let routes: Vec<Route> = CATEGORIES
            .iter()
            .filter(|(name, ..)| *name == category)
            .map(|(_, channels, event_ids, field_map)| Route::Windows {
                channels,
                event_ids,
                field_map,
            })
            .collect();
        if routes.is_empty() {
            return Err(format!(
                "no event source is known for windows category `{category}`"
            ));
        }
        return Ok(routes);
    }
    Ok(vec![Route::Windows {
        channels: &[],
        event_ids: &[],
        field_map: &[],
    }])
}
