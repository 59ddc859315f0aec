//! Every relation the API resolves, in one place: the entity loaded and the column matched
//! against the parents' keys. Resolvers load them through `crud::load_*`, batched by the
//! DataLoader.

use entity::*;

use super::loaders::relation;

relation!(HostById: hosts::Entity, hosts::Column::Id, String);
relation!(GpusOfHost: gpus::Entity, gpus::Column::HostId, String);
relation!(EnvironmentsOfHost: environments::Entity, environments::Column::HostId, String);
relation!(LatestHostMetric: host_metrics::Entity, host_metrics::Column::HostId, String, latest by host_metrics::Column::CollectedAt);
relation!(GpuById: gpus::Entity, gpus::Column::Id, i64);
relation!(LatestGpuMetric: gpu_metrics::Entity, gpu_metrics::Column::GpuId, i64, latest by gpu_metrics::Column::CollectedAt);

relation!(CustomerById: customers::Entity, customers::Column::Id, i64);
relation!(WorkspacesOwnedBy: workspaces::Entity, workspaces::Column::OwnerId, i64);
relation!(MembershipsOfCustomer: workspace_members::Entity, workspace_members::Column::CustomerId, i64);
relation!(WorkspaceById: workspaces::Entity, workspaces::Column::Id, i64);
relation!(MembersOfWorkspace: workspace_members::Entity, workspace_members::Column::WorkspaceId, i64);

relation!(EnvironmentById: environments::Entity, environments::Column::Id, String);
relation!(EnvironmentsOfCustomer: environments::Entity, environments::Column::CustomerId, i64);
relation!(EnvironmentsOfWorkspace: environments::Entity, environments::Column::WorkspaceId, i64);
relation!(PortMappingsOfEnvironment: port_mappings::Entity, port_mappings::Column::EnvId, String);
relation!(DatasetUsageOfEnvironment: dataset_usage::Entity, dataset_usage::Column::EnvId, String);
relation!(LatestEnvironmentMetric: environment_metrics::Entity, environment_metrics::Column::EnvId, String, latest by environment_metrics::Column::CollectedAt);

relation!(DatasetById: datasets::Entity, datasets::Column::Id, i64);
relation!(DatasetsOfCustomer: datasets::Entity, datasets::Column::CustomerId, i64);
relation!(VersionsOfDataset: dataset_versions::Entity, dataset_versions::Column::DatasetId, i64);
relation!(DatasetVersionById: dataset_versions::Entity, dataset_versions::Column::Id, i64);
relation!(UsageOfDataset: dataset_usage::Entity, dataset_usage::Column::DatasetId, i64);
relation!(ModelById: models::Entity, models::Column::Id, i64);
relation!(ModelsOfCustomer: models::Entity, models::Column::CustomerId, i64);
relation!(VersionsOfModel: model_versions::Entity, model_versions::Column::ModelId, i64);

relation!(InvoiceById: invoices::Entity, invoices::Column::Id, i64);
relation!(RecordsOfInvoice: billing_records::Entity, billing_records::Column::InvoiceId, i64);

relation!(CommandByCommandId: commands::Entity, commands::Column::CommandId, String);
relation!(ResultsOfCommand: command_results::Entity, command_results::Column::CommandId, String);
