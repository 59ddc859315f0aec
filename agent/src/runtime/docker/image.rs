//! Images: pulled only when a create finds none.

use bollard::query_parameters::CreateImageOptionsBuilder;
use futures_util::StreamExt;

use super::{BindMount, DockerRuntime};
use crate::runtime::{ContainerSpec, RuntimeError, RuntimeErrorKind};

impl DockerRuntime {
    /// Creates the container; when the Engine answers that the image is not present (404),
    /// pulls it and tries once more, a second 404 becoming an [`RuntimeErrorKind::Image`]
    /// error.
    pub(super) async fn create_or_pull(
        &self,
        spec: &ContainerSpec,
        mounts: &[BindMount],
    ) -> Result<(), RuntimeError> {
        match self.create_container(spec, mounts).await {
            Err(missing) if missing.is_not_found() => {
                self.pull(&spec.image, &missing).await?;
                self.create_container(spec, mounts).await.map_err(|e| {
                    if e.is_not_found() {
                        RuntimeError {
                            kind: RuntimeErrorKind::Image,
                            ..e
                        }
                    } else {
                        e
                    }
                })
            }
            other => other,
        }
    }

    /// Pulls `image`. `missing` is the Engine's answer to the create that found no image; a
    /// failed pull is an [`RuntimeErrorKind::Image`] error carrying both messages.
    async fn pull(&self, image: &str, missing: &RuntimeError) -> Result<(), RuntimeError> {
        let docker = self.client().await?;
        let reference = with_default_tag(image);
        tracing::info!(image = %reference, "pulling image");
        let options = CreateImageOptionsBuilder::new()
            .from_image(&reference)
            .build();
        let mut progress = docker.create_image(Some(options), None, None);
        while let Some(item) = progress.next().await {
            if let Err(e) = item {
                let pull = self.error(e);
                if pull.kind == RuntimeErrorKind::Unavailable {
                    return Err(pull);
                }
                return Err(RuntimeError {
                    kind: RuntimeErrorKind::Image,
                    status: pull.status,
                    message: format!("{} (pulling it failed: {})", missing.message, pull.message),
                });
            }
        }
        tracing::info!(image = %reference, "pulled image");
        Ok(())
    }
}

/// `image` with `:latest` added when it names neither a tag nor a digest (a pull without a
/// tag would fetch every tag).
fn with_default_tag(image: &str) -> String {
    let last = image.rsplit('/').next().unwrap_or(image);
    if image.contains('@') || last.contains(':') {
        image.to_string()
    } else {
        format!("{image}:latest")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tags() {
        assert_eq!(with_default_tag("busybox"), "busybox:latest");
        assert_eq!(with_default_tag("a/b:1"), "a/b:1");
        assert_eq!(with_default_tag("reg:5000/a/b"), "reg:5000/a/b:latest");
        assert_eq!(with_default_tag("a/b@sha256:00"), "a/b@sha256:00");
    }
}
