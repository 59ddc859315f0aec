//! GraphQL enums for every status/type column. The database keeps the seed's lowercase
//! strings (`online`, `available`, ...); the API shows `ONLINE`, `AVAILABLE`, ... Each enum
//! is declared once with its database spelling, and the conversions are generated.

use crate::error::AppError;

/// Conversion between an API enum and the string stored in its column.
pub trait DbEnum: Sized + Copy + Send + Sync + 'static {
    fn as_db(self) -> &'static str;
    fn from_db(raw: &str) -> Result<Self, AppError>;

    fn from_db_opt(raw: Option<&str>) -> Result<Option<Self>, AppError> {
        raw.map(Self::from_db).transpose()
    }
}

macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident { $($(#[$vmeta:meta])* $variant:ident = $db:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($(#[$vmeta])* $variant),+
        }

        impl DbEnum for $name {
            fn as_db(self) -> &'static str {
                match self {
                    $(Self::$variant => $db),+
                }
            }

            fn from_db(raw: &str) -> Result<Self, AppError> {
                match raw {
                    $($db => Ok(Self::$variant),)+
                    other => Err(AppError::internal(format!(
                        "column holds '{other}', which is not a known {}",
                        stringify!($name)
                    ))),
                }
            }
        }
    };
}

db_enum!(
    /// How `system_configs.config_value` is to be read; the value is checked against it.
    ConfigType { Integer = "integer", Float = "float", Boolean = "boolean", String = "string", Json = "json" }
);
db_enum!(OsType { Linux = "linux", Windows = "windows" });
db_enum!(DeploymentMode { Traditional = "traditional", Kubernetes = "kubernetes" });
db_enum!(
    /// `error` comes from seed 003's node status.
    HostStatus { Online = "online", Offline = "offline", Maintenance = "maintenance", Error = "error" }
);
db_enum!(HostHealth { Healthy = "healthy", Degraded = "degraded", Unhealthy = "unhealthy", Unknown = "unknown" });
db_enum!(GpuStatus { Available = "available", Allocated = "allocated", Maintenance = "maintenance", Error = "error" });
db_enum!(GpuHealth { Healthy = "healthy", Degraded = "degraded", Error = "error" });
db_enum!(AccountType { Individual = "individual", Enterprise = "enterprise" });
db_enum!(CustomerRole { Customer = "customer", Admin = "admin" });
db_enum!(CustomerStatus { Active = "active", Suspended = "suspended", Deleted = "deleted" });
db_enum!(WorkspaceType { Personal = "personal", Team = "team", Enterprise = "enterprise" });
db_enum!(WorkspaceStatus { Active = "active", Archived = "archived" });
db_enum!(WorkspaceRole { Owner = "owner", Admin = "admin", Member = "member", Viewer = "viewer" });
db_enum!(MemberStatus { Active = "active", Invited = "invited", Suspended = "suspended" });
db_enum!(
    /// `starting`, `deleting`, `deleted` and `failed` are additions to the seed's list (see
    /// `domain::EnvState` for the lifecycle).
    EnvironmentStatus { Creating = "creating", Starting = "starting", Running = "running", Stopping = "stopping", Stopped = "stopped", Deleting = "deleting", Deleted = "deleted", Failed = "failed", Error = "error" }
);

impl From<crate::domain::EnvState> for EnvironmentStatus {
    fn from(state: crate::domain::EnvState) -> Self {
        use crate::domain::EnvState as S;
        match state {
            S::Creating => Self::Creating,
            S::Starting => Self::Starting,
            S::Running => Self::Running,
            S::Stopping => Self::Stopping,
            S::Stopped => Self::Stopped,
            S::Deleting => Self::Deleting,
            S::Deleted => Self::Deleted,
            S::Failed => Self::Failed,
            S::Error => Self::Error,
        }
    }
}

impl From<EnvironmentStatus> for crate::domain::EnvState {
    fn from(status: EnvironmentStatus) -> Self {
        use crate::domain::EnvState as S;
        match status {
            EnvironmentStatus::Creating => S::Creating,
            EnvironmentStatus::Starting => S::Starting,
            EnvironmentStatus::Running => S::Running,
            EnvironmentStatus::Stopping => S::Stopping,
            EnvironmentStatus::Stopped => S::Stopped,
            EnvironmentStatus::Deleting => S::Deleting,
            EnvironmentStatus::Deleted => S::Deleted,
            EnvironmentStatus::Failed => S::Failed,
            EnvironmentStatus::Error => S::Error,
        }
    }
}
db_enum!(ServiceType { Ssh = "ssh", Rdp = "rdp", Jupyter = "jupyter" });
db_enum!(PortMappingStatus { Active = "active", Released = "released" });
db_enum!(
    /// Status of datasets, dataset versions and model versions.
    UploadStatus { Uploading = "uploading", Ready = "ready", Failed = "failed" }
);
db_enum!(AccessMode { ReadOnly = "readonly", ReadWrite = "readwrite" });
db_enum!(ResourceType { Cpu = "cpu", Memory = "memory", Gpu = "gpu" });
db_enum!(InvoiceStatus { Draft = "draft", Issued = "issued", Paid = "paid", Void = "void" });
db_enum!(
    /// `cancelled` is an addition to seed 003's list.
    CommandStatus { Pending = "pending", Running = "running", Success = "success", Failed = "failed", Timeout = "timeout", Cancelled = "cancelled" }
);

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn db_strings_round_trip() {
        for s in [
            HostStatus::Online,
            HostStatus::Offline,
            HostStatus::Maintenance,
            HostStatus::Error,
        ] {
            assert_eq!(HostStatus::from_db(s.as_db()).unwrap(), s);
        }
        assert_eq!(AccessMode::ReadOnly.as_db(), "readonly");
        assert_eq!(HostHealth::from_db_opt(None).unwrap(), None);
    }

    #[test]
    fn unknown_db_string_is_an_internal_error() {
        let err = HostStatus::from_db("exploded").unwrap_err();
        assert_eq!(err.code().as_str(), "INTERNAL");
    }
}
