//! Runs one command: `sh -c <text>` in its own process group, stdin null, stdout and stderr
//! captured apart (each up to a cap; the rest is read and discarded so the child never blocks
//! on a full pipe), with a timeout and cancellation that kill the whole group.
//!
//! Outcomes:
//! - exit 0 → `SUCCESS`; any other exit → `FAILED` with the exit code;
//! - killed by a signal it did not get from the agent → `FAILED` with exit code `128 + signal`
//!   (what a shell reports in `$?`);
//! - past its timeout → `TIMEOUT`, cancelled → `CANCELLED`, stopped because the agent is
//!   stopping → `FAILED`; in these three cases the group gets SIGTERM, then SIGKILL after a
//!   grace period, and the exit code is null;
//! - `sh` could not be started (missing working directory, bad environment) → `FAILED`, exit
//!   code null, the reason in stderr.
//!
//! Once the shell has exited, output is still read for [`DRAIN_GRACE`]; a background process
//! that keeps stdout or stderr open after that (`sleep 60 &`) is left running, but its pipes
//! are closed.

use std::collections::VecDeque;
use std::process::{ExitStatus, Stdio};
use std::sync::{Arc, Mutex, MutexGuard, PoisonError};
use std::time::Duration;

use serde::{Deserialize, Serialize};
use tokio::io::{AsyncRead, AsyncReadExt};
use tokio::sync::{watch, Notify};
use tokio::time::Instant;

/// Between SIGTERM and SIGKILL when a command is killed.
pub const DEFAULT_KILL_GRACE: Duration = Duration::from_secs(2);
/// How long output is still read after the shell has exited.
pub const DRAIN_GRACE: Duration = Duration::from_secs(1);
/// The agent's own token is not passed on to commands.
pub const HIDDEN_ENV: &[&str] = &["REMOTEGPU_AGENT_TOKEN"];

/// Which pipe a piece of output came from (`OutputStream` in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Stream {
    Stdout,
    Stderr,
}

/// How a command ended (`CommandOutcome` in the API).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "SCREAMING_SNAKE_CASE")]
pub enum Status {
    Success,
    Failed,
    Timeout,
    Cancelled,
}

/// Why a running command is to be killed.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Stop {
    /// `CANCEL` from the server.
    Cancel,
    /// The agent is stopping.
    Shutdown,
}

/// What to run.
#[derive(Debug, Clone)]
pub struct Job {
    pub command: String,
    pub timeout: Duration,
    pub working_directory: Option<String>,
    /// Added to the agent's environment (minus [`HIDDEN_ENV`]).
    pub environment: Vec<(String, String)>,
    /// Bytes kept per stream.
    pub output_cap: usize,
    pub kill_grace: Duration,
}

impl Job {
    pub fn new(command: impl Into<String>, timeout: Duration, output_cap: usize) -> Self {
        Self {
            command: command.into(),
            timeout,
            working_directory: None,
            environment: Vec::new(),
            output_cap,
            kill_grace: DEFAULT_KILL_GRACE,
        }
    }
}

/// The result of a command.
#[derive(Debug, Clone)]
pub struct Outcome {
    pub status: Status,
    pub exit_code: Option<i32>,
    pub stdout: Vec<u8>,
    pub stderr: Vec<u8>,
    pub stdout_truncated: bool,
    pub stderr_truncated: bool,
    /// From spawn to exit (zero when it could not be started).
    pub duration: Duration,
    /// The shell's pid, which is also the process group id.
    pub pid: Option<u32>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(PoisonError::into_inner)
}

#[derive(Debug, Default)]
struct LiveState {
    spawned: bool,
    finished: bool,
    /// Captured output not yet taken, in arrival order; each piece is whole characters.
    pieces: VecDeque<(Stream, String)>,
}

/// Output as it is produced, for live reporting; shared by the executor and the reporter.
#[derive(Debug, Clone, Default)]
pub struct Live {
    inner: Arc<(Mutex<LiveState>, Notify)>,
}

impl Live {
    fn update(&self, f: impl FnOnce(&mut LiveState)) {
        f(&mut lock(&self.inner.0));
        self.inner.1.notify_one();
    }

    pub fn mark_spawned(&self) {
        self.update(|s| s.spawned = true);
    }

    /// No more output will come.
    pub fn mark_finished(&self) {
        self.update(|s| s.finished = true);
    }

