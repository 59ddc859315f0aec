//! An in-memory [`ContainerRuntime`] for tests of the code that drives a runtime.
//!
//! [`FakeRuntime`] behaves like the Docker runtime where it matters to a caller (the same
//! idempotency, `NotFound` for starting or stopping a missing container, `Missing` from
//! `inspect`, `None` usage for a container that does not run) and records every call in
//! order. Tests can also play the world around the agent:
//!
//! - [`fail_next`](FakeRuntime::fail_next) makes the next call of one kind fail with a given
//!   error (queued, one per call);
//! - [`set_missing_image`](FakeRuntime::set_missing_image) makes `create` fail for an image as
//!   Docker does when it cannot be found or pulled;
//! - [`insert`](FakeRuntime::insert), [`vanish`](FakeRuntime::vanish) and
//!   [`exit`](FakeRuntime::exit) add a container, remove one or stop one behind the caller's
//!   back;
//! - [`set_usage`](FakeRuntime::set_usage) sets what `usage` reports for a running container.
//!
//! It keeps tenant networks as the Docker runtime does: a container's network exists from its
//! creation until the last container on it is removed ([`networks`](FakeRuntime::networks)).
//! Mount keys are checked ([`validate_spec`]) but nothing is resolved on disk.
//!
//! ```
//! use std::sync::Arc;
//! use remotegpu_agent::runtime::{ContainerRuntime, ContainerState, fake::{Call, FakeRuntime}};
//! # let spec = remotegpu_agent::runtime::fake::example_spec("env-1");
//! # tokio::runtime::Builder::new_current_thread().build().unwrap().block_on(async {
//! let fake = Arc::new(FakeRuntime::new());
//! let runtime: Arc<dyn ContainerRuntime> = fake.clone();
//! runtime.create(&spec).await.unwrap();
//! runtime.start("env-1").await.unwrap();
//! assert_eq!(runtime.inspect("env-1").await.unwrap().state, ContainerState::Running);
//! assert_eq!(fake.calls()[1], Call::Start("env-1".to_string()));
//! # });
//! ```

use std::collections::{BTreeMap, BTreeSet, HashSet, VecDeque};
use std::sync::{Mutex, MutexGuard};
use std::time::Duration;

use async_trait::async_trait;

use super::{
    validate_environment_id, validate_spec, ContainerInfo, ContainerRuntime, ContainerSpec,
    ContainerState, ContainerUsage, GpuMode, RuntimeError, RuntimeErrorKind,
};

/// The kinds of runtime calls, for [`FakeRuntime::fail_next`].
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Op {
    Create,
    Start,
    Stop,
    Restart,
    Remove,
    Inspect,
    List,
    Usage,
}

/// One call the fake received, with its arguments.
#[derive(Debug, Clone, PartialEq)]
pub enum Call {
    Create(ContainerSpec),
    Start(String),
    Stop(String, Duration),
    Restart(String, Duration),
    Remove(String),
    Inspect(String),
    List,
    Usage(String),
}

impl Call {
    /// The kind of the call.
    pub fn op(&self) -> Op {
        match self {
            Call::Create(_) => Op::Create,
            Call::Start(_) => Op::Start,
            Call::Stop(..) => Op::Stop,
            Call::Restart(..) => Op::Restart,
            Call::Remove(_) => Op::Remove,
            Call::Inspect(_) => Op::Inspect,
            Call::List => Op::List,
            Call::Usage(_) => Op::Usage,
        }
    }

    /// The environment the call was about (`None` for `list`).
    pub fn environment_id(&self) -> Option<&str> {
        match self {
            Call::Create(spec) => Some(&spec.environment_id),
            Call::Start(id)
            | Call::Stop(id, _)
            | Call::Restart(id, _)
            | Call::Remove(id)
            | Call::Inspect(id)
            | Call::Usage(id) => Some(id),
            Call::List => None,
        }
    }
}

/// A container held by the fake.
#[derive(Debug, Clone, PartialEq)]
pub struct FakeContainer {
    /// The spec it was created with.
    pub spec: ContainerSpec,
    /// Its id, `fake-<n>`.
    pub container_id: String,
    /// Running or stopped.
    pub running: bool,
    /// Times it was started (by `start` or `restart`).
    pub starts: u32,
    /// Exit code and message of its last stop by itself ([`FakeRuntime::exit`]).
    pub exit: Option<(i64, String)>,
    /// What `usage` reports while it runs.
    pub usage: ContainerUsage,
}

#[derive(Debug, Default)]
struct State {
    containers: BTreeMap<String, FakeContainer>,
    calls: Vec<Call>,
    failures: Vec<(Op, VecDeque<RuntimeError>)>,
    missing_images: HashSet<String>,
    networks: BTreeSet<String>,
    next_id: u64,
}

