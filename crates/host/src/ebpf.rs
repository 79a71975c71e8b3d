//! The eBPF exec source: a `sched_process_exec` tracepoint program (`bpf/exec.bpf.c`)
//! that copies each new program's argv, environment, standard streams, executable path,
//! user and parent out of the kernel at the moment of the exec. Unlike the proc connector, which announces only a
//! pid, its records stay complete when the process is gone before `/proc` can be read.
//!
//! Needs root (CAP_BPF and CAP_PERFMON) and a kernel with BTF (`/sys/kernel/btf/vmlinux`)
//! and BPF ring buffers (5.8 or later).

use crate::procfs::{ProcessInfo, kept_environment, split_cmdline};
use crate::stdio::from_inode;
use crate::{ExecNotice, ExecSource, HostError};
use aya::maps::{Array, MapData, RingBuf};
use aya::programs::TracePoint;
use chrono::{DateTime, Utc};
use std::os::fd::AsRawFd;
use std::time::Duration;

/// The compiled program, committed beside its source (`crates/host/bpf/build.sh`
/// rebuilds it; CI checks that it matches).
static PROGRAM: &[u8] = aya::include_bytes_aligned!("../bpf/exec.bpf.o");

/// Sizes of `struct exec_record`, in step with `bpf/exec.bpf.c`.
const COMM_LEN: usize = 16;
const FILENAME_LEN: usize = 256;
const ARGS_MAX: usize = 4096;
const ENV_MAX: usize = 4096;
/// Offsets of the header's fields.
const ENV_LEN_AT: usize = 32;
const EXE_NLINK_AT: usize = 36;
const FD_INO_AT: usize = 40;
const FD_RDEV_AT: usize = 64;
const FD_MODE_AT: usize = 76;
/// Where the strings start.
const HEADER_LEN: usize = 88;
const RECORD_LEN: usize = HEADER_LEN + COMM_LEN + FILENAME_LEN + ARGS_MAX + ENV_MAX;
/// Records taken from the ring per poll, so one poll cannot run unbounded.
const MAX_RECORDS_PER_POLL: usize = 8192;

/// A loaded and attached exec tracepoint.
pub struct EbpfExecSource {
    /// Keeps the program loaded and attached; dropped, the kernel detaches it.
    _ebpf: aya::Ebpf,
    ring: RingBuf<MapData>,
    lost: Array<MapData, u64>,
    /// Wall-clock time of boot, to date records stamped in time since boot.
    boot: DateTime<Utc>,
}

impl EbpfExecSource {
    /// Loads the program, attaches it to `sched/sched_process_exec` and opens its ring.
    pub fn open() -> Result<EbpfExecSource, HostError> {
        let fail = |what: &str, e: &dyn std::fmt::Display| {
            HostError::Ebpf(format!("{what}: {e} (it needs root and a kernel with BTF)"))
        };
        ensure_tracefs();
        let mut ebpf = aya::Ebpf::load(PROGRAM).map_err(|e| fail("loading the program", &e))?;
        let program: &mut TracePoint = ebpf
            .program_mut("sched_process_exec")
            .ok_or_else(|| HostError::Ebpf("the program has no sched_process_exec".into()))?
            .try_into()
            .map_err(|e| fail("the program's type", &e))?;
        program
            .load()
            .map_err(|e| fail("verifying the program", &e))?;
        program
            .attach("sched", "sched_process_exec")
            .map_err(|e| fail("attaching to sched_process_exec", &e))?;
        let ring = RingBuf::try_from(
            ebpf.take_map("EXECS")
                .ok_or_else(|| HostError::Ebpf("the program has no EXECS ring".into()))?,
        )
        .map_err(|e| fail("opening the ring buffer", &e))?;
        let lost = Array::try_from(
            ebpf.take_map("LOST")
                .ok_or_else(|| HostError::Ebpf("the program has no LOST counter".into()))?,
        )
        .map_err(|e| fail("opening the lost counter", &e))?;
        Ok(EbpfExecSource {
            _ebpf: ebpf,
            ring,
            lost,
            boot: boot_time(),
        })
    }

    /// Waits until the ring has records or `timeout` passes.
    fn wait(&self, timeout: Duration) {
        let mut fd = libc::pollfd {
            fd: self.ring.as_raw_fd(),
            events: libc::POLLIN,
            revents: 0,
        };
        let millis = libc::c_int::try_from(timeout.as_millis()).unwrap_or(libc::c_int::MAX);
        // SAFETY: one valid pollfd for the duration of the call.
        unsafe { libc::poll(&mut fd, 1, millis) };
    }
}

impl ExecSource for EbpfExecSource {
    fn name(&self) -> &'static str {
        "ebpf"
    }

    fn poll(&mut self, timeout: Duration) -> Vec<ExecNotice> {
        self.wait(timeout);
        let mut notices = Vec::new();
        while notices.len() < MAX_RECORDS_PER_POLL {
            let Some(item) = self.ring.next() else {
                break;
            };
            if let Some(info) = parse_record(&item, self.boot) {
                notices.push(ExecNotice {
                    pid: info.pid,
                    ppid: info.ppid,
                    at: info.start,
                    record: Some(Box::new(info)),
                });
            }
        }
        notices
    }

    fn lost(&self) -> u64 {
        self.lost.get(&0, 0).unwrap_or(0)
    }
}