    fn push(&self, stream: Stream, text: String) {
        if !text.is_empty() {
            self.update(|s| s.pieces.push_back((stream, text)));
        }
    }

    pub fn spawned(&self) -> bool {
        lock(&self.inner.0).spawned
    }

    pub fn finished(&self) -> bool {
        lock(&self.inner.0).finished
    }

    pub fn has_output(&self) -> bool {
        !lock(&self.inner.0).pieces.is_empty()
    }

    /// Completes after the next change (or at once if one happened since the last call).
    pub async fn changed(&self) {
        self.inner.1.notified().await;
    }

    /// The oldest pending output of one stream, at most `max` bytes (at least one character),
    /// merging consecutive pieces of that stream.
    pub fn take_chunk(&self, max: usize) -> Option<(Stream, String)> {
        let mut state = lock(&self.inner.0);
        let (stream, _) = state.pieces.front()?;
        let stream = *stream;
        let mut out = String::new();
        while let Some((s, text)) = state.pieces.front_mut() {
            if *s != stream {
                break;
            }
            let room = max.saturating_sub(out.len());
            if text.len() <= room {
                out.push_str(text);
                state.pieces.pop_front();
                continue;
            }
            let mut cut = floor_char_boundary(text, room);
            if cut == 0 && out.is_empty() {
                // A single character wider than `max`: send it whole.
                cut = text.chars().next().map_or(text.len(), char::len_utf8);
            }
            out.push_str(&text[..cut]);
            text.drain(..cut);
            if text.is_empty() {
                state.pieces.pop_front();
            }
            break;
        }
        Some((stream, out))
    }
}

fn floor_char_boundary(s: &str, mut i: usize) -> usize {
    if i >= s.len() {
        return s.len();
    }
    while !s.is_char_boundary(i) {
        i -= 1;
    }
    i
}

/// Length of an incomplete UTF-8 sequence at the end of `b` (to be completed by the next read).
pub fn incomplete_utf8_suffix(b: &[u8]) -> usize {
    for i in 1..=b.len().min(3) {
        let byte = b[b.len() - i];
        if byte & 0xC0 == 0x80 {
            continue;
        }
        let width = match byte {
            0xC2..=0xDF => 2,
            0xE0..=0xEF => 3,
            0xF0..=0xF4 => 4,
            _ => 1,
        };
        return if width > i { i } else { 0 };
    }
    0
}

#[derive(Debug, Default)]
struct Capture {
    data: Vec<u8>,
    truncated: bool,
}

/// Reads a pipe to its end: keeps the first `cap` bytes, discards the rest, and hands what it
/// keeps to `live` as whole characters.
async fn read_pipe<R: AsyncRead + Unpin>(
    mut pipe: R,
    stream: Stream,
    cap: usize,
    capture: Arc<Mutex<Capture>>,
    live: Live,
) {
    let mut buf = vec![0u8; 8192];
    let mut carry: Vec<u8> = Vec::new();
    loop {
        let n = match pipe.read(&mut buf).await {
            Ok(0) | Err(_) => break,
            Ok(n) => n,
        };
        let keep = {
            let mut c = lock(&capture);
            let keep = n.min(cap.saturating_sub(c.data.len()));
            if keep < n {
                c.truncated = true;
            }
            c.data.extend_from_slice(&buf[..keep]);
            keep
        };
        if keep > 0 {
            carry.extend_from_slice(&buf[..keep]);
            let whole = carry.len() - incomplete_utf8_suffix(&carry);
            let text = String::from_utf8_lossy(&carry[..whole]).into_owned();
            carry.drain(..whole);
            live.push(stream, text);
        }
    }
    if !carry.is_empty() {
        live.push(stream, String::from_utf8_lossy(&carry).into_owned());
    }
}

/// Completes when `stop` turns `Some`; never if its sender is gone.
async fn stopped(stop: &mut watch::Receiver<Option<Stop>>) -> Stop {
    let reason = match stop.wait_for(Option::is_some).await {
        Ok(reason) => *reason,
        Err(_) => None,
    };
    match reason {
        Some(reason) => reason,
        None => std::future::pending().await,
    }
}

enum Ended {
    Exited(std::io::Result<ExitStatus>),
    Killed(Status, Option<Stop>),
}

