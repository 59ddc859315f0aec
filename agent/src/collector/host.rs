//! The host: description (sent in `agentReport`) and per-round readings.
//!
//! Only what a sample reads is refreshed (global CPU usage, RAM, the storage of the chosen
//! disks, network counters); processes, per-core frequencies, swap and disk kinds are never
//! loaded. On Linux, disk I/O counters come from `/proc/diskstats`.

use std::collections::HashSet;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, UdpSocket};

use chrono::{DateTime, Utc};
use sysinfo::{CpuRefreshKind, Disk, DiskRefreshKind, Disks, MemoryRefreshKind, Networks, System};

use crate::model::{round_to, AgentReport, GpuInfo, HostSample, OsType};

/// File systems that never count as host disks.
const VIRTUAL_FS: [&str; 8] = [
    "overlay", "tmpfs", "squashfs", "devtmpfs", "ramfs", "autofs", "efivarfs", "nsfs",
];

pub struct HostCollector {
    sys: System,
    disks: Disks,
    /// Indices into `disks` of the disks that are summed (one per device).
    real_disks: Vec<usize>,
    networks: Networks,
    /// An address of the control plane, to find the local address used to reach it.
    server: Option<SocketAddr>,
}

impl HostCollector {
    /// `server` is a resolved address of the control plane, if known (used to pick the host's
    /// primary IP: the one this host reaches the server from).
    pub fn new(server: Option<SocketAddr>) -> Self {
        let mut sys = System::new();
        // The list of CPUs, and the baseline the first CPU usage reading is measured from.
        sys.refresh_cpu_list(CpuRefreshKind::nothing());
        sys.refresh_cpu_usage();
        sys.refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let disks =
            Disks::new_with_refreshed_list_specifics(DiskRefreshKind::nothing().with_storage());
        let real_disks = real_disk_indices(disks.list());
        let networks = Networks::new_with_refreshed_list();
        Self {
            sys,
            disks,
            real_disks,
            networks,
            server,
        }
    }

