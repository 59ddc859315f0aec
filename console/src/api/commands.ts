// Remote commands (operators only).
import { graphql } from '../gql'

export const COMMAND_FIELDS = graphql(`
  fragment CommandFields on Command {
    id commandId commandText targetNodeId status createdAt startedAt completedAt timeoutSeconds batchId
    host { id name }
  }
`)

export const COMMANDS = graphql(`
  query Commands {
    commands(first: 20, orderBy: [{ field: CREATED_AT, direction: DESC }]) {
      totalCount
      nodes { ...CommandFields }
    }
  }
`)

export const COMMAND_RESULT = graphql(`
  query CommandResult($id: ID!) {
    command(id: $id) {
      ...CommandFields
      result { id stdout stderr exitCode executionTimeMs stdoutTruncated stderrTruncated }
    }
  }
`)

export const HOST_CHOICES = graphql(`
  query HostChoices {
    hosts(first: 100, orderBy: [{ field: NAME, direction: ASC }]) {
      nodes { id name status labels }
    }
  }
`)

export const RUN_COMMAND = graphql(`
  mutation RunCommand($input: RunCommandInput!) {
    runCommand(input: $input) { batchId commands { ...CommandFields } }
  }
`)

export const CANCEL_COMMAND = graphql(`
  mutation CancelCommand($commandId: String!) {
    cancelCommand(commandId: $commandId) { ...CommandFields }
  }
`)

export const COMMAND_UPDATES = graphql(`
  subscription CommandUpdates($batchId: String) {
    commandUpdates(batchId: $batchId) { commandId batchId hostId status at }
  }
`)

export const COMMAND_OUTPUT = graphql(`
  subscription CommandOutput($commandId: String!) {
    commandOutput(commandId: $commandId) { commandId stream seq data }
  }
`)
