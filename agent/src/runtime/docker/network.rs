//! Tenant networks: one Docker bridge per tenant, and the host shielded from all of them.
//!
//! **The model.** Every container joins its tenant's network (`HostConfig.NetworkMode`), one
//! user-defined bridge per tenant named as the order says (`rgpu-c12` for customer 12's
//! personal environments, `rgpu-w7` for workspace 7), never Docker's default bridge:
//!
//! - *inside a tenant* containers reach each other (`com.docker.network.bridge.enable_icc`)
//!   by address and by container name (Docker's embedded DNS);
//! - *between tenants* nothing passes: Docker isolates user-defined bridges from one another
//!   in its `DOCKER-ISOLATION` chains (this needs the Engine's iptables management, its
//!   default; an Engine run with `--iptables=false` isolates nothing);
//! - *to the host* nothing new passes when `--isolate-host` is on (the default): for every
//!   tenant bridge the agent puts
//!   `iptables -I INPUT -i <bridge> -m conntrack --ctstate NEW -j DROP` (and the same with
//!   `ip6tables`) at the head of the `INPUT` chain, once (`-C` checks first), so no
//!   container opens a connection to any of the host's own addresses: not the agent, not
//!   the management plane, not a DNS resolver or metadata service on the host. Replies to
//!   connections the host opened (the userland proxy of a published port) still pass, and so
//!   do connections to the internet, which are forwarded, not delivered to the host. A
//!   published port reached through a host address from inside a container is refused too.
//!   The rules are removed with the network.
//! - *from outside* only the published ports, bound on `--publish-address`.
//!
//! The bridge's interface carries the network's name (`com.docker.network.bridge.name`),
//! which is why a tenant network name is at most 15 characters, and what the firewall rule
//! matches on. Networks are labelled `remotegpu.network=tenant`; a network of that name
//! without the label is not the agent's and is never used or removed.
//!
//! **Life cycle.** A network is created on demand when a container of its tenant is created
//! or started, and removed when the last container labelled with it is removed (stopped
//! containers count: a stopped container could not start again without its network). Both
//! happen under one lock per runtime, so a creation and a removal never interleave in one
//! agent; a creation racing another process finds the network made meanwhile (Docker answers
//! a conflict) and uses it. A removal that Docker refuses because the network still has
//! endpoints leaves it in place.
//!
//! **The firewall** runs `iptables` and `ip6tables` (from `PATH`) with fixed arguments and the
//! already validated network name, nothing else. The agent needs the right to change the
//! host's firewall (root, or `CAP_NET_ADMIN`). Where `iptables` is not installed the agent
//! logs one warning and containers can reach the host's ports; where it is installed but
//! fails, the container is not created (the environment fails with the reason). `ip6tables`
//! is best effort (a host without IPv6 has nothing to protect): its failures are logged once.

use std::collections::HashMap;
use std::path::PathBuf;
use std::process::Stdio;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use bollard::models::{NetworkCreateRequest, NetworkInspect};
use bollard::query_parameters::ListContainersOptionsBuilder;

use super::DockerRuntime;
use crate::runtime::{validate_network_name, RuntimeError, RuntimeErrorKind, LABEL_NETWORK};

/// Value of the `remotegpu.network` label on a network the agent made for a tenant.
pub const NETWORK_LABEL_VALUE: &str = "tenant";
/// Docker's bridge driver option naming the Linux bridge interface.
const BRIDGE_NAME: &str = "com.docker.network.bridge.name";
/// Docker's bridge driver option letting containers of the network reach each other.
const ENABLE_ICC: &str = "com.docker.network.bridge.enable_icc";
/// Longest wait for one `iptables` call (it waits for the xtables lock itself, `-w`).
const FIREWALL_TIMEOUT: Duration = Duration::from_secs(30);

