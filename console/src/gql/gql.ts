/* eslint-disable */
import * as types from './graphql';
import type { TypedDocumentNode as DocumentNode } from '@graphql-typed-document-node/core';

/**
 * Map of all GraphQL operations in the project.
 *
 * This map has several performance disadvantages:
 * 1. It is not tree-shakeable, so it will include all operations in the project.
 * 2. It is not minifiable, so the string of a GraphQL query will be multiple times inside the bundle.
 * 3. It does not support dead code elimination, so it will add unused operations.
 *
 * Therefore it is highly recommended to use the babel or swc plugin for production.
 * Learn more about it here: https://the-guild.dev/graphql/codegen/plugins/presets/preset-client#reducing-bundle-size
 */
type Documents = {
    "\n  fragment WorkspaceFields on Workspace {\n    id uuid ownerId name description type status memberCount createdAt\n  }\n": typeof types.WorkspaceFieldsFragmentDoc,
    "\n  query Me {\n    me {\n      id uuid username email phone fullName company accountType role status emailVerified createdAt\n      memberships { id role status workspace { ...WorkspaceFields } }\n    }\n  }\n": typeof types.MeDocument,
    "\n  query GpuAvailability {\n    gpuAvailability { name memoryTotal total available }\n  }\n": typeof types.GpuAvailabilityDocument,
    "\n  mutation UpdateMe($input: UpdateMeInput!) {\n    updateMe(input: $input) { id phone fullName company }\n  }\n": typeof types.UpdateMeDocument,
    "\n  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {\n    changePassword(currentPassword: $currentPassword, newPassword: $newPassword)\n  }\n": typeof types.ChangePasswordDocument,
    "\n  mutation CreateWorkspace($input: CreateWorkspaceInput!) {\n    createWorkspace(input: $input) { ...WorkspaceFields }\n  }\n": typeof types.CreateWorkspaceDocument,
    "\n  mutation DeleteWorkspace($id: ID!) {\n    deleteWorkspace(id: $id) { id }\n  }\n": typeof types.DeleteWorkspaceDocument,
    "\n  mutation LeaveWorkspace($workspaceId: ID!) {\n    leaveWorkspace(workspaceId: $workspaceId)\n  }\n": typeof types.LeaveWorkspaceDocument,
    "\n  query Workspace($id: ID!) {\n    workspace(id: $id) {\n      ...WorkspaceFields\n      owner { id username }\n      members { id workspaceId customerId role status joinedAt customer { id username email } }\n    }\n  }\n": typeof types.WorkspaceDocument,
    "\n  fragment InvitationFields on WorkspaceInvitation {\n    id workspaceId invitee role createdAt expiresAt\n  }\n": typeof types.InvitationFieldsFragmentDoc,
    "\n  query WorkspaceInvitations($workspaceId: ID!) {\n    workspaceInvitations(filter: { workspaceId: { eq: $workspaceId } }, orderBy: [{ field: CREATED_AT, direction: DESC }], first: 50) {\n      nodes { ...InvitationFields }\n    }\n  }\n": typeof types.WorkspaceInvitationsDocument,
    "\n  mutation InviteMember($input: InviteWorkspaceMemberInput!) {\n    inviteWorkspaceMember(input: $input) { ...InvitationFields }\n  }\n": typeof types.InviteMemberDocument,
    "\n  mutation RevokeInvitation($id: ID!) {\n    revokeWorkspaceInvitation(id: $id) { id }\n  }\n": typeof types.RevokeInvitationDocument,
    "\n  query MyInvitations($first: Int, $after: String) {\n    myInvitations(first: $first, after: $after) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id workspaceId workspaceName role invitedBy expiresAt }\n    }\n  }\n": typeof types.MyInvitationsDocument,
    "\n  mutation AcceptInvitation($id: ID!) {\n    acceptInvitation(id: $id) { id role status }\n  }\n": typeof types.AcceptInvitationDocument,
    "\n  mutation DeclineInvitation($id: ID!) {\n    declineInvitation(id: $id)\n  }\n": typeof types.DeclineInvitationDocument,
    "\n  mutation UpdateMember($id: ID!, $input: UpdateWorkspaceMemberInput!) {\n    updateWorkspaceMember(id: $id, input: $input) { id role status }\n  }\n": typeof types.UpdateMemberDocument,
    "\n  mutation RemoveMember($id: ID!) {\n    deleteWorkspaceMember(id: $id) { id workspaceId }\n  }\n": typeof types.RemoveMemberDocument,
    "\n  fragment SpendFields on AccountSpend {\n    account month spendThisMonth spendLimit alert at\n  }\n": typeof types.SpendFieldsFragmentDoc,
    "\n  query AccountSpend($customerId: ID!, $workspaceId: ID!, $workspace: Boolean!) {\n    customer(id: $customerId) @skip(if: $workspace) { id username spend { ...SpendFields } }\n    workspace(id: $workspaceId) @include(if: $workspace) { id name spend { ...SpendFields } }\n  }\n": typeof types.AccountSpendDocument,
    "\n  query BillingCustomers {\n    customers(first: 100, orderBy: [{ field: ID, direction: ASC }]) { nodes { id username } }\n  }\n": typeof types.BillingCustomersDocument,
    "\n  subscription SpendUpdates($workspaceId: ID, $customerId: ID) {\n    spendUpdates(workspaceId: $workspaceId, customerId: $customerId) { ...SpendFields }\n  }\n": typeof types.SpendUpdatesDocument,
    "\n  mutation SetSpendLimit($workspaceId: ID, $customerId: ID, $limit: Decimal) {\n    setSpendLimit(workspaceId: $workspaceId, customerId: $customerId, limit: $limit) { ...SpendFields }\n  }\n": typeof types.SetSpendLimitDocument,
    "\n  fragment BillingRecordFields on BillingRecord {\n    id envId invoiceId resourceType gpuModel bucketStart seconds quantity unitPrice amount\n    environment { id name }\n  }\n": typeof types.BillingRecordFieldsFragmentDoc,
    "\n  fragment InvoiceFields on Invoice {\n    id invoiceNo customerId workspaceId periodStart periodEnd subtotal tax taxRate totalAmount currency status\n    issuedAt dueAt paidAt\n    customer { id username }\n  }\n": typeof types.InvoiceFieldsFragmentDoc,
    "\n  query Invoices {\n    invoices(first: 50, orderBy: [{ field: PERIOD_START, direction: DESC }]) {\n      totalCount\n      nodes { ...InvoiceFields }\n    }\n  }\n": typeof types.InvoicesDocument,
    "\n  query InvoiceRecords($invoiceId: ID!, $first: Int!) {\n    billingRecords(filter: { invoiceId: { eq: $invoiceId } }, orderBy: [{ field: START_TIME, direction: ASC }], first: $first) {\n      totalCount\n      nodes { ...BillingRecordFields }\n    }\n  }\n": typeof types.InvoiceRecordsDocument,
    "\n  mutation MarkInvoicePaid($id: ID!) { markInvoicePaid(id: $id) { ...InvoiceFields } }\n": typeof types.MarkInvoicePaidDocument,
    "\n  mutation VoidInvoice($id: ID!) { voidInvoice(id: $id) { ...InvoiceFields } }\n": typeof types.VoidInvoiceDocument,
    "\n  fragment PriceFields on Price { id resourceType gpuModel unitPrice effectiveFrom createdAt }\n": typeof types.PriceFieldsFragmentDoc,
    "\n  query Prices {\n    prices(first: 100, orderBy: [{ field: EFFECTIVE_FROM, direction: DESC }]) {\n      totalCount\n      nodes { ...PriceFields }\n    }\n  }\n": typeof types.PricesDocument,
    "\n  mutation SetPrice($input: SetPriceInput!) { setPrice(input: $input) { ...PriceFields } }\n": typeof types.SetPriceDocument,
    "\n  fragment CommandFields on Command {\n    id commandId commandText targetNodeId status createdAt startedAt completedAt timeoutSeconds batchId\n    host { id name }\n  }\n": typeof types.CommandFieldsFragmentDoc,
    "\n  query Commands {\n    commands(first: 20, orderBy: [{ field: CREATED_AT, direction: DESC }]) {\n      totalCount\n      nodes { ...CommandFields }\n    }\n  }\n": typeof types.CommandsDocument,
    "\n  query CommandResult($id: ID!) {\n    command(id: $id) {\n      ...CommandFields\n      result { id stdout stderr exitCode executionTimeMs stdoutTruncated stderrTruncated }\n    }\n  }\n": typeof types.CommandResultDocument,
    "\n  query HostChoices {\n    hosts(first: 100, orderBy: [{ field: NAME, direction: ASC }]) {\n      nodes { id name status labels }\n    }\n  }\n": typeof types.HostChoicesDocument,
    "\n  mutation RunCommand($input: RunCommandInput!) {\n    runCommand(input: $input) { batchId commands { ...CommandFields } }\n  }\n": typeof types.RunCommandDocument,
    "\n  mutation CancelCommand($commandId: String!) {\n    cancelCommand(commandId: $commandId) { ...CommandFields }\n  }\n": typeof types.CancelCommandDocument,
    "\n  subscription CommandUpdates($batchId: String) {\n    commandUpdates(batchId: $batchId) { commandId batchId hostId status at }\n  }\n": typeof types.CommandUpdatesDocument,
    "\n  subscription CommandOutput($commandId: String!) {\n    commandOutput(commandId: $commandId) { commandId stream seq data }\n  }\n": typeof types.CommandOutputDocument,
    "\n  fragment DatasetVersionFields on DatasetVersion {\n    id datasetId version storagePath size fileCount status statusReason\n  }\n": typeof types.DatasetVersionFieldsFragmentDoc,
    "\n  fragment DatasetFields on Dataset {\n    id workspaceId name description storagePath totalSize status statusReason createdAt\n    workspace { id name }\n    versions { ...DatasetVersionFields }\n  }\n": typeof types.DatasetFieldsFragmentDoc,
    "\n  query Datasets(\n    $first: Int = 40\n    $after: String\n    $filter: DatasetFilter\n    $orderBy: [DatasetOrder!] = [{ field: CREATED_AT, direction: DESC }]\n  ) {\n    datasets(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...DatasetFields }\n    }\n  }\n": typeof types.DatasetsDocument,
    "\n  mutation CreateDataset($input: CreateDatasetInput!) { createDataset(input: $input) { ...DatasetFields } }\n": typeof types.CreateDatasetDocument,
    "\n  mutation DeleteDataset($id: ID!) { deleteDataset(id: $id) { id } }\n": typeof types.DeleteDatasetDocument,
    "\n  mutation CreateDatasetVersion($input: CreateDatasetVersionInput!) {\n    createDatasetVersion(input: $input) { ...DatasetVersionFields }\n  }\n": typeof types.CreateDatasetVersionDocument,
    "\n  mutation FinalizeDatasetVersion($id: ID!) { finalizeDatasetVersion(id: $id) { ...DatasetVersionFields } }\n": typeof types.FinalizeDatasetVersionDocument,
    "\n  mutation DeleteDatasetVersion($id: ID!) { deleteDatasetVersion(id: $id) { id datasetId } }\n": typeof types.DeleteDatasetVersionDocument,
    "\n  fragment ModelVersionFields on ModelVersion {\n    id modelId version storagePath size format metrics status statusReason\n  }\n": typeof types.ModelVersionFieldsFragmentDoc,
    "\n  fragment ModelFields on Model {\n    id workspaceId name framework storagePath totalSize statusReason createdAt\n    workspace { id name }\n    versions { ...ModelVersionFields }\n  }\n": typeof types.ModelFieldsFragmentDoc,
    "\n  query Models(\n    $first: Int = 40\n    $after: String\n    $filter: ModelFilter\n    $orderBy: [ModelOrder!] = [{ field: CREATED_AT, direction: DESC }]\n  ) {\n    models(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...ModelFields }\n    }\n  }\n": typeof types.ModelsDocument,
    "\n  mutation CreateModel($input: CreateModelInput!) { createModel(input: $input) { ...ModelFields } }\n": typeof types.CreateModelDocument,
    "\n  mutation DeleteModel($id: ID!) { deleteModel(id: $id) { id } }\n": typeof types.DeleteModelDocument,
    "\n  mutation CreateModelVersion($input: CreateModelVersionInput!) {\n    createModelVersion(input: $input) { ...ModelVersionFields }\n  }\n": typeof types.CreateModelVersionDocument,
    "\n  mutation FinalizeModelVersion($id: ID!) { finalizeModelVersion(id: $id) { ...ModelVersionFields } }\n": typeof types.FinalizeModelVersionDocument,
    "\n  mutation DeleteModelVersion($id: ID!) { deleteModelVersion(id: $id) { id modelId } }\n": typeof types.DeleteModelVersionDocument,
    "\n  query MyWorkspaces {\n    me { id memberships { id role workspace { id name } } }\n  }\n": typeof types.MyWorkspacesDocument,
    "\n  query Images(\n    $first: Int = 100\n    $after: String\n    $filter: ImageFilter\n    $orderBy: [ImageOrder!] = [{ field: NAME, direction: ASC }]\n  ) {\n    images(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id name description category isOfficial size createdAt }\n    }\n  }\n": typeof types.ImagesDocument,
    "\n  mutation CreateImage($input: CreateImageInput!) {\n    createImage(input: $input) { id name description category isOfficial size createdAt }\n  }\n": typeof types.CreateImageDocument,
    "\n  mutation UpdateImage($id: ID!, $input: UpdateImageInput!) {\n    updateImage(id: $id, input: $input) { id name description category isOfficial size createdAt }\n  }\n": typeof types.UpdateImageDocument,
    "\n  mutation DeleteImage($id: ID!) { deleteImage(id: $id) { id } }\n": typeof types.DeleteImageDocument,
    "\n  query SystemConfigs(\n    $first: Int = 100\n    $after: String\n    $filter: SystemConfigFilter\n    $orderBy: [SystemConfigOrder!] = [{ field: CONFIG_KEY, direction: ASC }]\n  ) {\n    systemConfigs(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id configKey configValue configType description isPublic updatedAt }\n    }\n  }\n": typeof types.SystemConfigsDocument,
    "\n  mutation CreateSystemConfig($input: CreateSystemConfigInput!) {\n    createSystemConfig(input: $input) { id configKey configValue configType description isPublic updatedAt }\n  }\n": typeof types.CreateSystemConfigDocument,
    "\n  mutation UpdateSystemConfig($id: ID!, $input: UpdateSystemConfigInput!) {\n    updateSystemConfig(id: $id, input: $input) { id configKey configValue configType description isPublic updatedAt }\n  }\n": typeof types.UpdateSystemConfigDocument,
    "\n  mutation DeleteSystemConfig($id: ID!) { deleteSystemConfig(id: $id) { id } }\n": typeof types.DeleteSystemConfigDocument,
    "\n  fragment EnvironmentFields on Environment {\n    id customerId workspaceId hostId name image status cpu memory gpu gpuModel failureReason\n    connectHost createdAt startedAt stoppedAt stopReason idleStopMinutes idleThresholdPercent costSoFar envVars\n    customer { id username }\n    portMappings { id envId serviceType externalPort internalPort status connect }\n  }\n": typeof types.EnvironmentFieldsFragmentDoc,
    "\n  query Environments {\n    environments(first: 100, orderBy: [{ field: CREATED_AT, direction: DESC }]) {\n      totalCount\n      nodes { ...EnvironmentFields }\n    }\n  }\n": typeof types.EnvironmentsDocument,
    "\n  mutation CreateEnvironment($input: CreateEnvironmentInput!) { createEnvironment(input: $input) { ...EnvironmentFields } }\n": typeof types.CreateEnvironmentDocument,
    "\n  mutation StopEnvironment($id: ID!) { stopEnvironment(id: $id) { ...EnvironmentFields } }\n": typeof types.StopEnvironmentDocument,
    "\n  mutation StartEnvironment($id: ID!) { startEnvironment(id: $id) { ...EnvironmentFields } }\n": typeof types.StartEnvironmentDocument,
    "\n  mutation RestartEnvironment($id: ID!) { restartEnvironment(id: $id) { ...EnvironmentFields } }\n": typeof types.RestartEnvironmentDocument,
    "\n  mutation DeleteEnvironment($id: ID!) { deleteEnvironment(id: $id) { ...EnvironmentFields } }\n": typeof types.DeleteEnvironmentDocument,
    "\n  subscription EnvironmentStatusChanges($environmentId: ID) {\n    environmentStatus(environmentId: $environmentId) { environmentId status previousStatus reason at }\n  }\n": typeof types.EnvironmentStatusChangesDocument,
    "\n  query EnvironmentRow($id: ID!) { environment(id: $id) { ...EnvironmentFields } }\n": typeof types.EnvironmentRowDocument,
    "\n  mutation SetIdleStop($id: ID!, $minutes: Int, $thresholdPercent: Float) {\n    setIdleStop(id: $id, minutes: $minutes, thresholdPercent: $thresholdPercent) { ...EnvironmentFields }\n  }\n": typeof types.SetIdleStopDocument,
    "\n  fragment HostFields on Host {\n    id name hostname ipAddress publicIp osType osVersion arch deploymentMode k8sNodeName\n    status healthStatus totalCpu totalMemory totalDisk totalGpu usedCpu usedMemory usedDisk usedGpu\n    sshPort agentPort labels tags lastHeartbeat agentVersion registeredAt\n  }\n": typeof types.HostFieldsFragmentDoc,
    "\n  fragment GpuMetricFields on GpuMetric {\n    id gpuId hostId utilizationPercent memoryUsed memoryUsagePercent temperature powerDraw\n    fanSpeedPercent processCount collectedAt\n  }\n": typeof types.GpuMetricFieldsFragmentDoc,
    "\n  fragment GpuFields on Gpu {\n    id hostId gpuIndex uuid name brand architecture memoryTotal cudaCores computeCapability\n    status healthStatus allocatedTo powerLimit temperatureLimit\n  }\n": typeof types.GpuFieldsFragmentDoc,
    "\n  query Hosts($filter: HostFilter) {\n    hosts(first: 100, filter: $filter, orderBy: [{ field: NAME, direction: ASC }]) {\n      totalCount\n      nodes { ...HostFields }\n    }\n  }\n": typeof types.HostsDocument,
    "\n  query Host($id: ID!) {\n    host(id: $id) {\n      ...HostFields\n      gpus { ...GpuFields latestMetric { ...GpuMetricFields } }\n      latestMetric { id cpuUsagePercent memoryUsagePercent diskUsagePercent collectedAt }\n    }\n  }\n": typeof types.HostDocument,
    "\n  query HostRow($id: ID!) {\n    host(id: $id) { ...HostFields }\n  }\n": typeof types.HostRowDocument,
    "\n  mutation CreateHost($input: CreateHostInput!) {\n    createHost(input: $input) { host { ...HostFields } agentToken }\n  }\n": typeof types.CreateHostDocument,
    "\n  mutation UpdateHost($id: ID!, $input: UpdateHostInput!) {\n    updateHost(id: $id, input: $input) { ...HostFields }\n  }\n": typeof types.UpdateHostDocument,
    "\n  mutation DeleteHost($id: ID!) {\n    deleteHost(id: $id) { id }\n  }\n": typeof types.DeleteHostDocument,
    "\n  mutation RotateAgentToken($hostId: ID!) {\n    rotateAgentToken(hostId: $hostId)\n  }\n": typeof types.RotateAgentTokenDocument,
    "\n  mutation DeclareHostLost($hostId: ID!) {\n    declareHostLost(hostId: $hostId)\n  }\n": typeof types.DeclareHostLostDocument,
    "\n  mutation CreateGpu($input: CreateGpuInput!) {\n    createGpu(input: $input) { ...GpuFields latestMetric { ...GpuMetricFields } }\n  }\n": typeof types.CreateGpuDocument,
    "\n  mutation UpdateGpu($id: ID!, $input: UpdateGpuInput!) {\n    updateGpu(id: $id, input: $input) { ...GpuFields }\n  }\n": typeof types.UpdateGpuDocument,
    "\n  mutation DeleteGpu($id: ID!) {\n    deleteGpu(id: $id) { id hostId }\n  }\n": typeof types.DeleteGpuDocument,
    "\n  subscription HostStatusChanges($hostId: ID) {\n    hostStatus(hostId: $hostId) { hostId status previousStatus at }\n  }\n": typeof types.HostStatusChangesDocument,
    "\n  subscription LiveGpuMetrics($hostId: ID!) {\n    gpuMetrics(hostId: $hostId) { ...GpuMetricFields }\n  }\n": typeof types.LiveGpuMetricsDocument,
    "\n  query GpuHistory($gpuId: ID!, $from: DateTime!, $to: DateTime!, $resolution: MetricResolution) {\n    gpuMetricHistory(gpuId: $gpuId, from: $from, to: $to, resolution: $resolution) {\n      resolution truncated\n      points { at utilizationPercent memoryUsagePercent temperature powerDraw }\n    }\n  }\n": typeof types.GpuHistoryDocument,
    "\n  query HostHistory($hostId: ID!, $from: DateTime!, $to: DateTime!, $resolution: MetricResolution) {\n    hostMetricHistory(hostId: $hostId, from: $from, to: $to, resolution: $resolution) {\n      resolution truncated\n      points { at cpuUsagePercent memoryUsagePercent diskUsagePercent gpuAvgUtilization }\n    }\n  }\n": typeof types.HostHistoryDocument,
    "\n  mutation RefreshSession($refreshToken: String!) {\n    refreshToken(refreshToken: $refreshToken) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n": typeof types.RefreshSessionDocument,
    "\n  mutation Logout($refreshToken: String!) {\n    logout(refreshToken: $refreshToken)\n  }\n": typeof types.LogoutDocument,
    "\n  mutation Login($login: String!, $password: String!) {\n    login(login: $login, password: $password) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n": typeof types.LoginDocument,
    "\n  mutation Register($input: RegisterInput!) {\n    register(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n": typeof types.RegisterDocument,
};
const documents: Documents = {
    "\n  fragment WorkspaceFields on Workspace {\n    id uuid ownerId name description type status memberCount createdAt\n  }\n": types.WorkspaceFieldsFragmentDoc,
    "\n  query Me {\n    me {\n      id uuid username email phone fullName company accountType role status emailVerified createdAt\n      memberships { id role status workspace { ...WorkspaceFields } }\n    }\n  }\n": types.MeDocument,
    "\n  query GpuAvailability {\n    gpuAvailability { name memoryTotal total available }\n  }\n": types.GpuAvailabilityDocument,
    "\n  mutation UpdateMe($input: UpdateMeInput!) {\n    updateMe(input: $input) { id phone fullName company }\n  }\n": types.UpdateMeDocument,
    "\n  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {\n    changePassword(currentPassword: $currentPassword, newPassword: $newPassword)\n  }\n": types.ChangePasswordDocument,
    "\n  mutation CreateWorkspace($input: CreateWorkspaceInput!) {\n    createWorkspace(input: $input) { ...WorkspaceFields }\n  }\n": types.CreateWorkspaceDocument,
    "\n  mutation DeleteWorkspace($id: ID!) {\n    deleteWorkspace(id: $id) { id }\n  }\n": types.DeleteWorkspaceDocument,
    "\n  mutation LeaveWorkspace($workspaceId: ID!) {\n    leaveWorkspace(workspaceId: $workspaceId)\n  }\n": types.LeaveWorkspaceDocument,
    "\n  query Workspace($id: ID!) {\n    workspace(id: $id) {\n      ...WorkspaceFields\n      owner { id username }\n      members { id workspaceId customerId role status joinedAt customer { id username email } }\n    }\n  }\n": types.WorkspaceDocument,
    "\n  fragment InvitationFields on WorkspaceInvitation {\n    id workspaceId invitee role createdAt expiresAt\n  }\n": types.InvitationFieldsFragmentDoc,
    "\n  query WorkspaceInvitations($workspaceId: ID!) {\n    workspaceInvitations(filter: { workspaceId: { eq: $workspaceId } }, orderBy: [{ field: CREATED_AT, direction: DESC }], first: 50) {\n      nodes { ...InvitationFields }\n    }\n  }\n": types.WorkspaceInvitationsDocument,
    "\n  mutation InviteMember($input: InviteWorkspaceMemberInput!) {\n    inviteWorkspaceMember(input: $input) { ...InvitationFields }\n  }\n": types.InviteMemberDocument,
    "\n  mutation RevokeInvitation($id: ID!) {\n    revokeWorkspaceInvitation(id: $id) { id }\n  }\n": types.RevokeInvitationDocument,
    "\n  query MyInvitations($first: Int, $after: String) {\n    myInvitations(first: $first, after: $after) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id workspaceId workspaceName role invitedBy expiresAt }\n    }\n  }\n": types.MyInvitationsDocument,
    "\n  mutation AcceptInvitation($id: ID!) {\n    acceptInvitation(id: $id) { id role status }\n  }\n": types.AcceptInvitationDocument,
    "\n  mutation DeclineInvitation($id: ID!) {\n    declineInvitation(id: $id)\n  }\n": types.DeclineInvitationDocument,
    "\n  mutation UpdateMember($id: ID!, $input: UpdateWorkspaceMemberInput!) {\n    updateWorkspaceMember(id: $id, input: $input) { id role status }\n  }\n": types.UpdateMemberDocument,
    "\n  mutation RemoveMember($id: ID!) {\n    deleteWorkspaceMember(id: $id) { id workspaceId }\n  }\n": types.RemoveMemberDocument,
    "\n  fragment SpendFields on AccountSpend {\n    account month spendThisMonth spendLimit alert at\n  }\n": types.SpendFieldsFragmentDoc,
    "\n  query AccountSpend($customerId: ID!, $workspaceId: ID!, $workspace: Boolean!) {\n    customer(id: $customerId) @skip(if: $workspace) { id username spend { ...SpendFields } }\n    workspace(id: $workspaceId) @include(if: $workspace) { id name spend { ...SpendFields } }\n  }\n": types.AccountSpendDocument,
    "\n  query BillingCustomers {\n    customers(first: 100, orderBy: [{ field: ID, direction: ASC }]) { nodes { id username } }\n  }\n": types.BillingCustomersDocument,
    "\n  subscription SpendUpdates($workspaceId: ID, $customerId: ID) {\n    spendUpdates(workspaceId: $workspaceId, customerId: $customerId) { ...SpendFields }\n  }\n": types.SpendUpdatesDocument,
    "\n  mutation SetSpendLimit($workspaceId: ID, $customerId: ID, $limit: Decimal) {\n    setSpendLimit(workspaceId: $workspaceId, customerId: $customerId, limit: $limit) { ...SpendFields }\n  }\n": types.SetSpendLimitDocument,
    "\n  fragment BillingRecordFields on BillingRecord {\n    id envId invoiceId resourceType gpuModel bucketStart seconds quantity unitPrice amount\n    environment { id name }\n  }\n": types.BillingRecordFieldsFragmentDoc,
    "\n  fragment InvoiceFields on Invoice {\n    id invoiceNo customerId workspaceId periodStart periodEnd subtotal tax taxRate totalAmount currency status\n    issuedAt dueAt paidAt\n    customer { id username }\n  }\n": types.InvoiceFieldsFragmentDoc,
    "\n  query Invoices {\n    invoices(first: 50, orderBy: [{ field: PERIOD_START, direction: DESC }]) {\n      totalCount\n      nodes { ...InvoiceFields }\n    }\n  }\n": types.InvoicesDocument,
    "\n  query InvoiceRecords($invoiceId: ID!, $first: Int!) {\n    billingRecords(filter: { invoiceId: { eq: $invoiceId } }, orderBy: [{ field: START_TIME, direction: ASC }], first: $first) {\n      totalCount\n      nodes { ...BillingRecordFields }\n    }\n  }\n": types.InvoiceRecordsDocument,
    "\n  mutation MarkInvoicePaid($id: ID!) { markInvoicePaid(id: $id) { ...InvoiceFields } }\n": types.MarkInvoicePaidDocument,
    "\n  mutation VoidInvoice($id: ID!) { voidInvoice(id: $id) { ...InvoiceFields } }\n": types.VoidInvoiceDocument,
    "\n  fragment PriceFields on Price { id resourceType gpuModel unitPrice effectiveFrom createdAt }\n": types.PriceFieldsFragmentDoc,
    "\n  query Prices {\n    prices(first: 100, orderBy: [{ field: EFFECTIVE_FROM, direction: DESC }]) {\n      totalCount\n      nodes { ...PriceFields }\n    }\n  }\n": types.PricesDocument,
    "\n  mutation SetPrice($input: SetPriceInput!) { setPrice(input: $input) { ...PriceFields } }\n": types.SetPriceDocument,
    "\n  fragment CommandFields on Command {\n    id commandId commandText targetNodeId status createdAt startedAt completedAt timeoutSeconds batchId\n    host { id name }\n  }\n": types.CommandFieldsFragmentDoc,
    "\n  query Commands {\n    commands(first: 20, orderBy: [{ field: CREATED_AT, direction: DESC }]) {\n      totalCount\n      nodes { ...CommandFields }\n    }\n  }\n": types.CommandsDocument,
    "\n  query CommandResult($id: ID!) {\n    command(id: $id) {\n      ...CommandFields\n      result { id stdout stderr exitCode executionTimeMs stdoutTruncated stderrTruncated }\n    }\n  }\n": types.CommandResultDocument,
    "\n  query HostChoices {\n    hosts(first: 100, orderBy: [{ field: NAME, direction: ASC }]) {\n      nodes { id name status labels }\n    }\n  }\n": types.HostChoicesDocument,
    "\n  mutation RunCommand($input: RunCommandInput!) {\n    runCommand(input: $input) { batchId commands { ...CommandFields } }\n  }\n": types.RunCommandDocument,
    "\n  mutation CancelCommand($commandId: String!) {\n    cancelCommand(commandId: $commandId) { ...CommandFields }\n  }\n": types.CancelCommandDocument,
    "\n  subscription CommandUpdates($batchId: String) {\n    commandUpdates(batchId: $batchId) { commandId batchId hostId status at }\n  }\n": types.CommandUpdatesDocument,
    "\n  subscription CommandOutput($commandId: String!) {\n    commandOutput(commandId: $commandId) { commandId stream seq data }\n  }\n": types.CommandOutputDocument,
    "\n  fragment DatasetVersionFields on DatasetVersion {\n    id datasetId version storagePath size fileCount status statusReason\n  }\n": types.DatasetVersionFieldsFragmentDoc,
    "\n  fragment DatasetFields on Dataset {\n    id workspaceId name description storagePath totalSize status statusReason createdAt\n    workspace { id name }\n    versions { ...DatasetVersionFields }\n  }\n": types.DatasetFieldsFragmentDoc,
    "\n  query Datasets(\n    $first: Int = 40\n    $after: String\n    $filter: DatasetFilter\n    $orderBy: [DatasetOrder!] = [{ field: CREATED_AT, direction: DESC }]\n  ) {\n    datasets(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...DatasetFields }\n    }\n  }\n": types.DatasetsDocument,
    "\n  mutation CreateDataset($input: CreateDatasetInput!) { createDataset(input: $input) { ...DatasetFields } }\n": types.CreateDatasetDocument,
    "\n  mutation DeleteDataset($id: ID!) { deleteDataset(id: $id) { id } }\n": types.DeleteDatasetDocument,
    "\n  mutation CreateDatasetVersion($input: CreateDatasetVersionInput!) {\n    createDatasetVersion(input: $input) { ...DatasetVersionFields }\n  }\n": types.CreateDatasetVersionDocument,
    "\n  mutation FinalizeDatasetVersion($id: ID!) { finalizeDatasetVersion(id: $id) { ...DatasetVersionFields } }\n": types.FinalizeDatasetVersionDocument,
    "\n  mutation DeleteDatasetVersion($id: ID!) { deleteDatasetVersion(id: $id) { id datasetId } }\n": types.DeleteDatasetVersionDocument,
    "\n  fragment ModelVersionFields on ModelVersion {\n    id modelId version storagePath size format metrics status statusReason\n  }\n": types.ModelVersionFieldsFragmentDoc,
    "\n  fragment ModelFields on Model {\n    id workspaceId name framework storagePath totalSize statusReason createdAt\n    workspace { id name }\n    versions { ...ModelVersionFields }\n  }\n": types.ModelFieldsFragmentDoc,
    "\n  query Models(\n    $first: Int = 40\n    $after: String\n    $filter: ModelFilter\n    $orderBy: [ModelOrder!] = [{ field: CREATED_AT, direction: DESC }]\n  ) {\n    models(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...ModelFields }\n    }\n  }\n": types.ModelsDocument,
    "\n  mutation CreateModel($input: CreateModelInput!) { createModel(input: $input) { ...ModelFields } }\n": types.CreateModelDocument,
    "\n  mutation DeleteModel($id: ID!) { deleteModel(id: $id) { id } }\n": types.DeleteModelDocument,
    "\n  mutation CreateModelVersion($input: CreateModelVersionInput!) {\n    createModelVersion(input: $input) { ...ModelVersionFields }\n  }\n": types.CreateModelVersionDocument,
    "\n  mutation FinalizeModelVersion($id: ID!) { finalizeModelVersion(id: $id) { ...ModelVersionFields } }\n": types.FinalizeModelVersionDocument,
    "\n  mutation DeleteModelVersion($id: ID!) { deleteModelVersion(id: $id) { id modelId } }\n": types.DeleteModelVersionDocument,
    "\n  query MyWorkspaces {\n    me { id memberships { id role workspace { id name } } }\n  }\n": types.MyWorkspacesDocument,
    "\n  query Images(\n    $first: Int = 100\n    $after: String\n    $filter: ImageFilter\n    $orderBy: [ImageOrder!] = [{ field: NAME, direction: ASC }]\n  ) {\n    images(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id name description category isOfficial size createdAt }\n    }\n  }\n": types.ImagesDocument,
    "\n  mutation CreateImage($input: CreateImageInput!) {\n    createImage(input: $input) { id name description category isOfficial size createdAt }\n  }\n": types.CreateImageDocument,
    "\n  mutation UpdateImage($id: ID!, $input: UpdateImageInput!) {\n    updateImage(id: $id, input: $input) { id name description category isOfficial size createdAt }\n  }\n": types.UpdateImageDocument,
    "\n  mutation DeleteImage($id: ID!) { deleteImage(id: $id) { id } }\n": types.DeleteImageDocument,
    "\n  query SystemConfigs(\n    $first: Int = 100\n    $after: String\n    $filter: SystemConfigFilter\n    $orderBy: [SystemConfigOrder!] = [{ field: CONFIG_KEY, direction: ASC }]\n  ) {\n    systemConfigs(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id configKey configValue configType description isPublic updatedAt }\n    }\n  }\n": types.SystemConfigsDocument,
    "\n  mutation CreateSystemConfig($input: CreateSystemConfigInput!) {\n    createSystemConfig(input: $input) { id configKey configValue configType description isPublic updatedAt }\n  }\n": types.CreateSystemConfigDocument,
    "\n  mutation UpdateSystemConfig($id: ID!, $input: UpdateSystemConfigInput!) {\n    updateSystemConfig(id: $id, input: $input) { id configKey configValue configType description isPublic updatedAt }\n  }\n": types.UpdateSystemConfigDocument,
    "\n  mutation DeleteSystemConfig($id: ID!) { deleteSystemConfig(id: $id) { id } }\n": types.DeleteSystemConfigDocument,
    "\n  fragment EnvironmentFields on Environment {\n    id customerId workspaceId hostId name image status cpu memory gpu gpuModel failureReason\n    connectHost createdAt startedAt stoppedAt stopReason idleStopMinutes idleThresholdPercent costSoFar envVars\n    customer { id username }\n    portMappings { id envId serviceType externalPort internalPort status connect }\n  }\n": types.EnvironmentFieldsFragmentDoc,
    "\n  query Environments {\n    environments(first: 100, orderBy: [{ field: CREATED_AT, direction: DESC }]) {\n      totalCount\n      nodes { ...EnvironmentFields }\n    }\n  }\n": types.EnvironmentsDocument,
    "\n  mutation CreateEnvironment($input: CreateEnvironmentInput!) { createEnvironment(input: $input) { ...EnvironmentFields } }\n": types.CreateEnvironmentDocument,
    "\n  mutation StopEnvironment($id: ID!) { stopEnvironment(id: $id) { ...EnvironmentFields } }\n": types.StopEnvironmentDocument,
    "\n  mutation StartEnvironment($id: ID!) { startEnvironment(id: $id) { ...EnvironmentFields } }\n": types.StartEnvironmentDocument,
    "\n  mutation RestartEnvironment($id: ID!) { restartEnvironment(id: $id) { ...EnvironmentFields } }\n": types.RestartEnvironmentDocument,
    "\n  mutation DeleteEnvironment($id: ID!) { deleteEnvironment(id: $id) { ...EnvironmentFields } }\n": types.DeleteEnvironmentDocument,
    "\n  subscription EnvironmentStatusChanges($environmentId: ID) {\n    environmentStatus(environmentId: $environmentId) { environmentId status previousStatus reason at }\n  }\n": types.EnvironmentStatusChangesDocument,
    "\n  query EnvironmentRow($id: ID!) { environment(id: $id) { ...EnvironmentFields } }\n": types.EnvironmentRowDocument,
    "\n  mutation SetIdleStop($id: ID!, $minutes: Int, $thresholdPercent: Float) {\n    setIdleStop(id: $id, minutes: $minutes, thresholdPercent: $thresholdPercent) { ...EnvironmentFields }\n  }\n": types.SetIdleStopDocument,
    "\n  fragment HostFields on Host {\n    id name hostname ipAddress publicIp osType osVersion arch deploymentMode k8sNodeName\n    status healthStatus totalCpu totalMemory totalDisk totalGpu usedCpu usedMemory usedDisk usedGpu\n    sshPort agentPort labels tags lastHeartbeat agentVersion registeredAt\n  }\n": types.HostFieldsFragmentDoc,
    "\n  fragment GpuMetricFields on GpuMetric {\n    id gpuId hostId utilizationPercent memoryUsed memoryUsagePercent temperature powerDraw\n    fanSpeedPercent processCount collectedAt\n  }\n": types.GpuMetricFieldsFragmentDoc,
    "\n  fragment GpuFields on Gpu {\n    id hostId gpuIndex uuid name brand architecture memoryTotal cudaCores computeCapability\n    status healthStatus allocatedTo powerLimit temperatureLimit\n  }\n": types.GpuFieldsFragmentDoc,
    "\n  query Hosts($filter: HostFilter) {\n    hosts(first: 100, filter: $filter, orderBy: [{ field: NAME, direction: ASC }]) {\n      totalCount\n      nodes { ...HostFields }\n    }\n  }\n": types.HostsDocument,
    "\n  query Host($id: ID!) {\n    host(id: $id) {\n      ...HostFields\n      gpus { ...GpuFields latestMetric { ...GpuMetricFields } }\n      latestMetric { id cpuUsagePercent memoryUsagePercent diskUsagePercent collectedAt }\n    }\n  }\n": types.HostDocument,
    "\n  query HostRow($id: ID!) {\n    host(id: $id) { ...HostFields }\n  }\n": types.HostRowDocument,
    "\n  mutation CreateHost($input: CreateHostInput!) {\n    createHost(input: $input) { host { ...HostFields } agentToken }\n  }\n": types.CreateHostDocument,
    "\n  mutation UpdateHost($id: ID!, $input: UpdateHostInput!) {\n    updateHost(id: $id, input: $input) { ...HostFields }\n  }\n": types.UpdateHostDocument,
    "\n  mutation DeleteHost($id: ID!) {\n    deleteHost(id: $id) { id }\n  }\n": types.DeleteHostDocument,
    "\n  mutation RotateAgentToken($hostId: ID!) {\n    rotateAgentToken(hostId: $hostId)\n  }\n": types.RotateAgentTokenDocument,
    "\n  mutation DeclareHostLost($hostId: ID!) {\n    declareHostLost(hostId: $hostId)\n  }\n": types.DeclareHostLostDocument,
    "\n  mutation CreateGpu($input: CreateGpuInput!) {\n    createGpu(input: $input) { ...GpuFields latestMetric { ...GpuMetricFields } }\n  }\n": types.CreateGpuDocument,
    "\n  mutation UpdateGpu($id: ID!, $input: UpdateGpuInput!) {\n    updateGpu(id: $id, input: $input) { ...GpuFields }\n  }\n": types.UpdateGpuDocument,
    "\n  mutation DeleteGpu($id: ID!) {\n    deleteGpu(id: $id) { id hostId }\n  }\n": types.DeleteGpuDocument,
    "\n  subscription HostStatusChanges($hostId: ID) {\n    hostStatus(hostId: $hostId) { hostId status previousStatus at }\n  }\n": types.HostStatusChangesDocument,
    "\n  subscription LiveGpuMetrics($hostId: ID!) {\n    gpuMetrics(hostId: $hostId) { ...GpuMetricFields }\n  }\n": types.LiveGpuMetricsDocument,
    "\n  query GpuHistory($gpuId: ID!, $from: DateTime!, $to: DateTime!, $resolution: MetricResolution) {\n    gpuMetricHistory(gpuId: $gpuId, from: $from, to: $to, resolution: $resolution) {\n      resolution truncated\n      points { at utilizationPercent memoryUsagePercent temperature powerDraw }\n    }\n  }\n": types.GpuHistoryDocument,
    "\n  query HostHistory($hostId: ID!, $from: DateTime!, $to: DateTime!, $resolution: MetricResolution) {\n    hostMetricHistory(hostId: $hostId, from: $from, to: $to, resolution: $resolution) {\n      resolution truncated\n      points { at cpuUsagePercent memoryUsagePercent diskUsagePercent gpuAvgUtilization }\n    }\n  }\n": types.HostHistoryDocument,
    "\n  mutation RefreshSession($refreshToken: String!) {\n    refreshToken(refreshToken: $refreshToken) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n": types.RefreshSessionDocument,
    "\n  mutation Logout($refreshToken: String!) {\n    logout(refreshToken: $refreshToken)\n  }\n": types.LogoutDocument,
    "\n  mutation Login($login: String!, $password: String!) {\n    login(login: $login, password: $password) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n": types.LoginDocument,
    "\n  mutation Register($input: RegisterInput!) {\n    register(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n": types.RegisterDocument,
};

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 *
 *
 * @example
 * ```ts
 * const query = graphql(`query GetUser($id: ID!) { user(id: $id) { name } }`);
 * ```
 *
 * The query argument is unknown!
 * Please regenerate the types.
 */
