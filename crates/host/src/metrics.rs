//! System metrics from `/proc` and `statvfs`: CPU (total and per core), memory and swap,
//! disk usage and I/O per mount, network traffic and errors per interface, load, process
//! count. Rates (CPU, disk and network) are computed between two samples.

use serde::Serialize;
use std::collections::HashMap;
use std::time::Instant;

/// Mounts sampled, at most (containers can have thousands).
const MAX_MOUNTS: usize = 64;
/// Interfaces sampled, at most.
const MAX_INTERFACES: usize = 64;
/// Filesystem types that hold no data of their own.
const PSEUDO_FILESYSTEMS: &[&str] = &[
    "proc",
    "sysfs",
    "devtmpfs",
    "devpts",
    "tmpfs",
    "cgroup",
    "cgroup2",
    "securityfs",
    "pstore",
    "debugfs",
    "tracefs",
    "configfs",
    "fusectl",
    "mqueue",
    "hugetlbfs",
    "bpf",
    "autofs",
    "binfmt_misc",
    "rpc_pipefs",
    "nsfs",
    "overlay",
    "squashfs",
    "ramfs",
];

/// One sample of the host.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Snapshot {
    /// Busy share of all CPUs since the previous sample, in percent.
    pub cpu_percent: f64,
    pub cpu_per_core: Vec<f64>,
    pub memory_total_bytes: u64,
    pub memory_used_bytes: u64,
    pub memory_percent: f64,
    pub swap_total_bytes: u64,
    pub swap_used_bytes: u64,
    pub swap_percent: f64,
    pub load: [f64; 3],
    pub processes: u64,
    pub disks: Vec<DiskUsage>,
    pub interfaces: Vec<Interface>,
}

/// One mounted filesystem.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct DiskUsage {
    pub mount: String,
    pub device: String,
    pub filesystem: String,
    pub total_bytes: u64,
    pub used_bytes: u64,
    pub used_percent: f64,
    pub read_bytes_per_second: f64,
    pub written_bytes_per_second: f64,
}

/// One network interface: counters since boot and rates since the previous sample.
#[derive(Debug, Clone, Default, PartialEq, Serialize)]
pub struct Interface {
    pub name: String,
    pub received_bytes: u64,
    pub sent_bytes: u64,
    pub received_packets: u64,
    pub sent_packets: u64,
    pub receive_errors: u64,
    pub send_errors: u64,
    pub received_bytes_per_second: f64,
    pub sent_bytes_per_second: f64,
}

/// Takes samples; keeps the previous counters for rates.
#[derive(Default)]
pub struct Sampler {
    cpu: Option<Vec<(u64, u64)>>,
    disk_io: HashMap<String, (u64, u64)>,
    network: HashMap<String, (u64, u64)>,
    at: Option<Instant>,
}

