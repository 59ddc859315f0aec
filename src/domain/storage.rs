//! Where customers' data lives: storage keys and the tenant a container belongs to.
//!
//! A dataset, model or version is stored under a [`StorageKey`]: a relative path the platform
//! generates (`datasets/c12/<uuid>/<uuid>`), which each host's agent resolves strictly
//! beneath its storage root. A customer never sends one; operators may name an existing key
//! when they register an import. Nothing here is ever a host path.
//!
//! A container runs on the Docker network of its [`Tenant`]: the account's own
//! (`rgpu-c<customer id>`) or the workspace's (`rgpu-w<workspace id>`).

use super::bad;
use crate::error::AppError;

/// Longest storage key, in bytes.
pub const MAX_KEY_LEN: usize = 512;

/// A relative storage key: `/`-separated segments of `[A-Za-z0-9._-]`, none empty, `.` or
/// `..`, at most 512 bytes.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StorageKey(String);

impl StorageKey {
    pub fn parse(field: &str, raw: &str) -> Result<Self, AppError> {
        if Self::is_valid(raw) {
            Ok(Self(raw.to_owned()))
        } else {
            Err(bad(
                field,
                format!(
                    "'{raw}' is not a storage key: a relative path of segments of letters, \
                     digits, '.', '_' and '-' (no '..', no leading '/'), at most {MAX_KEY_LEN} bytes"
                ),
            ))
        }
    }

    /// Whether a stored location is a key the agent may resolve (rows from before keys
    /// existed may hold anything).
    pub fn is_valid(raw: &str) -> bool {
        !raw.is_empty()
            && raw.len() <= MAX_KEY_LEN
            && raw.split('/').all(|segment| {
                !segment.is_empty()
                    && segment != "."
                    && segment != ".."
                    && segment
                        .chars()
                        .all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '_' | '-'))
            })
    }

    /// The key of a new dataset or model of `tenant`: `<kind>/<tenant>/<fresh uuid>`.
    pub fn new_asset(kind: AssetKind, tenant: Tenant) -> Self {
        Self(format!(
            "{}/{}/{}",
            kind.folder(),
            tenant.segment(),
            uuid::Uuid::new_v4().simple()
        ))
    }

    /// The key of a new version of the asset stored under `parent`: `<parent>/<fresh uuid>`.
    pub fn new_version(parent: &str) -> Result<Self, AppError> {
        let key = format!("{parent}/{}", uuid::Uuid::new_v4().simple());
        if Self::is_valid(&key) {
            Ok(Self(key))
        } else {
            Err(AppError::Conflict(
                "the parent's storage location is not a storage key; it cannot hold versions"
                    .into(),
            ))
        }
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }

    pub fn into_string(self) -> String {
        self.0
    }
}

/// What a storage key holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum AssetKind {
    Dataset,
    Model,
}

impl AssetKind {
    fn folder(self) -> &'static str {
        match self {
            Self::Dataset => "datasets",
            Self::Model => "models",
        }
    }
}

/// Whose resources a row or container is: one account alone, or a workspace.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Tenant {
    Customer(i64),
    Workspace(i64),
}

impl Tenant {
    /// The workspace when there is one, else the account.
    pub fn of(customer: i64, workspace: Option<i64>) -> Self {
        workspace.map_or(Self::Customer(customer), Self::Workspace)
    }

    /// `c<id>` or `w<id>`.
    fn segment(self) -> String {
        match self {
            Self::Customer(id) => format!("c{id}"),
            Self::Workspace(id) => format!("w{id}"),
        }
    }

    /// The Docker network (and bridge interface) of the tenant's containers on a host:
    /// `rgpu-c<id>` or `rgpu-w<id>`; at most 15 characters for ids below 10⁹.
    pub fn network(self) -> String {
        format!("rgpu-{}", self.segment())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn keys_are_relative_and_confined() {
        for ok in ["datasets/c1/abc", "a", "a.b/c_d-e", "models/w7/x/y"] {
            assert!(StorageKey::parse("k", ok).is_ok(), "{ok}");
        }
        for bad in [
            "",
            "/etc",
            "/var/run/docker.sock",
            "..",
            "a/../b",
            "a/..",
            "./a",
            "a//b",
            "a/",
            "a\\b",
            "C:x",
            "a b",
            "a\0b",
            &"a".repeat(513),
        ] {
            let err = StorageKey::parse("storageKey", bad).unwrap_err();
            assert!(err.to_string().contains("storageKey"), "{bad}");
        }
    }

    #[test]
    fn generated_keys_name_the_tenant() {
        let key = StorageKey::new_asset(AssetKind::Dataset, Tenant::of(12, None));
        assert!(key.as_str().starts_with("datasets/c12/"));
        assert!(StorageKey::is_valid(key.as_str()));
        let key = StorageKey::new_asset(AssetKind::Model, Tenant::of(12, Some(7)));
        assert!(key.as_str().starts_with("models/w7/"));
        let version = StorageKey::new_version(key.as_str()).unwrap();
        assert!(version.as_str().starts_with(key.as_str()));
        assert!(StorageKey::new_version("/etc").is_err());
        assert_eq!(Tenant::of(5, None).network(), "rgpu-c5");
        assert_eq!(Tenant::of(5, Some(999_999_999)).network().len(), 15);
    }
}