/// The in-memory runtime. Shared as `Arc<FakeRuntime>`; coerces to `Arc<dyn ContainerRuntime>`.
#[derive(Debug, Default)]
pub struct FakeRuntime {
    state: Mutex<State>,
}

impl FakeRuntime {
    /// An empty runtime: no containers, every image present.
    pub fn new() -> Self {
        Self::default()
    }

    fn lock(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|e| e.into_inner())
    }

    /// Every call so far, in order.
    pub fn calls(&self) -> Vec<Call> {
        self.lock().calls.clone()
    }

    /// Every call so far, in order, clearing the record.
    pub fn take_calls(&self) -> Vec<Call> {
        std::mem::take(&mut self.lock().calls)
    }

    /// How many calls of one kind were made.
    pub fn count(&self, op: Op) -> usize {
        self.lock().calls.iter().filter(|c| c.op() == op).count()
    }

    /// Makes the next call of kind `op` fail with `error` (the call is still recorded, and
    /// changes nothing). Several queue up, one per call.
    pub fn fail_next(&self, op: Op, error: RuntimeError) {
        let mut state = self.lock();
        match state.failures.iter_mut().find(|(o, _)| *o == op) {
            Some((_, queue)) => queue.push_back(error),
            None => state.failures.push((op, VecDeque::from([error]))),
        }
    }

    /// Makes `create` with this image fail with an [`RuntimeErrorKind::Image`] error worded
    /// like Docker's (`No such image: <image>`), until cleared with `missing = false`.
    pub fn set_missing_image(&self, image: &str, missing: bool) {
        let mut state = self.lock();
        if missing {
            state.missing_images.insert(image.to_string());
        } else {
            state.missing_images.remove(image);
        }
    }

    /// Adds a container directly, as if it had been created earlier (by a previous run of the
    /// agent, or by hand with the labels). Replaces one of the same environment.
    pub fn insert(&self, spec: ContainerSpec, running: bool) {
        let mut state = self.lock();
        let container = new_container(&mut state, spec, running);
        state.networks.insert(container.spec.network.clone());
        state
            .containers
            .insert(container.spec.environment_id.clone(), container);
    }

    /// Removes a container behind the caller's back; true when there was one.
    pub fn vanish(&self, environment_id: &str) -> bool {
        self.lock().containers.remove(environment_id).is_some()
    }

    /// Stops a running container by itself, as when its main process exits with `code`.
    /// `message` becomes its [`ContainerInfo::exit_message`].
    pub fn exit(&self, environment_id: &str, code: i64, message: &str) -> bool {
        match self.lock().containers.get_mut(environment_id) {
            Some(c) => {
                c.running = false;
                c.exit = Some((code, message.to_string()));
                true
            }
            None => false,
        }
    }

    /// Sets what `usage` reports for a container while it runs.
    pub fn set_usage(&self, environment_id: &str, usage: ContainerUsage) -> bool {
        match self.lock().containers.get_mut(environment_id) {
            Some(c) => {
                c.usage = usage;
                true
            }
            None => false,
        }
    }

    /// A copy of one container.
    pub fn container(&self, environment_id: &str) -> Option<FakeContainer> {
        self.lock().containers.get(environment_id).cloned()
    }

    /// The tenant networks that exist, sorted.
    pub fn networks(&self) -> Vec<String> {
        self.lock().networks.iter().cloned().collect()
    }

    /// The environment ids of all containers, sorted.
    pub fn environment_ids(&self) -> Vec<String> {
        self.lock().containers.keys().cloned().collect()
    }

    /// Records `call` and returns the queued failure for it, if any.
    fn begin(&self, call: Call) -> Result<MutexGuard<'_, State>, RuntimeError> {
        let mut state = self.lock();
        let op = call.op();
        state.calls.push(call);
        if let Some(error) = state
            .failures
            .iter_mut()
            .find(|(o, _)| *o == op)
            .and_then(|(_, queue)| queue.pop_front())
        {
            return Err(error);
        }
        Ok(state)
    }
}

fn new_container(state: &mut State, spec: ContainerSpec, running: bool) -> FakeContainer {
    state.next_id += 1;
    FakeContainer {
        container_id: format!("fake-{}", state.next_id),
        running,
        starts: u32::from(running),
        exit: None,
        usage: ContainerUsage {
            memory_limit_bytes: spec.memory_bytes,
            ..Default::default()
        },
        spec,
    }
}

fn info(c: &FakeContainer) -> ContainerInfo {
    ContainerInfo {
        environment_id: c.spec.environment_id.clone(),
        container_id: Some(c.container_id.clone()),
        state: if c.running {
            ContainerState::Running
        } else {
            ContainerState::Stopped
        },
        gpus: c.spec.gpus.clone(),
        image: Some(c.spec.image.clone()),
        exit_code: c
            .exit
            .as_ref()
            .filter(|_| !c.running)
            .map(|(code, _)| *code),
        exit_message: c
            .exit
            .as_ref()
            .filter(|_| !c.running)
            .map(|(_, message)| message.clone()),
    }
}

