// Environments: the list, create, the lifecycle mutations, idle auto-stop and live status changes.
import { graphql } from '../gql'

export const ENVIRONMENT_FIELDS = graphql(`
  fragment EnvironmentFields on Environment {
    id customerId workspaceId hostId name image status cpu memory gpu gpuModel failureReason
    connectHost createdAt startedAt stoppedAt stopReason idleStopMinutes idleThresholdPercent costSoFar envVars
    customer { id username }
    portMappings { id envId serviceType externalPort internalPort status connect }
  }
`)

export const ENVIRONMENTS = graphql(`
  query Environments {
    environments(first: 100, orderBy: [{ field: CREATED_AT, direction: DESC }]) {
      totalCount
      nodes { ...EnvironmentFields }
    }
  }
`)

export const CREATE_ENVIRONMENT = graphql(`
  mutation CreateEnvironment($input: CreateEnvironmentInput!) { createEnvironment(input: $input) { ...EnvironmentFields } }
`)

export const STOP_ENVIRONMENT = graphql(`
  mutation StopEnvironment($id: ID!) { stopEnvironment(id: $id) { ...EnvironmentFields } }
`)

export const START_ENVIRONMENT = graphql(`
  mutation StartEnvironment($id: ID!) { startEnvironment(id: $id) { ...EnvironmentFields } }
`)

export const RESTART_ENVIRONMENT = graphql(`
  mutation RestartEnvironment($id: ID!) { restartEnvironment(id: $id) { ...EnvironmentFields } }
`)

export const DELETE_ENVIRONMENT = graphql(`
  mutation DeleteEnvironment($id: ID!) { deleteEnvironment(id: $id) { ...EnvironmentFields } }
`)

export const ENVIRONMENT_STATUS = graphql(`
  subscription EnvironmentStatusChanges($environmentId: ID) {
    environmentStatus(environmentId: $environmentId) { environmentId status previousStatus reason at }
  }
`)

export const ENVIRONMENT_ROW = graphql(`
  query EnvironmentRow($id: ID!) { environment(id: $id) { ...EnvironmentFields } }
`)

export const SET_IDLE_STOP = graphql(`
  mutation SetIdleStop($id: ID!, $minutes: Int, $thresholdPercent: Float) {
    setIdleStop(id: $id, minutes: $minutes, thresholdPercent: $thresholdPercent) { ...EnvironmentFields }
  }
`)
