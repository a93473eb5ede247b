import type { Probe } from '../probe.js'

export const bombsProbe: Probe = {
  id: 'bombs',
  title: 'Resource bombs',
  share: 0.05,
  run: async () => ({ title: 'Resource bombs', method: 'not written yet', tables: [] })
}