/// Where tracefs lives on current kernels.
const TRACEFS: &str = "/sys/kernel/tracing";

/// Attaching to a tracepoint looks its id up in tracefs, which a minimal system (a
/// container host, a VM image) may not have mounted. Mounts it at its usual place when
/// neither it nor the debugfs copy is there; a failure is left for the attach to report.
fn ensure_tracefs() {
    let mounted = |dir: &str| std::path::Path::new(dir).join("events").is_dir();
    if mounted(TRACEFS) || mounted("/sys/kernel/debug/tracing") {
        return;
    }
    let cstr = |s: &str| std::ffi::CString::new(s).expect("no NUL");
    let (source, target, kind) = (cstr("nodev"), cstr(TRACEFS), cstr("tracefs"));
    // SAFETY: valid NUL-terminated strings; no mount data.
    let result = unsafe {
        libc::mount(
            source.as_ptr(),
            target.as_ptr(),
            kind.as_ptr(),
            0,
            std::ptr::null(),
        )
    };
    if result == 0 {
        tracing::info!("mounted tracefs at {TRACEFS} to attach the exec tracepoint");
    } else {
        tracing::warn!(
            "tracefs is not mounted and mounting it at {TRACEFS} failed: {}",
            std::io::Error::last_os_error()
        );
    }
}

/// One `struct exec_record` as the process it describes. `None` when the bytes are not a
/// whole record.
fn parse_record(bytes: &[u8], boot: DateTime<Utc>) -> Option<ProcessInfo> {
    if bytes.len() < RECORD_LEN {
        return None;
    }
    let u32_at = |at: usize| u32::from_ne_bytes(bytes[at..at + 4].try_into().expect("4 bytes"));
    let pid = i32::try_from(u32_at(0)).ok()?;
    let ppid = i32::try_from(u32_at(4)).ok().filter(|p| *p > 0);
    let uid = u32_at(8);
    let boot_ns = u64::from_ne_bytes(bytes[16..24].try_into().expect("8 bytes"));
    let args_len = (u32_at(24) as usize).min(ARGS_MAX);
    let args_truncated = u32_at(28) != 0;
    let text = |range: std::ops::Range<usize>| {
        let field = &bytes[range];
        let end = field.iter().position(|b| *b == 0).unwrap_or(field.len());
        (end > 0).then(|| String::from_utf8_lossy(&field[..end]).into_owned())
    };
    let comm = text(HEADER_LEN..HEADER_LEN + COMM_LEN);
    let filename = text(HEADER_LEN + COMM_LEN..HEADER_LEN + COMM_LEN + FILENAME_LEN);
    let has_file = filename.is_some();
    let args_at = HEADER_LEN + COMM_LEN + FILENAME_LEN;
    let argv = split_cmdline(&bytes[args_at..args_at + args_len]);
    let env_at = args_at + ARGS_MAX;
    let env_len = (u32_at(ENV_LEN_AT) as usize).min(ENV_MAX);
    let env = kept_environment(&bytes[env_at..env_at + env_len]);
    let stdio = std::array::from_fn(|fd| {
        let inode = u64::from_ne_bytes(
            bytes[FD_INO_AT + 8 * fd..FD_INO_AT + 8 * fd + 8]
                .try_into()
                .expect("8 bytes"),
        );
        let mode = u16::from_ne_bytes(
            bytes[FD_MODE_AT + 2 * fd..FD_MODE_AT + 2 * fd + 2]
                .try_into()
                .expect("2 bytes"),
        );
        from_inode(mode, inode, u32_at(FD_RDEV_AT + 4 * fd))
    });
    let start = boot + chrono::Duration::nanoseconds(i64::try_from(boot_ns).unwrap_or(i64::MAX));
    Some(ProcessInfo {
        pid,
        ppid,
        executable: filename,
        partial: argv.is_empty(),
        argv,
        argv_truncated: args_truncated,
        cwd: None,
        comm,
        uid: Some(uid),
        euid: None,
        cap_effective: 0,
        start: Some(start),
        stdio,
        env,
        // Only a file with no name left has no link; the program's own file always has
        // one at least while it is being executed from a path.
        exe_deleted: u32_at(EXE_NLINK_AT) == 0 && has_file,
    })
}