    /// Describes the host. Also re-reads the disk list (mounts may have changed).
    pub fn describe(&mut self, gpus: Vec<GpuInfo>) -> AgentReport {
        self.disks
            .refresh_specifics(true, DiskRefreshKind::nothing().with_storage());
        self.real_disks = real_disk_indices(self.disks.list());
        self.sys
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());
        let total_disk: u64 = self
            .chosen_disks()
            .map(Disk::total_space)
            .fold(0, u64::saturating_add);
        AgentReport {
            hostname: System::host_name(),
            ip_address: self.primary_ip().to_string(),
            os_type: OsType::current(),
            os_version: os_version(),
            arch: Some(System::cpu_arch()).filter(|a| !a.is_empty() && a != "unknown"),
            total_cpu: i32::try_from(self.sys.cpus().len().max(1)).unwrap_or(i32::MAX),
            total_memory: self.sys.total_memory(),
            total_disk: (total_disk > 0).then_some(total_disk),
            agent_version: Some(env!("CARGO_PKG_VERSION").to_string()),
            gpus,
        }
    }

    /// One reading of the host. The `gpuAvg*` fields are left `None` (filled in by the caller).
    pub fn sample(&mut self, at: DateTime<Utc>) -> HostSample {
        self.sys.refresh_cpu_usage();
        self.sys
            .refresh_memory_specifics(MemoryRefreshKind::nothing().with_ram());

        let disk_refresh = if cfg!(target_os = "linux") {
            DiskRefreshKind::nothing().with_storage()
        } else {
            DiskRefreshKind::nothing().with_storage().with_io_usage()
        };
        for &i in &self.real_disks {
            if let Some(d) = self.disks.list_mut().get_mut(i) {
                d.refresh_specifics(disk_refresh);
            }
        }
        self.networks.refresh(true);

        let total_memory = self.sys.total_memory();
        let available_memory = self.sys.available_memory();
        let used_memory = total_memory.saturating_sub(available_memory);

        let (disk_total, disk_available) = self.chosen_disks().fold((0u64, 0u64), |(t, a), d| {
            (
                t.saturating_add(d.total_space()),
                a.saturating_add(d.available_space()),
            )
        });
        let disk_used = disk_total.saturating_sub(disk_available);
        let has_disks = disk_total > 0;

        let (io_read, io_write) = self.disk_io();
        let net = self.network_counters();
        let load = load_average();

        HostSample {
            collected_at: at,
            cpu_usage_percent: Some(round_to(f64::from(self.sys.global_cpu_usage()), 2)),
            cpu_load_1m: load.map(|l| round_to(l.0, 2)),
            cpu_load_5m: load.map(|l| round_to(l.1, 2)),
            cpu_load_15m: load.map(|l| round_to(l.2, 2)),
            memory_used: (total_memory > 0).then_some(used_memory),
            memory_available: (total_memory > 0).then_some(available_memory),
            memory_usage_percent: percent(used_memory, total_memory),
            disk_used: has_disks.then_some(disk_used),
            disk_available: has_disks.then_some(disk_available),
            disk_usage_percent: percent(disk_used, disk_total),
            disk_io_read_bytes: io_read,
            disk_io_write_bytes: io_write,
            network_rx_bytes: net.map(|n| n.rx_bytes),
            network_tx_bytes: net.map(|n| n.tx_bytes),
            network_rx_packets: net.map(|n| n.rx_packets),
            network_tx_packets: net.map(|n| n.tx_packets),
            gpu_avg_utilization: None,
            gpu_avg_memory_used: None,
            gpu_avg_temperature: None,
            gpu_avg_power: None,
        }
    }

    fn chosen_disks(&self) -> impl Iterator<Item = &Disk> {
        let list = self.disks.list();
        self.real_disks.iter().filter_map(move |&i| list.get(i))
    }

    #[cfg(target_os = "linux")]
    fn disk_io(&self) -> (Option<u64>, Option<u64>) {
        match super::procfs::disk_io() {
            Some((r, w)) => (Some(r), Some(w)),
            None => (None, None),
        }
    }

    #[cfg(not(target_os = "linux"))]
    fn disk_io(&self) -> (Option<u64>, Option<u64>) {
        if self.real_disks.is_empty() {
            return (None, None);
        }
        let (r, w) = self.chosen_disks().fold((0u64, 0u64), |(r, w), d| {
            let u = d.usage();
            (
                r.saturating_add(u.total_read_bytes),
                w.saturating_add(u.total_written_bytes),
            )
        });
        (Some(r), Some(w))
    }

    /// Sums the counters of physical interfaces, or of every non-loopback interface where
    /// there is no physical one (inside a container, a VM with virtual NICs only).
    fn network_counters(&self) -> Option<NetCounters> {
        let candidates: Vec<(&String, &sysinfo::NetworkData)> = self
            .networks
            .list()
            .iter()
            .filter(|(name, _)| !is_loopback_name(name))
            .collect();
        if candidates.is_empty() {
            return None;
        }
        let physical: Vec<_> = candidates
            .iter()
            .filter(|(name, _)| is_physical_interface(name))
            .collect();
        let chosen: Vec<&(&String, &sysinfo::NetworkData)> = if physical.is_empty() {
            candidates.iter().collect()
        } else {
            physical
        };
        Some(
            chosen
                .iter()
                .fold(NetCounters::default(), |acc, (_, data)| NetCounters {
                    rx_bytes: acc.rx_bytes.saturating_add(data.total_received()),
                    tx_bytes: acc.tx_bytes.saturating_add(data.total_transmitted()),
                    rx_packets: acc.rx_packets.saturating_add(data.total_packets_received()),
                    tx_packets: acc
                        .tx_packets
                        .saturating_add(data.total_packets_transmitted()),
                }),
        )
    }

    /// The host's primary address: the local address used to reach the server, else the one
    /// of the default route, else the first non-loopback interface address, else 127.0.0.1.
    pub fn primary_ip(&self) -> IpAddr {
        let via_route = |target: SocketAddr| -> Option<IpAddr> {
            let bind: SocketAddr = if target.is_ipv4() {
                (Ipv4Addr::UNSPECIFIED, 0).into()
            } else {
                (std::net::Ipv6Addr::UNSPECIFIED, 0).into()
            };
            // Connecting a UDP socket only picks a route; nothing is sent.
            let socket = UdpSocket::bind(bind).ok()?;
            socket.connect(target).ok()?;
            Some(socket.local_addr().ok()?.ip()).filter(usable_ip)
        };
        self.server
            .and_then(via_route)
            // A documentation address (TEST-NET-1): follows the default route.
            .or_else(|| via_route((Ipv4Addr::new(192, 0, 2, 1), 9).into()))
            .or_else(|| {
                self.networks
                    .list()
                    .values()
                    .flat_map(|n| n.ip_networks().iter().map(|net| net.addr))
                    .find(usable_ip)
            })
            .unwrap_or(IpAddr::V4(Ipv4Addr::LOCALHOST))
    }
}

#[derive(Debug, Clone, Copy, Default)]
struct NetCounters {
    rx_bytes: u64,
    tx_bytes: u64,
    rx_packets: u64,
    tx_packets: u64,
}

fn usable_ip(ip: &IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => !v4.is_loopback() && !v4.is_unspecified() && !v4.is_link_local(),
        IpAddr::V6(v6) => {
            !v6.is_loopback() && !v6.is_unspecified() && (v6.segments()[0] & 0xffc0) != 0xfe80
        }
    }
}

fn percent(part: u64, total: u64) -> Option<f64> {
    (total > 0).then(|| round_to(part as f64 * 100.0 / total as f64, 2))
}

fn is_loopback_name(name: &str) -> bool {
    name == "lo" || name.starts_with("lo0") || name.to_ascii_lowercase().contains("loopback")
}

#[cfg(target_os = "linux")]
fn is_physical_interface(name: &str) -> bool {
    super::procfs::is_physical_interface(name)
}

#[cfg(not(target_os = "linux"))]
fn is_physical_interface(_name: &str) -> bool {
    false
}

