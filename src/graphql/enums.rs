//! GraphQL enums for every status/type column. The database keeps the seed's lowercase
//! strings (`online`, `available`, ...); the API shows `ONLINE`, `AVAILABLE`, ... The words
//! and their spellings are `domain`'s (the one vocabulary services, policy and events use);
//! each API enum names its domain type, and the conversions are generated.

use crate::domain as d;
use crate::error::AppError;

/// Conversion between an API enum and the string stored in its column.
pub trait DbEnum: Sized + Copy + Send + Sync + 'static {
    fn as_db(self) -> &'static str;
    fn from_db(raw: &str) -> Result<Self, AppError>;

    fn from_db_opt(raw: Option<&str>) -> Result<Option<Self>, AppError> {
        raw.map(Self::from_db).transpose()
    }
}

/// An API enum over one of `domain`'s stored words: the same variants, converted both ways;
/// the database spelling is the domain type's.
macro_rules! db_enum {
    ($(#[$meta:meta])* $name:ident = $domain:ident { $($variant:ident),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
        pub enum $name {
            $($variant),+
        }

        impl From<d::$domain> for $name {
            fn from(v: d::$domain) -> Self {
                match v {
                    $(d::$domain::$variant => Self::$variant),+
                }
            }
        }

        impl From<$name> for d::$domain {
            fn from(v: $name) -> Self {
                match v {
                    $($name::$variant => Self::$variant),+
                }
            }
        }

        impl DbEnum for $name {
            fn as_db(self) -> &'static str {
                d::$domain::from(self).as_db()
            }

            fn from_db(raw: &str) -> Result<Self, AppError> {
                d::$domain::from_db(raw).map(Self::from)
            }
        }
    };
}

db_enum!(
    /// How `system_configs.config_value` is to be read; the value is checked against it.
    ConfigType = ConfigKind { Integer, Float, Boolean, String, Json }
);
db_enum!(OsType = OsKind { Linux, Windows });
db_enum!(
    DeploymentMode = DeploymentKind {
        Traditional,
        Kubernetes
    }
);
db_enum!(
    /// `error` comes from seed 003's node status.
    HostStatus = HostState { Online, Offline, Maintenance, Error }
);
db_enum!(
    HostHealth = HostHealthState {
        Healthy,
        Degraded,
        Unhealthy,
        Unknown
    }
);
db_enum!(
    GpuStatus = GpuState {
        Available,
        Allocated,
        Maintenance,
        Error
    }
);
db_enum!(
    GpuHealth = GpuHealthState {
        Healthy,
        Degraded,
        Error
    }
);
db_enum!(
    AccountType = AccountKind {
        Individual,
        Enterprise
    }
);
db_enum!(CustomerRole = AccountRole { Customer, Admin });
db_enum!(
    CustomerStatus = AccountState {
        Active,
        Suspended,
        Deleted
    }
);
db_enum!(
    WorkspaceType = WorkspaceKind {
        Personal,
        Team,
        Enterprise
    }
);
db_enum!(WorkspaceStatus = WorkspaceState { Active, Archived });
db_enum!(
    WorkspaceRole = MemberRole {
        Owner,
        Admin,
        Member,
        Viewer
    }
);
db_enum!(
    MemberStatus = MemberState {
        Active,
        Invited,
        Suspended
    }
);

/// `starting`, `deleting`, `deleted` and `failed` are additions to the seed's list (see
/// `domain::EnvState` for the lifecycle).
#[derive(async_graphql::Enum, Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum EnvironmentStatus {
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

impl DbEnum for EnvironmentStatus {
    fn as_db(self) -> &'static str {
        d::EnvState::from(self).as_db()
    }

    fn from_db(raw: &str) -> Result<Self, AppError> {
        d::EnvState::from_db(Some(raw)).map(Self::from)
    }
}

impl From<d::EnvState> for EnvironmentStatus {
    fn from(state: d::EnvState) -> Self {
        use d::EnvState as S;
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

impl From<EnvironmentStatus> for d::EnvState {
    fn from(status: EnvironmentStatus) -> Self {
        use d::EnvState as S;
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
db_enum!(ServiceType = ServiceKind { Ssh, Rdp, Jupyter });
db_enum!(PortMappingStatus = PortState { Active, Released });
db_enum!(
    /// Status of datasets, dataset versions and model versions.
    UploadStatus = UploadState { Uploading, Ready, Failed }
);
db_enum!(
    AccessMode = MountMode {
        ReadOnly,
        ReadWrite
    }
);
db_enum!(ResourceType = Resource { Cpu, Memory, Gpu });
db_enum!(
    InvoiceStatus = InvoiceState {
        Draft,
        Issued,
        Paid,
        Void
    }
);
db_enum!(
    /// `cancelled` is an addition to seed 003's list.
    CommandStatus = CommandState { Pending, Running, Success, Failed, Timeout, Cancelled }
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
        assert_eq!(
            AccessMode::from_db(AccessMode::ReadOnly.as_db()).unwrap(),
            AccessMode::ReadOnly
        );
        assert_eq!(HostHealth::from_db_opt(None).unwrap(), None);
    }

    #[test]
    fn unknown_db_string_is_an_internal_error() {
        let err = HostStatus::from_db("exploded").unwrap_err();
        assert_eq!(err.code().as_str(), "INTERNAL");
    }
}
