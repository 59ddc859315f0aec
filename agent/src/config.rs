//! Command-line and environment configuration.

use std::net::IpAddr;
use std::path::PathBuf;
use std::time::Duration;

use clap::{Parser, ValueEnum};

/// A secret string (the agent token). `Debug` and `Display` never show it.
#[derive(Clone, PartialEq, Eq)]
pub struct Secret(String);

impl Secret {
    pub fn new(value: String) -> Self {
        Self(value)
    }

    /// The secret itself; only for building the `Authorization` header.
    pub fn expose(&self) -> &str {
        &self.0
    }
}

impl std::fmt::Debug for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Secret(<redacted>)")
    }
}

impl std::fmt::Display for Secret {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("<redacted>")
    }
}

impl std::str::FromStr for Secret {
    type Err = std::convert::Infallible;

    fn from_str(s: &str) -> Result<Self, Self::Err> {
        Ok(Self(s.to_string()))
    }
}

/// Where GPU readings come from.
#[derive(Debug, Clone, Copy, PartialEq, Eq, ValueEnum)]
pub enum CollectorKind {
    /// NVIDIA GPUs through NVML (libnvidia-ml); zero GPUs where there is no driver.
    Nvml,
    /// GPUs from `--fake-gpus FILE` (or two built-in demo GPUs without it).
    Fake,
}