/// The Engine's request creating a tenant network.
pub(super) fn network_request(name: &str) -> NetworkCreateRequest {
    NetworkCreateRequest {
        name: name.to_string(),
        driver: Some("bridge".to_string()),
        internal: Some(false),
        attachable: Some(false),
        enable_ipv6: Some(false),
        options: Some(HashMap::from([
            (BRIDGE_NAME.to_string(), name.to_string()),
            (ENABLE_ICC.to_string(), "true".to_string()),
        ])),
        labels: Some(HashMap::from([(
            LABEL_NETWORK.to_string(),
            NETWORK_LABEL_VALUE.to_string(),
        )])),
        ..Default::default()
    }
}

/// Whether a network is one the agent made for a tenant.
fn is_tenant_network(network: &NetworkInspect) -> bool {
    network.driver.as_deref() == Some("bridge")
        && network
            .labels
            .as_ref()
            .and_then(|l| l.get(LABEL_NETWORK))
            .is_some_and(|v| v == NETWORK_LABEL_VALUE)
}

impl DockerRuntime {
    /// The network called `name`; `None` when there is none.
    async fn find_network(&self, name: &str) -> Result<Option<NetworkInspect>, RuntimeError> {
        let docker = self.client().await?;
        match docker.inspect_network(name, None).await {
            // The Engine also matches id prefixes; only the name counts here.
            Ok(network) if network.name.as_deref() == Some(name) => Ok(Some(network)),
            Ok(_) => Ok(None),
            Err(e) => match self.error(e) {
                e if e.is_not_found() => Ok(None),
                e => Err(e),
            },
        }
    }

    /// Makes sure the tenant network `name` exists and, with `--isolate-host`, that the host
    /// is shielded from it. Called with the network lock held.
    pub(super) async fn ensure_network(&self, name: &str) -> Result<(), RuntimeError> {
        validate_network_name(name)?;
        let existing = match self.find_network(name).await? {
            Some(network) => network,
            None => {
                let docker = self.client().await?;
                let created = docker.create_network(network_request(name)).await;
                // Made by this call, or meanwhile by someone else (the Engine then answers
                // a conflict, or that the bridge name is taken): either way it is there now.
                match (created, self.find_network(name).await?) {
                    (Ok(_), Some(network)) => {
                        tracing::info!(network = name, "created a tenant network");
                        network
                    }
                    (Err(_), Some(network)) => network,
                    (Err(e), None) => {
                        let error = self.error(e);
                        return Err(RuntimeError {
                            message: format!("cannot create the network {name}: {}", error.message),
                            ..error
                        });
                    }
                    (Ok(_), None) => {
                        return Err(RuntimeError::new(
                            RuntimeErrorKind::Engine,
                            format!("the network {name} vanished as it was created"),
                        ))
                    }
                }
            }
        };
        if !is_tenant_network(&existing) {
            return Err(RuntimeError::new(
                RuntimeErrorKind::Conflict,
                format!(
                    "a network named {name} exists that the agent did not make (no \
                     {LABEL_NETWORK}={NETWORK_LABEL_VALUE} label); refusing to use it"
                ),
            ));
        }
        if self.settings.isolate_host {
            self.firewall.isolate(name).await?;
        }
        Ok(())
    }

