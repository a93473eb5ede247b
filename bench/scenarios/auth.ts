// auth-connect: devices connect with a username and password checked against one password
// file made by mosquitto_passwd (the same file for every target). A first round where every
// password is checked, then a second where the same devices reconnect (Swallow caches
// successful checks; Mosquitto hashes every time).
import { chmodSync, existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { execFileSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { ProcCpu } from '../procstat.js'
import { sleep } from '../roles/common.js'
import { brokerPids } from '../targets.js'
import { CONCURRENCY, connectsPerSecond, DeviceFleet, type Phase } from './devices.js'
import { metric, type Scenario } from './types.js'

const MOSQUITTO_PASSWD = '/usr/bin/mosquitto_passwd'
const USERS = 2_000 // one user per device, so the first round checks every password on every broker
const QUICK_DEVICES = 300
const CREDENTIALS = { userPrefix: 'bench-user-', passwordPrefix: 'bench-pass-' }
const SETTLE_MS = 500 // between the rounds: let the brokers finish the disconnects

interface PasswordFile { path: string, users: number, iterations: number | null }

let made: PasswordFile | null = null

/** The run's password file (made once, removed on exit): user i has password `bench-pass-i`. */
function passwordFile (): PasswordFile {
  if (made !== null) return made
  const dir = mkdtempSync(join(tmpdir(), 'bench-passwd-'))
  process.once('exit', () => rmSync(dir, { recursive: true, force: true }))
  const path = join(dir, 'passwd')
  const plain = Array.from({ length: USERS }, (_, i) => `${CREDENTIALS.userPrefix}${i}:${CREDENTIALS.passwordPrefix}${i}`)
  writeFileSync(path, plain.join('\n') + '\n')
  // -U hashes a plain `user:password` file in place with mosquitto_passwd's defaults, in one
  // process (adding 2,000 users with -b would rewrite the file 2,000 times).
  execFileSync(MOSQUITTO_PASSWD, ['-U', path], { stdio: ['ignore', 'pipe', 'pipe'] })
  // Mosquitto started as root reads the file after dropping to its own user.
  chmodSync(dir, 0o755)
  chmodSync(path, 0o644)
  const first = readFileSync(path, 'utf8').split('\n')[0]
  const m = /^[^:]+:\$7\$(\d+)\$/.exec(first)
  made = { path, users: USERS, iterations: m === null ? null : Number(m[1]) }
  return made
}

async function timed (pids: number[], round: () => Promise<Phase>): Promise<{ phase: Phase, brokerCpu: number | null }> {
  const cpu = new ProcCpu(pids)
  cpu.start()
  const phase = await round()
  return { phase, brokerCpu: cpu.percent() }
}

const iterationsText = (): string => (made?.iterations ?? null) === null
  ? 'the iteration count mosquitto_passwd writes by default'
  : `${String(made?.iterations)} iterations (mosquitto_passwd's default), which sets the cost of every check`

export const authConnect: Scenario = {
  id: 'auth-connect',
  title: 'connect rate with a password file',
  primary: 'connectRate',
  summary: ['connectRate', 'accepted', 'warmConnectRate'],
  placement: 'alternate',
  unavailable: () => existsSync(MOSQUITTO_PASSWD) ? null : `${MOSQUITTO_PASSWD} is missing (Debian package mosquitto): no password file can be made`,
  broker: () => ({ passwordFile: passwordFile().path }),
  describe: quick => `${(quick ? QUICK_DEVICES : USERS).toLocaleString('en')} devices, each with its own user, connect with username and password ` +
    `(${CONCURRENCY} handshakes in flight, clean sessions) to brokers that check them against one password file made by \`mosquitto_passwd -U\` ` +
    `(${USERS.toLocaleString('en')} users, PBKDF2-SHA512 with ${iterationsText()}; Swallow \`--password-file\`, Mosquitto \`password_file\` + ` +
    '`allow_anonymous false`). Connect rate = devices accepted / time from first attempt to last CONNACK. Then every device disconnects and ' +
    'connects again: Swallow answers from its cache of successful checks (`--auth-cache-ttl`, 2 min), Mosquitto hashes again.',
  async run (target, quick, progress) {
    const n = quick ? QUICK_DEVICES : USERS
    const file = passwordFile()
    const pids = brokerPids(target)
    const fleet = await DeviceFleet.create(target, n, { timeoutMs: 10_000, credentials: CREDENTIALS })
    try {
      await sleep(300)
      const cold = await timed(pids, async () => await fleet.round({ cmd: 'start' }))
      progress(`${cold.phase.connected} of ${n} accepted in ${cold.phase.seconds.toFixed(2)} s`)
      const warm = await timed(pids, async () => await fleet.round({ cmd: 'reconnect', settleMs: SETTLE_MS }))
      progress(`second round: ${warm.phase.connected} of ${n} accepted in ${warm.phase.seconds.toFixed(2)} s`)
      const notes = ['acknowledged-but-lost: not applicable (no messages in this scenario).']
      if (cold.phase.refused > 0) notes.push(`${cold.phase.refused} devices were refused (CONNACK not 0) in the first round: check the password file`)
      return {
        metrics: [
          metric('connectRate', 'connects/s, every password checked', 'conns/s', 'higher', connectsPerSecond(cold.phase)),
          metric('accepted', 'devices accepted (CONNACK 0)', 'conns', 'higher', cold.phase.connected),
          metric('refused', 'devices refused (CONNACK not 0)', 'conns', 'lower', cold.phase.refused),
          metric('failed', 'devices not connected (refused, timed out or reset)', 'conns', 'none', cold.phase.failed),
          metric('connectP99', 'connect p99 (TCP + CONNACK)', 'ms', 'lower', cold.phase.p99ms),
          metric('warmConnectRate', 'connects/s, same devices again', 'conns/s', 'higher', connectsPerSecond(warm.phase)),
          metric('warmAccepted', 'accepted again (CONNACK 0)', 'conns', 'higher', warm.phase.connected),
          metric('iterations', 'PBKDF2 iterations per password in the file', 'iterations', 'none', file.iterations),
          metric('brokerCpu', 'broker CPU, first round (% of one core)', '%', 'none', cold.brokerCpu),
          metric('warmBrokerCpu', 'broker CPU, second round (% of one core)', '%', 'none', warm.brokerCpu),
          metric('generatorCpu', 'busiest generator process CPU (% of one core)', '%', 'none', Math.max(cold.phase.cpu, warm.phase.cpu))
        ],
        notes,
        raw: { devices: n, passwordFileUsers: file.users, iterations: file.iterations, cold, warm }
      }
    } finally {
      await fleet.close()
    }
  }
}
