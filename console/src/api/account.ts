// The signed-in customer, workspaces and members.
import { graphql } from '../gql'

export const WORKSPACE_FIELDS = graphql(`
  fragment WorkspaceFields on Workspace {
    id uuid ownerId name description type status memberCount createdAt
  }
`)

export const ME = graphql(`
  query Me {
    me {
      id uuid username email phone fullName company accountType role status emailVerified createdAt
      memberships { id role status workspace { ...WorkspaceFields } }
    }
  }
`)

export const GPU_AVAILABILITY = graphql(`
  query GpuAvailability {
    gpuAvailability { name memoryTotal total available }
  }
`)

export const UPDATE_ME = graphql(`
  mutation UpdateMe($input: UpdateMeInput!) {
    updateMe(input: $input) { id phone fullName company }
  }
`)

export const CHANGE_PASSWORD = graphql(`
  mutation ChangePassword($currentPassword: String!, $newPassword: String!) {
    changePassword(currentPassword: $currentPassword, newPassword: $newPassword)
  }
`)

export const CREATE_WORKSPACE = graphql(`
  mutation CreateWorkspace($input: CreateWorkspaceInput!) {
    createWorkspace(input: $input) { ...WorkspaceFields }
  }
`)

export const DELETE_WORKSPACE = graphql(`
  mutation DeleteWorkspace($id: ID!) {
    deleteWorkspace(id: $id) { id }
  }
`)

export const LEAVE_WORKSPACE = graphql(`
  mutation LeaveWorkspace($workspaceId: ID!) {
    leaveWorkspace(workspaceId: $workspaceId)
  }
`)

export const WORKSPACE = graphql(`
  query Workspace($id: ID!) {
    workspace(id: $id) {
      ...WorkspaceFields
      owner { id username }
      members { id workspaceId customerId role status joinedAt customer { id username email } }
    }
  }
`)

export const ADD_MEMBER = graphql(`
  mutation AddMember($input: CreateWorkspaceMemberInput!) {
    createWorkspaceMember(input: $input) { id workspaceId customerId role status joinedAt customer { id username email } }
  }
`)

export const UPDATE_MEMBER = graphql(`
  mutation UpdateMember($id: ID!, $input: UpdateWorkspaceMemberInput!) {
    updateWorkspaceMember(id: $id, input: $input) { id role status }
  }
`)

export const REMOVE_MEMBER = graphql(`
  mutation RemoveMember($id: ID!) {
    deleteWorkspaceMember(id: $id) { id workspaceId }
  }
`)