    /// Removes the tenant network `name` when no container labelled with it is left, and its
    /// firewall rules with it. Never fails: what cannot be done is logged and left for the
    /// next removal. Called with the network lock held.
    pub(super) async fn release_network(&self, name: &str) {
        if validate_network_name(name).is_err() {
            return;
        }
        let Ok(docker) = self.client().await else {
            return;
        };
        let label = format!("{LABEL_NETWORK}={name}");
        let filters = HashMap::from([("label", vec![label.as_str()])]);
        let options = ListContainersOptionsBuilder::new()
            .all(true)
            .filters(&filters)
            .build();
        match docker.list_containers(Some(options)).await {
            Ok(left) if !left.is_empty() => return,
            Ok(_) => {}
            Err(e) => {
                tracing::warn!(network = name, error = %self.error(e), "cannot tell whether a tenant network is still used; kept");
                return;
            }
        }
        match self.find_network(name).await {
            Ok(Some(network)) if is_tenant_network(&network) => {}
            Ok(Some(_)) => return,
            // Gone already: only its rules may be left.
            Ok(None) => {
                self.firewall.release(name).await;
                return;
            }
            Err(e) => {
                tracing::warn!(network = name, error = %e, "cannot inspect a tenant network; kept");
                return;
            }
        }
        match docker.remove_network(name).await {
            Ok(()) => {
                tracing::info!(
                    network = name,
                    "removed a tenant network: its last container is gone"
                );
                self.firewall.release(name).await;
            }
            Err(e) => match self.error(e) {
                e if e.is_not_found() => self.firewall.release(name).await,
                // A container outside the agent's labels still uses it.
                e if e.message.contains("active endpoints") => {}
                e => {
                    tracing::warn!(network = name, error = %e, "cannot remove a tenant network; kept")
                }
            },
        }
    }
}

/// The `iptables` arguments of the rule shielding the host from `bridge`, for one operation
/// (`-C` check, `-I` insert, `-D` delete).
pub(super) fn rule(operation: &str, bridge: &str) -> [String; 11] {
    [
        "-w",
        operation,
        "INPUT",
        "-i",
        bridge,
        "-m",
        "conntrack",
        "--ctstate",
        "NEW",
        "-j",
        "DROP",
    ]
    .map(str::to_string)
}

/// What one firewall command did.
enum Ran {
    /// It ran and exited with this code (`None`: killed by a signal); its stderr.
    Exited(Option<i32>, String),
    /// The program is not installed.
    Missing,
    /// It could not be run, or did not finish in time.
    Failed(String),
}

/// One firewall program (`iptables` or `ip6tables`).
#[derive(Debug)]
struct Tool {
    program: PathBuf,
    /// Whether a failure (other than the program missing) fails the container.
    required: bool,
    /// Whether its absence or failure has been logged already.
    warned: AtomicBool,
}

impl Tool {
    fn new(program: impl Into<PathBuf>, required: bool) -> Self {
        Self {
            program: program.into(),
            required,
            warned: AtomicBool::new(false),
        }
    }

    fn name(&self) -> String {
        self.program.display().to_string()
    }

    async fn run(&self, operation: &str, bridge: &str) -> Ran {
        let mut command = tokio::process::Command::new(&self.program);
        command
            .args(rule(operation, bridge))
            .stdin(Stdio::null())
            .stdout(Stdio::null())
            .stderr(Stdio::piped())
            .kill_on_drop(true);
        match tokio::time::timeout(FIREWALL_TIMEOUT, command.output()).await {
            Ok(Ok(output)) => Ran::Exited(
                output.status.code(),
                String::from_utf8_lossy(&output.stderr).trim().to_string(),
            ),
            Ok(Err(e)) if e.kind() == std::io::ErrorKind::NotFound => Ran::Missing,
            Ok(Err(e)) => Ran::Failed(e.to_string()),
            Err(_) => Ran::Failed(format!(
                "did not finish within {}s",
                FIREWALL_TIMEOUT.as_secs()
            )),
        }
    }

    /// Logs `message` once per tool.
    fn warn_once(&self, bridge: &str, message: &str) {
        if !self.warned.swap(true, Ordering::Relaxed) {
            tracing::warn!(program = %self.name(), network = bridge, "{message}");
        }
    }