/// Runs `job` to its end. `live` gets `spawned`, then the output as it comes (not `finished`:
/// that is the caller's, once it has the outcome). `stop` kills the command when it turns
/// `Some`.
pub async fn execute(job: &Job, live: &Live, mut stop: watch::Receiver<Option<Stop>>) -> Outcome {
    let failed_to_start = |reason: String| {
        live.mark_spawned();
        Outcome {
            status: Status::Failed,
            exit_code: None,
            stdout: Vec::new(),
            stderr: format!("remotegpu-agent: cannot start the command: {reason}\n").into_bytes(),
            stdout_truncated: false,
            stderr_truncated: false,
            duration: Duration::ZERO,
            pid: None,
        }
    };
    for (key, value) in &job.environment {
        if key.is_empty() || key.contains(['=', '\0']) || value.contains('\0') {
            return failed_to_start(format!("invalid environment variable {key:?}"));
        }
    }

    let mut cmd = platform::shell(&job.command);
    cmd.stdin(Stdio::null())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .kill_on_drop(false);
    for key in HIDDEN_ENV {
        cmd.env_remove(key);
    }
    cmd.envs(job.environment.iter().map(|(k, v)| (k, v)));
    if let Some(dir) = &job.working_directory {
        cmd.current_dir(dir);
    }
    let start = Instant::now();
    let mut child = match cmd.spawn() {
        Ok(child) => child,
        Err(e) => {
            let reason = match &job.working_directory {
                Some(dir) => format!("{e} (working directory {dir:?})"),
                None => e.to_string(),
            };
            return failed_to_start(reason);
        }
    };
    let pid = child.id();
    live.mark_spawned();

    let stdout = Arc::new(Mutex::new(Capture::default()));
    let stderr = Arc::new(Mutex::new(Capture::default()));
    let mut readers = Vec::new();
    if let Some(pipe) = child.stdout.take() {
        readers.push(tokio::spawn(read_pipe(
            pipe,
            Stream::Stdout,
            job.output_cap,
            stdout.clone(),
            live.clone(),
        )));
    }
    if let Some(pipe) = child.stderr.take() {
        readers.push(tokio::spawn(read_pipe(
            pipe,
            Stream::Stderr,
            job.output_cap,
            stderr.clone(),
            live.clone(),
        )));
    }

    let ended = tokio::select! {
        status = child.wait() => Ended::Exited(status),
        () = tokio::time::sleep_until(start + job.timeout) => Ended::Killed(Status::Timeout, None),
        reason = stopped(&mut stop) => {
            let status = match reason {
                Stop::Cancel => Status::Cancelled,
                Stop::Shutdown => Status::Failed,
            };
            Ended::Killed(status, Some(reason))
        }
    };
    let (status, exit_code, note) = match ended {
        Ended::Exited(Ok(exit)) => {
            let (status, code) = classify(exit);
            (status, code, None)
        }
        Ended::Exited(Err(e)) => (
            Status::Failed,
            None,
            Some(format!(
                "remotegpu-agent: cannot wait for the command: {e}\n"
            )),
        ),
        Ended::Killed(status, reason) => {
            let why = match (status, reason) {
                (Status::Timeout, _) => "timeout",
                (_, Some(Stop::Shutdown)) => "agent stopping",
                _ => "cancelled",
            };
            tracing::debug!(pid, why, "killing the command's process group");
            kill_group(pid, &mut child, job.kill_grace).await;
            let note = (reason == Some(Stop::Shutdown)).then(|| {
                "\nremotegpu-agent: the agent stopped while the command was running; \
                 its process group was killed\n"
                    .to_string()
            });
            (status, None, note)
        }
    };
    let duration = start.elapsed();

    // Whatever the shell left holding the pipes gets a moment to finish writing.
    let drain_until = Instant::now() + DRAIN_GRACE;
    for reader in &mut readers {
        if tokio::time::timeout_at(drain_until, &mut *reader)
            .await
            .is_err()
        {
            reader.abort();
        }
    }

    let (stdout, stdout_truncated) = {
        let mut c = lock(&stdout);
        (std::mem::take(&mut c.data), c.truncated)
    };
    let (mut stderr, stderr_truncated) = {
        let mut c = lock(&stderr);
        (std::mem::take(&mut c.data), c.truncated)
    };
    if let Some(note) = note {
        stderr.extend_from_slice(note.as_bytes());
    }
    Outcome {
        status,
        exit_code,
        stdout,
        stderr,
        stdout_truncated,
        stderr_truncated,
        duration,
        pid,
    }
}

