// Tag colours per status (seed 000's GPU colorMap: available success, allocated warning,
// maintenance info, error danger), applied the same way to the other status columns.
export type TagType = 'success' | 'warning' | 'info' | 'danger' | 'primary'

export const statusColors: Record<string, Record<string, TagType>> = {
  gpu: { AVAILABLE: 'success', ALLOCATED: 'warning', MAINTENANCE: 'info', ERROR: 'danger' },
  gpuHealth: { HEALTHY: 'success', DEGRADED: 'warning', ERROR: 'danger' },
  host: { ONLINE: 'success', MAINTENANCE: 'warning', OFFLINE: 'info', ERROR: 'danger' },
  hostHealth: { HEALTHY: 'success', DEGRADED: 'warning', UNKNOWN: 'info', UNHEALTHY: 'danger' },
  command: { SUCCESS: 'success', RUNNING: 'primary', PENDING: 'info', TIMEOUT: 'warning', CANCELLED: 'info', FAILED: 'danger' },
  upload: { READY: 'success', UPLOADING: 'warning', FAILED: 'danger' },
  member: { ACTIVE: 'success', INVITED: 'warning', SUSPENDED: 'danger' },
  environment: {
    RUNNING: 'success',
    CREATING: 'warning',
    STARTING: 'warning',
    STOPPING: 'warning',
    DELETING: 'warning',
    STOPPED: 'info',
    DELETED: 'info',
    FAILED: 'danger',
    ERROR: 'danger',
  },
}

/** The i18n key of a status value's label. */
export const statusLabelKey: Record<string, string> = {
  gpu: 'gpu.statuses',
  gpuHealth: 'gpu.health',
  host: 'host.statuses',
  hostHealth: 'host.health',
  command: 'command.statuses',
  upload: 'upload',
  member: 'workspace.memberStatuses',
  environment: 'environment.statuses',
}
