//! The Engine's create request for a spec, and the container profile every environment gets.
//!
//! **The profile** (the same for every container of the host; see [`Hardening`]):
//!
//! - `SecurityOpt: ["no-new-privileges:true"]`: no process gains privileges through `execve`
//!   (setuid/setgid binaries such as `sudo`, `su` or `ping` run without them); Docker's
//!   default seccomp and AppArmor profiles stay on.
//! - `CapDrop: ["ALL"]`, then `CapAdd` [`CAPABILITIES`]: what a root shell, `sshd` and `apt`
//!   need (file ownership and modes, signals, switching users, binding ports below 1024,
//!   `chroot` for sshd's privilege separation, audit records for PAM logins), and nothing
//!   else: no `NET_RAW` (raw sockets, ARP/ICMP spoofing inside the tenant network), no
//!   `SYS_ADMIN` (mounts, namespaces), no `MKNOD` (device nodes), no `NET_ADMIN`,
//!   `SYS_PTRACE` or `SYS_MODULE`.
//! - `PidsLimit` (`--pids-limit`, default 4096): a fork bomb stops at that many processes and
//!   threads instead of exhausting the host's pid space.
//! - `Ulimits`: `nofile` soft = hard = `--nofile-limit` (default 65536).
//! - `ShmSize`: the order's, else a quarter of the memory limit ([`shm_size`]).
//! - `StorageOpt: {"size": "<bytes>"}` only with `--rootfs-size-bytes`: a quota on the
//!   container's writable layer. Docker honours it only on overlay2 over xfs mounted with
//!   `pquota`, devicemapper, btrfs and zfs; on any other storage driver the create fails, so
//!   it is off by default.
//! - `Runtime` (`--oci-runtime`): another OCI runtime registered with the Engine, e.g.
//!   `runsc` (gVisor) or `kata-runtime`, for a kernel boundary between tenants; unset, the
//!   Engine's default (runc).
//! - `NetworkMode`: the tenant's network (see [`super::network`]).
//! - Published ports are bound only on `--publish-address`.

use std::collections::HashMap;

use bollard::models::{
    ContainerCreateBody, DeviceRequest, HostConfig, Mount as DockerMount, MountType,
    PortBinding as DockerPortBinding, ResourcesUlimits,
};

use super::DockerSettings;
use crate::runtime::{
    container_env, shm_size, ContainerSpec, GpuMode, LABEL_ENVIRONMENT, LABEL_GPUS, LABEL_NETWORK,
};

/// The capabilities a container keeps (all others are dropped).
pub const CAPABILITIES: [&str; 11] = [
    "CHOWN",
    "DAC_OVERRIDE",
    "FOWNER",
    "FSETID",
    "KILL",
    "SETGID",
    "SETUID",
    "SETPCAP",
    "NET_BIND_SERVICE",
    "SYS_CHROOT",
    "AUDIT_WRITE",
];

/// The host-wide part of the container profile (see the module documentation).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Hardening {
    /// Most processes and threads in one container (`PidsLimit`).
    pub pids_limit: i64,
    /// Open files per process, soft and hard (`Ulimits` `nofile`).
    pub nofile_limit: i64,
    /// Size of the container's writable layer (`StorageOpt` `size`); `None` = no quota.
    pub rootfs_size_bytes: Option<u64>,
    /// The OCI runtime (`Runtime`); `None` = the Engine's default.
    pub oci_runtime: Option<String>,
}

impl Default for Hardening {
    fn default() -> Self {
        Self {
            pids_limit: 4096,
            nofile_limit: 65536,
            rootfs_size_bytes: None,
            oci_runtime: None,
        }
    }
}

/// A mount whose storage key was resolved to a host directory.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(super) struct BindMount {
    pub(super) source: String,
    pub(super) target: String,
    pub(super) read_only: bool,
}

