//! Parsed input values. A value of one of these types has already been checked, so the code
//! that stores it never validates again ("parse, don't validate"). Each `parse` returns a
//! `BAD_USER_INPUT` error naming the field, before anything touches the database.
//!
//! It is also the one vocabulary of statuses, roles and kinds (`stored_words!` enums and
//! [`EnvState`]): each word has its database spelling here and nowhere else (`as_db`,
//! `from_db`, and serde for events), and services, `auth::policy`, the events and the
//! GraphQL enums (`graphql::enums`) all use the enums. A stored spelling the server does not
//! know is an INTERNAL error, never a guess.

use std::net::IpAddr;

use crate::error::AppError;

mod storage;

pub use storage::{AssetKind, StorageKey, Tenant};

fn bad(field: &str, why: impl std::fmt::Display) -> AppError {
    AppError::bad_input(format!("{field}: {why}"))
}

/// An IPv4 or IPv6 address, stored in canonical text form.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct IpAddress(IpAddr);

impl IpAddress {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        raw.trim()
            .parse::<IpAddr>()
            .map(Self)
            .map_err(|_| bad(field, format!("'{raw}' is not an IP address")))
    }
    pub fn into_string(self) -> String {
        self.0.to_string()
    }
}

/// A TCP/UDP port, 1..=65535.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Port(u16);

impl Port {
    pub fn parse(field: &str, raw: i32) -> Result<Self, AppError> {
        u16::try_from(raw)
            .ok()
            .filter(|p| *p != 0)
            .map(Self)
            .ok_or_else(|| bad(field, format!("{raw} is not a port (1-65535)")))
    }
    pub fn get(self) -> i32 {
        i32::from(self.0)
    }
}

/// A size in bytes; never negative.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ByteSize(i64);

impl ByteSize {
    pub fn parse(field: &str, raw: i64) -> Result<Self, AppError> {
        if raw < 0 {
            return Err(bad(
                field,
                format!("{raw} is negative; sizes are bytes >= 0"),
            ));
        }
        Ok(Self(raw))
    }
    pub fn get(self) -> i64 {
        self.0
    }
}

/// A whole count that cannot be negative (CPU cores, GPUs, file counts).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Count(i32);

impl Count {
    pub fn parse(field: &str, raw: i32) -> Result<Self, AppError> {
        if raw < 0 {
            return Err(bad(field, format!("{raw} is negative")));
        }
        Ok(Self(raw))
    }
    pub fn get(self) -> i32 {
        self.0
    }
}

/// Whether `c` may appear in text a person typed: no NUL, no other C0/C1 control character
/// and no DEL. Multi-line text (descriptions, scripts, messages) keeps newline, carriage
/// return and tab.
pub fn is_text_char(c: char, multiline: bool) -> bool {
    !c.is_control() || (multiline && matches!(c, '\n' | '\r' | '\t'))
}

/// Refuses control characters (see [`is_text_char`]) in text kept exactly as given.
pub fn check_chars(field: &str, value: &str, multiline: bool) -> Result<(), AppError> {
    match value.chars().find(|c| !is_text_char(*c, multiline)) {
        Some(c) => Err(bad(
            field,
            format!(
                "contains the control character U+{:04X}; it is not text",
                u32::from(c)
            ),
        )),
        None => Ok(()),
    }
}

/// Trimmed, non-empty text no longer than its column, without control characters
/// (multi-line text may hold newlines and tabs).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct BoundedText(String);

impl BoundedText {
    /// One line: no control character at all.
    pub fn parse(field: &str, raw: &str, max_chars: usize) -> Result<Self, AppError> {
        Self::parse_as(field, raw, max_chars, false)
    }

    /// Several lines: newline, carriage return and tab are kept; other controls refused.
    pub fn parse_multiline(field: &str, raw: &str, max_chars: usize) -> Result<Self, AppError> {
        Self::parse_as(field, raw, max_chars, true)
    }

