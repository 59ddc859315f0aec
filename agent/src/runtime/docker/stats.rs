//! A container's resource use from the Engine's stats answer.

use bollard::models::ContainerStatsResponse;

use crate::runtime::ContainerUsage;

/// A container's cumulative CPU counters at one reading.
#[derive(Debug, Clone)]
pub(super) struct CpuReading {
    pub(super) container_id: Option<String>,
    /// Container CPU time, nanoseconds.
    pub(super) total: u64,
    /// Host CPU time over all CPUs, nanoseconds.
    pub(super) system: u64,
}

pub(super) fn saturating_i64(value: u64) -> i64 {
    i64::try_from(value).unwrap_or(i64::MAX)
}

/// The usage in one stats answer, and its CPU counters for the next call. CPU use is measured
/// against `previous` when given, else against the answer's own earlier sample.
pub(super) fn usage_from_stats(
    stats: &ContainerStatsResponse,
    previous: Option<CpuReading>,
) -> (ContainerUsage, Option<CpuReading>) {
    let counters = |cpu: Option<&bollard::models::ContainerCpuStats>| {
        let cpu = cpu?;
        Some((cpu.cpu_usage.as_ref()?.total_usage?, cpu.system_cpu_usage?))
    };
    let current = counters(stats.cpu_stats.as_ref()).map(|(total, system)| CpuReading {
        container_id: stats.id.clone(),
        total,
        system,
    });
    let earlier = previous
        .map(|p| (p.total, p.system))
        .or_else(|| counters(stats.precpu_stats.as_ref()));
    let online = stats
        .cpu_stats
        .as_ref()
        .and_then(|c| {
            c.online_cpus.filter(|n| *n > 0).or_else(|| {
                c.cpu_usage
                    .as_ref()
                    .and_then(|u| u.percpu_usage.as_ref())
                    .and_then(|p| u32::try_from(p.len()).ok())
            })
        })
        .unwrap_or(1);
    let cpu_percent = match (earlier, current.as_ref()) {
        (Some((total0, system0)), Some(now)) => {
            match (
                now.total.checked_sub(total0),
                now.system.checked_sub(system0),
            ) {
                (Some(used), Some(elapsed)) if elapsed > 0 => {
                    used as f64 / elapsed as f64 * f64::from(online) * 100.0
                }
                _ => 0.0,
            }
        }
        _ => 0.0,
    };
    let memory = stats.memory_stats.as_ref();
    let usage = memory.and_then(|m| m.usage).unwrap_or(0);
    // Reclaimable page cache is not counted: cgroup v1 calls it total_inactive_file, v2
    // inactive_file.
    let inactive = memory
        .and_then(|m| m.stats.as_ref())
        .and_then(|s| {
            s.get("total_inactive_file")
                .or_else(|| s.get("inactive_file"))
        })
        .copied()
        .unwrap_or(0);
    let (rx, tx) =
        stats
            .networks
            .iter()
            .flat_map(|n| n.values())
            .fold((0u64, 0u64), |(rx, tx), n| {
                (
                    rx.saturating_add(n.rx_bytes.unwrap_or(0)),
                    tx.saturating_add(n.tx_bytes.unwrap_or(0)),
                )
            });
    (
        ContainerUsage {
            cpu_percent,
            memory_used_bytes: saturating_i64(usage.saturating_sub(inactive)),
            memory_limit_bytes: saturating_i64(memory.and_then(|m| m.limit).unwrap_or(0)),
            network_rx_bytes: saturating_i64(rx),
            network_tx_bytes: saturating_i64(tx),
        },
        current,
    )
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{
        ContainerCpuStats, ContainerCpuUsage, ContainerMemoryStats, ContainerNetworkStats,
    };
    use std::collections::HashMap;

    fn stats(total: u64, system: u64, pre: Option<(u64, u64)>) -> ContainerStatsResponse {
        let cpu = |total, system| ContainerCpuStats {
            cpu_usage: Some(ContainerCpuUsage {
                total_usage: Some(total),
                ..Default::default()
            }),
            system_cpu_usage: Some(system),
            online_cpus: Some(4),
            ..Default::default()
        };
        ContainerStatsResponse {
            id: Some("abc".to_string()),
            cpu_stats: Some(cpu(total, system)),
            precpu_stats: pre.map(|(t, s)| cpu(t, s)),
            memory_stats: Some(ContainerMemoryStats {
                usage: Some(500),
                limit: Some(1000),
                stats: Some(HashMap::from([("total_inactive_file".to_string(), 100)])),
                ..Default::default()
            }),
            networks: Some(HashMap::from([
                (
                    "eth0".to_string(),
                    ContainerNetworkStats {
                        rx_bytes: Some(10),
                        tx_bytes: Some(20),
                        ..Default::default()
                    },
                ),
                (
                    "eth1".to_string(),
                    ContainerNetworkStats {
                        rx_bytes: Some(1),
                        tx_bytes: Some(2),
                        ..Default::default()
                    },
                ),
            ])),
            ..Default::default()
        }
    }

    #[test]
    fn usage_numbers() {
        // Half of the host's 4 CPUs' time went to the container: 200 % of one core.
        let (usage, current) = usage_from_stats(&stats(1500, 3000, Some((1000, 2000))), None);
        assert!((usage.cpu_percent - 200.0).abs() < 1e-9);
        assert_eq!(usage.memory_used_bytes, 400);
        assert_eq!(usage.memory_limit_bytes, 1000);
        assert_eq!((usage.network_rx_bytes, usage.network_tx_bytes), (11, 22));
        let current = current.unwrap();
        assert_eq!((current.total, current.system), (1500, 3000));

        // Against the previous call's reading, not the answer's own earlier sample.
        let previous = CpuReading {
            container_id: Some("abc".to_string()),
            total: 1400,
            system: 2000,
        };
        let (usage, _) = usage_from_stats(&stats(1500, 3000, None), Some(previous));
        assert!((usage.cpu_percent - 40.0).abs() < 1e-9);

        // Counters that went backwards (a new container) give 0, not nonsense.
        let previous = CpuReading {
            container_id: None,
            total: 9999,
            system: 2000,
        };
        let (usage, _) = usage_from_stats(&stats(1500, 3000, None), Some(previous));
        assert_eq!(usage.cpu_percent, 0.0);
    }
}
