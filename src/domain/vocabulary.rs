//! The one vocabulary of statuses, roles and kinds: each word's database spelling is here
//! and nowhere else (`as_db`, `from_db`, and serde for events).

use crate::error::AppError;

/// An environment's place in its lifecycle (DESIGN §9). The database keeps the seed's
/// lowercase spellings; `starting`, `deleting`, `deleted` and `failed` are additions to the
/// seed's list (`error` is the seed's own and kept for rows written before the lifecycle).
///
/// ```text
/// creating -> running -> stopping -> stopped -> starting -> running ...
///     any live state -> deleting -> deleted;  creating/starting/running/stopping -> failed
/// ```
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum EnvState {
    Creating,
    Starting,
    Running,
    Stopping,
    Stopped,
    Deleting,
    Deleted,
    Failed,
    Error,
}

impl EnvState {
    pub const ALL: [EnvState; 9] = [
        Self::Creating,
        Self::Starting,
        Self::Running,
        Self::Stopping,
        Self::Stopped,
        Self::Deleting,
        Self::Deleted,
        Self::Failed,
        Self::Error,
    ];

    pub fn as_db(self) -> &'static str {
        match self {
            Self::Creating => "creating",
            Self::Starting => "starting",
            Self::Running => "running",
            Self::Stopping => "stopping",
            Self::Stopped => "stopped",
            Self::Deleting => "deleting",
            Self::Deleted => "deleted",
            Self::Failed => "failed",
            Self::Error => "error",
        }
    }

    /// The state a stored spelling names; a NULL status is the seed's default, `creating`.
    pub fn from_db(raw: Option<&str>) -> Result<Self, AppError> {
        let raw = raw.unwrap_or("creating");
        Self::ALL
            .into_iter()
            .find(|s| s.as_db() == raw)
            .ok_or_else(|| AppError::internal(format!("unknown environment status '{raw}'")))
    }

    /// Whether the environment holds its GPUs and a share of its host's cpu and memory.
    pub fn holds_compute(self) -> bool {
        matches!(
            self,
            Self::Creating | Self::Starting | Self::Running | Self::Stopping
        )
    }

    /// Whether the environment keeps its external ports (a stopped one keeps them: its
    /// container's port bindings stay as they are).
    pub fn holds_ports(self) -> bool {
        !matches!(self, Self::Deleted | Self::Failed | Self::Error)
    }

    /// A state the agent moves out of by itself (it has an order to carry out).
    pub fn is_transitional(self) -> bool {
        matches!(
            self,
            Self::Creating | Self::Starting | Self::Stopping | Self::Deleting
        )
    }
}

/// What the agent is told to do with an environment's container.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum OrderAction {
    /// Create the container (pulling its image if needed) and start it.
    Create,
    Start,
    Restart,
    Stop,
    /// Remove the container.
    Delete,
}

impl OrderAction {
    pub const ALL: [OrderAction; 5] = [
        Self::Create,
        Self::Start,
        Self::Restart,
        Self::Stop,
        Self::Delete,
    ];

    pub fn as_db(self) -> &'static str {
        match self {
            Self::Create => "create",
            Self::Start => "start",
            Self::Restart => "restart",
            Self::Stop => "stop",
            Self::Delete => "delete",
        }
    }

    pub fn from_db(raw: &str) -> Result<Self, AppError> {
        Self::ALL
            .into_iter()
            .find(|a| a.as_db() == raw)
            .ok_or_else(|| AppError::internal(format!("unknown environment order '{raw}'")))
    }
}

/// How placement picks among the hosts that fit (`system_configs.placement_policy`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum PlacementPolicy {
    /// The fullest host that fits: keeps whole hosts free for large requests.
    Binpack,
    /// The emptiest host: spreads load and failure domains.
    Spread,
}

impl PlacementPolicy {
    pub fn parse(raw: &str) -> Option<Self> {
        match raw.trim() {
            "binpack" => Some(Self::Binpack),
            "spread" => Some(Self::Spread),
            _ => None,
        }
    }
}

stored_words!(
    /// A member's role in a workspace (seed 000 §5.3). `owner`s hold the workspace (only they
    /// grant or revoke `owner`); `owner` and `admin` manage it; `member`s add their own
    /// resources; `viewer`s read.
    MemberRole ("workspace role") { Owner = "owner", Admin = "admin", Member = "member", Viewer = "viewer" }
);

impl MemberRole {
    /// Manages the workspace, its members and everyone's resources in it.
    pub fn manages(self) -> bool {
        matches!(self, Self::Owner | Self::Admin)
    }
}

stored_words!(
    /// Where a membership stands. Only `active` members use the workspace (and see its other
    /// active members); `suspended` ones are kept but have no access. `invited` is the seed's
    /// spelling for a membership not yet accepted: invitations are now rows of their own
    /// (`workspace_invitations`), and no membership is written `invited`.
    MemberState ("membership status") { Active = "active", Invited = "invited", Suspended = "suspended" }
);

stored_words!(
    /// An invitation the invitee has not accepted: still open, or declined (which the
    /// inviter is not told).
    InvitationState ("invitation status") { Pending = "pending", Declined = "declined" }
);