export function graphql(source: string): unknown;

/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment WorkspaceFields on Workspace {\n    id uuid ownerId name description type status memberCount createdAt\n  }\n"): (typeof documents)["\n  fragment WorkspaceFields on Workspace {\n    id uuid ownerId name description type status memberCount createdAt\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Me {\n    me {\n      id uuid username email phone fullName company accountType role status emailVerified createdAt\n      memberships { id role status workspace { ...WorkspaceFields } }\n    }\n  }\n"): (typeof documents)["\n  query Me {\n    me {\n      id uuid username email phone fullName company accountType role status emailVerified createdAt\n      memberships { id role status workspace { ...WorkspaceFields } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query GpuAvailability {\n    gpuAvailability { name memoryTotal total available }\n  }\n"): (typeof documents)["\n  query GpuAvailability {\n    gpuAvailability { name memoryTotal total available }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateMe($input: UpdateMeInput!) {\n    updateMe(input: $input) { id phone fullName company }\n  }\n"): (typeof documents)["\n  mutation UpdateMe($input: UpdateMeInput!) {\n    updateMe(input: $input) { id phone fullName company }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {\n    changePassword(currentPassword: $currentPassword, newPassword: $newPassword)\n  }\n"): (typeof documents)["\n  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {\n    changePassword(currentPassword: $currentPassword, newPassword: $newPassword)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateWorkspace($input: CreateWorkspaceInput!) {\n    createWorkspace(input: $input) { ...WorkspaceFields }\n  }\n"): (typeof documents)["\n  mutation CreateWorkspace($input: CreateWorkspaceInput!) {\n    createWorkspace(input: $input) { ...WorkspaceFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteWorkspace($id: ID!) {\n    deleteWorkspace(id: $id) { id }\n  }\n"): (typeof documents)["\n  mutation DeleteWorkspace($id: ID!) {\n    deleteWorkspace(id: $id) { id }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation LeaveWorkspace($workspaceId: ID!) {\n    leaveWorkspace(workspaceId: $workspaceId)\n  }\n"): (typeof documents)["\n  mutation LeaveWorkspace($workspaceId: ID!) {\n    leaveWorkspace(workspaceId: $workspaceId)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Workspace($id: ID!) {\n    workspace(id: $id) {\n      ...WorkspaceFields\n      owner { id username }\n      members { id workspaceId customerId role status joinedAt customer { id username email } }\n    }\n  }\n"): (typeof documents)["\n  query Workspace($id: ID!) {\n    workspace(id: $id) {\n      ...WorkspaceFields\n      owner { id username }\n      members { id workspaceId customerId role status joinedAt customer { id username email } }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment InvitationFields on WorkspaceInvitation {\n    id workspaceId invitee role createdAt expiresAt\n  }\n"): (typeof documents)["\n  fragment InvitationFields on WorkspaceInvitation {\n    id workspaceId invitee role createdAt expiresAt\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query WorkspaceInvitations($workspaceId: ID!) {\n    workspaceInvitations(filter: { workspaceId: { eq: $workspaceId } }, orderBy: [{ field: CREATED_AT, direction: DESC }], first: 50) {\n      nodes { ...InvitationFields }\n    }\n  }\n"): (typeof documents)["\n  query WorkspaceInvitations($workspaceId: ID!) {\n    workspaceInvitations(filter: { workspaceId: { eq: $workspaceId } }, orderBy: [{ field: CREATED_AT, direction: DESC }], first: 50) {\n      nodes { ...InvitationFields }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation InviteMember($input: InviteWorkspaceMemberInput!) {\n    inviteWorkspaceMember(input: $input) { ...InvitationFields }\n  }\n"): (typeof documents)["\n  mutation InviteMember($input: InviteWorkspaceMemberInput!) {\n    inviteWorkspaceMember(input: $input) { ...InvitationFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RevokeInvitation($id: ID!) {\n    revokeWorkspaceInvitation(id: $id) { id }\n  }\n"): (typeof documents)["\n  mutation RevokeInvitation($id: ID!) {\n    revokeWorkspaceInvitation(id: $id) { id }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MyInvitations($first: Int, $after: String) {\n    myInvitations(first: $first, after: $after) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id workspaceId workspaceName role invitedBy expiresAt }\n    }\n  }\n"): (typeof documents)["\n  query MyInvitations($first: Int, $after: String) {\n    myInvitations(first: $first, after: $after) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id workspaceId workspaceName role invitedBy expiresAt }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation AcceptInvitation($id: ID!) {\n    acceptInvitation(id: $id) { id role status }\n  }\n"): (typeof documents)["\n  mutation AcceptInvitation($id: ID!) {\n    acceptInvitation(id: $id) { id role status }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeclineInvitation($id: ID!) {\n    declineInvitation(id: $id)\n  }\n"): (typeof documents)["\n  mutation DeclineInvitation($id: ID!) {\n    declineInvitation(id: $id)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateMember($id: ID!, $input: UpdateWorkspaceMemberInput!) {\n    updateWorkspaceMember(id: $id, input: $input) { id role status }\n  }\n"): (typeof documents)["\n  mutation UpdateMember($id: ID!, $input: UpdateWorkspaceMemberInput!) {\n    updateWorkspaceMember(id: $id, input: $input) { id role status }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RemoveMember($id: ID!) {\n    deleteWorkspaceMember(id: $id) { id workspaceId }\n  }\n"): (typeof documents)["\n  mutation RemoveMember($id: ID!) {\n    deleteWorkspaceMember(id: $id) { id workspaceId }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment SpendFields on AccountSpend {\n    account month spendThisMonth spendLimit alert at\n  }\n"): (typeof documents)["\n  fragment SpendFields on AccountSpend {\n    account month spendThisMonth spendLimit alert at\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query AccountSpend($customerId: ID!, $workspaceId: ID!, $workspace: Boolean!) {\n    customer(id: $customerId) @skip(if: $workspace) { id username spend { ...SpendFields } }\n    workspace(id: $workspaceId) @include(if: $workspace) { id name spend { ...SpendFields } }\n  }\n"): (typeof documents)["\n  query AccountSpend($customerId: ID!, $workspaceId: ID!, $workspace: Boolean!) {\n    customer(id: $customerId) @skip(if: $workspace) { id username spend { ...SpendFields } }\n    workspace(id: $workspaceId) @include(if: $workspace) { id name spend { ...SpendFields } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query BillingCustomers {\n    customers(first: 100, orderBy: [{ field: ID, direction: ASC }]) { nodes { id username } }\n  }\n"): (typeof documents)["\n  query BillingCustomers {\n    customers(first: 100, orderBy: [{ field: ID, direction: ASC }]) { nodes { id username } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription SpendUpdates($workspaceId: ID, $customerId: ID) {\n    spendUpdates(workspaceId: $workspaceId, customerId: $customerId) { ...SpendFields }\n  }\n"): (typeof documents)["\n  subscription SpendUpdates($workspaceId: ID, $customerId: ID) {\n    spendUpdates(workspaceId: $workspaceId, customerId: $customerId) { ...SpendFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetSpendLimit($workspaceId: ID, $customerId: ID, $limit: Decimal) {\n    setSpendLimit(workspaceId: $workspaceId, customerId: $customerId, limit: $limit) { ...SpendFields }\n  }\n"): (typeof documents)["\n  mutation SetSpendLimit($workspaceId: ID, $customerId: ID, $limit: Decimal) {\n    setSpendLimit(workspaceId: $workspaceId, customerId: $customerId, limit: $limit) { ...SpendFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment BillingRecordFields on BillingRecord {\n    id envId invoiceId resourceType gpuModel bucketStart seconds quantity unitPrice amount\n    environment { id name }\n  }\n"): (typeof documents)["\n  fragment BillingRecordFields on BillingRecord {\n    id envId invoiceId resourceType gpuModel bucketStart seconds quantity unitPrice amount\n    environment { id name }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment InvoiceFields on Invoice {\n    id invoiceNo customerId workspaceId periodStart periodEnd subtotal tax taxRate totalAmount currency status\n    issuedAt dueAt paidAt\n    customer { id username }\n  }\n"): (typeof documents)["\n  fragment InvoiceFields on Invoice {\n    id invoiceNo customerId workspaceId periodStart periodEnd subtotal tax taxRate totalAmount currency status\n    issuedAt dueAt paidAt\n    customer { id username }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Invoices {\n    invoices(first: 50, orderBy: [{ field: PERIOD_START, direction: DESC }]) {\n      totalCount\n      nodes { ...InvoiceFields }\n    }\n  }\n"): (typeof documents)["\n  query Invoices {\n    invoices(first: 50, orderBy: [{ field: PERIOD_START, direction: DESC }]) {\n      totalCount\n      nodes { ...InvoiceFields }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query InvoiceRecords($invoiceId: ID!, $first: Int!) {\n    billingRecords(filter: { invoiceId: { eq: $invoiceId } }, orderBy: [{ field: START_TIME, direction: ASC }], first: $first) {\n      totalCount\n      nodes { ...BillingRecordFields }\n    }\n  }\n"): (typeof documents)["\n  query InvoiceRecords($invoiceId: ID!, $first: Int!) {\n    billingRecords(filter: { invoiceId: { eq: $invoiceId } }, orderBy: [{ field: START_TIME, direction: ASC }], first: $first) {\n      totalCount\n      nodes { ...BillingRecordFields }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation MarkInvoicePaid($id: ID!) { markInvoicePaid(id: $id) { ...InvoiceFields } }\n"): (typeof documents)["\n  mutation MarkInvoicePaid($id: ID!) { markInvoicePaid(id: $id) { ...InvoiceFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation VoidInvoice($id: ID!) { voidInvoice(id: $id) { ...InvoiceFields } }\n"): (typeof documents)["\n  mutation VoidInvoice($id: ID!) { voidInvoice(id: $id) { ...InvoiceFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment PriceFields on Price { id resourceType gpuModel unitPrice effectiveFrom createdAt }\n"): (typeof documents)["\n  fragment PriceFields on Price { id resourceType gpuModel unitPrice effectiveFrom createdAt }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Prices {\n    prices(first: 100, orderBy: [{ field: EFFECTIVE_FROM, direction: DESC }]) {\n      totalCount\n      nodes { ...PriceFields }\n    }\n  }\n"): (typeof documents)["\n  query Prices {\n    prices(first: 100, orderBy: [{ field: EFFECTIVE_FROM, direction: DESC }]) {\n      totalCount\n      nodes { ...PriceFields }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetPrice($input: SetPriceInput!) { setPrice(input: $input) { ...PriceFields } }\n"): (typeof documents)["\n  mutation SetPrice($input: SetPriceInput!) { setPrice(input: $input) { ...PriceFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment CommandFields on Command {\n    id commandId commandText targetNodeId status createdAt startedAt completedAt timeoutSeconds batchId\n    host { id name }\n  }\n"): (typeof documents)["\n  fragment CommandFields on Command {\n    id commandId commandText targetNodeId status createdAt startedAt completedAt timeoutSeconds batchId\n    host { id name }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Commands {\n    commands(first: 20, orderBy: [{ field: CREATED_AT, direction: DESC }]) {\n      totalCount\n      nodes { ...CommandFields }\n    }\n  }\n"): (typeof documents)["\n  query Commands {\n    commands(first: 20, orderBy: [{ field: CREATED_AT, direction: DESC }]) {\n      totalCount\n      nodes { ...CommandFields }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query CommandResult($id: ID!) {\n    command(id: $id) {\n      ...CommandFields\n      result { id stdout stderr exitCode executionTimeMs stdoutTruncated stderrTruncated }\n    }\n  }\n"): (typeof documents)["\n  query CommandResult($id: ID!) {\n    command(id: $id) {\n      ...CommandFields\n      result { id stdout stderr exitCode executionTimeMs stdoutTruncated stderrTruncated }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query HostChoices {\n    hosts(first: 100, orderBy: [{ field: NAME, direction: ASC }]) {\n      nodes { id name status labels }\n    }\n  }\n"): (typeof documents)["\n  query HostChoices {\n    hosts(first: 100, orderBy: [{ field: NAME, direction: ASC }]) {\n      nodes { id name status labels }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RunCommand($input: RunCommandInput!) {\n    runCommand(input: $input) { batchId commands { ...CommandFields } }\n  }\n"): (typeof documents)["\n  mutation RunCommand($input: RunCommandInput!) {\n    runCommand(input: $input) { batchId commands { ...CommandFields } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CancelCommand($commandId: String!) {\n    cancelCommand(commandId: $commandId) { ...CommandFields }\n  }\n"): (typeof documents)["\n  mutation CancelCommand($commandId: String!) {\n    cancelCommand(commandId: $commandId) { ...CommandFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription CommandUpdates($batchId: String) {\n    commandUpdates(batchId: $batchId) { commandId batchId hostId status at }\n  }\n"): (typeof documents)["\n  subscription CommandUpdates($batchId: String) {\n    commandUpdates(batchId: $batchId) { commandId batchId hostId status at }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription CommandOutput($commandId: String!) {\n    commandOutput(commandId: $commandId) { commandId stream seq data }\n  }\n"): (typeof documents)["\n  subscription CommandOutput($commandId: String!) {\n    commandOutput(commandId: $commandId) { commandId stream seq data }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment DatasetVersionFields on DatasetVersion {\n    id datasetId version storagePath size fileCount status statusReason\n  }\n"): (typeof documents)["\n  fragment DatasetVersionFields on DatasetVersion {\n    id datasetId version storagePath size fileCount status statusReason\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment DatasetFields on Dataset {\n    id workspaceId name description storagePath totalSize status statusReason createdAt\n    workspace { id name }\n    versions { ...DatasetVersionFields }\n  }\n"): (typeof documents)["\n  fragment DatasetFields on Dataset {\n    id workspaceId name description storagePath totalSize status statusReason createdAt\n    workspace { id name }\n    versions { ...DatasetVersionFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Datasets(\n    $first: Int = 40\n    $after: String\n    $filter: DatasetFilter\n    $orderBy: [DatasetOrder!] = [{ field: CREATED_AT, direction: DESC }]\n  ) {\n    datasets(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...DatasetFields }\n    }\n  }\n"): (typeof documents)["\n  query Datasets(\n    $first: Int = 40\n    $after: String\n    $filter: DatasetFilter\n    $orderBy: [DatasetOrder!] = [{ field: CREATED_AT, direction: DESC }]\n  ) {\n    datasets(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...DatasetFields }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateDataset($input: CreateDatasetInput!) { createDataset(input: $input) { ...DatasetFields } }\n"): (typeof documents)["\n  mutation CreateDataset($input: CreateDatasetInput!) { createDataset(input: $input) { ...DatasetFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteDataset($id: ID!) { deleteDataset(id: $id) { id } }\n"): (typeof documents)["\n  mutation DeleteDataset($id: ID!) { deleteDataset(id: $id) { id } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateDatasetVersion($input: CreateDatasetVersionInput!) {\n    createDatasetVersion(input: $input) { ...DatasetVersionFields }\n  }\n"): (typeof documents)["\n  mutation CreateDatasetVersion($input: CreateDatasetVersionInput!) {\n    createDatasetVersion(input: $input) { ...DatasetVersionFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation FinalizeDatasetVersion($id: ID!) { finalizeDatasetVersion(id: $id) { ...DatasetVersionFields } }\n"): (typeof documents)["\n  mutation FinalizeDatasetVersion($id: ID!) { finalizeDatasetVersion(id: $id) { ...DatasetVersionFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteDatasetVersion($id: ID!) { deleteDatasetVersion(id: $id) { id datasetId } }\n"): (typeof documents)["\n  mutation DeleteDatasetVersion($id: ID!) { deleteDatasetVersion(id: $id) { id datasetId } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ModelVersionFields on ModelVersion {\n    id modelId version storagePath size format metrics status statusReason\n  }\n"): (typeof documents)["\n  fragment ModelVersionFields on ModelVersion {\n    id modelId version storagePath size format metrics status statusReason\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment ModelFields on Model {\n    id workspaceId name framework storagePath totalSize statusReason createdAt\n    workspace { id name }\n    versions { ...ModelVersionFields }\n  }\n"): (typeof documents)["\n  fragment ModelFields on Model {\n    id workspaceId name framework storagePath totalSize statusReason createdAt\n    workspace { id name }\n    versions { ...ModelVersionFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Models(\n    $first: Int = 40\n    $after: String\n    $filter: ModelFilter\n    $orderBy: [ModelOrder!] = [{ field: CREATED_AT, direction: DESC }]\n  ) {\n    models(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...ModelFields }\n    }\n  }\n"): (typeof documents)["\n  query Models(\n    $first: Int = 40\n    $after: String\n    $filter: ModelFilter\n    $orderBy: [ModelOrder!] = [{ field: CREATED_AT, direction: DESC }]\n  ) {\n    models(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { ...ModelFields }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateModel($input: CreateModelInput!) { createModel(input: $input) { ...ModelFields } }\n"): (typeof documents)["\n  mutation CreateModel($input: CreateModelInput!) { createModel(input: $input) { ...ModelFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteModel($id: ID!) { deleteModel(id: $id) { id } }\n"): (typeof documents)["\n  mutation DeleteModel($id: ID!) { deleteModel(id: $id) { id } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateModelVersion($input: CreateModelVersionInput!) {\n    createModelVersion(input: $input) { ...ModelVersionFields }\n  }\n"): (typeof documents)["\n  mutation CreateModelVersion($input: CreateModelVersionInput!) {\n    createModelVersion(input: $input) { ...ModelVersionFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation FinalizeModelVersion($id: ID!) { finalizeModelVersion(id: $id) { ...ModelVersionFields } }\n"): (typeof documents)["\n  mutation FinalizeModelVersion($id: ID!) { finalizeModelVersion(id: $id) { ...ModelVersionFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteModelVersion($id: ID!) { deleteModelVersion(id: $id) { id modelId } }\n"): (typeof documents)["\n  mutation DeleteModelVersion($id: ID!) { deleteModelVersion(id: $id) { id modelId } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query MyWorkspaces {\n    me { id memberships { id role workspace { id name } } }\n  }\n"): (typeof documents)["\n  query MyWorkspaces {\n    me { id memberships { id role workspace { id name } } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Images(\n    $first: Int = 100\n    $after: String\n    $filter: ImageFilter\n    $orderBy: [ImageOrder!] = [{ field: NAME, direction: ASC }]\n  ) {\n    images(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id name description category isOfficial size createdAt }\n    }\n  }\n"): (typeof documents)["\n  query Images(\n    $first: Int = 100\n    $after: String\n    $filter: ImageFilter\n    $orderBy: [ImageOrder!] = [{ field: NAME, direction: ASC }]\n  ) {\n    images(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id name description category isOfficial size createdAt }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateImage($input: CreateImageInput!) {\n    createImage(input: $input) { id name description category isOfficial size createdAt }\n  }\n"): (typeof documents)["\n  mutation CreateImage($input: CreateImageInput!) {\n    createImage(input: $input) { id name description category isOfficial size createdAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateImage($id: ID!, $input: UpdateImageInput!) {\n    updateImage(id: $id, input: $input) { id name description category isOfficial size createdAt }\n  }\n"): (typeof documents)["\n  mutation UpdateImage($id: ID!, $input: UpdateImageInput!) {\n    updateImage(id: $id, input: $input) { id name description category isOfficial size createdAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteImage($id: ID!) { deleteImage(id: $id) { id } }\n"): (typeof documents)["\n  mutation DeleteImage($id: ID!) { deleteImage(id: $id) { id } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query SystemConfigs(\n    $first: Int = 100\n    $after: String\n    $filter: SystemConfigFilter\n    $orderBy: [SystemConfigOrder!] = [{ field: CONFIG_KEY, direction: ASC }]\n  ) {\n    systemConfigs(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id configKey configValue configType description isPublic updatedAt }\n    }\n  }\n"): (typeof documents)["\n  query SystemConfigs(\n    $first: Int = 100\n    $after: String\n    $filter: SystemConfigFilter\n    $orderBy: [SystemConfigOrder!] = [{ field: CONFIG_KEY, direction: ASC }]\n  ) {\n    systemConfigs(first: $first, after: $after, filter: $filter, orderBy: $orderBy) {\n      totalCount\n      pageInfo { hasNextPage endCursor }\n      nodes { id configKey configValue configType description isPublic updatedAt }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateSystemConfig($input: CreateSystemConfigInput!) {\n    createSystemConfig(input: $input) { id configKey configValue configType description isPublic updatedAt }\n  }\n"): (typeof documents)["\n  mutation CreateSystemConfig($input: CreateSystemConfigInput!) {\n    createSystemConfig(input: $input) { id configKey configValue configType description isPublic updatedAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateSystemConfig($id: ID!, $input: UpdateSystemConfigInput!) {\n    updateSystemConfig(id: $id, input: $input) { id configKey configValue configType description isPublic updatedAt }\n  }\n"): (typeof documents)["\n  mutation UpdateSystemConfig($id: ID!, $input: UpdateSystemConfigInput!) {\n    updateSystemConfig(id: $id, input: $input) { id configKey configValue configType description isPublic updatedAt }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteSystemConfig($id: ID!) { deleteSystemConfig(id: $id) { id } }\n"): (typeof documents)["\n  mutation DeleteSystemConfig($id: ID!) { deleteSystemConfig(id: $id) { id } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment EnvironmentFields on Environment {\n    id customerId workspaceId hostId name image status cpu memory gpu gpuModel failureReason\n    connectHost createdAt startedAt stoppedAt stopReason idleStopMinutes idleThresholdPercent costSoFar envVars\n    customer { id username }\n    portMappings { id envId serviceType externalPort internalPort status connect }\n  }\n"): (typeof documents)["\n  fragment EnvironmentFields on Environment {\n    id customerId workspaceId hostId name image status cpu memory gpu gpuModel failureReason\n    connectHost createdAt startedAt stoppedAt stopReason idleStopMinutes idleThresholdPercent costSoFar envVars\n    customer { id username }\n    portMappings { id envId serviceType externalPort internalPort status connect }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Environments {\n    environments(first: 100, orderBy: [{ field: CREATED_AT, direction: DESC }]) {\n      totalCount\n      nodes { ...EnvironmentFields }\n    }\n  }\n"): (typeof documents)["\n  query Environments {\n    environments(first: 100, orderBy: [{ field: CREATED_AT, direction: DESC }]) {\n      totalCount\n      nodes { ...EnvironmentFields }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateEnvironment($input: CreateEnvironmentInput!) { createEnvironment(input: $input) { ...EnvironmentFields } }\n"): (typeof documents)["\n  mutation CreateEnvironment($input: CreateEnvironmentInput!) { createEnvironment(input: $input) { ...EnvironmentFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation StopEnvironment($id: ID!) { stopEnvironment(id: $id) { ...EnvironmentFields } }\n"): (typeof documents)["\n  mutation StopEnvironment($id: ID!) { stopEnvironment(id: $id) { ...EnvironmentFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation StartEnvironment($id: ID!) { startEnvironment(id: $id) { ...EnvironmentFields } }\n"): (typeof documents)["\n  mutation StartEnvironment($id: ID!) { startEnvironment(id: $id) { ...EnvironmentFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RestartEnvironment($id: ID!) { restartEnvironment(id: $id) { ...EnvironmentFields } }\n"): (typeof documents)["\n  mutation RestartEnvironment($id: ID!) { restartEnvironment(id: $id) { ...EnvironmentFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteEnvironment($id: ID!) { deleteEnvironment(id: $id) { ...EnvironmentFields } }\n"): (typeof documents)["\n  mutation DeleteEnvironment($id: ID!) { deleteEnvironment(id: $id) { ...EnvironmentFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription EnvironmentStatusChanges($environmentId: ID) {\n    environmentStatus(environmentId: $environmentId) { environmentId status previousStatus reason at }\n  }\n"): (typeof documents)["\n  subscription EnvironmentStatusChanges($environmentId: ID) {\n    environmentStatus(environmentId: $environmentId) { environmentId status previousStatus reason at }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query EnvironmentRow($id: ID!) { environment(id: $id) { ...EnvironmentFields } }\n"): (typeof documents)["\n  query EnvironmentRow($id: ID!) { environment(id: $id) { ...EnvironmentFields } }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation SetIdleStop($id: ID!, $minutes: Int, $thresholdPercent: Float) {\n    setIdleStop(id: $id, minutes: $minutes, thresholdPercent: $thresholdPercent) { ...EnvironmentFields }\n  }\n"): (typeof documents)["\n  mutation SetIdleStop($id: ID!, $minutes: Int, $thresholdPercent: Float) {\n    setIdleStop(id: $id, minutes: $minutes, thresholdPercent: $thresholdPercent) { ...EnvironmentFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment HostFields on Host {\n    id name hostname ipAddress publicIp osType osVersion arch deploymentMode k8sNodeName\n    status healthStatus totalCpu totalMemory totalDisk totalGpu usedCpu usedMemory usedDisk usedGpu\n    sshPort agentPort labels tags lastHeartbeat agentVersion registeredAt\n  }\n"): (typeof documents)["\n  fragment HostFields on Host {\n    id name hostname ipAddress publicIp osType osVersion arch deploymentMode k8sNodeName\n    status healthStatus totalCpu totalMemory totalDisk totalGpu usedCpu usedMemory usedDisk usedGpu\n    sshPort agentPort labels tags lastHeartbeat agentVersion registeredAt\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment GpuMetricFields on GpuMetric {\n    id gpuId hostId utilizationPercent memoryUsed memoryUsagePercent temperature powerDraw\n    fanSpeedPercent processCount collectedAt\n  }\n"): (typeof documents)["\n  fragment GpuMetricFields on GpuMetric {\n    id gpuId hostId utilizationPercent memoryUsed memoryUsagePercent temperature powerDraw\n    fanSpeedPercent processCount collectedAt\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  fragment GpuFields on Gpu {\n    id hostId gpuIndex uuid name brand architecture memoryTotal cudaCores computeCapability\n    status healthStatus allocatedTo powerLimit temperatureLimit\n  }\n"): (typeof documents)["\n  fragment GpuFields on Gpu {\n    id hostId gpuIndex uuid name brand architecture memoryTotal cudaCores computeCapability\n    status healthStatus allocatedTo powerLimit temperatureLimit\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Hosts($filter: HostFilter) {\n    hosts(first: 100, filter: $filter, orderBy: [{ field: NAME, direction: ASC }]) {\n      totalCount\n      nodes { ...HostFields }\n    }\n  }\n"): (typeof documents)["\n  query Hosts($filter: HostFilter) {\n    hosts(first: 100, filter: $filter, orderBy: [{ field: NAME, direction: ASC }]) {\n      totalCount\n      nodes { ...HostFields }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query Host($id: ID!) {\n    host(id: $id) {\n      ...HostFields\n      gpus { ...GpuFields latestMetric { ...GpuMetricFields } }\n      latestMetric { id cpuUsagePercent memoryUsagePercent diskUsagePercent collectedAt }\n    }\n  }\n"): (typeof documents)["\n  query Host($id: ID!) {\n    host(id: $id) {\n      ...HostFields\n      gpus { ...GpuFields latestMetric { ...GpuMetricFields } }\n      latestMetric { id cpuUsagePercent memoryUsagePercent diskUsagePercent collectedAt }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query HostRow($id: ID!) {\n    host(id: $id) { ...HostFields }\n  }\n"): (typeof documents)["\n  query HostRow($id: ID!) {\n    host(id: $id) { ...HostFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateHost($input: CreateHostInput!) {\n    createHost(input: $input) { host { ...HostFields } agentToken }\n  }\n"): (typeof documents)["\n  mutation CreateHost($input: CreateHostInput!) {\n    createHost(input: $input) { host { ...HostFields } agentToken }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateHost($id: ID!, $input: UpdateHostInput!) {\n    updateHost(id: $id, input: $input) { ...HostFields }\n  }\n"): (typeof documents)["\n  mutation UpdateHost($id: ID!, $input: UpdateHostInput!) {\n    updateHost(id: $id, input: $input) { ...HostFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteHost($id: ID!) {\n    deleteHost(id: $id) { id }\n  }\n"): (typeof documents)["\n  mutation DeleteHost($id: ID!) {\n    deleteHost(id: $id) { id }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RotateAgentToken($hostId: ID!) {\n    rotateAgentToken(hostId: $hostId)\n  }\n"): (typeof documents)["\n  mutation RotateAgentToken($hostId: ID!) {\n    rotateAgentToken(hostId: $hostId)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeclareHostLost($hostId: ID!) {\n    declareHostLost(hostId: $hostId)\n  }\n"): (typeof documents)["\n  mutation DeclareHostLost($hostId: ID!) {\n    declareHostLost(hostId: $hostId)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation CreateGpu($input: CreateGpuInput!) {\n    createGpu(input: $input) { ...GpuFields latestMetric { ...GpuMetricFields } }\n  }\n"): (typeof documents)["\n  mutation CreateGpu($input: CreateGpuInput!) {\n    createGpu(input: $input) { ...GpuFields latestMetric { ...GpuMetricFields } }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation UpdateGpu($id: ID!, $input: UpdateGpuInput!) {\n    updateGpu(id: $id, input: $input) { ...GpuFields }\n  }\n"): (typeof documents)["\n  mutation UpdateGpu($id: ID!, $input: UpdateGpuInput!) {\n    updateGpu(id: $id, input: $input) { ...GpuFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation DeleteGpu($id: ID!) {\n    deleteGpu(id: $id) { id hostId }\n  }\n"): (typeof documents)["\n  mutation DeleteGpu($id: ID!) {\n    deleteGpu(id: $id) { id hostId }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription HostStatusChanges($hostId: ID) {\n    hostStatus(hostId: $hostId) { hostId status previousStatus at }\n  }\n"): (typeof documents)["\n  subscription HostStatusChanges($hostId: ID) {\n    hostStatus(hostId: $hostId) { hostId status previousStatus at }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  subscription LiveGpuMetrics($hostId: ID!) {\n    gpuMetrics(hostId: $hostId) { ...GpuMetricFields }\n  }\n"): (typeof documents)["\n  subscription LiveGpuMetrics($hostId: ID!) {\n    gpuMetrics(hostId: $hostId) { ...GpuMetricFields }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query GpuHistory($gpuId: ID!, $from: DateTime!, $to: DateTime!, $resolution: MetricResolution) {\n    gpuMetricHistory(gpuId: $gpuId, from: $from, to: $to, resolution: $resolution) {\n      resolution truncated\n      points { at utilizationPercent memoryUsagePercent temperature powerDraw }\n    }\n  }\n"): (typeof documents)["\n  query GpuHistory($gpuId: ID!, $from: DateTime!, $to: DateTime!, $resolution: MetricResolution) {\n    gpuMetricHistory(gpuId: $gpuId, from: $from, to: $to, resolution: $resolution) {\n      resolution truncated\n      points { at utilizationPercent memoryUsagePercent temperature powerDraw }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  query HostHistory($hostId: ID!, $from: DateTime!, $to: DateTime!, $resolution: MetricResolution) {\n    hostMetricHistory(hostId: $hostId, from: $from, to: $to, resolution: $resolution) {\n      resolution truncated\n      points { at cpuUsagePercent memoryUsagePercent diskUsagePercent gpuAvgUtilization }\n    }\n  }\n"): (typeof documents)["\n  query HostHistory($hostId: ID!, $from: DateTime!, $to: DateTime!, $resolution: MetricResolution) {\n    hostMetricHistory(hostId: $hostId, from: $from, to: $to, resolution: $resolution) {\n      resolution truncated\n      points { at cpuUsagePercent memoryUsagePercent diskUsagePercent gpuAvgUtilization }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation RefreshSession($refreshToken: String!) {\n    refreshToken(refreshToken: $refreshToken) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n"): (typeof documents)["\n  mutation RefreshSession($refreshToken: String!) {\n    refreshToken(refreshToken: $refreshToken) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Logout($refreshToken: String!) {\n    logout(refreshToken: $refreshToken)\n  }\n"): (typeof documents)["\n  mutation Logout($refreshToken: String!) {\n    logout(refreshToken: $refreshToken)\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Login($login: String!, $password: String!) {\n    login(login: $login, password: $password) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n"): (typeof documents)["\n  mutation Login($login: String!, $password: String!) {\n    login(login: $login, password: $password) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n"];
/**
 * The graphql function is used to parse GraphQL queries into a document that can be used by GraphQL clients.
 */
export function graphql(source: "\n  mutation Register($input: RegisterInput!) {\n    register(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n"): (typeof documents)["\n  mutation Register($input: RegisterInput!) {\n    register(input: $input) {\n      accessToken\n      accessTokenExpiresAt\n      refreshToken\n      customer { id username email role }\n    }\n  }\n"];

export function graphql(source: string) {
  return (documents as any)[source] ?? {};
}

export type DocumentType<TDocumentNode extends DocumentNode<any, any>> = TDocumentNode extends DocumentNode<  infer TType,  any>  ? TType  : never;