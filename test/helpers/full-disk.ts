// A small tmpfs to fill up (needs mount: root), and a publisher that goes on until the broker
// stops acknowledging: for the full-disk test and the soak's disk-full probe.
import { spawnSync } from 'node:child_process'
import type { MqttClient } from 'mqtt'
import { tempDir } from './system.js'

export interface SmallDisk { path: string, mounted: boolean, remove: () => void }

/** A fresh directory with a tmpfs of `size` (e.g. "16m") mounted on it when the process may mount. */
export function smallDisk (size: string): SmallDisk {
  const dir = tempDir('swallow-full-')
  const mounted = spawnSync('mount', ['-t', 'tmpfs', '-o', `size=${size}`, 'tmpfs', dir.path]).status === 0
  return {
    path: dir.path,
    mounted,
    remove: () => {
      if (mounted) spawnSync('umount', [dir.path])
      dir.remove()
    }
  }
}

/** A numbered 100 KiB payload: `${i};xxxx...`. */
export const bigPayload = (i: number): Buffer => Buffer.concat([Buffer.from(`${i};`), Buffer.alloc(100 * 1024, 'x')])

/** Publishes QoS 1 until one is refused (the connection closes without PUBACK); returns the acknowledged ones. */
export async function publishUntilRefused (client: MqttClient, from: number, max: number): Promise<{ acked: number[], refused: number }> {
  const acked: number[] = []
  const closed = new Promise<'closed'>(resolve => client.once('close', () => resolve('closed')))
  for (let i = from; i < from + max; i++) {
    const result = await Promise.race([client.publishAsync('q/big', bigPayload(i), { qos: 1 }).then(() => 'acked' as const), closed])
    if (result === 'closed') return { acked, refused: i }
    acked.push(i)
  }
  return { acked, refused: -1 }
}
