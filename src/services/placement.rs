//! Where an environment goes: the pure decision among hosts that could take it, by the
//! placement policy (`system_configs.placement_policy`: `binpack`, the default, or `spread`).
//! The transaction that reserves what was chosen is in [`super::environments`]; this file
//! only ranks, so the rules are testable without a database.

use crate::domain::PlacementPolicy;

/// A host that could take environments, with what it has free now.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Candidate {
    pub host_id: String,
    pub free_cpu: i64,
    pub free_memory: i64,
    /// Free GPUs of the requested model (of any model when none was asked for).
    pub free_gpus: i64,
    /// Whether the host has any GPU of the requested model at all (free or not).
    pub has_model: bool,
}

/// What one environment needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Need {
    pub cpu: i64,
    pub memory: i64,
    pub gpus: i64,
}

impl Candidate {
    fn fits(&self, need: Need) -> bool {
        self.free_cpu >= need.cpu && self.free_memory >= need.memory && self.free_gpus >= need.gpus
    }
}

/// The hosts that fit, best first by `policy`. When none fits, the message says which
/// resource was short (the CAPACITY_EXHAUSTED text a customer sees).
pub fn rank(
    policy: PlacementPolicy,
    need: Need,
    model: Option<&str>,
    candidates: &[Candidate],
) -> Result<Vec<Candidate>, String> {
    let mut fitting: Vec<Candidate> = candidates
        .iter()
        .filter(|c| c.fits(need))
        .cloned()
        .collect();
    if fitting.is_empty() {
        return Err(shortage(need, model, candidates));
    }
    // Binpack: least left over after placing (GPUs first, then cpu, then memory); spread:
    // the most. The host id breaks ties, so the order is deterministic.
    fitting.sort_by(|a, b| {
        let key = |c: &Candidate| (c.free_gpus, c.free_cpu, c.free_memory);
        let order = match policy {
            PlacementPolicy::Binpack => key(a).cmp(&key(b)),
            PlacementPolicy::Spread => key(b).cmp(&key(a)),
        };
        order.then_with(|| a.host_id.cmp(&b.host_id))
    });
    Ok(fitting)
}

fn shortage(need: Need, model: Option<&str>, candidates: &[Candidate]) -> String {
    if candidates.is_empty() {
        return "no online host is available for environments".into();
    }
    if need.gpus > 0 {
        if let Some(model) = model {
            if !candidates.iter().any(|c| c.has_model) {
                return format!("GPU model: no available host has '{model}' GPUs");
            }
        }
        if !candidates.iter().any(|c| c.free_gpus >= need.gpus) {
            let what = model.map_or_else(|| "GPUs".to_owned(), |m| format!("'{m}' GPUs"));
            return format!("GPUs: no host has {} free {what}", need.gpus);
        }
    }
    if !candidates.iter().any(|c| c.free_cpu >= need.cpu) {
        return format!("cpu: no host has {} free cores", need.cpu);
    }
    if !candidates.iter().any(|c| c.free_memory >= need.memory) {
        return format!("memory: no host has {} bytes free", need.memory);
    }
    format!(
        "no single host has {} GPUs, {} cores and {} bytes of memory free together",
        need.gpus, need.cpu, need.memory
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    fn host(id: &str, cpu: i64, gpus: i64) -> Candidate {
        Candidate {
            host_id: id.into(),
            free_cpu: cpu,
            free_memory: 1 << 40,
            free_gpus: gpus,
            has_model: gpus > 0,
        }
    }

    const ONE_GPU: Need = Need {
        cpu: 4,
        memory: 1 << 30,
        gpus: 1,
    };

    #[test]
    fn binpack_fills_the_fullest_host_and_spread_the_emptiest() {
        let hosts = [host("a", 32, 8), host("b", 32, 2), host("c", 32, 0)];
        let packed = rank(PlacementPolicy::Binpack, ONE_GPU, None, &hosts).unwrap();
        assert_eq!(packed[0].host_id, "b");
        assert_eq!(packed.len(), 2, "c has no GPU free");
        let spread = rank(PlacementPolicy::Spread, ONE_GPU, None, &hosts).unwrap();
        assert_eq!(spread[0].host_id, "a");
    }

    #[test]
    fn the_message_names_the_short_resource() {
        let hosts = [host("a", 2, 8), host("b", 32, 0)];
        let msg = |need, model| rank(PlacementPolicy::Binpack, need, model, &hosts).unwrap_err();
        assert!(msg(Need { gpus: 9, ..ONE_GPU }, None).starts_with("GPUs:"));
        let nothing = [host("b", 32, 0)];
        let err = rank(PlacementPolicy::Binpack, ONE_GPU, Some("H100"), &nothing).unwrap_err();
        assert!(err.starts_with("GPU model:"), "{err}");
        assert!(msg(Need { cpu: 64, ..ONE_GPU }, None).starts_with("cpu:"));
        let big = Need {
            memory: 1 << 41,
            ..ONE_GPU
        };
        assert!(msg(big, None).starts_with("memory:"));
        assert!(msg(Need { cpu: 8, ..ONE_GPU }, None).starts_with("no single host"));
        assert!(rank(PlacementPolicy::Binpack, ONE_GPU, None, &[])
            .unwrap_err()
            .contains("no online host"));
    }
}
