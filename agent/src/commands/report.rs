//! Reporting one command to the server, call after call and in order: `commandStarted`,
//! live `commandOutput` chunks, `commandFinished`, each retried with backoff until the server
//! takes it (a NOT_FOUND drops what follows but the final report).

use super::*;

#[derive(Debug, PartialEq, Eq)]
pub(super) enum Sent {
    Accepted,
    /// NOT_FOUND or BAD_USER_INPUT: the server will never take it.
    Dropped,
    /// HTTP 413.
    TooLarge,
    /// The agent is stopping.
    GaveUp,
}

/// Reports one command, call after call, in order.
pub(super) struct Reporter<'a> {
    ctx: &'a Ctx,
    id: &'a str,
    backoff: Backoff,
    stopping: watch::Receiver<bool>,
    seq: i32,
    /// The server answered NOT_FOUND for this command: further output is not sent (the final
    /// report still is, once).
    unknown: bool,
}

impl<'a> Reporter<'a> {
    pub(super) fn new(ctx: &'a Ctx, id: &'a str) -> Self {
        Self {
            ctx,
            id,
            backoff: Backoff::new(ctx.settings.retry_initial, ctx.settings.retry_max),
            stopping: ctx.stopping.clone(),
            seq: 0,
            unknown: false,
        }
    }

    pub(super) fn stopping(&self) -> bool {
        *self.stopping.borrow()
    }

    /// `commandStarted` once the process is spawned, then the output as it comes: whatever is
    /// pending, at most [`CHUNK_MAX`] bytes of one stream per call and one call per
    /// [`CHUNK_INTERVAL`] while the command runs. Returns when the command has ended and all
    /// its output is sent (or the agent is stopping).
    pub(super) async fn progress(&mut self, live: &Live) {
        while !live.spawned() && !live.finished() {
            live.changed().await;
        }
        if self
            .send("commandStarted", wire::started_body(self.id), false)
            .await
            == Sent::GaveUp
        {
            return;
        }
        let mut last_sent: Option<Instant> = None;
        loop {
            while !live.has_output() && !live.finished() {
                let mut stopping = self.stopping.clone();
                tokio::select! {
                    () = live.changed() => {}
                    () = stopped(&mut stopping) => return,
                }
            }
            if self.stopping() || !live.has_output() {
                return;
            }
            if let Some(at) = last_sent {
                if !live.finished() {
                    tokio::time::sleep_until(at + CHUNK_INTERVAL).await;
                }
            }
            let Some((stream, data)) = live.take_chunk(CHUNK_MAX) else {
                continue;
            };
            if self.unknown {
                continue;
            }
            last_sent = Some(Instant::now());
            let seq = self.seq;
            self.seq += 1;
            let body = wire::output_body(self.id, stream, seq, &data);
            if self.send("commandOutput", body, false).await == Sent::GaveUp {
                return;
            }
        }
    }

    /// `commandFinished`, halving the outputs while the server answers 413. Returns whether
    /// the report is settled (taken, or refused for good).
    pub(super) async fn finish(&mut self, mut report: Arc<FinishedInput>) -> bool {
        loop {
            match self
                .send("commandFinished", wire::finished_body(&report), true)
                .await
            {
                Sent::Accepted | Sent::Dropped => return true,
                Sent::GaveUp => return false,
                Sent::TooLarge => {
                    if !Arc::make_mut(&mut report).shrink() {
                        tracing::error!(command_id = %self.id, "commandFinished refused as too large even without output; dropped");
                        return true;
                    }
                    tracing::warn!(
                        command_id = %self.id,
                        stdout_bytes = report.stdout.len(),
                        stderr_bytes = report.stderr.len(),
                        "commandFinished refused as too large; sending less output"
                    );
                    self.ctx.keep_report(&report);
                }
            }
        }
    }

    /// One report, retried with backoff until the server settles it. While the agent stops,
    /// only final reports are retried (quickly, until the shutdown deadline).
    pub(super) async fn send(&mut self, what: &'static str, body: Vec<u8>, is_final: bool) -> Sent {
        loop {
            let error = match self.ctx.client.post(body.clone()).await {
                Ok(_) => {
                    self.backoff.reset();
                    return Sent::Accepted;
                }
                Err(e) => e,
            };
            if is_not_found(&error) {
                if !self.unknown {
                    tracing::warn!(command_id = %self.id, call = what, "the server does not know this command (NOT_FOUND); its reports are dropped");
                }
                self.unknown = true;
                return Sent::Dropped;
            }
            match error.class() {
                Class::TooLarge if is_final => return Sent::TooLarge,
                Class::Reject | Class::TooLarge => {
                    tracing::error!(command_id = %self.id, call = what, error = %error, "server rejected the report; dropped");
                    return Sent::Dropped;
                }
                Class::Auth | Class::Retry => {}
            }
            if self.stopping() && !is_final {
                return Sent::GaveUp;
            }
            let delay = if self.stopping() {
                Duration::from_millis(200)
            } else {
                self.backoff.fail()
            };
            if self.backoff.failures() <= 1 {
                tracing::warn!(command_id = %self.id, call = what, error = %error, "command report failed; retrying");
            } else {
                tracing::debug!(command_id = %self.id, call = what, error = %error, attempt = self.backoff.failures(), "command report failed again");
            }
            let mut stopping = self.stopping.clone();
            let already = self.stopping();
            tokio::select! {
                () = tokio::time::sleep(delay) => {}
                () = stopped(&mut stopping), if !already => {}
            }
        }
    }
}
