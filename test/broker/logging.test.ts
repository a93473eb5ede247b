// Connects, disconnects (with reason) and refused connections are logged as JSON lines.
import { test } from 'node:test'
import assert from 'node:assert/strict'
import { connect as tcpConnect } from 'node:net'
import { startBroker } from '../helpers/broker.js'
import { connect } from '../helpers/mqtt.js'
import { waitFor } from '../helpers/system.js'

test('connects, disconnects with their reason, and payloads only at trace', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--connect-timeout', '300ms'] })
  try {
    const c = await connect(broker.mqttUrl, { clientId: 'logged-1' })
    await c.publishAsync('log/x', 'secret-payload', { qos: 1 })
    await c.endAsync()
    const silent = tcpConnect(broker.mqttPort, '127.0.0.1')
    await new Promise(resolve => silent.once('close', resolve))
    await waitFor(() => broker.logs.find(l => l.msg === 'client disconnected' && l.clientId === 'logged-1'), 3000, 'the disconnect line')
    const connected = broker.logs.find(l => l.msg === 'client connected' && l.clientId === 'logged-1')
    assert.equal(connected?.remote, '127.0.0.1')
    assert.equal(connected?.transport, 'tcp')
    assert.equal(connected?.module, 'clients', 'child logger per module')
    assert.equal(broker.logs.find(l => l.msg === 'client disconnected' && l.clientId === 'logged-1')?.reason, 'client_disconnect')
    await waitFor(() => broker.logs.find(l => l.reason === 'connect_timeout'), 3000, 'the connect timeout line')
    assert.ok(!JSON.stringify(broker.logs).includes('secret-payload'), 'no payloads at info')
  } finally {
    await broker.stop()
  }
})

test('at --log-level trace, received payloads are logged', async () => {
  const broker = await startBroker({ storage: 'memory', args: ['--log-level', 'trace'] })
  try {
    const c = await connect(broker.mqttUrl)
    await c.publishAsync('log/y', 'visible-payload', { qos: 1 })
    await c.endAsync()
    await waitFor(() => broker.logs.find(l => l.payload === 'visible-payload'), 3000, 'the trace line')
  } finally {
    await broker.stop()
  }
})
