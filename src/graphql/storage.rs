//! Finalizing uploaded versions (`services::storage`): an `UPLOADING` dataset or model
//! version becomes `READY`, read-only from then on.

use async_graphql::{Context, Object, ID};
use entity::{dataset_versions, model_versions};

use super::convert::fk;
use super::crud::{principal, state, ApiObject};
use super::datasets::DatasetVersion;
use super::models::ModelVersion;
use crate::auth::policy::user_for;
use crate::error::GqlResult;
use crate::services::storage;

#[derive(Default)]
pub struct StorageMutation;

#[Object]
impl StorageMutation {
    /// Makes an `UPLOADING` dataset version `READY` (its owner, or a workspace's OWNER or
    /// ADMIN): read-only from now on, with the size and file count its host measured when
    /// the environment that filled it was deleted. CONFLICT while an environment still
    /// mounts it read-write, or when it is not `UPLOADING`.
    async fn finalize_dataset_version(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<DatasetVersion> {
        let user = user_for::<dataset_versions::Entity>(&principal(ctx)).gql()?;
        let id = fk("id", &id).gql()?;
        let row = storage::finalize_dataset_version(&state(ctx).db, user, id)
            .await
            .gql()?;
        DatasetVersion::from_model(row).gql()
    }

    /// Makes an `UPLOADING` model version `READY`: read-only from now on.
    async fn finalize_model_version(
        &self,
        ctx: &Context<'_>,
        id: ID,
    ) -> async_graphql::Result<ModelVersion> {
        let user = user_for::<model_versions::Entity>(&principal(ctx)).gql()?;
        let id = fk("id", &id).gql()?;
        let row = storage::finalize_model_version(&state(ctx).db, user, id)
            .await
            .gql()?;
        ModelVersion::from_model(row).gql()
    }
}