impl Sampler {
    /// Samples the host now. The first sample's rates cover the time since boot.
    pub fn sample(&mut self) -> Snapshot {
        let now = Instant::now();
        let seconds = self
            .at
            .map(|t| (now - t).as_secs_f64())
            .filter(|s| *s > 0.0);
        self.at = Some(now);
        let mut snap = Snapshot::default();
        if let Ok(stat) = std::fs::read_to_string("/proc/stat") {
            let times = cpu_times(&stat);
            if let Some((total, cores)) = times.split_first() {
                let previous = self.cpu.take();
                let busy = |i: usize, (busy, all): (u64, u64)| {
                    let (pb, pa) = previous
                        .as_ref()
                        .and_then(|p| p.get(i).copied())
                        .unwrap_or((0, 0));
                    percent(busy.saturating_sub(pb), all.saturating_sub(pa))
                };
                snap.cpu_percent = busy(0, *total);
                snap.cpu_per_core = cores
                    .iter()
                    .enumerate()
                    .map(|(i, c)| busy(i + 1, *c))
                    .collect();
                self.cpu = Some(times);
            }
        }
        snap.processes = crate::procfs::list_pids().len() as u64;
        if let Ok(meminfo) = std::fs::read_to_string("/proc/meminfo") {
            let kb = |key: &str| meminfo_kb(&meminfo, key) * 1024;
            snap.memory_total_bytes = kb("MemTotal");
            snap.memory_used_bytes = snap.memory_total_bytes.saturating_sub(kb("MemAvailable"));
            snap.memory_percent = percent(snap.memory_used_bytes, snap.memory_total_bytes);
            snap.swap_total_bytes = kb("SwapTotal");
            snap.swap_used_bytes = snap.swap_total_bytes.saturating_sub(kb("SwapFree"));
            snap.swap_percent = percent(snap.swap_used_bytes, snap.swap_total_bytes);
        }
        if let Ok(load) = std::fs::read_to_string("/proc/loadavg") {
            for (slot, value) in snap.load.iter_mut().zip(load.split_whitespace()) {
                *slot = value.parse().unwrap_or(0.0);
            }
        }
        let io = std::fs::read_to_string("/proc/diskstats")
            .map(|t| disk_io(&t))
            .unwrap_or_default();
        if let Ok(mounts) = std::fs::read_to_string("/proc/mounts") {
            for (device, mount, filesystem) in real_mounts(&mounts).into_iter().take(MAX_MOUNTS) {
                let Some((total, used)) = usage(&mount) else {
                    continue;
                };
                let mut disk = DiskUsage {
                    used_percent: percent(used, total),
                    mount,
                    device: device.clone(),
                    filesystem,
                    total_bytes: total,
                    used_bytes: used,
                    ..DiskUsage::default()
                };
                let name = device.rsplit('/').next().unwrap_or("").to_string();
                if let Some(&(read, written)) = io.get(&name) {
                    if let (Some(s), Some(&(pr, pw))) = (seconds, self.disk_io.get(&name)) {
                        disk.read_bytes_per_second = read.saturating_sub(pr) as f64 / s;
                        disk.written_bytes_per_second = written.saturating_sub(pw) as f64 / s;
                    }
                    self.disk_io.insert(name, (read, written));
                }
                snap.disks.push(disk);
            }
        }
        if let Ok(dev) = std::fs::read_to_string("/proc/net/dev") {
            for mut interface in interfaces(&dev).into_iter().take(MAX_INTERFACES) {
                if let (Some(s), Some(&(pr, ps))) = (seconds, self.network.get(&interface.name)) {
                    interface.received_bytes_per_second =
                        interface.received_bytes.saturating_sub(pr) as f64 / s;
                    interface.sent_bytes_per_second =
                        interface.sent_bytes.saturating_sub(ps) as f64 / s;
                }
                self.network.insert(
                    interface.name.clone(),
                    (interface.received_bytes, interface.sent_bytes),
                );
                snap.interfaces.push(interface);
            }
        }
        snap
    }
}

fn percent(part: u64, whole: u64) -> f64 {
    if whole == 0 {
        0.0
    } else {
        (100.0 * part as f64 / whole as f64).clamp(0.0, 100.0)
    }
}

/// `(busy, total)` jiffies for `cpu` then each `cpuN` line.
fn cpu_times(stat: &str) -> Vec<(u64, u64)> {
    stat.lines()
        .take_while(|l| l.starts_with("cpu"))
        .map(|line| {
            let values: Vec<u64> = line
                .split_whitespace()
                .skip(1)
                .filter_map(|v| v.parse().ok())
                .collect();
            // user nice system idle iowait irq softirq steal (guest is inside user).
            let total: u64 = values.iter().take(8).sum();
            let idle = values.get(3).copied().unwrap_or(0) + values.get(4).copied().unwrap_or(0);
            (total.saturating_sub(idle), total)
        })
        .collect()
}

fn meminfo_kb(meminfo: &str, key: &str) -> u64 {
    meminfo
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix(':'))
        .and_then(|v| v.split_whitespace().next()?.parse().ok())
        .unwrap_or(0)
}

/// `(device, mount point, filesystem)` of the mounts that hold data, each device once.
fn real_mounts(mounts: &str) -> Vec<(String, String, String)> {
    let mut seen = std::collections::HashSet::new();
    mounts
        .lines()
        .filter_map(|line| {
            let mut f = line.split_whitespace();
            let (device, mount, fs) = (f.next()?, f.next()?, f.next()?);
            (!PSEUDO_FILESYSTEMS.contains(&fs) && seen.insert(device.to_string())).then(|| {
                (
                    device.to_string(),
                    mount.replace("\\040", " "),
                    fs.to_string(),
                )
            })
        })
        .collect()
}

