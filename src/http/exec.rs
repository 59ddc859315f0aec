//! The one execution path of every GraphQL operation, whatever the transport.
//!
//! The schema's extensions (`graphql::schema`) run on every transport: `extensions.code` on
//! every error, the document limits (characters, aliases, one sign-in field per operation, no
//! NUL), depth and complexity, and the request time limit of each query or mutation
//! (`limits.request_timeout_ms`, then the operation's answer is TIMEOUT), each operation in a
//! tracing span of its own (`graphql::spans`). Around them,
//! [`Executor`] does the rest for both `POST /graphql` and `/graphql/ws`:
//!
//! - the per-principal rate limit (per client address when anonymous), one token per
//!   operation: each operation of an HTTP batch, each `subscribe` / `start` on a socket, so
//!   neither a batch nor a socket is a way around it ([`Executor::admit`]);
//! - the request data of an operation: its principal and a relation loader that reads only
//!   what that principal may, with relation levels batched (`graphql::batch::drive`);
//! - the batch rules: at most `limits.max_batch` operations, sign-in never inside a batch;
//! - on a socket, subscribers of the same live operation share one stream
//!   (`graphql::fanout`); every response becomes a [`Frame`] for the connection's queue;
//! - refusals before anything runs, rendered the same way on both transports
//!   ([`refusal`]).

use std::net::IpAddr;
use std::sync::Arc;
use std::time::Duration;

use async_graphql::{BatchRequest, BatchResponse, Data, Request, ServerError};
use futures_util::StreamExt;
use tokio::sync::mpsc;
use tokio::task::JoinHandle;

use super::rate_limit::RateLimiter;
use crate::auth::Principal;
use crate::error::{AppError, AppResult};
use crate::graphql::batch;
use crate::graphql::fanout::{self, Delivery, Frame, Membership};
use crate::graphql::schema::{request_data, AppSchema, InBatch};
use crate::state::AppState;

pub struct Executor {
    pub app: AppState,
    pub schema: AppSchema,
    limiter: RateLimiter,
}

impl Executor {
    pub fn new(app: AppState, schema: AppSchema) -> Self {
        let limits = &app.settings.limits;
        let limiter = RateLimiter::new(limits.rate_per_second, limits.rate_burst);
        Self {
            app,
            schema,
            limiter,
        }
    }

    /// Takes one rate-limit token per operation for `principal` (anonymous callers share
    /// their address's bucket); `Err(wait)` when they are not available, and nothing runs.
    pub fn admit(
        &self,
        principal: &Principal,
        peer: IpAddr,
        operations: usize,
    ) -> Result<(), Duration> {
        let key = principal
            .rate_key()
            .unwrap_or_else(|| format!("addr:{peer}"));
        self.limiter.check_n(&key, operations)
    }

    /// Runs an HTTP request (one operation or a batch) as `principal`, after the batch rules
    /// and the rate limit. A request refused before execution is `Err`.
    pub async fn execute_batch(
        &self,
        principal: Principal,
        peer: IpAddr,
        batch: BatchRequest,
    ) -> Result<BatchResponse, Refused> {
        let max_batch = self.app.settings.limits.max_batch;
        let batch = match batch {
            BatchRequest::Single(mut request) => {
                self.admit(&principal, peer, 1)
                    .map_err(Refused::RateLimited)?;
                request.data = request_data(&self.app, principal);
                BatchRequest::Single(request)
            }
            BatchRequest::Batch(requests) => {
                if requests.len() > max_batch {
                    return Err(Refused::Invalid(AppError::bad_input(format!(
                        "a batch may hold at most {max_batch} operations, got {}",
                        requests.len()
                    ))));
                }
                self.admit(&principal, peer, requests.len())
                    .map_err(Refused::RateLimited)?;
                let requests = requests
                    .into_iter()
                    .map(|mut request| {
                        request.data = request_data(&self.app, principal.clone());
                        request.data.insert(InBatch);
                        request
                    })
                    .collect();
                BatchRequest::Batch(requests)
            }
        };
        Ok(batch::drive(self.schema.execute_batch(batch)).await)
    }

    /// Starts one WebSocket operation (query, mutation or subscription) with the
    /// connection's request data, after the rate limit: its responses, then `Complete`, go
    /// to `out` as frames marked `serial` and `id`. A live operation others run already as
    /// the same principal joins their stream.
    pub fn start(
        &self,
        principal: &Principal,
        peer: IpAddr,
        request: Request,
        session: Arc<Data>,
        (serial, id): (u64, Arc<str>),
        out: mpsc::Sender<Frame>,
    ) -> AppResult<Operation> {
        self.admit(principal, peer, 1)
            .map_err(|_| AppError::RateLimited)?;
        let schema = self.schema.clone();
        if let Some(key) = fanout::share_key(principal, &request) {
            let start = move || schema.execute_stream_with_session_data(request, session);
            return Ok(Operation::Shared(
                self.app.fanout.join(key, serial, id, out, start),
            ));
        }
        let mut stream = schema.execute_stream_with_session_data(request, session);
        Ok(Operation::Alone(tokio::spawn(batch::drive(async move {
            while let Some(response) = stream.next().await {
                let frame = Frame {
                    serial,
                    id: id.clone(),
                    delivery: Arc::new(Delivery::of(&response)),
                };
                if out.send(frame).await.is_err() {
                    return;
                }
            }
            let end = Frame {
                serial,
                id,
                delivery: Arc::new(Delivery::Complete),
            };
            let _ = out.send(end).await;
        }))))
    }
}

/// A running WebSocket operation; dropping it stops it.
pub enum Operation {
    /// Resolved for this subscriber alone.
    Alone(JoinHandle<()>),
    /// A place in a shared stream.
    Shared(Membership),
}

impl Drop for Operation {
    fn drop(&mut self) {
        if let Operation::Alone(task) = self {
            task.abort();
        }
    }
}

/// Why a request did not run.
pub enum Refused {
    /// Over the rate limit; a token is available after this long.
    RateLimited(Duration),
    Invalid(AppError),
}

/// A refusal before execution, as the errors of a response: the same on every transport.
pub fn refusal(err: AppError) -> Vec<ServerError> {
    vec![err.into_server_error()]
}
