import type { Probe } from '../probe.js'

export const diskFullProbe: Probe = {
  id: 'disk-full',
  title: 'Full disk',
  share: 0.05,
  run: async () => ({ title: 'Full disk', method: 'not written yet', tables: [] })
}
