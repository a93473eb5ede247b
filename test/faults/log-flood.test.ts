// Log rate limiting (issue #20: a fuzzer's 65,810 malformed connections wrote 54,010 warn
// lines): per-connection warnings of one kind are logged --log-repeat-limit times per
// --log-repeat-window, then summarized in one line; /metrics still counts every one, and the
// broker keeps serving.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect } from 'node:net'
import { startBroker } from '../helpers/broker.js'
import { connect } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/system.js'

// A CONNECT whose protocol name is not MQTT: the parser refuses it, the connection closes.
const GARBAGE = Buffer.from([0x10, 0x0a, 0x00, 0x04, 0x41, 0x41, 0x41, 0x41, 0x04, 0x02, 0x00, 0x3c])

function malformedConnection (port: number): Promise<void> {
  return new Promise(resolve => {
    const socket = tcpConnect(port, '127.0.0.1', () => socket.write(GARBAGE))
    socket.on('error', () => {})
    socket.on('close', () => resolve())
  })
}

test('50 malformed connections: 5 warn lines, then one line saying 45 more; every one counted; a canary still connects', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--log-repeat-limit', '5', '--log-repeat-window', '1s'] })
  try {
    for (let i = 0; i < 50; i++) await malformedConnection(broker.mqttPort)
    const closed = (): number => broker.logs.filter(l => l.msg === 'connection closed on error').length
    const summary = await waitFor(() => broker.logs.find(l => /^… \d+ more "connection closed on error" lines/.test(String(l.msg))), 5000, 'the summary line')
    assert.equal(closed(), 5)
    assert.equal(summary.suppressed, 45)
    const metrics = await (await fetch(`${broker.httpUrl}/metrics`)).text()
    assert.match(metrics, /swallow_connection_errors_total\{reason="protocol_error"\} 50/)
    const canary = await connect(broker.mqttUrl)
    await canary.endAsync()
  } finally {
    await broker.stop()
  }
})
