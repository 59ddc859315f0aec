//! A container's state, as the rest of the agent sees it, from the Engine's inspect answer.

use bollard::models::{ContainerInspectResponse, ContainerStateStatusEnum};

use crate::runtime::{
    parse_gpus_label, ContainerInfo, ContainerState, LABEL_ENVIRONMENT, LABEL_GPUS, LABEL_NETWORK,
};

/// The tenant network a container joined, from its `remotegpu.network` label (containers
/// made before tenant networks have none).
pub(super) fn network_of(response: &ContainerInspectResponse) -> Option<String> {
    response
        .config
        .as_ref()
        .and_then(|c| c.labels.as_ref())
        .and_then(|l| l.get(LABEL_NETWORK))
        .filter(|n| crate::runtime::validate_network_name(n).is_ok())
        .cloned()
}

/// A [`ContainerInfo`] from the Engine's inspect answer.
pub(super) fn info_from_inspect(
    environment_id: &str,
    response: &ContainerInspectResponse,
) -> ContainerInfo {
    let labels = response.config.as_ref().and_then(|c| c.labels.as_ref());
    let label = |key: &str| labels.and_then(|l| l.get(key)).map(String::as_str);
    let state = response.state.as_ref();
    let status = state.and_then(|s| s.status);
    let error = state
        .and_then(|s| s.error.as_deref())
        .filter(|e| !e.is_empty())
        .map(str::to_string);
    let code = state.and_then(|s| s.exit_code);
    let oom = state.and_then(|s| s.oom_killed).unwrap_or(false);
    use ContainerStateStatusEnum as S;
    let (state, exit_code, exit_message) = match status {
        Some(S::RUNNING | S::RESTARTING | S::PAUSED | S::STOPPING) => {
            (ContainerState::Running, None, None)
        }
        // Being removed, or dead (a failed removal): it is going away, as good as missing,
        // so nothing starts it again.
        Some(S::REMOVING | S::DEAD) => (ContainerState::Missing, code, error),
        Some(S::EXITED) => {
            let message = error.or_else(|| {
                code.map(|c| {
                    if oom {
                        format!("exited with code {c}: killed for exceeding its memory limit")
                    } else {
                        format!("exited with code {c}")
                    }
                })
            });
            (ContainerState::Stopped, code, message)
        }
        // Created (never started, or its start failed), being removed, or unknown.
        _ => {
            let code = error.as_ref().and(code);
            (ContainerState::Stopped, code, error)
        }
    };
    ContainerInfo {
        environment_id: label(LABEL_ENVIRONMENT)
            .unwrap_or(environment_id)
            .to_string(),
        container_id: response.id.clone(),
        state,
        gpus: label(LABEL_GPUS).map(parse_gpus_label).unwrap_or_default(),
        image: response.config.as_ref().and_then(|c| c.image.clone()),
        exit_code,
        exit_message,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bollard::models::{ContainerConfig, ContainerState as DockerState};
    use std::collections::HashMap;

    fn inspected(status: ContainerStateStatusEnum, code: i64, error: &str) -> ContainerInfo {
        let response = ContainerInspectResponse {
            id: Some("abc".to_string()),
            state: Some(DockerState {
                status: Some(status),
                exit_code: Some(code),
                error: Some(error.to_string()),
                oom_killed: Some(false),
                ..Default::default()
            }),
            config: Some(ContainerConfig {
                image: Some("img:1".to_string()),
                labels: Some(HashMap::from([
                    (LABEL_ENVIRONMENT.to_string(), "env-9".to_string()),
                    (LABEL_GPUS.to_string(), "GPU-a".to_string()),
                ])),
                ..Default::default()
            }),
            ..Default::default()
        };
        info_from_inspect("fallback", &response)
    }

    #[test]
    fn inspect_states_and_messages() {
        use ContainerStateStatusEnum as S;
        let running = inspected(S::RUNNING, 0, "");
        assert_eq!(running.state, ContainerState::Running);
        assert_eq!(running.environment_id, "env-9");
        assert_eq!(running.gpus, ["GPU-a"]);
        assert_eq!(running.container_id.as_deref(), Some("abc"));
        assert_eq!(running.image.as_deref(), Some("img:1"));
        assert_eq!(running.exit_message, None);

        let exited = inspected(S::EXITED, 3, "");
        assert_eq!(exited.state, ContainerState::Stopped);
        assert_eq!(exited.exit_code, Some(3));
        assert_eq!(exited.exit_message.as_deref(), Some("exited with code 3"));

        let failed = inspected(S::CREATED, 127, "exec: \"nope\": not found");
        assert_eq!(failed.state, ContainerState::Stopped);
        assert_eq!(failed.exit_code, Some(127));
        assert_eq!(
            failed.exit_message.as_deref(),
            Some("exec: \"nope\": not found")
        );

        let created = inspected(S::CREATED, 0, "");
        assert_eq!((created.exit_code, created.exit_message), (None, None));
    }

    #[test]
    fn the_network_label() {
        let mut response = ContainerInspectResponse {
            config: Some(ContainerConfig {
                labels: Some(HashMap::from([(
                    LABEL_NETWORK.to_string(),
                    "rgpu-c12".to_string(),
                )])),
                ..Default::default()
            }),
            ..Default::default()
        };
        assert_eq!(network_of(&response).as_deref(), Some("rgpu-c12"));
        // A label that is not a tenant network name is never acted on.
        if let Some(c) = response.config.as_mut() {
            c.labels = Some(HashMap::from([(
                LABEL_NETWORK.to_string(),
                "bridge".to_string(),
            )]));
        }
        assert_eq!(network_of(&response), None);
        assert_eq!(network_of(&ContainerInspectResponse::default()), None);
    }
}
