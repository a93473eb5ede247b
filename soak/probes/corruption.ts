import type { Probe } from '../probe.js'

export const corruptionProbe: Probe = {
  id: 'corruption',
  title: 'Damaged storage',
  share: 0.08,
  run: async () => ({ title: 'Damaged storage', method: 'not written yet', tables: [] })
}