/// `(total, used)` bytes of the filesystem at `mount`.
fn usage(mount: &str) -> Option<(u64, u64)> {
    let path = std::ffi::CString::new(mount).ok()?;
    // SAFETY: statvfs is plain data; zeroed is a valid value to be overwritten.
    let mut stat: libc::statvfs = unsafe { std::mem::zeroed() };
    // SAFETY: a valid C string and a valid out pointer.
    if unsafe { libc::statvfs(path.as_ptr(), &mut stat) } != 0 {
        return None;
    }
    let block = stat.f_frsize as u64;
    let total = stat.f_blocks as u64 * block;
    let free = stat.f_bfree as u64 * block;
    Some((total, total.saturating_sub(free)))
}

/// Bytes read and written per block device, from `/proc/diskstats` (sectors of 512 bytes).
fn disk_io(diskstats: &str) -> HashMap<String, (u64, u64)> {
    diskstats
        .lines()
        .filter_map(|line| {
            let f: Vec<&str> = line.split_whitespace().collect();
            let read: u64 = f.get(5)?.parse().ok()?;
            let written: u64 = f.get(9)?.parse().ok()?;
            Some((f.get(2)?.to_string(), (read * 512, written * 512)))
        })
        .collect()
}

fn interfaces(dev: &str) -> Vec<Interface> {
    dev.lines()
        .skip(2)
        .filter_map(|line| {
            let (name, rest) = line.split_once(':')?;
            let v: Vec<u64> = rest
                .split_whitespace()
                .filter_map(|x| x.parse().ok())
                .collect();
            Some(Interface {
                name: name.trim().to_string(),
                received_bytes: *v.first()?,
                received_packets: *v.get(1)?,
                receive_errors: *v.get(2)?,
                sent_bytes: *v.get(8)?,
                sent_packets: *v.get(9)?,
                send_errors: *v.get(10)?,
                ..Interface::default()
            })
        })
        .collect()
}

/// The metric event of a sample (`event.kind` `metric`); the figures are under `raw`.
pub fn metric_event(snapshot: &Snapshot, host: Option<String>) -> watchpost_core::Event {
    let mut event = watchpost_core::Event::new(chrono::Utc::now(), "agent");
    event.event.kind = "metric".into();
    event.event.category = vec!["host".into()];
    event.event.action = Some("metrics".into());
    event.event.dataset = Some("host.metrics".into());
    event.host.name = host;
    event.raw = serde_json::json!({ "host_metrics": snapshot });
    event
}

/// Most series one metric event yields (disks and interfaces are per device).
const MAX_SERIES_PER_EVENT: usize = 256;

