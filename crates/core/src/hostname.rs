//! This machine's name, which every event, detection and outgoing message carries, and its
//! identity, which tells a server that an agent runs on its own machine.

/// This machine's name, as the kernel has it.
pub fn hostname() -> Option<String> {
    std::fs::read_to_string("/proc/sys/kernel/hostname")
        .ok()
        .map(|h| h.trim().to_string())
        .filter(|h| !h.is_empty())
}

/// This machine's identity (`/etc/machine-id`, else D-Bus's copy): the same for every
/// program on the machine whatever its host name or addresses, different on each machine
/// (and in each container with its own). `None` where there is none.
pub fn machine_id() -> Option<String> {
    ["/etc/machine-id", "/var/lib/dbus/machine-id"]
        .iter()
        .find_map(|path| std::fs::read_to_string(path).ok())
        .map(|id| id.trim().to_string())
        .filter(|id| (16..=64).contains(&id.len()) && id.bytes().all(|b| b.is_ascii_hexdigit()))
}