fn no_such_container(environment_id: &str) -> RuntimeError {
    RuntimeError {
        kind: RuntimeErrorKind::NotFound,
        status: Some(404),
        message: format!(
            "No such container: {}",
            super::container_name(environment_id)
        ),
    }
}

#[async_trait]
impl ContainerRuntime for FakeRuntime {
    async fn create(&self, spec: &ContainerSpec) -> Result<ContainerInfo, RuntimeError> {
        let mut state = self.begin(Call::Create(spec.clone()))?;
        validate_spec(spec)?;
        if let Some(existing) = state.containers.get(&spec.environment_id) {
            return Ok(info(existing));
        }
        if state.missing_images.contains(&spec.image) {
            return Err(RuntimeError {
                kind: RuntimeErrorKind::Image,
                status: Some(404),
                message: format!("No such image: {}", spec.image),
            });
        }
        let container = new_container(&mut state, spec.clone(), false);
        state.networks.insert(spec.network.clone());
        let answer = info(&container);
        state
            .containers
            .insert(spec.environment_id.clone(), container);
        Ok(answer)
    }

    async fn start(&self, environment_id: &str) -> Result<(), RuntimeError> {
        let mut state = self.begin(Call::Start(environment_id.to_string()))?;
        validate_environment_id(environment_id)?;
        let c = state
            .containers
            .get_mut(environment_id)
            .ok_or_else(|| no_such_container(environment_id))?;
        if !c.running {
            c.running = true;
            c.starts += 1;
            c.exit = None;
        }
        Ok(())
    }

    async fn stop(&self, environment_id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let mut state = self.begin(Call::Stop(environment_id.to_string(), grace))?;
        validate_environment_id(environment_id)?;
        let c = state
            .containers
            .get_mut(environment_id)
            .ok_or_else(|| no_such_container(environment_id))?;
        c.running = false;
        Ok(())
    }

    async fn restart(&self, environment_id: &str, grace: Duration) -> Result<(), RuntimeError> {
        let mut state = self.begin(Call::Restart(environment_id.to_string(), grace))?;
        validate_environment_id(environment_id)?;
        let c = state
            .containers
            .get_mut(environment_id)
            .ok_or_else(|| no_such_container(environment_id))?;
        c.running = true;
        c.starts += 1;
        c.exit = None;
        Ok(())
    }

    async fn remove(&self, environment_id: &str) -> Result<(), RuntimeError> {
        let mut state = self.begin(Call::Remove(environment_id.to_string()))?;
        validate_environment_id(environment_id)?;
        if let Some(gone) = state.containers.remove(environment_id) {
            let network = gone.spec.network;
            if state.containers.values().all(|c| c.spec.network != network) {
                state.networks.remove(&network);
            }
        }
        Ok(())
    }

    async fn inspect(&self, environment_id: &str) -> Result<ContainerInfo, RuntimeError> {
        let state = self.begin(Call::Inspect(environment_id.to_string()))?;
        validate_environment_id(environment_id)?;
        Ok(state
            .containers
            .get(environment_id)
            .map(info)
            .unwrap_or_else(|| ContainerInfo::missing(environment_id)))
    }

    async fn list(&self) -> Result<Vec<ContainerInfo>, RuntimeError> {
        let state = self.begin(Call::List)?;
        Ok(state.containers.values().map(info).collect())
    }

    async fn usage(&self, environment_id: &str) -> Result<Option<ContainerUsage>, RuntimeError> {
        let state = self.begin(Call::Usage(environment_id.to_string()))?;
        validate_environment_id(environment_id)?;
        Ok(state
            .containers
            .get(environment_id)
            .filter(|c| c.running)
            .map(|c| c.usage))
    }
}