/// When the machine booted: now, less the boot clock (`CLOCK_BOOTTIME`, the clock
/// `bpf_ktime_get_boot_ns` reads in the program).
fn boot_time() -> DateTime<Utc> {
    let mut since_boot = libc::timespec {
        tv_sec: 0,
        tv_nsec: 0,
    };
    // SAFETY: a valid timespec to fill.
    let clock = unsafe { libc::clock_gettime(libc::CLOCK_BOOTTIME, &mut since_boot) };
    let now = Utc::now();
    if clock != 0 {
        return now;
    }
    now - chrono::Duration::seconds(since_boot.tv_sec)
        - chrono::Duration::nanoseconds(since_boot.tv_nsec)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stdio::StreamKind;

    fn record(pid: u32, ppid: u32, filename: &str, args: &[u8], truncated: bool) -> Vec<u8> {
        let mut b = vec![0u8; RECORD_LEN];
        b[0..4].copy_from_slice(&pid.to_ne_bytes());
        b[4..8].copy_from_slice(&ppid.to_ne_bytes());
        b[8..12].copy_from_slice(&1000u32.to_ne_bytes());
        b[16..24].copy_from_slice(&2_000_000_000u64.to_ne_bytes());
        b[24..28].copy_from_slice(&(args.len() as u32).to_ne_bytes());
        b[28..32].copy_from_slice(&u32::from(truncated).to_ne_bytes());
        b[HEADER_LEN..HEADER_LEN + 4].copy_from_slice(b"true");
        let f = HEADER_LEN + COMM_LEN;
        b[f..f + filename.len()].copy_from_slice(filename.as_bytes());
        let a = f + FILENAME_LEN;
        b[a..a + args.len()].copy_from_slice(args);
        b[EXE_NLINK_AT..EXE_NLINK_AT + 4].copy_from_slice(&1u32.to_ne_bytes());
        b
    }

    #[test]
    fn a_record_carries_the_streams_and_the_environment_at_the_exec() {
        let mut bytes = record(5, 4, "/usr/bin/sh", b"sh\0", false);
        // stdin a pipe, stdout a socket, stderr /dev/pts/2.
        let streams: [(u64, u16, u32); 3] = [
            (700, 0o010600, 0),
            (800, 0o140777, 0),
            (3, 0o020620, 136 << 20 | 2),
        ];
        for (fd, (inode, mode, rdev)) in streams.into_iter().enumerate() {
            bytes[FD_INO_AT + 8 * fd..FD_INO_AT + 8 * fd + 8].copy_from_slice(&inode.to_ne_bytes());
            bytes[FD_MODE_AT + 2 * fd..FD_MODE_AT + 2 * fd + 2]
                .copy_from_slice(&mode.to_ne_bytes());
            bytes[FD_RDEV_AT + 4 * fd..FD_RDEV_AT + 4 * fd + 4]
                .copy_from_slice(&rdev.to_ne_bytes());
        }
        let env = b"HOME=/root\0LD_PRELOAD=/dev/shm/x.so\0";
        let at = HEADER_LEN + COMM_LEN + FILENAME_LEN + ARGS_MAX;
        bytes[at..at + env.len()].copy_from_slice(env);
        bytes[ENV_LEN_AT..ENV_LEN_AT + 4].copy_from_slice(&(env.len() as u32).to_ne_bytes());
        bytes[EXE_NLINK_AT..EXE_NLINK_AT + 4].copy_from_slice(&0u32.to_ne_bytes());
        let info = parse_record(&bytes, Utc::now()).unwrap();
        let kinds: Vec<StreamKind> = info
            .stdio
            .iter()
            .map(|s| s.as_ref().unwrap().kind)
            .collect();
        assert_eq!(
            kinds,
            [StreamKind::Pipe, StreamKind::Socket, StreamKind::Tty]
        );
        assert_eq!(info.stdio[0].as_ref().unwrap().inode, 700);
        assert_eq!(
            info.stdio[2].as_ref().unwrap().path.as_deref(),
            Some("/dev/pts/2")
        );
        assert_eq!(
            info.env,
            [("LD_PRELOAD".to_string(), "/dev/shm/x.so".to_string())]
        );
        assert!(info.exe_deleted);
    }

    #[test]
    fn a_record_is_the_process_it_describes() {
        let boot = DateTime::parse_from_rfc3339("2026-11-23T10:00:00Z")
            .unwrap()
            .with_timezone(&Utc);
        let bytes = record(4242, 7, "/bin/true", b"/bin/true\0--flag\0x y\0", false);
        let info = parse_record(&bytes, boot).unwrap();
        assert_eq!(info.pid, 4242);
        assert_eq!(info.ppid, Some(7));
        assert_eq!(info.executable.as_deref(), Some("/bin/true"));
        assert_eq!(info.argv, ["/bin/true", "--flag", "x y"]);
        assert_eq!(info.comm.as_deref(), Some("true"));
        assert_eq!(info.uid, Some(1000));
        assert_eq!(
            info.start.unwrap().to_rfc3339(),
            "2026-11-23T10:00:02+00:00"
        );
        assert!(!info.partial && !info.argv_truncated);
    }

    #[test]
    fn a_short_or_cut_record_says_so() {
        let boot = Utc::now();
        assert!(parse_record(&[0u8; 100], boot).is_none());
        let cut = parse_record(&record(1, 0, "", b"", true), boot).unwrap();
        assert!(cut.partial && cut.argv_truncated);
        assert_eq!(cut.ppid, None);
        assert_eq!(cut.executable, None);
    }
}
