//! Linux-only readers for what `sysinfo` does not give directly.

use std::path::Path;

/// Cumulative bytes read and written by the host's physical block devices since boot.
///
/// Sums whole devices listed in `/sys/block` from `/proc/diskstats` (sectors are always
/// 512 bytes there). Partitions are skipped (their I/O is already in their disk's line), and so
/// are virtual devices stacked on physical ones or backed by memory (`loop`, `ram`, `zram`,
/// `dm-`, `md`, `nbd`, `sr`, `fd`) so nothing is counted twice.
pub fn disk_io() -> Option<(u64, u64)> {
    let text = std::fs::read_to_string("/proc/diskstats").ok()?;
    Some(sum_diskstats(&text, |name| {
        Path::new("/sys/block")
            .join(name.replace('/', "!"))
            .exists()
    }))
}

const VIRTUAL_PREFIXES: [&str; 8] = ["loop", "ram", "zram", "dm-", "md", "nbd", "sr", "fd"];

pub(crate) fn sum_diskstats(text: &str, is_whole_device: impl Fn(&str) -> bool) -> (u64, u64) {
    const SECTOR: u64 = 512;
    let mut read = 0u64;
    let mut written = 0u64;
    for line in text.lines() {
        let fields: Vec<&str> = line.split_whitespace().collect();
        // major minor name reads merged sectors_read ms writes merged sectors_written ...
        if fields.len() < 10 {
            continue;
        }
        let name = fields[2];
        if VIRTUAL_PREFIXES.iter().any(|p| name.starts_with(p)) || !is_whole_device(name) {
            continue;
        }
        let (Ok(r), Ok(w)) = (fields[5].parse::<u64>(), fields[9].parse::<u64>()) else {
            continue;
        };
        read = read.saturating_add(r.saturating_mul(SECTOR));
        written = written.saturating_add(w.saturating_mul(SECTOR));
    }
    (read, written)
}

/// Whether a network interface is backed by a device (a NIC), as opposed to a virtual one
/// (loopback, bridges, veth pairs, tunnels), whose traffic would be counted twice.
pub fn is_physical_interface(name: &str) -> bool {
    Path::new("/sys/class/net")
        .join(name)
        .join("device")
        .exists()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sums_whole_physical_disks_only() {
        let text = "\
   7       0 loop0 100 0 800 0 0 0 0 0 0 0 0 0 0 0 0 0 0
 259       0 nvme0n1 10 0 1000 5 20 0 2000 7 0 0 0 0 0 0 0 0 0
 259       1 nvme0n1p1 5 0 500 5 10 0 1000 7 0 0 0 0 0 0 0 0 0
   8       0 sda 1 0 10 1 2 0 20 1 0 0 0
 253       0 dm-0 5 0 500 5 10 0 1000 7 0 0 0 0 0 0 0 0 0
 short line
";
        let whole = |name: &str| matches!(name, "nvme0n1" | "sda" | "dm-0" | "loop0");
        let (r, w) = sum_diskstats(text, whole);
        assert_eq!(r, (1000 + 10) * 512);
        assert_eq!(w, (2000 + 20) * 512);
    }

    #[test]
    fn loopback_is_not_physical() {
        assert!(!is_physical_interface("lo"));
    }
}
