// Probe 4: session churn. Raw MQTT 3.1.1 clients with distinct ids connect with CleanSession 0
// and disconnect, many at a time, within a count and a time bound: what is stored at the end,
// and the broker's RSS, with the defaults and with --max-sessions and --max-session-expiry.
import { connect as tcpConnect } from 'node:net'
import mqttPacket from 'mqtt-packet'
import { startBroker } from '../../test/helpers/broker.js'
import { count, metric, mib, rssMiB, scaled, storedSessions, timeLeft, type Probe, type SoakContext } from '../probe.js'

const PARALLEL = 16

/** One cycle: CONNECT (persistent), CONNACK, DISCONNECT; resolves the CONNACK return code (-1: none). */
function cycle (port: number, clientId: string): Promise<number> {
  return new Promise(resolve => {
    const socket = tcpConnect(port, '127.0.0.1')
    const parser = mqttPacket.parser()
    let code = -1
    parser.on('packet', p => {
      if (p.cmd !== 'connack') return
      code = p.returnCode ?? -1
      socket.end(mqttPacket.generate({ cmd: 'disconnect' }))
    })
    socket.on('data', d => parser.parse(d))
    socket.on('error', () => {})
    socket.on('close', () => resolve(code))
    socket.write(mqttPacket.generate({ cmd: 'connect', protocolId: 'MQTT', protocolVersion: 4, clean: false, keepalive: 30, clientId }))
  })
}

async function churn (ctx: SoakContext, label: string, args: string[], cycles: number, until: number): Promise<string[]> {
  const broker = await startBroker({ args })
  try {
    const before = rssMiB(broker.proc.pid)
    const t0 = Date.now()
    let next = 0
    let refused = 0
    let failed = 0
    const worker = async (): Promise<void> => {
      while (next < cycles && Date.now() < until) {
        const code = await cycle(broker.mqttPort, `churn-${next++}`)
        if (code === 3) refused++
        else if (code !== 0) failed++
      }
    }
    await Promise.all(Array.from({ length: PARALLEL }, worker))
    const seconds = (Date.now() - t0) / 1000
    const stored = await storedSessions(broker)
    const expired = await metric(broker, 'swallow_sessions_expired_total')
    ctx.log(`${label}: ${next} cycles in ${seconds.toFixed(0)} s, ${stored} stored, ${refused} refused, ${expired} expired`)
    return [label, `${count(next)}${next < cycles ? ` of ${count(cycles)} (time budget)` : ''}`, `${seconds.toFixed(0)} s (${count(Math.round(next / seconds))}/s)`,
      count(refused) + (failed > 0 ? ` (${count(failed)} other failures)` : ''), count(expired), count(stored), `${mib(before)} → ${mib(rssMiB(broker.proc.pid))}`]
  } finally {
    await broker.stop()
  }
}

export const churnProbe: Probe = {
  id: 'churn',
  title: 'Session churn',
  share: 0.15,
  run: async ctx => {
    const cycles = scaled(ctx, 50_000, 500)
    // Fewer than the run can store in its expiry time (~300 stored sessions/s here): both bounds act.
    const maxSessions = Math.max(100, Math.round(cycles / 50))
    const runs: Array<[string, string[]]> = [
      ['defaults (`--max-sessions 100000`, no expiry)', []],
      [`\`--max-sessions ${maxSessions} --max-session-expiry 5s\``, ['--max-sessions', String(maxSessions), '--max-session-expiry', '5s']]
    ]
    const rows: string[][] = []
    // The first run stores every session (the slow case): it gets 60% of the budget.
    for (const [i, [label, args]] of runs.entries()) rows.push(await churn(ctx, label, args, cycles, Date.now() + Math.max(2000, timeLeft(ctx) * (i === 0 ? 0.6 : 1) - 3000)))
    return {
      title: 'Session churn',
      method: `Raw MQTT 3.1.1 clients, ${PARALLEL} at a time, each with a new client id: CONNECT with CleanSession 0,
CONNACK, DISCONNECT; up to ${count(cycles)} cycles per run, fewer when the time budget ends first (the count
says). Stored sessions at the end from the admin API (\`GET /api/sessions\`, offline persistent
sessions), refusals are CONNACK 3 (\`swallow_sessions_refused_total\`), expiries
\`swallow_sessions_expired_total\`; embedded storage. Test: test/broker/limits.test.ts.`,
      tables: [{ header: ['options', 'cycles', 'time', 'refused (CONNACK 3)', 'expired', 'stored sessions at the end', 'RSS before → after'], rows }],
      prose: `Without a bound every persistent session a client ever opened stays stored (MQTT 3.1.1 sessions
never expire); \`--max-sessions\` refuses a new stored session beyond it and
\`--max-session-expiry\` deletes offline ones after that long, as Mosquitto's
\`persistent_client_expiration\` does.`
    }
  }
}