/// `SUCCESS` on exit 0; `FAILED` with the code otherwise, `128 + signal` for a signal.
fn classify(exit: ExitStatus) -> (Status, Option<i32>) {
    match exit.code() {
        Some(0) => (Status::Success, Some(0)),
        Some(code) => (Status::Failed, Some(code)),
        None => (Status::Failed, platform::signal(exit).map(|s| 128 + s)),
    }
}

/// SIGTERM to the group; SIGKILL to it once the grace period is over unless the shell has
/// exited and no process is left in the group. Reaps the shell.
async fn kill_group(pid: Option<u32>, child: &mut tokio::process::Child, grace: Duration) {
    let Some(pid) = pid else {
        let _ = child.wait().await;
        return;
    };
    platform::terminate_group(pid, child);
    let deadline = Instant::now() + grace;
    let mut reaped = false;
    loop {
        if !reaped {
            reaped = matches!(child.try_wait(), Ok(Some(_)) | Err(_));
        }
        if reaped && !platform::group_alive(pid) {
            break;
        }
        if Instant::now() >= deadline {
            platform::kill_group(pid, child);
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let _ = child.wait().await;
}

#[cfg(unix)]
mod platform {
    use std::os::unix::process::ExitStatusExt;
    use std::process::ExitStatus;

    use nix::sys::signal::{killpg, Signal};
    use nix::unistd::Pid;

    /// `/bin/sh -c <text>`, leading a new process group.
    pub fn shell(text: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("/bin/sh");
        cmd.arg("-c").arg(text).process_group(0);
        cmd
    }

    pub fn signal(exit: ExitStatus) -> Option<i32> {
        exit.signal()
    }

    fn pgid(pid: u32) -> Option<Pid> {
        i32::try_from(pid)
            .ok()
            .filter(|p| *p > 1)
            .map(Pid::from_raw)
    }

    pub fn terminate_group(pid: u32, _child: &mut tokio::process::Child) {
        if let Some(pg) = pgid(pid) {
            let _ = killpg(pg, Signal::SIGTERM);
        }
    }

    pub fn kill_group(pid: u32, _child: &mut tokio::process::Child) {
        if let Some(pg) = pgid(pid) {
            let _ = killpg(pg, Signal::SIGKILL);
        }
    }

    /// Whether any process (a zombie waiting for its parent included) is left in the group.
    pub fn group_alive(pid: u32) -> bool {
        pgid(pid).is_some_and(|pg| killpg(pg, None).is_ok())
    }
}

#[cfg(not(unix))]
mod platform {
    use std::process::ExitStatus;

    /// `cmd /C <text>`; without process groups only the shell itself can be killed.
    pub fn shell(text: &str) -> tokio::process::Command {
        let mut cmd = tokio::process::Command::new("cmd");
        cmd.arg("/C").arg(text);
        cmd
    }

    pub fn signal(_exit: ExitStatus) -> Option<i32> {
        None
    }

    pub fn terminate_group(_pid: u32, child: &mut tokio::process::Child) {
        let _ = child.start_kill();
    }

    pub fn kill_group(_pid: u32, child: &mut tokio::process::Child) {
        let _ = child.start_kill();
    }

    pub fn group_alive(_pid: u32) -> bool {
        false
    }
}

#[cfg(all(test, unix))]
mod tests {
    use super::*;

    fn no_stop() -> watch::Receiver<Option<Stop>> {
        // A closed channel never stops the command.
        watch::channel(None).1
    }

    async fn run(job: Job) -> Outcome {
        execute(&job, &Live::default(), no_stop()).await
    }

    fn job(cmd: &str) -> Job {
        Job::new(cmd, Duration::from_secs(20), 1024 * 1024)
    }

    /// Whether a pid is gone (or a zombie nobody reaped yet, which runs nothing).
    fn gone(pid: u32) -> bool {
        match std::fs::read_to_string(format!("/proc/{pid}/stat")) {
            Err(_) => true,
            Ok(stat) => stat
                .rsplit_once(") ")
                .is_some_and(|(_, rest)| rest.starts_with('Z') || rest.starts_with('X')),
        }
    }

    async fn wait_gone(pid: u32) -> bool {
        for _ in 0..100 {
            if gone(pid) {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        false
    }

    #[tokio::test]
    async fn echo_succeeds() {
        let o = run(job("echo hello")).await;
        assert_eq!(o.status, Status::Success);
        assert_eq!(o.exit_code, Some(0));
        assert_eq!(o.stdout, b"hello\n");
        assert!(o.stderr.is_empty());
        assert!(!o.stdout_truncated && !o.stderr_truncated);
        assert!(o.pid.is_some());
    }

    #[tokio::test]
    async fn exit_code_is_kept() {
        let o = run(job("exit 3")).await;
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.exit_code, Some(3));
    }

    #[tokio::test]
    async fn stderr_is_kept_apart() {
        let o = run(job("echo out; echo err >&2; echo out2")).await;
        assert_eq!(o.status, Status::Success);
        assert_eq!(o.stdout, b"out\nout2\n");
        assert_eq!(o.stderr, b"err\n");
    }

    #[tokio::test]
    async fn signal_is_reported_as_128_plus_signal() {
        let o = run(job("kill -9 $$")).await;
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.exit_code, Some(137));
    }

    #[tokio::test]
    async fn output_over_the_cap_is_truncated_without_blocking_the_child() {
        // 4 MiB on stdout and 1 MiB on stderr: far more than a pipe buffer holds.
        let mut j = job(
            "head -c 4194304 /dev/zero | tr '\\0' a; head -c 1048576 /dev/zero | tr '\\0' b >&2; echo done >&2; exit 4",
        );
        j.output_cap = 1000;
        j.timeout = Duration::from_secs(10);
        let o = run(j).await;
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.exit_code, Some(4));
        assert_eq!(o.stdout, vec![b'a'; 1000]);
        assert!(o.stdout_truncated);
        assert_eq!(o.stderr, vec![b'b'; 1000]);
        assert!(o.stderr_truncated);
        assert!(o.duration < Duration::from_secs(5));
    }

    #[tokio::test]
    async fn environment_and_working_directory_apply_and_the_token_is_hidden() {
        let dir = tempfile::tempdir().unwrap();
        let mut j = job("pwd; echo \"$GREETING\"; echo \"token=${REMOTEGPU_AGENT_TOKEN:-none}\"");
        j.working_directory = Some(dir.path().to_string_lossy().into_owned());
        j.environment = vec![("GREETING".into(), "hi there".into())];
        let o = run(j).await;
        let expected = format!(
            "{}\nhi there\ntoken=none\n",
            dir.path().canonicalize().unwrap().display()
        );
        assert_eq!(String::from_utf8_lossy(&o.stdout), expected);
    }

    #[tokio::test]
    async fn a_missing_working_directory_fails_to_start() {
        let mut j = job("echo never");
        j.working_directory = Some("/nonexistent/remotegpu".into());
        let live = Live::default();
        let o = execute(&j, &live, no_stop()).await;
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.exit_code, None);
        assert!(o.stdout.is_empty());
        let err = String::from_utf8_lossy(&o.stderr);
        assert!(err.contains("cannot start"), "{err}");
        assert!(live.spawned());
        let mut bad = job("true");
        bad.environment = vec![("A=B".into(), "x".into())];
        assert_eq!(run(bad).await.status, Status::Failed);
    }

    #[tokio::test]
    async fn timeout_kills_the_whole_group() {
        let mut j = job("sleep 60 & echo $!; sleep 60");
        j.timeout = Duration::from_secs(1);
        let started = std::time::Instant::now();
        let o = run(j).await;
        assert_eq!(o.status, Status::Timeout);
        assert_eq!(o.exit_code, None);
        assert!(started.elapsed() < Duration::from_secs(5));
        assert!(o.duration >= Duration::from_secs(1));
        let grandchild: u32 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
        assert!(
            wait_gone(o.pid.unwrap()).await,
            "the shell is still running"
        );
        assert!(
            wait_gone(grandchild).await,
            "the background sleep is still running"
        );
    }

    #[tokio::test]
    async fn a_group_ignoring_sigterm_is_killed_after_the_grace() {
        let mut j = job("trap '' TERM; sleep 60 & echo $!; sleep 60");
        j.timeout = Duration::from_millis(300);
        j.kill_grace = Duration::from_millis(300);
        let o = run(j).await;
        assert_eq!(o.status, Status::Timeout);
        let grandchild: u32 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
        assert!(wait_gone(o.pid.unwrap()).await);
        assert!(wait_gone(grandchild).await);
    }

    #[tokio::test]
    async fn cancel_kills_a_running_command() {
        let (tx, rx) = watch::channel(None);
        let live = Live::default();
        let j = job("sleep 60 & echo $!; sleep 60");
        let exec = execute(&j, &live, rx);
        let cancel = async {
            while !live.has_output() {
                live.changed().await;
            }
            tx.send(Some(Stop::Cancel)).unwrap();
        };
        let (o, ()) = tokio::join!(exec, cancel);
        assert_eq!(o.status, Status::Cancelled);
        assert_eq!(o.exit_code, None);
        let grandchild: u32 = String::from_utf8_lossy(&o.stdout).trim().parse().unwrap();
        assert!(wait_gone(o.pid.unwrap()).await);
        assert!(wait_gone(grandchild).await);
    }

    #[tokio::test]
    async fn shutdown_fails_the_command_with_a_note() {
        let (tx, rx) = watch::channel(None);
        let live = Live::default();
        let j = job("echo started; sleep 60");
        let exec = execute(&j, &live, rx);
        let stop = async {
            while !live.has_output() {
                live.changed().await;
            }
            tx.send(Some(Stop::Shutdown)).unwrap();
        };
        let (o, ()) = tokio::join!(exec, stop);
        assert_eq!(o.status, Status::Failed);
        assert_eq!(o.exit_code, None);
        assert!(String::from_utf8_lossy(&o.stderr).contains("agent stopped"));
    }

    #[tokio::test]
    async fn a_background_process_holding_the_pipe_does_not_hold_the_result() {
        let started = std::time::Instant::now();
        let o = run(job("sleep 30 & echo $!; echo bye")).await;
        assert_eq!(o.status, Status::Success);
        assert!(started.elapsed() < DRAIN_GRACE + Duration::from_secs(2));
        let text = String::from_utf8_lossy(&o.stdout).into_owned();
        let pid: u32 = text.lines().next().unwrap().parse().unwrap();
        assert!(text.ends_with("bye\n"));
        // Not ours to keep running: clean up.
        let _ = std::process::Command::new("kill")
            .arg(pid.to_string())
            .status();
    }

    #[tokio::test]
    async fn live_output_arrives_in_order_as_whole_characters() {
        let live = Live::default();
        let j = job("printf 'h\\303'; sleep 0.2; printf '\\251llo\\n'; echo e >&2");
        let o = execute(&j, &live, no_stop()).await;
        assert_eq!(o.stdout, "héllo\n".as_bytes());
        let mut got = Vec::new();
        while let Some(chunk) = live.take_chunk(16 * 1024) {
            got.push(chunk);
        }
        let stdout: String = got
            .iter()
            .filter(|(s, _)| *s == Stream::Stdout)
            .map(|(_, t)| t.as_str())
            .collect();
        assert_eq!(stdout, "héllo\n");
        assert!(got.iter().all(|(_, t)| !t.contains('\u{FFFD}')));
        assert_eq!(got.last().unwrap(), &(Stream::Stderr, "e\n".to_string()));
    }

    #[test]
    fn chunks_merge_one_stream_and_respect_the_limit() {
        let live = Live::default();
        live.push(Stream::Stdout, "ab".into());
        live.push(Stream::Stdout, "cdé".into());
        live.push(Stream::Stderr, "x".into());
        live.push(Stream::Stdout, "z".into());
        assert_eq!(live.take_chunk(4), Some((Stream::Stdout, "abcd".into())));
        // "é" is two bytes: not split.
        assert_eq!(live.take_chunk(1), Some((Stream::Stdout, "é".into())));
        assert_eq!(live.take_chunk(100), Some((Stream::Stderr, "x".into())));
        assert_eq!(live.take_chunk(100), Some((Stream::Stdout, "z".into())));
        assert_eq!(live.take_chunk(100), None);
    }

    #[test]
    fn incomplete_suffixes() {
        assert_eq!(incomplete_utf8_suffix(b"abc"), 0);
        assert_eq!(incomplete_utf8_suffix("é".as_bytes()), 0);
        assert_eq!(incomplete_utf8_suffix(&"é".as_bytes()[..1]), 1);
        assert_eq!(incomplete_utf8_suffix(&"€".as_bytes()[..2]), 2);
        assert_eq!(incomplete_utf8_suffix(&"😀".as_bytes()[..3]), 3);
        assert_eq!(incomplete_utf8_suffix(b"\x80\x80\x80"), 0);
        assert_eq!(incomplete_utf8_suffix(b""), 0);
    }
}
