//! Remote command execution (see `agent/README.md`, "Commands").
//!
//! Three parts, on the agent's one thread:
//! - [`ws::Subscription`] holds the `agentCommands` subscription and hands every delivered
//!   `RUN` / `CANCEL` to the dispatcher;
//! - the dispatcher ([`serve`]) runs each command id at most once (checked against, and
//!   recorded in, the started log before spawning), at most `--max-concurrent-commands` at a
//!   time, the rest queued in arrival order;
//! - one task per command runs it ([`exec`]) and reports it: `commandStarted`, live
//!   `commandOutput` chunks, then `commandFinished`, each retried with backoff until the
//!   server takes it (a `NOT_FOUND` drops it).
//!
//! The metrics loop does not depend on any of this.

pub mod exec;
mod report;
pub mod store;
pub mod wire;
pub mod ws;

use std::collections::{HashMap, VecDeque};
use std::path::PathBuf;
use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use tokio::sync::{mpsc, watch};
use tokio::task::{JoinError, JoinSet};
use tokio::time::Instant;

use crate::backoff::Backoff;
use crate::client::{CallError, Class, Client};
use crate::config::Secret;
use exec::{Job, Live, Stop};
use report::{Reporter, Sent};
use store::{Outbox, Started};
use wire::{Delivery, FinishedInput, RunCommand};

/// The started-ids log in the data directory.
pub const STARTED_LOG: &str = "commands-started.log";
/// Final reports not delivered when the agent stopped.
pub const OUTBOX: &str = "commands-outbox.json";
/// Largest `commandOutput` chunk (bytes of UTF-8).
pub const CHUNK_MAX: usize = 16 * 1024;
/// At most one `commandOutput` per command this often while it runs.
pub const CHUNK_INTERVAL: Duration = Duration::from_millis(100);
/// On shutdown, once the commands are killed, how long their final reports still get.
const SHUTDOWN_REPORT_WINDOW: Duration = Duration::from_secs(3);

#[derive(Debug, Clone)]
pub struct Settings {
    pub data_dir: PathBuf,
    pub max_concurrent: usize,
    pub output_cap: usize,
    pub kill_grace: Duration,
    pub retry_initial: Duration,
    pub retry_max: Duration,
    pub request_timeout: Duration,
}

/// Whether the server said it does not know the command.
pub fn is_not_found(e: &CallError) -> bool {
    matches!(e, CallError::Graphql { code: Some(code), .. } if code == "NOT_FOUND")
}

/// Completes once `stop` is true (or its sender is gone).
pub(crate) async fn stopped(stop: &mut watch::Receiver<bool>) {
    let _ = stop.wait_for(|s| *s).await;
}

/// What the command tasks share.
struct Ctx {
    client: Client,
    settings: Settings,
    stopping: watch::Receiver<bool>,
    /// Final reports not yet delivered (saved to [`OUTBOX`] on shutdown).
    outbox: Mutex<Vec<Arc<FinishedInput>>>,
    /// Command ids whose process has ended (their slot is free).
    exited: mpsc::UnboundedSender<String>,
}

impl Ctx {
    fn outbox(&self) -> std::sync::MutexGuard<'_, Vec<Arc<FinishedInput>>> {
        self.outbox.lock().unwrap_or_else(PoisonError::into_inner)
    }

    fn keep_report(&self, report: &Arc<FinishedInput>) {
        let mut outbox = self.outbox();
        outbox.retain(|r| r.command_id != report.command_id);
        outbox.push(report.clone());
    }

    fn forget_report(&self, id: &str) {
        self.outbox().retain(|r| r.command_id != id);
    }
}

/// A command task's result.
struct TaskDone {
    id: String,
    /// The final report reached the server (or the server does not want it).
    delivered: bool,
}

/// Runs the command side of the agent until `stop` turns true: subscribes, runs, reports,
/// then kills what still runs and saves undelivered reports.
pub async fn serve(
    settings: Settings,
    client: Client,
    server: reqwest::Url,
    token: Secret,
    environments: Option<mpsc::Sender<crate::environments::Feed>>,
    stop: watch::Receiver<bool>,
) {
    let started_path = settings.data_dir.join(STARTED_LOG);
    let store = match Started::open(&started_path) {
        Ok(s) => s,
        Err(e) => {
            tracing::error!(
                error = %e,
                file = %started_path.display(),
                "cannot open the started-commands log; commands disabled (a command must never run twice)"
            );
            return;
        }
    };
    let (exited_tx, exited_rx) = mpsc::unbounded_channel();
    let ctx = Arc::new(Ctx {
        client,
        settings: settings.clone(),
        stopping: stop.clone(),
        outbox: Mutex::new(Vec::new()),
        exited: exited_tx,
    });
    let mut service = Service {
        ctx,
        store,
        queue: VecDeque::new(),
        running: HashMap::new(),
        tasks: JoinSet::new(),
        task_ids: HashMap::new(),
        exited: exited_rx,
    };
    service.recover();

    let (tx, rx) = mpsc::channel(64);
    let subscription = ws::Subscription {
        url: ws::ws_url(&server),
        token,
        timeout: settings.request_timeout,
        backoff: Backoff::new(settings.retry_initial, settings.retry_max),
        environments,
    };
    let ws_task = tokio::spawn(subscription.run(tx, stop.clone()));
    service.run(rx, stop).await;
    service.shutdown().await;
    let mut ws_task = ws_task;
    if tokio::time::timeout(Duration::from_secs(2), &mut ws_task)
        .await
        .is_err()
    {
        ws_task.abort();
    }
}