    fn parse_as(
        field: &str,
        raw: &str,
        max_chars: usize,
        multiline: bool,
    ) -> Result<Self, AppError> {
        let value = raw.trim();
        if value.is_empty() {
            return Err(bad(field, "must not be empty"));
        }
        let len = value.chars().count();
        if len > max_chars {
            return Err(bad(
                field,
                format!("is {len} characters; at most {max_chars}"),
            ));
        }
        check_chars(field, value, multiline)?;
        Ok(Self(value.to_owned()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A JSON input (metrics, variables, labels): at most `max_bytes` when serialized, and no
/// control characters other than newline and tab in its keys and strings.
#[derive(Debug, Clone, PartialEq)]
pub struct BoundedJson(serde_json::Value);

impl BoundedJson {
    pub fn parse(field: &str, raw: serde_json::Value, max_bytes: usize) -> Result<Self, AppError> {
        let size = serde_json::to_string(&raw)
            .map(|s| s.len())
            .unwrap_or(usize::MAX);
        if size > max_bytes {
            return Err(bad(
                field,
                format!("is {size} bytes of JSON; at most {max_bytes}"),
            ));
        }
        fn walk(field: &str, v: &serde_json::Value) -> Result<(), AppError> {
            match v {
                serde_json::Value::String(s) => check_chars(field, s, true),
                serde_json::Value::Array(items) => items.iter().try_for_each(|i| walk(field, i)),
                serde_json::Value::Object(map) => map.iter().try_for_each(|(k, v)| {
                    check_chars(field, k, false)?;
                    walk(field, v)
                }),
                _ => Ok(()),
            }
        }
        walk(field, &raw)?;
        Ok(Self(raw))
    }
    pub fn into_value(self) -> serde_json::Value {
        self.0
    }
}

/// Command output as stored: the agent's text with each backslash doubled and each NUL
/// written as backslash-zero, so output holding NUL bytes survives PostgreSQL `TEXT` (which
/// cannot hold NUL), the same way on both backends. [`decode_output`] gives the agent's text back.
pub fn encode_output(raw: &str) -> String {
    if !raw.contains(['\\', '\0']) {
        return raw.to_owned();
    }
    let mut out = String::with_capacity(raw.len() + 8);
    for c in raw.chars() {
        match c {
            '\\' => out.push_str("\\\\"),
            '\0' => out.push_str("\\0"),
            c => out.push(c),
        }
    }
    out
}

/// The inverse of [`encode_output`].
pub fn decode_output(stored: &str) -> String {
    if !stored.contains('\\') {
        return stored.to_owned();
    }
    let mut out = String::with_capacity(stored.len());
    let mut chars = stored.chars();
    while let Some(c) = chars.next() {
        if c != '\\' {
            out.push(c);
            continue;
        }
        match chars.next() {
            Some('0') => out.push('\0'),
            Some('\\') => out.push('\\'),
            Some(other) => {
                out.push('\\');
                out.push(other);
            }
            None => out.push('\\'),
        }
    }
    out
}

/// The physical range a measured value lies in.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Range {
    /// 0 to 100.
    Percent,
    /// Degrees Celsius, -50 to 150: what a working GPU or host sensor can read.
    Celsius,
    /// Zero or more (watts, load averages).
    NonNegative,
}

impl Range {
    fn bounds(self) -> (f64, f64) {
        match self {
            Self::Percent => (0.0, 100.0),
            Self::Celsius => (-50.0, 150.0),
            Self::NonNegative => (0.0, f64::MAX),
        }
    }
}

/// A value an agent measured: finite and within its physical [`Range`].
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct Reading(f64);

impl Reading {
    pub fn parse(field: &str, raw: f64, range: Range) -> Result<Self, AppError> {
        let (min, max) = range.bounds();
        if !raw.is_finite() || raw < min || raw > max {
            return Err(bad(
                field,
                match range {
                    Range::NonNegative => format!("{raw} is not a finite value >= 0"),
                    _ => format!("{raw} is outside {min} to {max}"),
                },
            ));
        }
        Ok(Self(raw))
    }
    pub fn get(self) -> f64 {
        self.0
    }
}

/// An e-mail address: one `@`, a non-empty local part, a dotted domain, no spaces.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Email(String);

impl Email {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let value = BoundedText::parse(field, raw, 256)?.into_string();
        let valid = match value.split_once('@') {
            Some((local, domain)) => {
                !local.is_empty()
                    && !domain.contains('@')
                    && domain.contains('.')
                    && !domain.starts_with('.')
                    && !domain.ends_with('.')
                    && !value.chars().any(char::is_whitespace)
            }
            None => false,
        };
        if !valid {
            return Err(bad(field, format!("'{value}' is not an e-mail address")));
        }
        Ok(Self(value.to_lowercase()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A login name: 3-64 characters of letters, digits, `_`, `-` and `.`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Username(String);

impl Username {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let value = raw.trim();
        let len = value.chars().count();
        if !(3..=64).contains(&len) {
            return Err(bad(field, "must be 3 to 64 characters"));
        }
        if !value
            .chars()
            .all(|c| c.is_ascii_alphanumeric() || matches!(c, '_' | '-' | '.'))
        {
            return Err(bad(
                field,
                "may contain only letters, digits, '_', '-' and '.'",
            ));
        }
        Ok(Self(value.to_owned()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// A new password: 8 to 128 characters. Hashing happens in `services::password`.
#[derive(Clone, PartialEq, Eq)]
pub struct Password(String);

impl std::fmt::Debug for Password {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Password([redacted])")
    }
}

impl Password {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let len = raw.chars().count();
        if len < 8 {
            return Err(bad(field, "must be at least 8 characters"));
        }
        if len > 128 {
            return Err(bad(field, "must be at most 128 characters"));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn expose(&self) -> &str {
        &self.0
    }
}

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

/// A closed set of words stored in a column, with its database spelling.
macro_rules! stored_words {
    ($(#[$meta:meta])* $name:ident ($what:literal) { $($(#[$vmeta:meta])* $variant:ident = $db:literal),+ $(,)? }) => {
        $(#[$meta])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
        pub enum $name {
            $($(#[$vmeta])* #[serde(rename = $db)] $variant),+
        }

        impl $name {
            pub const ALL: &'static [$name] = &[$(Self::$variant),+];

            /// The spelling stored in the column (and carried by events).
            pub const fn as_db(self) -> &'static str {
                match self {
                    $(Self::$variant => $db),+
                }
            }

            pub fn from_db(raw: &str) -> Result<Self, AppError> {
                Self::ALL
                    .iter()
                    .copied()
                    .find(|v| v.as_db() == raw)
                    .ok_or_else(|| AppError::internal(format!(concat!("unknown ", $what, " '{}'"), raw)))
            }
        }
    };
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

/// An environment variable name: a shell identifier of at most 128 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct EnvVarName(String);

impl EnvVarName {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let mut chars = raw.chars();
        let starts_well = chars
            .next()
            .is_some_and(|c| c.is_ascii_alphabetic() || c == '_');
        let valid = starts_well
            && raw.len() <= 128
            && raw.chars().all(|c| c.is_ascii_alphanumeric() || c == '_');
        if !valid {
            return Err(bad(
                field,
                format!(
                    "'{raw}' is not a variable name (letters, digits and _, not a digit first)"
                ),
            ));
        }
        Ok(Self(raw.to_owned()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

/// An absolute path inside a container: no `..`, no NUL, at most 512 characters.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct MountPath(String);

impl MountPath {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        let valid = raw.starts_with('/')
            && raw.len() > 1
            && raw.len() <= 512
            && !raw.contains('\0')
            && !raw.split('/').any(|part| part == "..");
        if !valid {
            return Err(bad(
                field,
                format!("'{raw}' is not an absolute path without '..'"),
            ));
        }
        Ok(Self(raw.trim_end_matches('/').to_owned()))
    }
    pub fn into_string(self) -> String {
        self.0
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ip_addresses_are_parsed_and_canonical() {
        assert_eq!(
            IpAddress::parse("ip", " 10.0.0.1 ").unwrap().into_string(),
            "10.0.0.1"
        );
        assert_eq!(
            IpAddress::parse("ip", "::0001").unwrap().into_string(),
            "::1"
        );
        let err = IpAddress::parse("ipAddress", "10.0.0.256").unwrap_err();
        assert_eq!(err.code().as_str(), "BAD_USER_INPUT");
        assert!(err.to_string().starts_with("ipAddress:"));
        assert!(IpAddress::parse("ip", "host.example").is_err());
    }

    #[test]
    fn ports_are_1_to_65535() {
        assert_eq!(Port::parse("p", 22).unwrap().get(), 22);
        assert_eq!(Port::parse("p", 65535).unwrap().get(), 65535);
        assert!(Port::parse("p", 0).is_err());
        assert!(Port::parse("p", 65536).is_err());
        assert!(Port::parse("p", -1).is_err());
    }

    #[test]
    fn sizes_and_counts_are_not_negative() {
        assert_eq!(ByteSize::parse("s", 0).unwrap().get(), 0);
        assert_eq!(ByteSize::parse("s", i64::MAX).unwrap().get(), i64::MAX);
        assert!(ByteSize::parse("s", -1).is_err());
        assert!(Count::parse("c", -3).is_err());
        assert_eq!(Count::parse("c", 8).unwrap().get(), 8);
    }

    #[test]
    fn bounded_text_is_trimmed_and_bounded() {
        assert_eq!(
            BoundedText::parse("n", "  a b ", 5).unwrap().into_string(),
            "a b"
        );
        assert!(BoundedText::parse("n", "   ", 5).is_err());
        assert!(BoundedText::parse("n", "abcdef", 5).is_err());
        assert_eq!(
            BoundedText::parse("n", "日本語", 3).unwrap().into_string(),
            "日本語"
        );
    }

    #[test]
    fn text_refuses_control_characters_except_lines_in_multiline_text() {
        for bad in ["a\0b", "a\u{1b}[31m", "a\u{7f}", "a\u{85}b", "a\nb", "a\tb"] {
            let err = BoundedText::parse("name", bad, 50).unwrap_err();
            assert_eq!(err.code().as_str(), "BAD_USER_INPUT", "{bad:?}");
        }
        assert!(BoundedText::parse_multiline("d", "line 1\r\n\tline 2", 50).is_ok());
        assert!(BoundedText::parse_multiline("d", "a\0b", 50).is_err());
    }

    #[test]
    fn json_inputs_are_bounded_and_hold_no_nul() {
        let ok = serde_json::json!({"acc": 0.9, "notes": "two\nlines"});
        assert!(BoundedJson::parse("m", ok, 100).is_ok());
        assert!(BoundedJson::parse("m", serde_json::json!({"a": "x".repeat(200)}), 100).is_err());
        assert!(BoundedJson::parse("m", serde_json::json!({"a": ["\u{0}"]}), 100).is_err());
        assert!(BoundedJson::parse("m", serde_json::json!({"a\nb": 1}), 100).is_err());
    }

    #[test]
    fn output_round_trips_through_its_stored_form() {
        for raw in ["plain", "", "a\0b\0", "back\\slash\\0", "\\", "é\0é\\"] {
            let stored = encode_output(raw);
            assert!(!stored.contains('\0'));
            assert_eq!(decode_output(&stored), raw, "{raw:?}");
        }
        assert_eq!(encode_output("no escapes"), "no escapes");
    }

    #[test]
    fn readings_are_finite_and_physical() {
        assert_eq!(
            Reading::parse("c", 42.5, Range::Percent).unwrap().get(),
            42.5
        );
        assert!(Reading::parse("t", -50.0, Range::Celsius).is_ok());
        for (v, r) in [
            (1e200, Range::Percent),
            (-0.1, Range::Percent),
            (100.5, Range::Percent),
            (151.0, Range::Celsius),
            (-1.0, Range::NonNegative),
            (f64::INFINITY, Range::NonNegative),
            (f64::NAN, Range::Celsius),
        ] {
            assert!(Reading::parse("f", v, r).is_err(), "{v} in {r:?}");
        }
    }

    #[test]
    fn emails() {
        assert_eq!(
            Email::parse("e", "John@Example.COM").unwrap().into_string(),
            "john@example.com"
        );
        for bad in [
            "john",
            "@example.com",
            "a@b",
            "a@@b.com",
            "a b@c.com",
            "a@.com",
            "a@com.",
        ] {
            assert!(Email::parse("e", bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn usernames_and_passwords() {
        assert!(Username::parse("u", "john_doe").is_ok());
        assert!(Username::parse("u", "jo").is_err());
        assert!(Username::parse("u", "john doe").is_err());
        assert!(Password::parse("p", "short").is_err());
        assert!(Password::parse("p", &"x".repeat(129)).is_err());
        let p = Password::parse("p", "correct horse").unwrap();
        assert!(!format!("{p:?}").contains("horse"));
    }

    #[test]
    fn environment_states_round_trip_and_hold_what_they_should() {
        for s in EnvState::ALL {
            assert_eq!(EnvState::from_db(Some(s.as_db())).unwrap(), s);
            // Events carry the same spelling.
            let wire = serde_json::to_string(&s).unwrap();
            assert_eq!(wire, format!("\"{}\"", s.as_db()));
        }
        assert_eq!(EnvState::from_db(None).unwrap(), EnvState::Creating);
        assert!(EnvState::from_db(Some("exploded")).is_err());
        assert!(EnvState::Running.holds_compute());
        assert!(!EnvState::Stopped.holds_compute());
        assert!(EnvState::Stopped.holds_ports());
        assert!(!EnvState::Failed.holds_ports());
        for a in OrderAction::ALL {
            assert_eq!(OrderAction::from_db(a.as_db()).unwrap(), a);
        }
    }

    #[test]
    fn stored_words_round_trip_and_unknown_ones_are_refused() {
        for k in CommandOrderKind::ALL {
            assert_eq!(CommandOrderKind::from_db(k.as_db()).unwrap(), *k);
        }
        let err = CommandOrderKind::from_db("explode").unwrap_err();
        assert_eq!(err.code().as_str(), "INTERNAL");
        // On the bus, an order of an unknown kind does not decode at all.
        let run: CommandOrderKind = serde_json::from_str("\"run\"").unwrap();
        assert_eq!(run, CommandOrderKind::Run);
        assert!(serde_json::from_str::<CommandOrderKind>("\"explode\"").is_err());
        assert_eq!(
            serde_json::to_string(&CommandState::Cancelled).unwrap(),
            "\"cancelled\""
        );
        assert!(AccountState::admits(None));
        assert!(AccountState::admits(Some("active")));
        assert!(!AccountState::admits(Some("suspended")));
        assert_eq!(
            CommandState::from_db_opt(None).unwrap(),
            CommandState::Pending
        );
        assert!(CommandState::Timeout.is_final());
        assert!(!CommandState::Running.is_final());
    }

    #[test]
    fn variable_names_and_mount_paths() {
        assert!(EnvVarName::parse("env", "CUDA_HOME").is_ok());
        assert!(EnvVarName::parse("env", "_x1").is_ok());
        for bad in ["", "1X", "A-B", "A B", "Ä"] {
            assert!(EnvVarName::parse("env", bad).is_err(), "{bad}");
        }
        assert_eq!(
            MountPath::parse("p", "/data/imagenet/")
                .unwrap()
                .into_string(),
            "/data/imagenet"
        );
        for bad in ["data", "/", "/a/../etc", "/a\0b"] {
            assert!(MountPath::parse("p", bad).is_err(), "{bad:?}");
        }
    }
}

/// An amount of money or a price: a `Decimal` with at most four decimal places, never
/// negative, and within `max_digits` significant digits (a `DECIMAL(max_digits, 4)` column),
/// so that nothing is ever rounded or truncated on the way to the database.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub struct Money(rust_decimal::Decimal);

impl Money {
    /// `DECIMAL(10,4)`: prices and billing records.
    pub const RECORD_DIGITS: u32 = 10;
    /// `DECIMAL(15,4)`: invoice totals and spend limits.
    pub const TOTAL_DIGITS: u32 = 15;

    pub fn parse(
        field: &str,
        raw: rust_decimal::Decimal,
        max_digits: u32,
    ) -> Result<Self, AppError> {
        let raw = raw.normalize();
        if raw.is_sign_negative() && !raw.is_zero() {
            return Err(bad(field, format!("{raw} is negative")));
        }
        if raw.scale() > 4 {
            return Err(bad(field, format!("{raw} has more than 4 decimal places")));
        }
        Self::within(field, raw, max_digits)
    }

    /// `value` (any scale already rounded by the caller) if it fits `max_digits`.
    pub fn within(
        field: &str,
        value: rust_decimal::Decimal,
        max_digits: u32,
    ) -> Result<Self, AppError> {
        let limit = rust_decimal::Decimal::from(10_i64.pow(max_digits - 4));
        if value.abs() >= limit {
            return Err(bad(
                field,
                format!(
                    "{value} is too large: at most {} digits before the point",
                    max_digits - 4
                ),
            ));
        }
        let mut v = value.round_dp(4);
        v.rescale(4);
        Ok(Self(v))
    }

    pub fn get(self) -> rust_decimal::Decimal {
        self.0
    }
}

stored_words!(
    /// A metered resource (`billing_records.resource_type`, `prices.resource_type`): `gpu`
    /// per GPU-hour (priced by GPU model), `cpu` per core-hour, `memory` per GiB-hour.
    Resource ("resource type") { Gpu = "gpu", Cpu = "cpu", Memory = "memory" }
);

stored_words!(
    /// An invoice's life: `draft` while its month runs, `issued` once it closes, then `paid`
    /// or `void` by an operator. Only a draft changes.
    InvoiceState ("invoice status") { Draft = "draft", Issued = "issued", Paid = "paid", Void = "void" }
);

impl InvoiceState {
    /// A NULL status is the column's default, `draft`.
    pub fn from_db_opt(raw: Option<&str>) -> Result<Self, AppError> {
        Self::from_db(raw.unwrap_or("draft"))
    }
}

/// Who pays for an environment: its customer, or the workspace it runs in
/// (`invoices.billed_to`, one invoice per account and month).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum BillingAccount {
    Customer(i64),
    Workspace(i64),
}

impl BillingAccount {
    pub fn of(customer_id: i64, workspace_id: Option<i64>) -> Self {
        match workspace_id {
            Some(w) => Self::Workspace(w),
            None => Self::Customer(customer_id),
        }
    }

    /// The stored spelling: `customer:<id>` or `workspace:<id>`.
    pub fn key(self) -> String {
        match self {
            Self::Customer(id) => format!("customer:{id}"),
            Self::Workspace(id) => format!("workspace:{id}"),
        }
    }

    pub fn workspace(self) -> Option<i64> {
        match self {
            Self::Workspace(id) => Some(id),
            Self::Customer(_) => None,
        }
    }
}