/// RemoteGPU node agent: reports this host, its GPUs and their metrics to the control plane.
#[derive(Debug, Clone, Parser)]
#[command(name = "remotegpu-agent", version, about, long_about = None)]
pub struct Config {
    /// Base URL of the RemoteGPU server (the agent posts to `<url>/graphql`).
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_SERVER_URL",
        default_value = "http://127.0.0.1:8080"
    )]
    pub server_url: String,

    /// Agent token of this host (a secret; prefer --token-file or the environment).
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_TOKEN",
        hide_env_values = true,
        conflicts_with = "token_file"
    )]
    pub token: Option<Secret>,

    /// File holding the agent token (surrounding whitespace is ignored).
    #[arg(long, env = "REMOTEGPU_AGENT_TOKEN_FILE")]
    pub token_file: Option<PathBuf>,

    /// Seconds between samples.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_INTERVAL",
        default_value_t = 10,
        value_parser = clap::value_parser!(u64).range(1..=86_400)
    )]
    pub interval: u64,

    /// Directory for the agent's state (`buffer.json`: unsent samples kept across restarts).
    #[arg(long, env = "REMOTEGPU_AGENT_DATA_DIR", default_value = "agent-data")]
    pub data_dir: PathBuf,

    /// GPU collector.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_COLLECTOR",
        value_enum,
        default_value_t = CollectorKind::Nvml
    )]
    pub collector: CollectorKind,

    /// JSON file describing fake GPUs and their readings (for `--collector fake`).
    #[arg(long, env = "REMOTEGPU_AGENT_FAKE_GPUS")]
    pub fake_gpus: Option<PathBuf>,

    /// Most samples kept while the server cannot be reached (oldest dropped first).
    /// One sample is one collection round: the host reading plus one reading per GPU.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_BUFFER_CAPACITY",
        default_value_t = 8640,
        value_parser = clap::value_parser!(u64).range(1..=10_000_000)
    )]
    pub buffer_capacity: u64,

    /// Most samples per push.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_MAX_BATCH",
        default_value_t = 500,
        value_parser = clap::value_parser!(u64).range(1..=100_000)
    )]
    pub max_batch: u64,

    /// Most bytes of samples per push (keep under the server's request body limit).
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_MAX_BATCH_BYTES",
        default_value_t = 512 * 1024,
        value_parser = clap::value_parser!(u64).range(1024..)
    )]
    pub max_batch_bytes: u64,

    /// First retry delay after a failed call, in milliseconds (doubles up to --retry-max-ms).
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_RETRY_INITIAL_MS",
        default_value_t = 1000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub retry_initial_ms: u64,

    /// Longest retry delay, in milliseconds.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_RETRY_MAX_MS",
        default_value_t = 60_000,
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub retry_max_ms: u64,

    /// Seconds before a request to the server is abandoned (and retried).
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_REQUEST_TIMEOUT",
        default_value_t = 15,
        value_parser = clap::value_parser!(u64).range(1..=600)
    )]
    pub request_timeout: u64,

    /// Seconds between reconciles of the environments' containers with the server (also
    /// done on every connect).
    #[arg(long, env = "REMOTEGPU_AGENT_RECONCILE_INTERVAL", default_value_t = 60)]
    pub reconcile_interval: u64,

    /// Do not take commands from the server: the agent does not even subscribe to them.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_REFUSE_COMMANDS",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
    pub refuse_commands: bool,

    /// Allow a plain `http://` (and so `ws://`) server URL to a host other than this
    /// machine: the agent token and every command would cross the network unencrypted.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_INSECURE",
        value_parser = clap::builder::BoolishValueParser::new(),
        action = clap::ArgAction::SetTrue
    )]
    pub insecure: bool,

    /// Commands run at once; more are queued in arrival order.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_MAX_CONCURRENT_COMMANDS",
        default_value_t = 4,
        value_parser = clap::value_parser!(u64).range(1..=256)
    )]
    pub max_concurrent_commands: u64,

    /// Bytes of stdout, and of stderr, kept per command (the rest is discarded and the result
    /// marked truncated).
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_OUTPUT_CAP_BYTES",
        default_value_t = 1024 * 1024,
        value_parser = clap::value_parser!(u64).range(0..=64 * 1024 * 1024)
    )]
    pub output_cap_bytes: u64,

    /// Unix socket of the Docker Engine that runs the environments' containers.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_DOCKER_SOCKET",
        default_value = crate::runtime::docker::DEFAULT_SOCKET
    )]
    pub docker_socket: PathBuf,

    /// Host address the environments' published ports are bound on (`0.0.0.0`: every
    /// address; `127.0.0.1`: this machine only).
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_PUBLISH_ADDRESS",
        default_value = "0.0.0.0"
    )]
    pub publish_address: IpAddr,

    /// Directory beneath which mounts' storage keys are resolved (in production a shared file
    /// system, e.g. NFS, mounted at the same path on every host). Default
    /// `<data-dir>/storage`, created at start; an explicit root is never created.
    #[arg(long, env = "REMOTEGPU_AGENT_STORAGE_ROOT")]
    pub storage_root: Option<PathBuf>,

    /// Seconds the server must list a container for removal (failed, deleted or unknown
    /// environments) before the agent removes it.
    #[arg(long, env = "REMOTEGPU_AGENT_ORPHAN_GRACE_SECS", default_value_t = 300)]
    pub orphan_grace_secs: u64,

    /// Most processes and threads in one environment's container.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_PIDS_LIMIT",
        default_value_t = 4096,
        value_parser = clap::value_parser!(i64).range(16..)
    )]
    pub pids_limit: i64,

    /// Open files per process in an environment's container (soft and hard limit).
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_NOFILE_LIMIT",
        default_value_t = 65536,
        value_parser = clap::value_parser!(i64).range(1024..=1_048_576)
    )]
    pub nofile_limit: i64,

    /// Size quota of each container's writable layer, in bytes (Docker `StorageOpt size`);
    /// only for overlay2 over xfs with pquota, devicemapper, btrfs or zfs, where other storage
    /// drivers fail the create. Unset: no quota.
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_ROOTFS_SIZE_BYTES",
        value_parser = clap::value_parser!(u64).range(1..)
    )]
    pub rootfs_size_bytes: Option<u64>,

    /// OCI runtime of the environments' containers, as registered with the Engine (`runsc`
    /// for gVisor, `kata-runtime`); unset: the Engine's default (runc).
    #[arg(long, env = "REMOTEGPU_AGENT_OCI_RUNTIME")]
    pub oci_runtime: Option<String>,

    /// Drop new connections from tenant networks to this host (iptables INPUT rules per
    /// network bridge).
    #[arg(
        long,
        env = "REMOTEGPU_AGENT_ISOLATE_HOST",
        default_value_t = true,
        action = clap::ArgAction::Set,
        value_parser = clap::builder::BoolishValueParser::new()
    )]
    pub isolate_host: bool,

    /// Collect one host description and one sample, print them as JSON and exit
    /// (no server contact, no token needed).
    #[arg(long)]
    pub once: bool,
}