#[cfg(not(windows))]
fn load_average() -> Option<(f64, f64, f64)> {
    let l = System::load_average();
    Some((l.one, l.five, l.fifteen))
}

#[cfg(windows)]
fn load_average() -> Option<(f64, f64, f64)> {
    // Windows has no load average.
    None
}

/// E.g. "Ubuntu 22.04 (kernel 6.8.0-45-generic)" or "Windows 11 (26100)".
fn os_version() -> Option<String> {
    let name = System::name();
    let version = System::os_version();
    let base = match (name, version) {
        (Some(n), Some(v)) => Some(format!("{n} {v}")),
        (Some(n), None) => Some(n),
        (None, v) => v,
    };
    let kernel = System::kernel_version().filter(|_| !cfg!(windows));
    match (base, kernel) {
        // The kernel goes in only where it fits the server's column.
        (Some(b), Some(k)) => {
            let full = format!("{b} (kernel {k})");
            Some(if full.chars().count() <= super::limits::OS_VERSION {
                full
            } else {
                b
            })
        }
        (b, None) => b,
        (None, Some(k)) => Some(format!("kernel {k}")),
    }
}

/// Picks the disks to sum: real file systems, each device once. Where that leaves nothing
/// (e.g. a container whose root is an overlay), the file system mounted at `/` (or `C:\`).
fn real_disk_indices(disks: &[Disk]) -> Vec<usize> {
    let mut seen = HashSet::new();
    let mut out = Vec::new();
    for (i, d) in disks.iter().enumerate() {
        let fs = d.file_system().to_string_lossy();
        if d.total_space() == 0 || VIRTUAL_FS.contains(&fs.as_ref()) || fs.starts_with("fuse") {
            continue;
        }
        let key = if cfg!(windows) {
            d.mount_point().to_string_lossy().into_owned()
        } else {
            let name = d.name().to_string_lossy().into_owned();
            // Only block devices: pools and network shares (zfs datasets, nfs) would be
            // counted once per dataset/mount.
            if !name.starts_with("/dev/") {
                continue;
            }
            name
        };
        if seen.insert(key) {
            out.push(i);
        }
    }
    if out.is_empty() {
        let root = |d: &Disk| {
            let m = d.mount_point().to_string_lossy();
            m == "/" || m.eq_ignore_ascii_case("C:\\")
        };
        out.extend(disks.iter().position(root));
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn describes_this_host_plausibly() {
        let mut c = HostCollector::new(None);
        let r = c.describe(Vec::new());
        assert!(r.total_cpu > 0);
        assert!(r.total_memory > 0);
        assert!(!r.ip_address.is_empty());
        assert!(r.ip_address.parse::<IpAddr>().is_ok());
        assert_eq!(r.os_type, OsType::current());
        assert_eq!(r.agent_version.as_deref(), Some(env!("CARGO_PKG_VERSION")));
        assert!(r.gpus.is_empty());
    }

    #[test]
    fn samples_this_host_plausibly() {
        let mut c = HostCollector::new(None);
        std::thread::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL);
        let at = crate::model::now_millis();
        let s = c.sample(at);
        assert_eq!(s.collected_at, at);
        let cpu = s.cpu_usage_percent.unwrap();
        assert!((0.0..=100.0).contains(&cpu), "cpu {cpu}");
        let used = s.memory_used.unwrap();
        let available = s.memory_available.unwrap();
        assert!(used > 0 && available > 0);
        let pct = s.memory_usage_percent.unwrap();
        assert!(pct > 0.0 && pct <= 100.0);
        if cfg!(target_os = "linux") {
            assert!(s.cpu_load_1m.unwrap() >= 0.0);
            assert!(s.disk_io_read_bytes.is_some());
            assert!(s.network_rx_bytes.is_some());
        }
        if let Some(p) = s.disk_usage_percent {
            assert!((0.0..=100.0).contains(&p));
            assert!(s.disk_used.is_some() && s.disk_available.is_some());
        }
        // Counters never go backwards.
        let again = c.sample(crate::model::now_millis());
        assert!(again.network_rx_bytes >= s.network_rx_bytes);
        assert!(again.disk_io_read_bytes >= s.disk_io_read_bytes);
        // GPU averages are the caller's business.
        assert_eq!(s.gpu_avg_utilization, None);
    }

    #[test]
    fn ip_filter() {
        assert!(!usable_ip(&"127.0.0.1".parse().unwrap()));
        assert!(!usable_ip(&"::1".parse().unwrap()));
        assert!(!usable_ip(&"fe80::1".parse().unwrap()));
        assert!(!usable_ip(&"169.254.1.1".parse().unwrap()));
        assert!(usable_ip(&"10.1.2.3".parse().unwrap()));
        assert!(usable_ip(&"2001:db8::1".parse().unwrap()));
    }

    #[test]
    fn percent_math() {
        assert_eq!(percent(1, 4), Some(25.0));
        assert_eq!(percent(1, 0), None);
        assert_eq!(percent(1, 3), Some(33.33));
    }
}