/// The Engine's create request for a spec whose mounts resolved to `mounts`.
pub(super) fn create_body(
    settings: &DockerSettings,
    spec: &ContainerSpec,
    mounts: &[BindMount],
) -> ContainerCreateBody {
    let mut port_bindings: HashMap<String, Option<Vec<DockerPortBinding>>> = HashMap::new();
    for port in &spec.ports {
        port_bindings
            .entry(format!("{}/tcp", port.internal))
            .or_insert_with(|| Some(Vec::new()))
            .get_or_insert_with(Vec::new)
            .push(DockerPortBinding {
                host_ip: Some(settings.publish_address.to_string()),
                host_port: Some(port.external.to_string()),
            });
    }
    let mut exposed: Vec<String> = port_bindings.keys().cloned().collect();
    exposed.sort();
    let device_requests =
        (spec.gpu_mode == GpuMode::DeviceRequests && !spec.gpus.is_empty()).then(|| {
            vec![DeviceRequest {
                driver: Some("nvidia".to_string()),
                device_ids: Some(spec.gpus.clone()),
                capabilities: Some(vec![vec!["gpu".to_string()]]),
                ..Default::default()
            }]
        });
    let mounts = mounts
        .iter()
        .map(|m| DockerMount {
            typ: Some(MountType::BIND),
            source: Some(m.source.clone()),
            target: Some(m.target.clone()),
            read_only: Some(m.read_only),
            ..Default::default()
        })
        .collect();
    let limit = |value: i64| (value > 0).then_some(value);
    let hardening = &settings.hardening;
    let host_config = HostConfig {
        nano_cpus: (spec.cpu_cores > 0).then(|| i64::from(spec.cpu_cores) * 1_000_000_000),
        memory: limit(spec.memory_bytes),
        memory_swap: limit(spec.memory_bytes),
        shm_size: shm_size(spec),
        port_bindings: Some(port_bindings),
        mounts: Some(mounts),
        device_requests,
        network_mode: Some(spec.network.clone()),
        security_opt: Some(vec!["no-new-privileges:true".to_string()]),
        cap_drop: Some(vec!["ALL".to_string()]),
        cap_add: Some(CAPABILITIES.iter().map(|c| (*c).to_string()).collect()),
        pids_limit: limit(hardening.pids_limit),
        ulimits: Some(vec![ResourcesUlimits {
            name: Some("nofile".to_string()),
            soft: Some(hardening.nofile_limit),
            hard: Some(hardening.nofile_limit),
        }]),
        storage_opt: hardening
            .rootfs_size_bytes
            .map(|size| HashMap::from([("size".to_string(), size.to_string())])),
        runtime: hardening.oci_runtime.clone(),
        ..Default::default()
    };
    let labels = HashMap::from([
        (LABEL_ENVIRONMENT.to_string(), spec.environment_id.clone()),
        (LABEL_GPUS.to_string(), spec.gpus.join(",")),
        (LABEL_NETWORK.to_string(), spec.network.clone()),
    ]);
    ContainerCreateBody {
        image: Some(spec.image.clone()),
        env: Some(container_env(spec)),
        cmd: spec.command.clone(),
        labels: Some(labels),
        exposed_ports: Some(exposed),
        host_config: Some(host_config),
        ..Default::default()
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::runtime::{Mount, PortBinding};
    use std::net::IpAddr;

    fn spec() -> ContainerSpec {
        ContainerSpec {
            environment_id: "env-1".to_string(),
            image: "img:1".to_string(),
            cpu_cores: 2,
            memory_bytes: 1 << 30,
            shm_size_bytes: 0,
            network: "rgpu-c12".to_string(),
            gpus: vec!["GPU-a".to_string(), "GPU-b".to_string()],
            gpu_mode: GpuMode::DeviceRequests,
            ports: vec![
                PortBinding {
                    internal: 22,
                    external: 30001,
                },
                PortBinding {
                    internal: 8888,
                    external: 30002,
                },
            ],
            env: vec![("A".to_string(), "1".to_string())],
            mounts: vec![Mount {
                key: "datasets/c12/a/b".to_string(),
                target: "/datasets/set".to_string(),
                read_only: true,
            }],
            command: Some(vec!["sleep".to_string(), "1000".to_string()]),
        }
    }

    fn settings() -> DockerSettings {
        DockerSettings {
            publish_address: IpAddr::from([127, 0, 0, 1]),
            ..Default::default()
        }
    }

    fn body(settings: &DockerSettings, spec: &ContainerSpec) -> serde_json::Value {
        let mounts = [BindMount {
            source: "/srv/storage/datasets/c12/a/b".to_string(),
            target: "/datasets/set".to_string(),
            read_only: true,
        }];
        serde_json::to_value(create_body(settings, spec, &mounts)).unwrap()
    }

    #[test]
    fn create_body_carries_the_spec() {
        let json = body(&settings(), &spec());
        assert_eq!(json["Image"], "img:1");
        assert_eq!(json["Cmd"], serde_json::json!(["sleep", "1000"]));
        assert_eq!(
            json["Env"],
            serde_json::json!(["A=1", "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b"])
        );
        assert_eq!(json["Labels"]["remotegpu.environment"], "env-1");
        assert_eq!(json["Labels"]["remotegpu.gpus"], "GPU-a,GPU-b");
        assert_eq!(json["Labels"]["remotegpu.network"], "rgpu-c12");
        assert_eq!(
            json["ExposedPorts"],
            serde_json::json!({"22/tcp": {}, "8888/tcp": {}})
        );
        let host = &json["HostConfig"];
        assert_eq!(host["NanoCpus"], 2_000_000_000i64);
        assert_eq!(host["Memory"], 1i64 << 30);
        assert_eq!(host["MemorySwap"], 1i64 << 30);
        assert_eq!(
            host["PortBindings"]["22/tcp"],
            serde_json::json!([{"HostIp": "127.0.0.1", "HostPort": "30001"}])
        );
        assert_eq!(
            host["Mounts"],
            serde_json::json!([{"Type": "bind", "Source": "/srv/storage/datasets/c12/a/b",
                                "Target": "/datasets/set", "ReadOnly": true}])
        );
        assert_eq!(
            host["DeviceRequests"],
            serde_json::json!([{"Driver": "nvidia", "DeviceIDs": ["GPU-a", "GPU-b"],
                                "Capabilities": [["gpu"]]}])
        );
        assert_eq!(host["NetworkMode"], "rgpu-c12");
        assert!(json.get("RestartPolicy").is_none());
        assert!(host.get("RestartPolicy").is_none());
    }

    #[test]
    fn every_container_gets_the_profile() {
        let json = body(&settings(), &spec());
        let host = &json["HostConfig"];
        assert_eq!(
            host["SecurityOpt"],
            serde_json::json!(["no-new-privileges:true"])
        );
        assert_eq!(host["CapDrop"], serde_json::json!(["ALL"]));
        assert_eq!(
            host["CapAdd"],
            serde_json::json!([
                "CHOWN",
                "DAC_OVERRIDE",
                "FOWNER",
                "FSETID",
                "KILL",
                "SETGID",
                "SETUID",
                "SETPCAP",
                "NET_BIND_SERVICE",
                "SYS_CHROOT",
                "AUDIT_WRITE"
            ])
        );
        for never in [
            "NET_RAW",
            "SYS_ADMIN",
            "MKNOD",
            "NET_ADMIN",
            "SYS_PTRACE",
            "ALL",
        ] {
            assert!(!CAPABILITIES.contains(&never), "{never}");
        }
        assert_eq!(host["PidsLimit"], 4096);
        assert_eq!(
            host["Ulimits"],
            serde_json::json!([{"Name": "nofile", "Soft": 65536, "Hard": 65536}])
        );
        // A quarter of the 1 GiB limit when the order gives no size.
        assert_eq!(host["ShmSize"], 1i64 << 28);
        assert!(host.get("StorageOpt").is_none());
        assert!(host.get("Runtime").is_none());
        assert!(host.get("Privileged").is_none_or(|p| p == false));
    }

    #[test]
    fn host_settings_shape_the_profile() {
        let mut settings = settings();
        settings.hardening = Hardening {
            pids_limit: 64,
            nofile_limit: 1024,
            rootfs_size_bytes: Some(10 << 30),
            oci_runtime: Some("runsc".to_string()),
        };
        let mut s = spec();
        s.shm_size_bytes = 2 << 30;
        let json = body(&settings, &s);
        let host = &json["HostConfig"];
        assert_eq!(host["PidsLimit"], 64);
        assert_eq!(host["Ulimits"][0]["Soft"], 1024);
        assert_eq!(host["Ulimits"][0]["Hard"], 1024);
        assert_eq!(host["ShmSize"], 2i64 << 30);
        assert_eq!(
            host["StorageOpt"],
            serde_json::json!({"size": "10737418240"})
        );
        assert_eq!(host["Runtime"], "runsc");
    }

    #[test]
    fn env_only_and_cpu_only_bodies() {
        let mut s = spec();
        s.gpu_mode = GpuMode::EnvOnly;
        s.cpu_cores = 0;
        s.memory_bytes = 0;
        s.command = None;
        let json = body(&settings(), &s);
        assert!(json["HostConfig"].get("DeviceRequests").is_none());
        assert!(json["HostConfig"].get("NanoCpus").is_none());
        assert!(json["HostConfig"].get("Memory").is_none());
        // No limit and no size: Docker's own 64 MiB.
        assert!(json["HostConfig"].get("ShmSize").is_none());
        assert!(json.get("Cmd").is_none());
        assert_eq!(json["Env"][1], "NVIDIA_VISIBLE_DEVICES=GPU-a,GPU-b");

        s.gpu_mode = GpuMode::DeviceRequests;
        s.gpus.clear();
        let json = body(&settings(), &s);
        assert!(json["HostConfig"].get("DeviceRequests").is_none());
        assert_eq!(json["Labels"]["remotegpu.gpus"], "");
        assert_eq!(json["Env"][1], "NVIDIA_VISIBLE_DEVICES=void");
    }
}