#[derive(Debug, thiserror::Error)]
pub enum ConfigError {
    #[error("no agent token: pass --token, --token-file or set REMOTEGPU_AGENT_TOKEN")]
    NoToken,
    #[error("cannot read the token file {path}: {source}")]
    TokenFile {
        path: String,
        source: std::io::Error,
    },
    #[error("the agent token is empty")]
    EmptyToken,
    #[error("invalid --server-url {url:?}: {reason}")]
    ServerUrl { url: String, reason: String },
}

impl Config {
    pub fn interval(&self) -> Duration {
        Duration::from_secs(self.interval)
    }

    pub fn request_timeout(&self) -> Duration {
        Duration::from_secs(self.request_timeout)
    }

    pub fn buffer_path(&self) -> PathBuf {
        self.data_dir.join("buffer.json")
    }

    /// The storage root: `--storage-root`, or `<data-dir>/storage`.
    pub fn storage_root(&self) -> PathBuf {
        self.storage_root
            .clone()
            .unwrap_or_else(|| self.data_dir.join("storage"))
    }

    /// Settings of the command side.
    pub fn command_settings(&self) -> crate::commands::Settings {
        crate::commands::Settings {
            data_dir: self.data_dir.clone(),
            max_concurrent: usize::try_from(self.max_concurrent_commands).unwrap_or(1),
            output_cap: usize::try_from(self.output_cap_bytes).unwrap_or(usize::MAX),
            kill_grace: crate::commands::exec::DEFAULT_KILL_GRACE,
            retry_initial: Duration::from_millis(self.retry_initial_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
            request_timeout: self.request_timeout(),
        }
    }

    /// Settings of the environment side.
    pub fn environment_settings(&self) -> crate::environments::Settings {
        crate::environments::Settings {
            data_dir: self.data_dir.clone(),
            sample_interval: self.interval(),
            gpu_mode: self.gpu_mode(),
            reconcile_interval: Duration::from_secs(self.reconcile_interval.max(1)),
            stop_grace: Duration::from_secs(10),
            retry_initial: Duration::from_millis(self.retry_initial_ms),
            retry_max: Duration::from_millis(self.retry_max_ms),
            storage: crate::storage::StorageRoot::new(self.storage_root()),
            orphan_grace: Duration::from_secs(self.orphan_grace_secs),
        }
    }

    /// Settings of the Docker runtime.
    pub fn docker_settings(&self) -> crate::runtime::docker::DockerSettings {
        crate::runtime::docker::DockerSettings {
            socket: self.docker_socket.clone(),
            publish_address: self.publish_address,
            storage: crate::storage::StorageRoot::new(self.storage_root()),
            hardening: crate::runtime::docker::Hardening {
                pids_limit: self.pids_limit,
                nofile_limit: self.nofile_limit,
                rootfs_size_bytes: self.rootfs_size_bytes,
                oci_runtime: self.oci_runtime.clone().filter(|r| !r.trim().is_empty()),
            },
            isolate_host: self.isolate_host,
            ..Default::default()
        }
    }

    /// How containers get their GPUs: device requests for real GPUs (NVML), only
    /// `NVIDIA_VISIBLE_DEVICES` for fake ones.
    pub fn gpu_mode(&self) -> crate::runtime::GpuMode {
        match self.collector {
            CollectorKind::Nvml => crate::runtime::GpuMode::DeviceRequests,
            CollectorKind::Fake => crate::runtime::GpuMode::EnvOnly,
        }
    }

    /// The token, from `--token` / `REMOTEGPU_AGENT_TOKEN` or `--token-file`.
    pub fn resolve_token(&self) -> Result<Secret, ConfigError> {
        let token = match (&self.token, &self.token_file) {
            (Some(t), _) => t.expose().trim().to_string(),
            (None, Some(path)) => std::fs::read_to_string(path)
                .map_err(|source| ConfigError::TokenFile {
                    path: path.display().to_string(),
                    source,
                })?
                .trim()
                .to_string(),
            (None, None) => return Err(ConfigError::NoToken),
        };
        if token.is_empty() {
            return Err(ConfigError::EmptyToken);
        }
        Ok(Secret(token))
    }

    /// Checks `--server-url`: an http(s) URL without query or fragment; `http` only to
    /// this machine (`localhost`, 127.0.0.0/8, `::1`) unless `--insecure`.
    pub fn validate_server_url(&self) -> Result<reqwest::Url, ConfigError> {
        let err = |reason: &str| ConfigError::ServerUrl {
            url: self.server_url.clone(),
            reason: reason.to_string(),
        };
        let url = reqwest::Url::parse(&self.server_url).map_err(|e| err(&e.to_string()))?;
        if !matches!(url.scheme(), "http" | "https") {
            return Err(err("the scheme must be http or https"));
        }
        if url.host_str().is_none() {
            return Err(err("no host"));
        }
        if url.query().is_some() || url.fragment().is_some() {
            return Err(err("no query or fragment allowed"));
        }
        let host = url.host_str().unwrap_or_default();
        let bare = host.trim_start_matches('[').trim_end_matches(']');
        let loopback = bare.eq_ignore_ascii_case("localhost")
            || bare.parse::<IpAddr>().is_ok_and(|ip| ip.is_loopback());
        if url.scheme() == "http" && !loopback && !self.insecure {
            return Err(err(
                "plain http to another machine would send the agent token unencrypted: use https, or --insecure",
            ));
        }
        Ok(url)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(args: &[&str]) -> Config {
        let mut all = vec!["remotegpu-agent"];
        all.extend_from_slice(args);
        Config::try_parse_from(all).unwrap()
    }

    #[test]
    fn defaults() {
        let c = parse(&[]);
        assert_eq!(c.interval, 10);
        assert_eq!(c.buffer_capacity, 8640);
        assert_eq!(c.max_batch, 500);
        assert_eq!(c.collector, CollectorKind::Nvml);
        assert_eq!(c.data_dir, PathBuf::from("agent-data"));
        assert!(!c.once);
        assert!(c.validate_server_url().is_ok());
        assert!(!c.refuse_commands);
        assert_eq!(c.max_concurrent_commands, 4);
        assert_eq!(c.output_cap_bytes, 1024 * 1024);
    }

    #[test]
    fn command_flags() {
        let c = parse(&[
            "--refuse-commands",
            "--max-concurrent-commands",
            "2",
            "--output-cap-bytes",
            "100",
        ]);
        assert!(c.refuse_commands);
        let s = c.command_settings();
        assert_eq!((s.max_concurrent, s.output_cap), (2, 100));
        assert!(Config::try_parse_from(["a", "--max-concurrent-commands", "0"]).is_err());
    }

    #[test]
    fn runtime_flags() {
        let c = parse(&[]);
        assert_eq!(c.docker_socket, PathBuf::from("/var/run/docker.sock"));
        assert_eq!(c.publish_address, IpAddr::from([0, 0, 0, 0]));
        assert_eq!(c.gpu_mode(), crate::runtime::GpuMode::DeviceRequests);
        let c = parse(&[
            "--docker-socket",
            "/run/d.sock",
            "--publish-address",
            "127.0.0.1",
            "--collector",
            "fake",
        ]);
        let s = c.docker_settings();
        assert_eq!(s.socket, PathBuf::from("/run/d.sock"));
        assert_eq!(s.publish_address, IpAddr::from([127, 0, 0, 1]));
        assert_eq!(c.gpu_mode(), crate::runtime::GpuMode::EnvOnly);
        assert!(Config::try_parse_from(["a", "--publish-address", "nowhere"]).is_err());
    }

    #[test]
    fn isolation_flags() {
        let c = parse(&["--data-dir", "/var/lib/rgpu"]);
        assert_eq!(c.storage_root(), PathBuf::from("/var/lib/rgpu/storage"));
        let d = c.docker_settings();
        assert_eq!(
            d.storage.path(),
            std::path::Path::new("/var/lib/rgpu/storage")
        );
        assert_eq!(d.hardening, crate::runtime::docker::Hardening::default());
        assert_eq!(
            (d.hardening.pids_limit, d.hardening.nofile_limit),
            (4096, 65536)
        );
        assert!(d.isolate_host);
        let e = c.environment_settings();
        assert_eq!(e.orphan_grace, Duration::from_secs(300));
        assert_eq!(
            e.storage.path(),
            std::path::Path::new("/var/lib/rgpu/storage")
        );

        let c = parse(&[
            "--storage-root",
            "/mnt/nfs/rgpu",
            "--orphan-grace-secs",
            "0",
            "--pids-limit",
            "64",
            "--nofile-limit",
            "4096",
            "--rootfs-size-bytes",
            "10737418240",
            "--oci-runtime",
            "runsc",
            "--isolate-host",
            "false",
        ]);
        let d = c.docker_settings();
        assert_eq!(d.storage.path(), std::path::Path::new("/mnt/nfs/rgpu"));
        assert_eq!(d.hardening.pids_limit, 64);
        assert_eq!(d.hardening.nofile_limit, 4096);
        assert_eq!(d.hardening.rootfs_size_bytes, Some(10 << 30));
        assert_eq!(d.hardening.oci_runtime.as_deref(), Some("runsc"));
        assert!(!d.isolate_host);
        assert_eq!(c.environment_settings().orphan_grace, Duration::ZERO);
        assert!(Config::try_parse_from(["a", "--pids-limit", "0"]).is_err());
        assert!(Config::try_parse_from(["a", "--isolate-host", "maybe"]).is_err());
    }

    #[test]
    fn token_is_redacted_and_resolved() {
        let c = parse(&["--token", "  tok-123  ", "--collector", "fake"]);
        assert!(!format!("{c:?}").contains("tok-123"));
        assert_eq!(c.resolve_token().unwrap().expose(), "tok-123");
        assert_eq!(c.collector, CollectorKind::Fake);

        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("token");
        std::fs::write(&file, "from-file\n").unwrap();
        let c = parse(&["--token-file", file.to_str().unwrap()]);
        assert_eq!(c.resolve_token().unwrap().expose(), "from-file");

        assert!(matches!(
            parse(&[]).resolve_token(),
            Err(ConfigError::NoToken)
        ));
        assert!(matches!(
            parse(&["--token", " "]).resolve_token(),
            Err(ConfigError::EmptyToken)
        ));
    }

    #[test]
    fn rejects_bad_values() {
        let bad = |args: &[&str]| {
            let mut all = vec!["remotegpu-agent"];
            all.extend_from_slice(args);
            Config::try_parse_from(all).is_err()
        };
        assert!(bad(&["--interval", "0"]));
        assert!(bad(&["--collector", "amd"]));
        assert!(bad(&["--token", "a", "--token-file", "b"]));
        assert!(parse(&["--server-url", "ftp://x"])
            .validate_server_url()
            .is_err());
        assert!(parse(&["--server-url", "http://x:1/?q"])
            .validate_server_url()
            .is_err());
    }

    #[test]
    fn plain_http_only_to_this_machine_unless_insecure() {
        let ok = |args: &[&str]| parse(args).validate_server_url().is_ok();
        for local in [
            "http://127.0.0.1:8080",
            "http://127.1.2.3",
            "http://localhost:8080",
            "http://[::1]:8080",
        ] {
            assert!(ok(&["--server-url", local]), "{local}");
        }
        assert!(ok(&["--server-url", "https://gpu.example"]));
        for remote in [
            "http://gpu.example",
            "http://10.0.0.5:8080",
            "http://[fe80::1]",
        ] {
            assert!(!ok(&["--server-url", remote]), "{remote}");
            assert!(ok(&["--server-url", remote, "--insecure"]), "{remote}");
        }
    }
}
