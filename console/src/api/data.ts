// Datasets, models and their versions; images; system configs. Their storage keys are the
// platform's (shown, never sent); a version is UPLOADING until finalized, READY after.
// A list of 40 with every version of each costs 40 x (row + 10 x version) under the server's
// default complexity limit (5000): a version carries only the fields the pages show.
import { graphql } from '../gql'

export const DATASET_VERSION_FIELDS = graphql(`
  fragment DatasetVersionFields on DatasetVersion {
    id datasetId version storagePath size fileCount status statusReason
  }
`)

export const DATASET_FIELDS = graphql(`
  fragment DatasetFields on Dataset {
    id workspaceId name description storagePath totalSize status statusReason createdAt
    workspace { id name }
    versions { ...DatasetVersionFields }
  }
`)

export const DATASETS = graphql(`
  query Datasets(
    $first: Int = 40
    $after: String
    $filter: DatasetFilter
    $orderBy: [DatasetOrder!] = [{ field: CREATED_AT, direction: DESC }]
  ) {
    datasets(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { ...DatasetFields }
    }
  }
`)

export const CREATE_DATASET = graphql(`
  mutation CreateDataset($input: CreateDatasetInput!) { createDataset(input: $input) { ...DatasetFields } }
`)

export const DELETE_DATASET = graphql(`
  mutation DeleteDataset($id: ID!) { deleteDataset(id: $id) { id } }
`)

export const CREATE_DATASET_VERSION = graphql(`
  mutation CreateDatasetVersion($input: CreateDatasetVersionInput!) {
    createDatasetVersion(input: $input) { ...DatasetVersionFields }
  }
`)

export const FINALIZE_DATASET_VERSION = graphql(`
  mutation FinalizeDatasetVersion($id: ID!) { finalizeDatasetVersion(id: $id) { ...DatasetVersionFields } }
`)

export const DELETE_DATASET_VERSION = graphql(`
  mutation DeleteDatasetVersion($id: ID!) { deleteDatasetVersion(id: $id) { id datasetId } }
`)

export const MODEL_VERSION_FIELDS = graphql(`
  fragment ModelVersionFields on ModelVersion {
    id modelId version storagePath size format metrics status statusReason
  }
`)

export const MODEL_FIELDS = graphql(`
  fragment ModelFields on Model {
    id workspaceId name framework storagePath totalSize statusReason createdAt
    workspace { id name }
    versions { ...ModelVersionFields }
  }
`)

export const MODELS = graphql(`
  query Models(
    $first: Int = 40
    $after: String
    $filter: ModelFilter
    $orderBy: [ModelOrder!] = [{ field: CREATED_AT, direction: DESC }]
  ) {
    models(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { ...ModelFields }
    }
  }
`)

export const CREATE_MODEL = graphql(`
  mutation CreateModel($input: CreateModelInput!) { createModel(input: $input) { ...ModelFields } }
`)

export const DELETE_MODEL = graphql(`
  mutation DeleteModel($id: ID!) { deleteModel(id: $id) { id } }
`)

export const CREATE_MODEL_VERSION = graphql(`
  mutation CreateModelVersion($input: CreateModelVersionInput!) {
    createModelVersion(input: $input) { ...ModelVersionFields }
  }
`)

export const FINALIZE_MODEL_VERSION = graphql(`
  mutation FinalizeModelVersion($id: ID!) { finalizeModelVersion(id: $id) { ...ModelVersionFields } }
`)

export const DELETE_MODEL_VERSION = graphql(`
  mutation DeleteModelVersion($id: ID!) { deleteModelVersion(id: $id) { id modelId } }
`)

export const MY_WORKSPACES = graphql(`
  query MyWorkspaces {
    me { id memberships { id role workspace { id name } } }
  }
`)

export const IMAGES = graphql(`
  query Images(
    $first: Int = 100
    $after: String
    $filter: ImageFilter
    $orderBy: [ImageOrder!] = [{ field: NAME, direction: ASC }]
  ) {
    images(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id name description category isOfficial size createdAt }
    }
  }
`)

export const CREATE_IMAGE = graphql(`
  mutation CreateImage($input: CreateImageInput!) {
    createImage(input: $input) { id name description category isOfficial size createdAt }
  }
`)

export const UPDATE_IMAGE = graphql(`
  mutation UpdateImage($id: ID!, $input: UpdateImageInput!) {
    updateImage(id: $id, input: $input) { id name description category isOfficial size createdAt }
  }
`)

export const DELETE_IMAGE = graphql(`
  mutation DeleteImage($id: ID!) { deleteImage(id: $id) { id } }
`)

export const SYSTEM_CONFIGS = graphql(`
  query SystemConfigs(
    $first: Int = 100
    $after: String
    $filter: SystemConfigFilter
    $orderBy: [SystemConfigOrder!] = [{ field: CONFIG_KEY, direction: ASC }]
  ) {
    systemConfigs(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id configKey configValue configType description isPublic updatedAt }
    }
  }
`)

export const CREATE_SYSTEM_CONFIG = graphql(`
  mutation CreateSystemConfig($input: CreateSystemConfigInput!) {
    createSystemConfig(input: $input) { id configKey configValue configType description isPublic updatedAt }
  }
`)

export const UPDATE_SYSTEM_CONFIG = graphql(`
  mutation UpdateSystemConfig($id: ID!, $input: UpdateSystemConfigInput!) {
    updateSystemConfig(id: $id, input: $input) { id configKey configValue configType description isPublic updatedAt }
  }
`)

export const DELETE_SYSTEM_CONFIG = graphql(`
  mutation DeleteSystemConfig($id: ID!) { deleteSystemConfig(id: $id) { id } }
`)