struct Service {
    ctx: Arc<Ctx>,
    store: Started,
    /// Delivered, not yet started (all slots busy), in arrival order.
    queue: VecDeque<RunCommand>,
    /// Commands whose process runs, with the way to stop each.
    running: HashMap<String, watch::Sender<Option<Stop>>>,
    tasks: JoinSet<TaskDone>,
    task_ids: HashMap<tokio::task::Id, String>,
    exited: mpsc::UnboundedReceiver<String>,
}

impl Service {
    async fn run(&mut self, mut rx: mpsc::Receiver<Delivery>, mut stop: watch::Receiver<bool>) {
        let mut subscribed = true;
        loop {
            self.start_queued();
            tokio::select! {
                () = stopped(&mut stop) => return,
                delivery = rx.recv(), if subscribed => match delivery {
                    Some(d) => self.on_delivery(d),
                    None => subscribed = false,
                },
                Some(id) = self.exited.recv() => {
                    self.running.remove(&id);
                }
                Some(done) = self.tasks.join_next_with_id(), if !self.tasks.is_empty() => {
                    self.on_done(done);
                }
            }
        }
    }

    /// Final reports from before the last stop: saved ones, and for commands started but never
    /// reported (the agent died), a FAILED "result unknown".
    fn recover(&mut self) {
        let outbox_path = self.ctx.settings.data_dir.join(OUTBOX);
        let mut saved: Vec<FinishedInput> = Outbox::load(&outbox_path);
        if !saved.is_empty() {
            tracing::info!(
                reports = saved.len(),
                "sending command results saved at the last stop"
            );
        }
        for id in self.store.undelivered() {
            if saved.iter().any(|r| r.command_id == id) {
                continue;
            }
            tracing::warn!(
                command_id = %id,
                "this command was started before the agent stopped unexpectedly; its result is lost, reporting it as FAILED"
            );
            saved.push(FinishedInput::lost(&id));
        }
        for report in saved {
            self.spawn_report(report);
        }
    }

    fn spawn_report(&mut self, report: FinishedInput) {
        let report = Arc::new(report);
        self.ctx.keep_report(&report);
        let id = report.command_id.clone();
        let handle = self.tasks.spawn(report_only(self.ctx.clone(), report));
        self.task_ids.insert(handle.id(), id);
    }

    fn on_delivery(&mut self, delivery: Delivery) {
        match delivery {
            Delivery::Run(cmd) => {
                if !store::valid_id(&cmd.id) {
                    tracing::error!(command_id = ?cmd.id, "command id not usable (empty, too long, or with spaces); ignored");
                    return;
                }
                if self.store.contains(&cmd.id) {
                    let state = if self.running.contains_key(&cmd.id) {
                        "running"
                    } else {
                        "already run"
                    };
                    tracing::info!(command_id = %cmd.id, state, "command delivered again; not running it again");
                    return;
                }
                if self.queue.iter().any(|q| q.id == cmd.id) {
                    tracing::debug!(command_id = %cmd.id, "command delivered again while queued");
                    return;
                }
                tracing::info!(
                    command_id = %cmd.id,
                    timeout_s = cmd.timeout.as_secs(),
                    "command received"
                );
                if self.running.len() >= self.ctx.settings.max_concurrent {
                    tracing::info!(
                        command_id = %cmd.id,
                        queued = self.queue.len() + 1,
                        "all command slots busy; queued"
                    );
                }
                self.queue.push_back(cmd);
            }
            Delivery::Cancel(id) => {
                if let Some(stop) = self.running.get(&id) {
                    tracing::info!(command_id = %id, "cancelling command");
                    let _ = stop.send(Some(Stop::Cancel));
                } else if let Some(pos) = self.queue.iter().position(|q| q.id == id) {
                    self.queue.remove(pos);
                    tracing::info!(command_id = %id, "command cancelled before it started; dropped from the queue");
                } else {
                    tracing::debug!(command_id = %id, "cancel for a command not running here; ignored");
                }
            }
        }
    }

