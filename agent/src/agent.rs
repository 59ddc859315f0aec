//! The agent loop: sample on schedule, buffer, deliver, retry, persist on shutdown.
//!
//! One task drives everything. Sampling is never held up by delivery: the HTTP call in flight
//! is a future polled alongside the sampling ticker, and while a retry waits out its backoff,
//! rounds keep going into the buffer.

use std::future::Future;
use std::net::SocketAddr;
use std::path::Path;
use std::pin::Pin;
use std::time::Duration;

use tokio::time::{sleep_until, Instant, MissedTickBehavior};
use uuid::Uuid;

use crate::backoff::Backoff;
use crate::buffer::Buffer;
use crate::client::{self, CallError, Class, Client};
use crate::collector::{Collectors, FakeCollector, GpuCollector, HostCollector, NvmlCollector};
use crate::config::{CollectorKind, Config, ConfigError, Secret};

#[derive(Debug, thiserror::Error)]
pub enum AgentError {
    #[error(transparent)]
    Config(#[from] ConfigError),
    #[error(transparent)]
    Fake(#[from] crate::collector::fake::FakeError),
    #[error(transparent)]
    Client(#[from] client::ClientError),
    #[error("cannot create the data directory {path}: {source}")]
    DataDir {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot write {path}: {source}")]
    Save {
        path: String,
        source: std::io::Error,
    },
    #[error("cannot print: {0}")]
    Print(#[from] serde_json::Error),
}

/// Builds the collectors the configuration asks for.
pub fn build_collectors(
    config: &Config,
    server: Option<SocketAddr>,
) -> Result<Collectors, AgentError> {
    let gpus: Box<dyn GpuCollector> = match config.collector {
        CollectorKind::Nvml => Box::new(NvmlCollector::new()),
        CollectorKind::Fake => match &config.fake_gpus {
            Some(path) => {
                let c = FakeCollector::from_path(path)?;
                tracing::info!(file = %path.display(), "using fake GPUs");
                Box::new(c)
            }
            None => {
                let seed = sysinfo::System::host_name().unwrap_or_default();
                tracing::info!(
                    "using two built-in demo GPUs (--collector fake without --fake-gpus)"
                );
                Box::new(FakeCollector::demo(&seed))
            }
        },
    };
    Ok(Collectors {
        host: HostCollector::new(server),
        gpus,
    })
}

/// Resolves the server's address (to find the local IP used to reach it). Best effort.
pub async fn resolve_server(url: &reqwest::Url) -> Option<SocketAddr> {
    let host = url
        .host_str()?
        .trim_start_matches('[')
        .trim_end_matches(']')
        .to_string();
    let port = url.port_or_known_default()?;
    let lookup = tokio::net::lookup_host((host, port));
    match tokio::time::timeout(Duration::from_secs(2), lookup).await {
        Ok(Ok(mut addrs)) => addrs.next(),
        _ => None,
    }
}

#[derive(serde::Serialize)]
#[serde(rename_all = "camelCase")]
struct OnceOutput<'a> {
    agent_report: &'a crate::model::AgentReport,
    host_sample: &'a crate::model::HostSample,
    gpu_samples: &'a [crate::model::GpuSample],
}

/// `--once`: the `agentReport` input and one round, as pretty JSON.
pub async fn once(config: &Config) -> Result<String, AgentError> {
    let url = config.validate_server_url()?;
    let server = resolve_server(&url).await;
    let mut collectors = build_collectors(config, server)?;
    let report = collectors.describe();
    // CPU usage is a difference between two readings.
    tokio::time::sleep(sysinfo::MINIMUM_CPU_UPDATE_INTERVAL).await;
    let round = collectors.collect();
    Ok(serde_json::to_string_pretty(&OnceOutput {
        agent_report: &report,
        host_sample: &round.host,
        gpu_samples: &round.gpus,
    })?)
}

/// Runs the agent until `shutdown` completes, then writes unsent samples to
/// `<data-dir>/buffer.json`.
pub async fn run(
    config: Config,
    token: Secret,
    shutdown: impl Future<Output = ()>,
) -> Result<(), AgentError> {
    let url = config.validate_server_url()?;
    std::fs::create_dir_all(&config.data_dir).map_err(|source| AgentError::DataDir {
        path: config.data_dir.display().to_string(),
        source,
    })?;
    let buffer_path = config.buffer_path();
    let mut buffer = Buffer::new(
        usize::try_from(config.buffer_capacity).unwrap_or(usize::MAX),
        usize::try_from(config.max_batch).unwrap_or(usize::MAX),
    );
    restore(&mut buffer, &buffer_path);

    let server = resolve_server(&url).await;
    let collectors = build_collectors(&config, server)?;
    let client = Client::new(config.server_url.as_str(), &token, config.request_timeout())?;
    tracing::info!(
        server = %client.endpoint(),
        interval_s = config.interval,
        buffer_capacity = buffer.capacity(),
        "agent started"
    );

    // The newest utilization per GPU, for the environments' samples.
    let gpu_utilization = crate::environments::GpuUtilization::default();
    // The command side runs beside the metrics loop, on its own tasks.
    let (stop_commands, stop_rx) = tokio::sync::watch::channel(false);
    let commands = if config.refuse_commands {
        tracing::info!(
            "refusing commands (--refuse-commands): not subscribing to the command channel"
        );
        None
    } else {
        // Environment orders share the command WebSocket.
        let (env_tx, env_rx) = tokio::sync::mpsc::channel(64);
        prepare_storage_root(&config);
        let runtime: std::sync::Arc<dyn crate::runtime::ContainerRuntime> = std::sync::Arc::new(
            crate::runtime::docker::DockerRuntime::new(config.docker_settings()),
        );
        tokio::spawn(crate::environments::serve(
            runtime,
            client.clone(),
            config.environment_settings(),
            env_rx,
            gpu_utilization.clone(),
            stop_rx.clone(),
        ));
        Some(tokio::spawn(crate::commands::serve(
            config.command_settings(),
            client.clone(),
            url.clone(),
            token.clone(),
            Some(env_tx),
            stop_rx,
        )))
    };

    let mut agent = Agent {
        client,
        collectors,
        buffer,
        backoff: Backoff::new(
            Duration::from_millis(config.retry_initial_ms),
            Duration::from_millis(config.retry_max_ms),
        ),
        byte_limit: usize::try_from(config.max_batch_bytes).unwrap_or(usize::MAX),
        need_report: true,
        registered_once: false,
        want_heartbeat: false,
        in_flight: None,
        retry_at: None,
        collected: 0,
        gpu_utilization,
    };
    agent.run(config.interval(), shutdown).await;
    let _ = stop_commands.send(true);

    let unsent = agent.buffer.len();
    agent
        .buffer
        .save(&buffer_path)
        .map_err(|source| AgentError::Save {
            path: buffer_path.display().to_string(),
            source,
        })?;
    if unsent > 0 {
        tracing::info!(samples = unsent, file = %buffer_path.display(), "saved unsent samples");
    }
    if let Some(commands) = commands {
        // Bounded: running commands are killed, their results delivered or saved.
        if let Err(e) = commands.await {
            tracing::error!(error = %e, "the command side failed");
        }
    }
    let s = agent.buffer.stats;
    tracing::info!(
        collected = agent.collected,
        delivered = s.accepted_rounds,
        dropped = s.dropped,
        rejected = s.rejected_rounds,
        unsent,
        "agent stopped"
    );
    Ok(())
}

/// Creates the default storage root (`<data-dir>/storage`) when missing. An explicit
/// `--storage-root` is never created (a shared file system that did not mount must not be
/// replaced by the local disk): its absence is logged, and environments with mounts fail
/// until it appears.
fn prepare_storage_root(config: &Config) {
    let root = config.storage_root();
    if config.storage_root.is_none() {
        if let Err(e) = std::fs::create_dir_all(&root) {
            tracing::error!(error = %e, root = %root.display(), "cannot create the storage root");
        }
    } else if !root.is_dir() {
        tracing::error!(
            root = %root.display(),
            "the storage root (--storage-root) is not a directory; environments with mounts will fail until it is there"
        );
    }
}

fn restore(buffer: &mut Buffer, path: &Path) {
    match buffer.load(path) {
        Ok(0) => {}
        Ok(n) => tracing::info!(samples = n, file = %path.display(), "restored unsent samples"),
        Err(e) => {
            let aside = path.with_extension("json.corrupt");
            let moved = std::fs::rename(path, &aside).is_ok();
            tracing::warn!(
                error = %e,
                file = %path.display(),
                moved_to = %if moved { aside.display().to_string() } else { "-".into() },
                "cannot restore unsent samples; starting empty"
            );
        }
    }
}

type CallFuture = Pin<Box<dyn Future<Output = Result<serde_json::Value, CallError>>>>;

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
enum CallKind {
    Report,
    Metrics {
        batch: Uuid,
        rounds: usize,
        bytes: usize,
    },
    Heartbeat,
}

struct InFlight {
    kind: CallKind,
    future: CallFuture,
}

struct Agent {
    client: Client,
    collectors: Collectors,
    buffer: Buffer,
    backoff: Backoff,
    /// Largest batch body, in bytes (halved when the server answers 413).
    byte_limit: usize,
    /// The host must be (re)described before metrics go out: at start and after any failure
    /// that may mean the server or the connection went away.
    need_report: bool,
    registered_once: bool,
    want_heartbeat: bool,
    in_flight: Option<InFlight>,
    /// No call before this instant (backoff after a failure).
    retry_at: Option<Instant>,
    /// Rounds collected since start (for the final log line).
    collected: u64,
    gpu_utilization: crate::environments::GpuUtilization,
}

async fn poll_call(in_flight: &mut Option<InFlight>) -> Result<serde_json::Value, CallError> {
    match in_flight {
        Some(call) => call.future.as_mut().await,
        None => std::future::pending().await,
    }
}

async fn wait_until(at: Option<Instant>) {
    match at {
        Some(at) => sleep_until(at).await,
        None => std::future::pending().await,
    }
}

impl Agent {
    async fn run(&mut self, interval: Duration, shutdown: impl Future<Output = ()>) {
        // First round soon after start (CPU usage needs a short baseline), then every interval.
        let first = Instant::now() + interval.min(Duration::from_secs(1));
        let mut ticker = tokio::time::interval_at(first, interval);
        ticker.set_missed_tick_behavior(MissedTickBehavior::Delay);
        tokio::pin!(shutdown);

        loop {
            self.start_call();
            tokio::select! {
                biased;
                () = &mut shutdown => break,
                _ = ticker.tick() => self.collect(),
                result = poll_call(&mut self.in_flight) => {
                    if let Some(call) = self.in_flight.take() {
                        self.finish(call.kind, result);
                    }
                }
                () = wait_until(self.retry_at), if self.in_flight.is_none() => {
                    self.retry_at = None;
                }
            }
        }
        // A call still in flight is abandoned; its batch is saved with its id, so if the server
        // did store it, the replay after restart is recognised as a duplicate.
        self.in_flight = None;
    }

    fn collect(&mut self) {
        let collectors = &mut self.collectors;
        match std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| collectors.collect())) {
            Ok(round) => {
                self.collected += 1;
                if let Ok(mut seen) = self.gpu_utilization.lock() {
                    for g in &round.gpus {
                        if let Some(u) = g.utilization_percent {
                            seen.insert(g.gpu_uuid.clone(), u);
                        }
                    }
                }
                self.buffer.push(round);
            }
            Err(_) => {
                tracing::error!("collection failed (panic); sending a heartbeat instead");
                self.want_heartbeat = true;
            }
        }
    }

    fn start_call(&mut self) {
        if self.in_flight.is_some() || self.retry_at.is_some() {
            return;
        }
        let (kind, body) = if self.need_report {
            let report = self.collectors.describe();
            (CallKind::Report, client::agent_report_body(&report))
        } else if let Some(batch) = self.buffer.next_batch(self.byte_limit) {
            let body = client::report_metrics_body(batch.input());
            (
                CallKind::Metrics {
                    batch: batch.id,
                    rounds: batch.rounds.len(),
                    bytes: body.len(),
                },
                body,
            )
        } else if self.want_heartbeat {
            (CallKind::Heartbeat, client::heartbeat_body())
        } else {
            return;
        };
        let client = self.client.clone();
        let future: CallFuture = match kind {
            CallKind::Report => Box::pin(async move {
                client
                    .agent_report(body)
                    .await
                    .map(serde_json::Value::String)
            }),
            _ => Box::pin(async move { client.post(body).await }),
        };
        self.in_flight = Some(InFlight { kind, future });
    }

    fn finish(&mut self, kind: CallKind, result: Result<serde_json::Value, CallError>) {
        match result {
            Ok(data) => self.succeeded(kind, data),
            Err(e) => self.failed(kind, e),
        }
    }

    fn succeeded(&mut self, kind: CallKind, data: serde_json::Value) {
        self.retry_at = None;
        // Only a delivery ends an outage: a server that takes agentReport but keeps failing
        // reportMetrics must still see the retries slow down.
        let failures = self.backoff.failures();
        if !matches!(kind, CallKind::Report) {
            self.backoff.reset();
        }
        match kind {
            CallKind::Report => {
                self.need_report = false;
                let host_id = data.as_str().unwrap_or_default();
                if self.registered_once {
                    tracing::info!(
                        host_id,
                        failed_attempts = failures,
                        "reconnected; host reported"
                    );
                } else {
                    tracing::info!(host_id, "host reported");
                }
                self.registered_once = true;
            }
            CallKind::Metrics { batch, rounds, .. } => {
                self.buffer.accepted();
                let duplicate = data["reportMetrics"]["duplicate"]
                    .as_bool()
                    .unwrap_or(false);
                tracing::debug!(
                    %batch,
                    samples = rounds,
                    duplicate,
                    accepted = %data["reportMetrics"]["accepted"],
                    buffered = self.buffer.len(),
                    "batch delivered"
                );
                if duplicate {
                    tracing::info!(%batch, "server already had this batch (replay)");
                }
            }
            CallKind::Heartbeat => {
                self.want_heartbeat = false;
                tracing::debug!("heartbeat sent");
            }
        }
    }

    fn failed(&mut self, kind: CallKind, error: CallError) {
        let class = error.class();
        let call = match kind {
            CallKind::Report => "agentReport",
            CallKind::Metrics { .. } => "reportMetrics",
            CallKind::Heartbeat => "agentHeartbeat",
        };
        match (class, kind) {
            (
                Class::TooLarge,
                CallKind::Metrics {
                    batch,
                    rounds,
                    bytes,
                },
            ) => {
                if rounds > 1 {
                    self.buffer.unbatch();
                    self.byte_limit = (bytes.min(self.byte_limit) / 2).max(1024);
                    tracing::warn!(
                        %batch,
                        samples = rounds,
                        bytes,
                        new_limit = self.byte_limit,
                        "server refused the batch as too large; sending smaller batches"
                    );
                    return;
                }
                self.buffer.rejected();
                tracing::error!(%batch, bytes, "a single sample is over the server's body limit; dropped");
                return;
            }
            (Class::Reject, CallKind::Metrics { batch, rounds, .. }) => {
                self.buffer.rejected();
                tracing::error!(
                    %batch,
                    samples = rounds,
                    error = %error,
                    rejected_batches = self.buffer.stats.rejected_batches,
                    "server rejected the batch as bad input; dropped it"
                );
            }
            (Class::Auth, _) => {
                self.need_report = true;
                tracing::error!(
                    call,
                    error = %error,
                    buffered = self.buffer.len(),
                    "server refused the agent token; samples are kept, retrying"
                );
            }
            _ => {
                self.need_report = true;
                let level_first = self.backoff.failures() == 0;
                if level_first {
                    tracing::warn!(call, error = %error, "server call failed; samples are kept, retrying");
                } else {
                    tracing::warn!(
                        call,
                        error = %error,
                        attempt = self.backoff.failures() + 1,
                        buffered = self.buffer.len(),
                        "server call failed again"
                    );
                }
            }
        }
        let delay = self.backoff.fail();
        tracing::debug!(delay_ms = delay.as_millis() as u64, "next attempt");
        self.retry_at = Some(Instant::now() + delay);
    }
}