    /// Puts the rule in when it is not there yet.
    async fn isolate(&self, bridge: &str) -> Result<(), String> {
        let problem = match self.run("-C", bridge).await {
            Ran::Exited(Some(0), _) => return Ok(()),
            // Exit 1: no such rule yet.
            Ran::Exited(Some(1), _) => match self.run("-I", bridge).await {
                Ran::Exited(Some(0), _) => {
                    tracing::info!(program = %self.name(), network = bridge, "the host is shielded from a tenant network");
                    return Ok(());
                }
                Ran::Exited(code, stderr) => exit_problem(code, &stderr),
                Ran::Missing => "it vanished".to_string(),
                Ran::Failed(problem) => problem,
            },
            Ran::Exited(code, stderr) => exit_problem(code, &stderr),
            Ran::Missing => {
                self.warn_once(
                    bridge,
                    "not installed: containers of tenant networks can open connections to this \
                     host's own ports (--isolate-host cannot be honoured)",
                );
                return Ok(());
            }
            Ran::Failed(problem) => problem,
        };
        let problem = format!("{} failed: {problem}", self.name());
        if self.required {
            Err(problem)
        } else {
            self.warn_once(
                bridge,
                &format!("cannot shield the host from tenant networks over this family: {problem}"),
            );
            Ok(())
        }
    }

    /// Takes the rule out (every copy of it).
    async fn release(&self, bridge: &str) {
        for _ in 0..8 {
            match self.run("-D", bridge).await {
                Ran::Exited(Some(0), _) => continue,
                _ => return,
            }
        }
    }
}

fn exit_problem(code: Option<i32>, stderr: &str) -> String {
    let code = code.map_or_else(|| "a signal".to_string(), |c| format!("code {c}"));
    if stderr.is_empty() {
        format!("exited with {code}")
    } else {
        format!("exited with {code}: {stderr}")
    }
}

/// The host's firewall, as far as tenant networks need it (see the module documentation).
#[derive(Debug)]
pub(super) struct Firewall {
    tools: [Tool; 2],
}

impl Default for Firewall {
    fn default() -> Self {
        Self::with_programs("iptables", "ip6tables")
    }
}

impl Firewall {
    /// A firewall using these programs for IPv4 (required) and IPv6 (best effort).
    pub(super) fn with_programs(v4: impl Into<PathBuf>, v6: impl Into<PathBuf>) -> Self {
        Self {
            tools: [Tool::new(v4, true), Tool::new(v6, false)],
        }
    }

    /// Shields the host from `bridge` (idempotent).
    pub(super) async fn isolate(&self, bridge: &str) -> Result<(), RuntimeError> {
        validate_network_name(bridge)?;
        for tool in &self.tools {
            tool.isolate(bridge).await.map_err(|problem| {
                RuntimeError::new(
                    RuntimeErrorKind::Engine,
                    format!("cannot shield the host from the network {bridge}: {problem}"),
                )
            })?;
        }
        Ok(())
    }

