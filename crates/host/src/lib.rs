//! Watchpost host collectors: what happens on a Linux machine, as [`watchpost_core::Event`]s
//! and detections. Process execs are described below; [`fim`] watches files, [`network`]
//! sockets, [`metrics`] samples the system, [`thresholds`] and [`baseline`] turn samples
//! and execs into detections.
//!
//! Process execs come from an [`ExecSource`]: an eBPF tracepoint program (complete records
//! from the kernel, argv, environment and standard streams included), the netlink proc connector (real time, needs root)
//! or polling `/proc` (the fallback when nothing else is permitted). Either way each
//! exec is completed from `/proc` at once ([`procfs::read_process`]), placed in a bounded
//! [`ProcessTree`] so that ancestry survives the parent's exit, and turned into an ECS
//! event by [`exec_event`]. A process that was gone before `/proc` could be read is still
//! reported, marked partial.
//!
//! ```no_run
//! use watchpost_host::{ExecCapture, SourceChoice};
//! let mut capture = ExecCapture::start(SourceChoice::Auto).unwrap();
//! println!("capturing execs with {}", capture.source_name());
//! loop {
//!     for event in capture.next_events(std::time::Duration::from_secs(1)) {
//!         println!("{:?}", event.process.and_then(|p| p.command_line));
//!     }
//! }
//! ```

pub mod audit;
pub mod baseline;
pub mod capabilities;
pub mod capture;
pub mod connector;
pub mod downloads;
pub mod ebpf;
pub mod fim;
pub mod hashing;
pub mod known_programs;
pub mod metrics;
pub mod network;
pub mod packages;
pub mod pipes;
pub mod poll;
pub mod procfs;
pub mod respond;
pub mod state;
pub mod stdio;
pub mod thresholds;
pub mod tree;
pub mod users;

pub use capture::{ExecCapture, SourceChoice, exec_event};
pub use procfs::ProcessInfo;
pub use tree::ProcessTree;
pub use watchpost_core::hostname;

/// Why a collector could not start.
#[derive(Debug, thiserror::Error)]
pub enum HostError {
    #[error("the proc connector is not available: {0} (it needs root or CAP_NET_ADMIN)")]
    Connector(std::io::Error),
    #[error("the eBPF exec source is not available: {0}")]
    Ebpf(String),
    #[error("the auditd exec source is not available: {0}")]
    Audit(String),
    #[error("reading {path}: {source}")]
    Proc {
        path: String,
        source: std::io::Error,
    },
}

/// One exec as a source saw it, before it is completed from `/proc`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ExecNotice {
    pub pid: i32,
    /// The parent, when the source knows it (the connector learns it from fork events).
    pub ppid: Option<i32>,
    /// What the kernel itself reported at the exec (the eBPF source: argv, executable,
    /// user, `comm`), which stays true when `/proc` is gone by the time it is read.
    pub record: Option<Box<ProcessInfo>>,
    /// When the exec happened, where the source knows it better than the process's start
    /// time (which is its fork, in clock ticks): the kernel's own time of the exec (eBPF,
    /// audit), or when the proc connector announced it.
    pub at: Option<chrono::DateTime<chrono::Utc>>,
}

/// Something that reports execs.
pub trait ExecSource: Send {
    /// The source's name as the agent reports it (`proc-connector`, `proc-poll`).
    fn name(&self) -> &'static str;
    /// Waits up to `timeout` and returns the execs seen (possibly none).
    fn poll(&mut self, timeout: std::time::Duration) -> Vec<ExecNotice>;
    /// Processes seen to exit since the last call, so the tree can let them go.
    fn exited(&mut self) -> Vec<i32> {
        Vec::new()
    }
    /// Execs the source knows it missed (a full socket buffer, for example).
    fn lost(&self) -> u64 {
        0
    }
}