/// A small valid spec for examples and tests: image `busybox:latest`, 1 core, 256 MiB, one GPU
/// (`GPU-fake-0`, [`GpuMode::EnvOnly`]), port 30022 → 22, network `rgpu-c1`.
pub fn example_spec(environment_id: &str) -> ContainerSpec {
    ContainerSpec {
        environment_id: environment_id.to_string(),
        image: "busybox:latest".to_string(),
        cpu_cores: 1,
        memory_bytes: 256 << 20,
        shm_size_bytes: 0,
        network: "rgpu-c1".to_string(),
        gpus: vec!["GPU-fake-0".to_string()],
        gpu_mode: GpuMode::EnvOnly,
        ports: vec![super::PortBinding {
            internal: 22,
            external: 30022,
        }],
        env: Vec::new(),
        mounts: Vec::new(),
        command: None,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::sync::Arc;

    #[tokio::test]
    async fn lifecycle_is_idempotent_and_recorded() {
        let fake = Arc::new(FakeRuntime::new());
        let rt: Arc<dyn ContainerRuntime> = fake.clone();
        let spec = example_spec("e1");
        let grace = Duration::from_secs(5);

        assert_eq!(
            rt.inspect("e1").await.unwrap(),
            ContainerInfo::missing("e1")
        );
        let first = rt.create(&spec).await.unwrap();
        assert_eq!(first.state, ContainerState::Stopped);
        assert_eq!(rt.create(&spec).await.unwrap(), first);
        rt.start("e1").await.unwrap();
        rt.start("e1").await.unwrap();
        assert_eq!(fake.container("e1").unwrap().starts, 1);
        assert_eq!(
            rt.inspect("e1").await.unwrap().state,
            ContainerState::Running
        );
        assert!(rt.usage("e1").await.unwrap().is_some());
        rt.stop("e1", grace).await.unwrap();
        rt.stop("e1", grace).await.unwrap();
        assert_eq!(rt.usage("e1").await.unwrap(), None);
        rt.restart("e1", grace).await.unwrap();
        assert_eq!(fake.container("e1").unwrap().starts, 2);
        assert_eq!(rt.list().await.unwrap().len(), 1);
        rt.remove("e1").await.unwrap();
        rt.remove("e1").await.unwrap();
        assert_eq!(
            rt.inspect("e1").await.unwrap().state,
            ContainerState::Missing
        );
        assert!(rt.start("e1").await.unwrap_err().is_not_found());
        assert!(rt.stop("e1", grace).await.unwrap_err().is_not_found());

        let calls = fake.take_calls();
        assert_eq!(calls[1], Call::Create(spec));
        assert_eq!(calls[3], Call::Start("e1".to_string()));
        assert_eq!(fake.count(Op::Remove), 0);
        assert_eq!(calls.iter().filter(|c| c.op() == Op::Remove).count(), 2);
    }

    #[tokio::test]
    async fn failures_and_the_world_behind_the_back() {
        let fake = FakeRuntime::new();
        fake.set_missing_image("nope:1", true);
        let mut spec = example_spec("e2");
        spec.image = "nope:1".to_string();
        let err = fake.create(&spec).await.unwrap_err();
        assert!(err.is_image_error());
        assert_eq!(err.message(), "No such image: nope:1");
        assert_eq!(
            fake.inspect("e2").await.unwrap().state,
            ContainerState::Missing
        );

        fake.fail_next(
            Op::Start,
            RuntimeError::new(RuntimeErrorKind::Engine, "port is already allocated"),
        );
        fake.create(&example_spec("e3")).await.unwrap();
        assert_eq!(
            fake.start("e3").await.unwrap_err().message(),
            "port is already allocated"
        );
        fake.start("e3").await.unwrap();

        assert!(fake.exit("e3", 137, "exited with code 137"));
        let info = fake.inspect("e3").await.unwrap();
        assert_eq!(info.state, ContainerState::Stopped);
        assert_eq!(info.exit_code, Some(137));

        fake.insert(example_spec("e4"), true);
        assert_eq!(fake.environment_ids(), ["e3", "e4"]);
        assert!(fake.vanish("e3"));
        let listed = fake.list().await.unwrap();
        assert_eq!(listed.len(), 1);
        assert_eq!(listed[0].environment_id, "e4");
        assert_eq!(listed[0].gpus, ["GPU-fake-0"]);
    }

    #[tokio::test]
    async fn networks_live_as_long_as_their_containers() {
        let fake = FakeRuntime::new();
        let mut a = example_spec("a");
        a.network = "rgpu-c7".to_string();
        let mut b = example_spec("b");
        b.network = "rgpu-c7".to_string();
        let mut c = example_spec("c");
        c.network = "rgpu-w3".to_string();
        for s in [&a, &b, &c] {
            fake.create(s).await.unwrap();
        }
        assert_eq!(fake.networks(), ["rgpu-c7", "rgpu-w3"]);
        assert_eq!(fake.container("b").unwrap().spec.network, "rgpu-c7");
        fake.remove("a").await.unwrap();
        assert_eq!(fake.networks(), ["rgpu-c7", "rgpu-w3"]);
        fake.remove("b").await.unwrap();
        assert_eq!(fake.networks(), ["rgpu-w3"]);

        let mut bad = example_spec("d");
        bad.network = "bridge".to_string();
        assert_eq!(
            fake.create(&bad).await.unwrap_err().kind,
            RuntimeErrorKind::InvalidSpec
        );
        assert_eq!(fake.networks(), ["rgpu-w3"]);
    }
}