/// The series values in a metric event's `host_metrics` (the server's own and the agents'
/// alike): `cpu.percent`, `memory.percent`, `swap.percent`, `load.1|5|15`, `processes`,
/// `disk.used_percent:MOUNT`, `disk.read_bps:MOUNT`, `disk.write_bps:MOUNT`,
/// `net.rx_bps:IFACE`, `net.tx_bps:IFACE`. Missing or non-numeric fields are skipped.
pub fn series_values(raw: &serde_json::Value) -> Vec<(String, f64)> {
    let Some(m) = raw.get("host_metrics") else {
        return Vec::new();
    };
    let mut out = Vec::new();
    let mut put = |name: String, v: Option<&serde_json::Value>| {
        if let Some(x) = v.and_then(serde_json::Value::as_f64)
            && out.len() < MAX_SERIES_PER_EVENT
        {
            out.push((name, x));
        }
    };
    put("cpu.percent".into(), m.get("cpu_percent"));
    put("memory.percent".into(), m.get("memory_percent"));
    put("swap.percent".into(), m.get("swap_percent"));
    for (i, span) in ["1", "5", "15"].iter().enumerate() {
        put(format!("load.{span}"), m.get("load").and_then(|l| l.get(i)));
    }
    put("processes".into(), m.get("processes"));
    for d in m
        .get("disks")
        .and_then(|d| d.as_array())
        .into_iter()
        .flatten()
    {
        let mount = d.get("mount").and_then(|x| x.as_str()).unwrap_or("?");
        put(format!("disk.used_percent:{mount}"), d.get("used_percent"));
        put(
            format!("disk.read_bps:{mount}"),
            d.get("read_bytes_per_second"),
        );
        put(
            format!("disk.write_bps:{mount}"),
            d.get("written_bytes_per_second"),
        );
    }
    for i in m
        .get("interfaces")
        .and_then(|d| d.as_array())
        .into_iter()
        .flatten()
    {
        let name = i.get("name").and_then(|x| x.as_str()).unwrap_or("?");
        put(
            format!("net.rx_bps:{name}"),
            i.get("received_bytes_per_second"),
        );
        put(format!("net.tx_bps:{name}"), i.get("sent_bytes_per_second"));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_metric_event_yields_its_series() {
        let snapshot = Snapshot {
            cpu_percent: 42.5,
            memory_percent: 61.0,
            load: [1.5, 1.0, 0.5],
            processes: 321,
            disks: vec![DiskUsage {
                mount: "/var".into(),
                used_percent: 88.0,
                ..DiskUsage::default()
            }],
            interfaces: vec![Interface {
                name: "eth0".into(),
                received_bytes_per_second: 1000.0,
                ..Interface::default()
            }],
            ..Snapshot::default()
        };
        let event = metric_event(&snapshot, Some("web-1".into()));
        let values: std::collections::BTreeMap<String, f64> =
            series_values(&event.raw).into_iter().collect();
        assert_eq!(values["cpu.percent"], 42.5);
        assert_eq!(values["load.5"], 1.0);
        assert_eq!(values["processes"], 321.0);
        assert_eq!(values["disk.used_percent:/var"], 88.0);
        assert_eq!(values["net.rx_bps:eth0"], 1000.0);
        assert!(series_values(&serde_json::json!({"message": "x"})).is_empty());
    }

    #[test]
    fn samples_this_host() {
        let mut sampler = Sampler::default();
        sampler.sample();
        // Burn a little CPU so the second sample has something to measure.
        let mut x = 0u64;
        for i in 0..5_000_000u64 {
            x = x.wrapping_mul(31).wrapping_add(i);
        }
        std::hint::black_box(x);
        let snap = sampler.sample();
        assert!(
            snap.cpu_percent > 0.0 && snap.cpu_percent <= 100.0,
            "{snap:?}"
        );
        assert!(!snap.cpu_per_core.is_empty());
        assert!(snap.memory_total_bytes > 0 && snap.memory_percent > 0.0);
        assert!(snap.processes > 1);
        assert!(!snap.disks.is_empty(), "a root filesystem");
        assert!(snap.disks.iter().all(|d| d.used_percent <= 100.0));
        assert!(snap.interfaces.iter().any(|i| i.name == "lo"));
    }

    #[test]
    fn parses_proc_formats() {
        let times =
            cpu_times("cpu  100 0 100 700 100 0 0 0 0 0\ncpu0 50 0 50 350 50 0 0 0 0 0\nintr 1\n");
        assert_eq!(times, [(200, 1000), (100, 500)]);
        assert_eq!(
            meminfo_kb(
                "MemTotal:  2048 kB\nMemAvailable: 1024 kB\n",
                "MemAvailable"
            ),
            1024
        );
        let mounts = real_mounts(
            "/dev/vda / ext4 rw 0 0\nproc /proc proc rw 0 0\n/dev/vda /bind ext4 rw 0 0\n",
        );
        assert_eq!(mounts, [("/dev/vda".into(), "/".into(), "ext4".into())]);
        let dev = "h1\nh2\n  eth0: 100 2 1 0 0 0 0 0 200 3 4 0 0 0 0 0\n";
        let eth = &interfaces(dev)[0];
        assert_eq!(
            (
                eth.received_bytes,
                eth.sent_bytes,
                eth.receive_errors,
                eth.send_errors
            ),
            (100, 200, 1, 4)
        );
    }
}