    fn start_queued(&mut self) {
        while self.running.len() < self.ctx.settings.max_concurrent {
            let Some(cmd) = self.queue.pop_front() else {
                return;
            };
            if let Err(e) = self.store.record_started(&cmd.id) {
                tracing::error!(
                    command_id = %cmd.id,
                    error = %e,
                    "cannot record the command as started; not running it"
                );
                let mut report = FinishedInput::lost(&cmd.id);
                report.stderr =
                    format!("remotegpu-agent: not run: cannot record it in {STARTED_LOG} ({e})\n");
                self.spawn_report(report);
                continue;
            }
            let (stop_tx, stop_rx) = watch::channel(None);
            let id = cmd.id.clone();
            self.running.insert(id.clone(), stop_tx);
            let handle = self
                .tasks
                .spawn(run_command(self.ctx.clone(), cmd, stop_rx));
            self.task_ids.insert(handle.id(), id);
        }
    }

    fn on_done(&mut self, done: Result<(tokio::task::Id, TaskDone), JoinError>) {
        let (task, done) = match done {
            Ok((task, done)) => (task, Some(done)),
            Err(e) => {
                if !e.is_cancelled() {
                    tracing::error!(error = %e, "a command task failed");
                }
                (e.id(), None)
            }
        };
        let id = self.task_ids.remove(&task);
        if let Some(id) = &id {
            self.running.remove(id);
        }
        if let Some(TaskDone { id, delivered }) = done {
            if delivered {
                self.ctx.forget_report(&id);
                if let Err(e) = self.store.record_delivered(&id) {
                    tracing::warn!(command_id = %id, error = %e, "cannot record the command as reported");
                }
            }
        }
    }

    async fn shutdown(&mut self) {
        if !self.running.is_empty() {
            tracing::info!(
                running = self.running.len(),
                "agent stopping: killing the running commands"
            );
        }
        for stop in self.running.values() {
            let _ = stop.send(Some(Stop::Shutdown));
        }
        if !self.queue.is_empty() {
            tracing::info!(
                queued = self.queue.len(),
                "queued commands not started; the server delivers them again"
            );
            self.queue.clear();
        }
        let deadline = Instant::now()
            + self.ctx.settings.kill_grace
            + exec::DRAIN_GRACE
            + SHUTDOWN_REPORT_WINDOW;
        while !self.tasks.is_empty() {
            match tokio::time::timeout_at(deadline, self.tasks.join_next_with_id()).await {
                Ok(Some(done)) => self.on_done(done),
                Ok(None) => break,
                Err(_) => {
                    self.tasks.abort_all();
                    while let Some(done) = self.tasks.join_next_with_id().await {
                        self.on_done(done);
                    }
                }
            }
        }
        let reports: Vec<FinishedInput> = self.ctx.outbox().iter().map(|r| (**r).clone()).collect();
        let path = self.ctx.settings.data_dir.join(OUTBOX);
        match Outbox::save(&path, &reports) {
            Ok(()) if !reports.is_empty() => tracing::info!(
                reports = reports.len(),
                file = %path.display(),
                "saved undelivered command results"
            ),
            Ok(()) => {}
            Err(e) => tracing::error!(
                error = %e,
                file = %path.display(),
                "cannot save undelivered command results"
            ),
        }
    }
}

/// Runs one command and reports it.
async fn run_command(
    ctx: Arc<Ctx>,
    cmd: RunCommand,
    stop: watch::Receiver<Option<Stop>>,
) -> TaskDone {
    let RunCommand {
        id,
        text,
        timeout,
        working_directory,
        environment,
    } = cmd;
    let job = Job {
        command: text,
        timeout,
        working_directory,
        environment,
        output_cap: ctx.settings.output_cap,
        kill_grace: ctx.settings.kill_grace,
    };
    let live = Live::default();
    let mut reporter = Reporter::new(&ctx, &id);
    let execution = async {
        let outcome = exec::execute(&job, &live, stop).await;
        tracing::info!(
            command_id = %id,
            pid = outcome.pid,
            status = ?outcome.status,
            exit_code = outcome.exit_code,
            duration_ms = outcome.duration.as_millis() as u64,
            stdout_bytes = outcome.stdout.len(),
            stderr_bytes = outcome.stderr.len(),
            "command ended"
        );
        let report = Arc::new(FinishedInput::from_outcome(&id, outcome));
        ctx.keep_report(&report);
        let _ = ctx.exited.send(id.clone());
        live.mark_finished();
        report
    };
    let (report, ()) = tokio::join!(execution, reporter.progress(&live));
    let delivered = reporter.finish(report).await;
    TaskDone { id, delivered }
}

/// Reports a result known from before (saved, or lost): `commandStarted`, `commandFinished`.
async fn report_only(ctx: Arc<Ctx>, report: Arc<FinishedInput>) -> TaskDone {
    let id = report.command_id.clone();
    let mut reporter = Reporter::new(&ctx, &id);
    let delivered = match reporter
        .send("commandStarted", wire::started_body(&id), true)
        .await
    {
        Sent::GaveUp => false,
        _ => reporter.finish(report).await,
    };
    TaskDone { id, delivered }
}
