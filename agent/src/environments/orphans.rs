//! Containers the server wants gone, removed after a grace period.

use std::collections::{HashMap, HashSet};
use std::time::Duration;

use tokio::time::Instant;

use crate::runtime::ContainerRuntime;

/// Containers the server wants removed, and since when it has listed each (see the module
/// documentation).
#[derive(Debug)]
pub(super) struct Orphans {
    grace: Duration,
    since: HashMap<String, Instant>,
}

impl Orphans {
    pub(super) fn new(grace: Duration) -> Self {
        Self {
            grace,
            since: HashMap::new(),
        }
    }

    /// Notes the environments listed at `now` and returns those listed for at least the grace
    /// period, sorted; an environment no longer listed is forgotten (its clock starts again
    /// if it is listed later).
    fn due(&mut self, listed: &HashSet<String>, now: Instant) -> Vec<String> {
        self.since.retain(|env, _| listed.contains(env));
        for env in listed {
            if !self.since.contains_key(env) {
                tracing::info!(
                    environment = env,
                    grace_s = self.grace.as_secs(),
                    "the server wants this container removed; removing it after the grace period"
                );
                self.since.insert(env.clone(), now);
            }
        }
        let mut due: Vec<String> = self
            .since
            .iter()
            .filter(|(_, since)| now.saturating_duration_since(**since) >= self.grace)
            .map(|(env, _)| env.clone())
            .collect();
        due.sort();
        due
    }

    /// Removes the due containers among `listed`; returns those removed (forgotten here too).
    pub(super) async fn remove_due(
        &mut self,
        runtime: &dyn ContainerRuntime,
        listed: &HashSet<String>,
        now: Instant,
    ) -> Vec<String> {
        let mut removed = Vec::new();
        for env in self.due(listed, now) {
            match runtime.remove(&env).await {
                Ok(()) => {
                    tracing::warn!(
                        environment = env,
                        "removed a container the server wants gone (failed, deleted or unknown to it)"
                    );
                    self.since.remove(&env);
                    removed.push(env);
                }
                Err(e) => {
                    tracing::warn!(environment = env, error = %e, "cannot remove a container the server wants gone; trying again at the next reconcile")
                }
            }
        }
        removed
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use crate::runtime::fake::{example_spec, FakeRuntime, Op};

    fn set(ids: &[&str]) -> HashSet<String> {
        ids.iter().map(|s| (*s).to_string()).collect()
    }

    #[tokio::test]
    async fn removed_only_after_being_listed_for_the_grace_period() {
        let fake = FakeRuntime::new();
        for id in ["gone", "back", "kept"] {
            fake.insert(example_spec(id), true);
        }
        let grace = Duration::from_secs(300);
        let mut orphans = Orphans::new(grace);
        let t0 = Instant::now();
        let at = |s: u64| t0 + Duration::from_secs(s);

        assert!(orphans
            .remove_due(&fake, &set(&["gone", "back"]), at(0))
            .await
            .is_empty());
        assert!(orphans
            .remove_due(&fake, &set(&["gone", "back"]), at(299))
            .await
            .is_empty());
        // "back" is no longer listed: its clock stops.
        assert!(orphans
            .remove_due(&fake, &set(&["gone"]), at(299))
            .await
            .is_empty());
        assert_eq!(fake.count(Op::Remove), 0);
        assert_eq!(
            orphans
                .remove_due(&fake, &set(&["gone", "back"]), at(300))
                .await,
            ["gone"]
        );
        assert_eq!(fake.environment_ids(), ["back", "kept"]);
        // Listed again at 300, "back" started from zero then.
        assert!(orphans
            .remove_due(&fake, &set(&["back"]), at(599))
            .await
            .is_empty());
        assert_eq!(
            orphans.remove_due(&fake, &set(&["back"]), at(600)).await,
            ["back"]
        );
        assert_eq!(fake.environment_ids(), ["kept"]);
        assert!(orphans.since.is_empty());
    }

    #[tokio::test]
    async fn no_grace_removes_at_once_and_failures_are_retried() {
        let fake = FakeRuntime::new();
        fake.insert(example_spec("e1"), false);
        let mut orphans = Orphans::new(Duration::ZERO);
        fake.fail_next(
            Op::Remove,
            crate::runtime::RuntimeError::new(
                crate::runtime::RuntimeErrorKind::Unavailable,
                "Docker is down",
            ),
        );
        let now = Instant::now();
        assert!(orphans
            .remove_due(&fake, &set(&["e1"]), now)
            .await
            .is_empty());
        assert_eq!(fake.environment_ids(), ["e1"]);
        assert_eq!(orphans.remove_due(&fake, &set(&["e1"]), now).await, ["e1"]);
        assert!(fake.environment_ids().is_empty());
        assert!(fake.networks().is_empty());
    }
}