stored_words!(
    /// A service an environment exposes (seed 000 §6.2's service types) on its usual port.
    ServiceKind ("service type") { Ssh = "ssh", Jupyter = "jupyter", Rdp = "rdp" }
);

impl ServiceKind {
    /// The port the service listens on inside the container.
    pub fn internal_port(self) -> i32 {
        match self {
            Self::Ssh => 22,
            Self::Jupyter => 8888,
            Self::Rdp => 3389,
        }
    }
}

stored_words!(
    /// A host's `status`: `online` while its agent's calls arrive, `offline` when they stop,
    /// `maintenance` by an operator's decision (heartbeats keep it), `error` from seed 003.
    HostState ("host status") { Online = "online", Offline = "offline", Maintenance = "maintenance", Error = "error" }
);

stored_words!(
    /// A host's `health_status`: `healthy` on every heartbeat, `unknown` once it is offline.
    HostHealthState ("host health") { Healthy = "healthy", Degraded = "degraded", Unhealthy = "unhealthy", Unknown = "unknown" }
);

stored_words!(
    /// A GPU's `status`: only an `available` GPU is placed; `error` marks one its host no
    /// longer reports.
    GpuState ("GPU status") { Available = "available", Allocated = "allocated", Maintenance = "maintenance", Error = "error" }
);

stored_words!(
    /// A GPU's `health_status`.
    GpuHealthState ("GPU health") { Healthy = "healthy", Degraded = "degraded", Error = "error" }
);

stored_words!(
    /// A customer's `role`: platform operators are `admin`s (see `auth::policy`).
    AccountRole ("customer role") { Customer = "customer", Admin = "admin" }
);

stored_words!(
    /// A customer's `status`: only an `active` account (or one without a status, the
    /// column's default) signs in and acts.
    AccountState ("customer status") { Active = "active", Suspended = "suspended", Deleted = "deleted" }
);

impl AccountState {
    /// Whether an account with this stored status may sign in and act (NULL is `active`).
    pub fn admits(raw: Option<&str>) -> bool {
        raw.is_none_or(|s| s == Self::Active.as_db())
    }
}

stored_words!(
    /// A customer's `account_type`.
    AccountKind ("account type") { Individual = "individual", Enterprise = "enterprise" }
);

stored_words!(
    /// A workspace's `workspace_type`.
    WorkspaceKind ("workspace type") { Personal = "personal", Team = "team", Enterprise = "enterprise" }
);

stored_words!(
    /// A workspace's `status`.
    WorkspaceState ("workspace status") { Active = "active", Archived = "archived" }
);

stored_words!(
    /// A port mapping's `status`: `active` while its environment holds the host port.
    PortState ("port mapping status") { Active = "active", Released = "released" }
);

stored_words!(
    /// The `status` of datasets, dataset versions and model versions.
    UploadState ("upload status") { Uploading = "uploading", Ready = "ready", Failed = "failed" }
);

stored_words!(
    /// How a dataset is mounted into an environment (`dataset_usage.access_mode`).
    MountMode ("access mode") { ReadOnly = "readonly", ReadWrite = "readwrite" }
);

stored_words!(
    /// A host's `os_type`.
    OsKind ("OS type") { Linux = "linux", Windows = "windows" }
);

stored_words!(
    /// A host's `deployment_mode`: Docker on the host, or Kubernetes (the next runtime).
    DeploymentKind ("deployment mode") { Traditional = "traditional", Kubernetes = "kubernetes" }
);

stored_words!(
    /// How `system_configs.config_value` is to be read.
    ConfigKind ("config type") { Integer = "integer", Float = "float", Boolean = "boolean", String = "string", Json = "json" }
);

stored_words!(
    /// A remote command's `status` (seed 003; `cancelled` is an addition): `pending` until
    /// its agent starts it, `running`, then one of the four endings.
    CommandState ("command status") { Pending = "pending", Running = "running", Success = "success", Failed = "failed", Timeout = "timeout", Cancelled = "cancelled" }
);

impl CommandState {
    /// A NULL status is the column's default, `pending`.
    pub fn from_db_opt(raw: Option<&str>) -> Result<Self, AppError> {
        raw.map_or(Ok(Self::Pending), Self::from_db)
    }

    /// Whether the command has ended (nothing changes it any more).
    pub fn is_final(self) -> bool {
        matches!(
            self,
            Self::Success | Self::Failed | Self::Timeout | Self::Cancelled
        )
    }
}

stored_words!(
    /// What an agent is told about a command (`AgentOrder.kind` on the bus): run it, or stop
    /// it. A kind the server does not know is an error, never a run.
    CommandOrderKind ("command order") { Run = "run", Cancel = "cancel" }
);

stored_words!(
    /// Which stream a piece of a command's output came from.
    OutputStream ("output stream") { Stdout = "stdout", Stderr = "stderr" }
);

stored_words!(
    /// A metered resource (`billing_records.resource_type`, `prices.resource_type`): `gpu`
    /// per GPU-hour (priced by GPU model), `cpu` per core-hour, `memory` per GiB-hour.
    Resource ("resource type") { Gpu = "gpu", Cpu = "cpu", Memory = "memory" }
);