    /// Removes what [`isolate`](Self::isolate) put in.
    pub(super) async fn release(&self, bridge: &str) {
        if validate_network_name(bridge).is_err() {
            return;
        }
        for tool in &self.tools {
            tool.release(bridge).await;
        }
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use std::os::unix::fs::PermissionsExt;

    #[test]
    fn the_network_request() {
        let json = serde_json::to_value(network_request("rgpu-c12")).unwrap();
        assert_eq!(json["Name"], "rgpu-c12");
        assert_eq!(json["Driver"], "bridge");
        assert_eq!(json["Internal"], false);
        assert_eq!(
            json["Options"],
            serde_json::json!({
                "com.docker.network.bridge.name": "rgpu-c12",
                "com.docker.network.bridge.enable_icc": "true"
            })
        );
        assert_eq!(
            json["Labels"],
            serde_json::json!({"remotegpu.network": "tenant"})
        );
        let ours = NetworkInspect {
            driver: Some("bridge".to_string()),
            labels: Some(HashMap::from([(
                LABEL_NETWORK.to_string(),
                NETWORK_LABEL_VALUE.to_string(),
            )])),
            ..Default::default()
        };
        assert!(is_tenant_network(&ours));
        assert!(!is_tenant_network(&NetworkInspect {
            labels: None,
            ..ours.clone()
        }));
        assert!(!is_tenant_network(&NetworkInspect {
            driver: Some("macvlan".to_string()),
            ..ours
        }));
    }

    #[test]
    fn the_rule() {
        assert_eq!(
            rule("-C", "rgpu-c12").join(" "),
            "-w -C INPUT -i rgpu-c12 -m conntrack --ctstate NEW -j DROP"
        );
    }

    /// A stand-in for `iptables`: logs its arguments, answers `-C` with `check`, and
    /// everything else with `other`.
    fn program(dir: &std::path::Path, name: &str, check: i32, other: i32) -> PathBuf {
        let path = dir.join(name);
        let log = dir.join(format!("{name}.log"));
        let script = format!(
            "#!/bin/sh\necho \"$*\" >> '{}'\nif [ \"$2\" = -C ]; then exit {check}; fi\n\
             echo 'some complaint' >&2\nexit {other}\n",
            log.display()
        );
        std::fs::write(&path, script).unwrap();
        std::fs::set_permissions(&path, std::fs::Permissions::from_mode(0o755)).unwrap();
        path
    }

    fn log(dir: &std::path::Path, name: &str) -> Vec<String> {
        std::fs::read_to_string(dir.join(format!("{name}.log")))
            .unwrap_or_default()
            .lines()
            .map(|l| l.split_whitespace().nth(1).unwrap_or_default().to_string())
            .collect()
    }

    #[tokio::test]
    async fn a_missing_rule_is_inserted_once() {
        let dir = tempfile::tempdir().unwrap();
        // -C says "no such rule", -I succeeds.
        let v4 = program(dir.path(), "v4", 1, 0);
        let v6 = program(dir.path(), "v6", 0, 0);
        let firewall = Firewall::with_programs(&v4, &v6);
        firewall.isolate("rgpu-c12").await.unwrap();
        assert_eq!(log(dir.path(), "v4"), ["-C", "-I"]);
        // Present already: only checked.
        assert_eq!(log(dir.path(), "v6"), ["-C"]);
        let line = std::fs::read_to_string(dir.path().join("v4.log")).unwrap();
        assert!(
            line.lines().nth(1).unwrap()
                == "-w -I INPUT -i rgpu-c12 -m conntrack --ctstate NEW -j DROP"
        );
        // Never anything that is not a tenant network name.
        assert!(firewall.isolate("eth0; reboot").await.is_err());
        assert_eq!(log(dir.path(), "v4").len(), 2);
    }

    #[tokio::test]
    async fn failures_fail_for_ipv4_and_are_logged_for_ipv6() {
        let dir = tempfile::tempdir().unwrap();
        let broken = program(dir.path(), "broken", 4, 4);
        let fine = program(dir.path(), "fine", 0, 0);
        let err = Firewall::with_programs(&broken, &fine)
            .isolate("rgpu-w7")
            .await
            .unwrap_err();
        assert_eq!(err.kind, RuntimeErrorKind::Engine);
        assert!(
            err.message()
                .starts_with("cannot shield the host from the network rgpu-w7: "),
            "{err}"
        );
        assert!(err.message().contains("exited with code 4"), "{err}");
        Firewall::with_programs(&fine, &broken)
            .isolate("rgpu-w7")
            .await
            .unwrap();
        // Not installed at all: a warning, not a failure.
        Firewall::with_programs(dir.path().join("absent"), dir.path().join("absent6"))
            .isolate("rgpu-w7")
            .await
            .unwrap();
    }

    #[tokio::test]
    async fn release_deletes_until_none_is_left() {
        let dir = tempfile::tempdir().unwrap();
        // -D fails at once: one attempt per program.
        let v4 = program(dir.path(), "v4", 0, 1);
        let v6 = program(dir.path(), "v6", 0, 1);
        Firewall::with_programs(&v4, &v6).release("rgpu-c12").await;
        assert_eq!(log(dir.path(), "v4"), ["-D"]);
        assert_eq!(log(dir.path(), "v6"), ["-D"]);
    }
}
