import type { Probe } from '../probe.js'

export const slowlorisProbe: Probe = {
  id: 'slowloris',
  title: 'Slowloris',
  share: 0.05,
  run: async () => ({ title: 'Slowloris', method: 'not written yet', tables: [] })
}
