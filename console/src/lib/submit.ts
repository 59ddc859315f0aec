// The block every form repeats: clear the last errors, validate, run the mutation, and put
// the server's errors beside the fields they are about (the rest under the form, or into a
// field of the caller's choosing, or into a message), with an optional message on success.
import type { FormInstance } from 'element-plus'
import { ElMessage } from 'element-plus'
import { ref, type Ref } from 'vue'
import { fieldErrors } from './errors'

export interface SubmitOptions {
  /** The form, validated first; none for a mutation without one. */
  formRef?: Ref<FormInstance | undefined>
  /** The form's fields: a server error naming one of them is shown beside it. */
  fields: readonly string[] | (() => readonly string[])
  /** The field a CONFLICT is about when its message names none (a unique name, say). */
  conflictField?: string
  /**
   * Where an error about no known field goes: the field it returns, or (undefined) the list
   * under the form. `'message'` shows them all as one error message instead.
   */
  general?: ((text: string) => string | undefined) | 'message'
  /** A success message, shown once the mutation has succeeded. */
  success?: () => string
}

export interface Submit {
  errors: Ref<Record<string, string>>
  general: Ref<string[]>
  /** Forgets the last errors (a dialog opened again). */
  reset: () => void
  /** Validates (unless told not to), then runs `mutate`; true when it succeeded. */
  submit: (mutate: () => Promise<unknown>, validate?: boolean) => Promise<boolean>
}

export function useSubmit(options: SubmitOptions): Submit {
  const errors = ref<Record<string, string>>({})
  const general = ref<string[]>([])
  const reset = () => {
    errors.value = {}
    general.value = []
  }
  async function submit(mutate: () => Promise<unknown>, validate = true): Promise<boolean> {
    reset()
    if (validate && !(await options.formRef?.value?.validate().catch(() => false))) return false
    try {
      await mutate()
    } catch (err) {
      const fields = typeof options.fields === 'function' ? options.fields() : options.fields
      const split = fieldErrors(err, fields, options.conflictField)
      const byField = { ...split.byField }
      const rest: string[] = []
      for (const text of split.general) {
        const field = typeof options.general === 'function' ? options.general(text) : undefined
        if (field) byField[field] = [byField[field], text].filter(Boolean).join('; ')
        else rest.push(text)
      }
      errors.value = byField
      if (options.general === 'message') {
        if (rest.length) ElMessage.error(rest.join('; '))
      } else {
        general.value = rest
      }
      return false
    }
    if (options.success) ElMessage.success(options.success())
    return true
  }
  return { errors, general, reset, submit }
}
