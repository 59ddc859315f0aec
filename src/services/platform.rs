//! Platform settings operators keep in `system_configs` (seed 000 §3.1's own example is
//! `ssh_port_range_start`), read with their defaults in one place. A key that is absent
//! takes its default; a value that cannot be read as its type is an internal error (logged
//! with the key), since operators' writes are already checked against `config_type`.

use std::collections::HashMap;

use entity::system_configs;
use sea_orm::{ColumnTrait, ConnectionTrait, EntityTrait, QueryFilter};

use crate::domain::{PlacementPolicy, ServiceKind};
use crate::error::{AppError, AppResult};

/// Every key read here, with its default: the table in `docs/environments.md` (Settings) is this list.
pub const ENVIRONMENT_KEYS: [(&str, &str); 12] = [
    ("placement_policy", "binpack"),
    ("ssh_port_range_start", "30000"),
    ("ssh_port_range_end", "30999"),
    ("jupyter_port_range_start", "31000"),
    ("jupyter_port_range_end", "31999"),
    ("rdp_port_range_start", "32000"),
    ("rdp_port_range_end", "32999"),
    ("quota_customer_max_gpus", "8"),
    ("quota_customer_max_environments", "10"),
    ("quota_workspace_max_gpus", "32"),
    ("quota_workspace_max_environments", "50"),
    ("environment_gateway_host", ""),
];

/// What placement, port allocation and quotas need.
#[derive(Debug, Clone)]
pub struct EnvironmentSettings {
    pub policy: PlacementPolicy,
    ports: HashMap<ServiceKind, (i32, i32)>,
    pub customer_max_gpus: i32,
    pub customer_max_environments: i32,
    pub workspace_max_gpus: i32,
    pub workspace_max_environments: i32,
    /// The name customers connect to instead of each host's public IP.
    pub gateway_host: Option<String>,
}

impl EnvironmentSettings {
    /// The inclusive range external ports of `service` come from.
    pub fn port_range(&self, service: ServiceKind) -> (i32, i32) {
        self.ports.get(&service).copied().unwrap_or((0, -1))
    }
}

fn invalid(key: &str, value: &str) -> AppError {
    AppError::internal(format!("system config {key} = '{value}' cannot be used"))
}

/// Reads the environment settings (one statement).
pub async fn environment_settings(db: &impl ConnectionTrait) -> AppResult<EnvironmentSettings> {
    let keys = ENVIRONMENT_KEYS.iter().map(|(k, _)| *k);
    let stored: HashMap<String, String> = system_configs::Entity::find()
        .filter(system_configs::Column::ConfigKey.is_in(keys))
        .all(db)
        .await?
        .into_iter()
        .map(|r| (r.config_key, r.config_value))
        .collect();
    let get = |key: &str| -> String {
        stored.get(key).cloned().unwrap_or_else(|| {
            ENVIRONMENT_KEYS
                .iter()
                .find(|(k, _)| *k == key)
                .map(|(_, v)| (*v).to_owned())
                .unwrap_or_default()
        })
    };
    let int = |key: &str| -> AppResult<i32> {
        let value = get(key);
        value.trim().parse().map_err(|_| invalid(key, &value))
    };
    let range = |service: ServiceKind| -> AppResult<(i32, i32)> {
        let name = service.as_db();
        let start = int(&format!("{name}_port_range_start"))?;
        let end = int(&format!("{name}_port_range_end"))?;
        if !(1..=65535).contains(&start) || !(start..=65535).contains(&end) {
            return Err(invalid(
                &format!("{name}_port_range_start/_end"),
                &format!("{start}-{end}"),
            ));
        }
        Ok((start, end))
    };
    let policy_raw = get("placement_policy");
    let mut ports = HashMap::new();
    for service in [ServiceKind::Ssh, ServiceKind::Jupyter, ServiceKind::Rdp] {
        ports.insert(service, range(service)?);
    }
    let gateway = get("environment_gateway_host");
    Ok(EnvironmentSettings {
        policy: PlacementPolicy::parse(&policy_raw)
            .ok_or_else(|| invalid("placement_policy", &policy_raw))?,
        ports,
        customer_max_gpus: int("quota_customer_max_gpus")?,
        customer_max_environments: int("quota_customer_max_environments")?,
        workspace_max_gpus: int("quota_workspace_max_gpus")?,
        workspace_max_environments: int("quota_workspace_max_environments")?,
        gateway_host: Some(gateway.trim().to_owned()).filter(|g| !g.is_empty()),
    })
}
