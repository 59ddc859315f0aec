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

export const INVITATION_FIELDS = graphql(`
  fragment InvitationFields on WorkspaceInvitation {
    id workspaceId invitee role createdAt expiresAt
  }
`)

export const WORKSPACE_INVITATIONS = graphql(`
  query WorkspaceInvitations($workspaceId: ID!) {
    workspaceInvitations(filter: { workspaceId: { eq: $workspaceId } }, orderBy: [{ field: CREATED_AT, direction: DESC }], first: 50) {
      nodes { ...InvitationFields }
    }
  }
`)

export const INVITE_MEMBER = graphql(`
  mutation InviteMember($input: InviteWorkspaceMemberInput!) {
    inviteWorkspaceMember(input: $input) { ...InvitationFields }
  }
`)

export const REVOKE_INVITATION = graphql(`
  mutation RevokeInvitation($id: ID!) {
    revokeWorkspaceInvitation(id: $id) { id }
  }
`)

export const MY_INVITATIONS = graphql(`
  query MyInvitations($first: Int, $after: String) {
    myInvitations(first: $first, after: $after) {
      totalCount
      pageInfo { hasNextPage endCursor }
      nodes { id workspaceId workspaceName role invitedBy expiresAt }
    }
  }
`)

export const ACCEPT_INVITATION = graphql(`
  mutation AcceptInvitation($id: ID!) {
    acceptInvitation(id: $id) { id role status }
  }
`)

export const DECLINE_INVITATION = graphql(`
  mutation DeclineInvitation($id: ID!) {
    declineInvitation(id: $id)
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
