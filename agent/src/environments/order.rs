//! Environment orders as the server sends them (`agentEnvironmentOrders`).

use serde_json::Value;

use crate::runtime::{ContainerSpec, GpuMode, Mount, PortBinding};

/// What to do with the container.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    Create,
    Start,
    Restart,
    Stop,
    Delete,
}

/// One order, parsed.
#[derive(Debug, Clone, PartialEq)]
pub struct Order {
    pub generation: i64,
    pub action: Action,
    pub spec: ContainerSpec,
}

fn text<'a>(v: &'a Value, field: &str) -> Result<&'a str, String> {
    v[field]
        .as_str()
        .ok_or_else(|| format!("order field {field} is missing"))
}

/// A BigInt field that may be absent (or null): 0 then.
fn optional_big(v: &Value, field: &str) -> Result<i64, String> {
    if v[field].is_null() {
        Ok(0)
    } else {
        big(v, field)
    }
}

fn big(v: &Value, field: &str) -> Result<i64, String> {
    match &v[field] {
        Value::String(s) => s.parse().map_err(|_| format!("order field {field}: '{s}'")),
        Value::Number(n) => n
            .as_i64()
            .ok_or_else(|| format!("order field {field}: {n}")),
        _ => Err(format!("order field {field} is missing")),
    }
}

