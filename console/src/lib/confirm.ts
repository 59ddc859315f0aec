// "Delete X?" then the mutation, with the outcome as a message.
import { ElMessage, ElMessageBox } from 'element-plus'
import { i18n } from '../i18n'
import { errorText } from './errors'

export async function confirmDelete(name: string, run: () => Promise<unknown>): Promise<boolean> {
  const t = i18n.global.t
  try {
    await ElMessageBox.confirm(t('common.deleteConfirm', { name }), t('common.delete'), { type: 'warning' })
  } catch {
    return false
  }
  try {
    await run()
    ElMessage.success(t('common.deleted'))
    return true
  } catch (err) {
    ElMessage.error(errorText(err))
    return false
  }
}
