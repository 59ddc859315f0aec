//! RemoteGPU node agent.
//!
//! Describes its host and GPUs to the control plane, samples host and GPU metrics every
//! interval, and pushes them in batches over the server's GraphQL agent API, buffering while
//! the server cannot be reached; runs the commands the server sends it, and the environments'
//! containers through [`runtime`]. See `agent/README.md`.

pub mod agent;
pub mod backoff;
pub mod buffer;
pub mod client;
pub mod collector;
pub mod commands;
pub mod config;
pub mod environments;
pub mod model;
pub mod runtime;
pub mod storage;