/// Reads an order; an unknown action is an error, never some other action. The network and
/// the mounts' keys are taken as given: the runtime checks them, so a bad one fails the
/// environment with the reason instead of being dropped here.
pub fn parse_order(v: &Value, gpu_mode: GpuMode) -> Result<Order, String> {
    let action = match text(v, "action")? {
        "CREATE" => Action::Create,
        "START" => Action::Start,
        "RESTART" => Action::Restart,
        "STOP" => Action::Stop,
        "DELETE" => Action::Delete,
        other => return Err(format!("unknown order action {other}")),
    };
    let port = |p: &Value, field: &str| -> Result<u16, String> {
        p[field]
            .as_u64()
            .and_then(|n| u16::try_from(n).ok())
            .ok_or_else(|| format!("order port {field}"))
    };
    let ports = v["ports"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|p| {
            Ok(PortBinding {
                internal: port(p, "internalPort")?,
                external: port(p, "externalPort")?,
            })
        })
        .collect::<Result<_, String>>()?;
    let env = v["envVars"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|e| Ok((text(e, "name")?.to_owned(), text(e, "value")?.to_owned())))
        .collect::<Result<_, String>>()?;
    let mounts = v["mounts"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .map(|m| {
            Ok(Mount {
                key: text(m, "key")?.to_owned(),
                target: text(m, "target")?.to_owned(),
                read_only: m["readOnly"].as_bool().unwrap_or(true),
            })
        })
        .collect::<Result<_, String>>()?;
    let gpus = v["gpuUuids"]
        .as_array()
        .map(Vec::as_slice)
        .unwrap_or_default()
        .iter()
        .filter_map(|g| g.as_str().map(str::to_owned))
        .collect();
    Ok(Order {
        generation: big(v, "generation")?,
        action,
        spec: ContainerSpec {
            environment_id: text(v, "environmentId")?.to_owned(),
            image: text(v, "image")?.to_owned(),
            cpu_cores: u32::try_from(v["cpu"].as_u64().unwrap_or(1)).unwrap_or(1),
            memory_bytes: big(v, "memory")?,
            shm_size_bytes: optional_big(v, "shmSize")?,
            network: v["network"].as_str().unwrap_or_default().to_owned(),
            gpus,
            gpu_mode,
            ports,
            env,
            mounts,
            command: None,
        },
    })
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]
    use super::*;
    use serde_json::json;

    fn order(action: &str, generation: &str) -> Value {
        json!({
            "environmentId": "env-1", "generation": generation, "action": action,
            "image": "busybox", "cpu": 2, "memory": "1073741824", "shmSize": "268435456",
            "network": "rgpu-c12",
            "gpuUuids": ["GPU-a"], "ports": [{ "service": "SSH", "internalPort": 22, "externalPort": 30001 }],
            "envVars": [{ "name": "A", "value": "1" }],
            "mounts": [
                { "key": "datasets/c12/3f2a/9b1c", "target": "/data", "readOnly": true },
                { "key": "home/c12/u1", "target": "/root", "readOnly": false }
            ]
        })
    }

    #[test]
    fn orders_parse_and_unknown_actions_are_errors() {
        let o = parse_order(&order("CREATE", "3"), GpuMode::EnvOnly).unwrap();
        assert_eq!(o.generation, 3);
        assert_eq!(o.action, Action::Create);
        assert_eq!(o.spec.cpu_cores, 2);
        assert_eq!(o.spec.memory_bytes, 1 << 30);
        assert_eq!(o.spec.shm_size_bytes, 1 << 28);
        assert_eq!(o.spec.network, "rgpu-c12");
        assert_eq!(
            o.spec.ports,
            vec![PortBinding {
                internal: 22,
                external: 30001
            }]
        );
        assert_eq!(o.spec.env, vec![("A".into(), "1".into())]);
        assert_eq!(
            o.spec.mounts,
            vec![
                Mount {
                    key: "datasets/c12/3f2a/9b1c".into(),
                    target: "/data".into(),
                    read_only: true
                },
                Mount {
                    key: "home/c12/u1".into(),
                    target: "/root".into(),
                    read_only: false
                }
            ]
        );
        assert!(crate::runtime::validate_spec(&o.spec).is_ok());
        assert!(parse_order(&order("EXPLODE", "1"), GpuMode::EnvOnly).is_err());
    }

    #[test]
    fn shm_size_is_a_bigint_or_absent() {
        let mut v = order("CREATE", "1");
        v["shmSize"] = json!(1024);
        assert_eq!(
            parse_order(&v, GpuMode::EnvOnly)
                .unwrap()
                .spec
                .shm_size_bytes,
            1024
        );
        v["shmSize"] = Value::Null;
        assert_eq!(
            parse_order(&v, GpuMode::EnvOnly)
                .unwrap()
                .spec
                .shm_size_bytes,
            0
        );
        v.as_object_mut().unwrap().remove("shmSize");
        assert_eq!(
            parse_order(&v, GpuMode::EnvOnly)
                .unwrap()
                .spec
                .shm_size_bytes,
            0
        );
        v["shmSize"] = json!("lots");
        assert!(parse_order(&v, GpuMode::EnvOnly).is_err());
    }

    #[test]
    fn a_bad_network_or_key_parses_and_is_refused_by_the_runtime() {
        // Parsed as given, so the environment fails with the reason instead of the order
        // being dropped.
        for (field, value) in [
            ("network", json!("bridge")),
            ("network", json!("rgpu-c123456789012")),
            ("network", Value::Null),
        ] {
            let mut v = order("CREATE", "1");
            v[field] = value.clone();
            let o = parse_order(&v, GpuMode::EnvOnly).unwrap();
            let err = crate::runtime::validate_spec(&o.spec).unwrap_err();
            assert!(
                err.message().contains("invalid tenant network"),
                "{value}: {err}"
            );
        }
        for key in ["/var/run/docker.sock", "../../etc", "/"] {
            let mut v = order("CREATE", "1");
            v["mounts"][0]["key"] = json!(key);
            let o = parse_order(&v, GpuMode::EnvOnly).unwrap();
            let err = crate::runtime::validate_spec(&o.spec).unwrap_err();
            assert!(
                err.message().starts_with("mount refused: storage key"),
                "{err}"
            );
        }
        // An order still carrying the old host path field has no key: not understood.
        let mut v = order("CREATE", "1");
        v["mounts"] = json!([{ "source": "/", "target": "/host", "readOnly": false }]);
        assert!(parse_order(&v, GpuMode::EnvOnly).is_err());
    }
}
