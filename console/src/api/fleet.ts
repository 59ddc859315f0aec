// Hosts, GPUs and their metrics (operators only).
import { graphql } from '../gql'

export const HOST_FIELDS = graphql(`
  fragment HostFields on Host {
    id name hostname ipAddress publicIp osType osVersion arch deploymentMode k8sNodeName
    status healthStatus totalCpu totalMemory totalDisk totalGpu usedCpu usedMemory usedDisk usedGpu
    sshPort agentPort labels tags lastHeartbeat agentVersion registeredAt
  }
`)

export const GPU_METRIC_FIELDS = graphql(`
  fragment GpuMetricFields on GpuMetric {
    id gpuId hostId utilizationPercent memoryUsed memoryUsagePercent temperature powerDraw
    fanSpeedPercent processCount collectedAt
  }
`)

export const GPU_FIELDS = graphql(`
  fragment GpuFields on Gpu {
    id hostId gpuIndex uuid name brand architecture memoryTotal cudaCores computeCapability
    status healthStatus allocatedTo powerLimit temperatureLimit
  }
`)

export const HOSTS = graphql(`
  query Hosts($filter: HostFilter) {
    hosts(first: 100, filter: $filter, orderBy: [{ field: NAME, direction: ASC }]) {
      totalCount
      nodes { ...HostFields }
    }
  }
`)

export const HOST = graphql(`
  query Host($id: ID!) {
    host(id: $id) {
      ...HostFields
      gpus { ...GpuFields latestMetric { ...GpuMetricFields } }
      latestMetric { id cpuUsagePercent memoryUsagePercent diskUsagePercent collectedAt }
    }
  }
`)

export const HOST_ROW = graphql(`
  query HostRow($id: ID!) {
    host(id: $id) { ...HostFields }
  }
`)

export const CREATE_HOST = graphql(`
  mutation CreateHost($input: CreateHostInput!) {
    createHost(input: $input) { host { ...HostFields } agentToken }
  }
`)

export const UPDATE_HOST = graphql(`
  mutation UpdateHost($id: ID!, $input: UpdateHostInput!) {
    updateHost(id: $id, input: $input) { ...HostFields }
  }
`)

export const DELETE_HOST = graphql(`
  mutation DeleteHost($id: ID!) {
    deleteHost(id: $id) { id }
  }
`)

export const ROTATE_AGENT_TOKEN = graphql(`
  mutation RotateAgentToken($hostId: ID!) {
    rotateAgentToken(hostId: $hostId)
  }
`)

export const DECLARE_HOST_LOST = graphql(`
  mutation DeclareHostLost($hostId: ID!) {
    declareHostLost(hostId: $hostId)
  }
`)

export const CREATE_GPU = graphql(`
  mutation CreateGpu($input: CreateGpuInput!) {
    createGpu(input: $input) { ...GpuFields latestMetric { ...GpuMetricFields } }
  }
`)

export const UPDATE_GPU = graphql(`
  mutation UpdateGpu($id: ID!, $input: UpdateGpuInput!) {
    updateGpu(id: $id, input: $input) { ...GpuFields }
  }
`)

export const DELETE_GPU = graphql(`
  mutation DeleteGpu($id: ID!) {
    deleteGpu(id: $id) { id hostId }
  }
`)

export const HOST_STATUS = graphql(`
  subscription HostStatusChanges($hostId: ID) {
    hostStatus(hostId: $hostId) { hostId status previousStatus at }
  }
`)

export const GPU_METRICS = graphql(`
  subscription LiveGpuMetrics($hostId: ID!) {
    gpuMetrics(hostId: $hostId) { ...GpuMetricFields }
  }
`)

export const GPU_HISTORY = graphql(`
  query GpuHistory($gpuId: ID!, $from: DateTime!, $to: DateTime!, $resolution: MetricResolution) {
    gpuMetricHistory(gpuId: $gpuId, from: $from, to: $to, resolution: $resolution) {
      resolution truncated
      points { at utilizationPercent memoryUsagePercent temperature powerDraw }
    }
  }
`)

export const HOST_HISTORY = graphql(`
  query HostHistory($hostId: ID!, $from: DateTime!, $to: DateTime!, $resolution: MetricResolution) {
    hostMetricHistory(hostId: $hostId, from: $from, to: $to, resolution: $resolution) {
      resolution truncated
      points { at cpuUsagePercent memoryUsagePercent diskUsagePercent gpuAvgUtilization }
    }
  }
`)
