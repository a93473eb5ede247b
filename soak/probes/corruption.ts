import type { Probe } from '../probe.js'

export const corruptionProbe: Probe = {
  id: 'corruption',
  title: 'Damaged storage',
  share: 0.05,
  run: async () => ({ title: 'Damaged storage', method: 'not written yet', tables: [] })
}
