// POST /api/publish {topic, payload | payloadBase64, qos?, retain?, properties?, as?: {username?, clientId?}}
// A backend's message takes the path a client's PUBLISH takes after its connection: the
// authorizePublish hooks, with no client but told who publishes (hooks.publishFromBackend):
// without `as`, a trusted backend (the full admin token: client ACLs do not apply, as with
// EMQX's HTTP publish API); with `as`, that identity's ACL write check applies (the auth
// plugin; a refusal is 403 and nothing is published). Then the core's publish route
// (PluginContext.publish): the retained store, the offline queues of persistent sessions,
// the router and the published hooks. The answer
// (QoS 1/2) comes once it is stored wherever it must survive a crash, as a PUBACK would.
import { isUtf8 } from 'node:buffer'
import type { Aedes } from 'aedes'
import { hookSlots } from '../../src/aedes-seam.js'
import type { BackendPublisher, Hooks } from '../../src/hooks.js'
import type { HttpRoutes } from '../../src/listeners/http.js'
import type { PluginContext } from '../../src/plugin.js'
import { validTopicName } from '../../src/protocol/topic-rules.js'
import type { MessageProperties, RoutedPacket } from '../../src/protocol/types.js'
import type { ApiParts } from './clients-api.js'
import { ApiError, audit, handled, readJsonObject, sendJson } from './respond.js'

type AuthorizePublish = (client: null, packet: RoutedPacket, done: (err?: Error | null) => void) => void

export function registerPublishApi (routes: HttpRoutes, broker: Aedes, hooks: Hooks, publish: PluginContext['publish'], { presence, log }: ApiParts): void {
  routes.add('POST', '/api/publish', handled(async (req, res) => {
    const body = await readJsonObject(req)
    const message = parseMessage(body)
    const who = parsePublisher(body.as)
    hooks.publishFromBackend(message, who)
    const as = who.trusted ? undefined : { username: who.username ?? null, clientId: who.clientId }
    const { authorizePublish } = hookSlots<{ authorizePublish: AuthorizePublish }>(broker)
    await new Promise<void>((resolve, reject) => {
      authorizePublish(null, message, err => {
        if (err) return reject(new ApiError(403, 'not_authorized', `refused: ${err.message}`))
        if (hooks.isDropped(message)) {
          return reject(new ApiError(403, 'not_authorized', as !== undefined
            ? `${describe(as)} may not publish to ${JSON.stringify(message.topic)} (the ACL in force); nothing was published`
            : `an authorizePublish hook refused the message to ${JSON.stringify(message.topic)}; nothing was published`))
        }
        publish(message, null, err => err ? reject(new ApiError(503, 'storage_unavailable', `not published: ${err.message}`)) : resolve())
      })
    })
    const what = { topic: message.topic, qos: message.qos, retain: message.retain, bytes: message.payload.length, ...(as !== undefined ? { as } : {}) }
    audit(log, req, 'publish', what)
    presence.emit({ type: 'published', ...what, at: new Date().toISOString() })
    sendJson(res, 200, { published: true, ...what })
  }))
}

/** No `as`: a trusted backend; `as`: the identity whose ACL write check applies. */
function parsePublisher (as: unknown): BackendPublisher {
  if (as === undefined) return { trusted: true }
  if (as === null || typeof as !== 'object' || Array.isArray(as)) throw new ApiError(400, 'bad_as', 'as: expected an object { username?, clientId? }')
  const { username, clientId, ...rest } = as as Record<string, unknown>
  const unknown = Object.keys(rest)
  if (unknown.length > 0) throw new ApiError(400, 'bad_as', `as.${unknown[0]}: unknown; expected username and/or clientId`)
  if (username !== undefined && typeof username !== 'string') throw new ApiError(400, 'bad_as', 'as.username: expected a string')
  if (clientId !== undefined && typeof clientId !== 'string') throw new ApiError(400, 'bad_as', 'as.clientId: expected a string')
  if (username === undefined && clientId === undefined) throw new ApiError(400, 'bad_as', 'as: give username and/or clientId (omit as to publish as a trusted backend)')
  return { trusted: false, username, clientId: clientId ?? '' }
}

const describe = (as: { username: string | null, clientId: string }): string =>
  [as.username !== null ? `user ${JSON.stringify(as.username)}` : 'an anonymous client', as.clientId !== '' ? `client id ${JSON.stringify(as.clientId)}` : ''].filter(Boolean).join(', ')

function parseMessage (body: Record<string, unknown>): RoutedPacket {
  const { topic, payload, payloadBase64, qos = 0, retain = false, properties } = body
  if (typeof topic !== 'string' || !validTopicName(topic)) throw new ApiError(400, 'bad_topic', `topic: expected a topic name without wildcards, got ${JSON.stringify(topic)}`)
  if (topic.startsWith('$SYS/') || topic.startsWith('$swallow/')) throw new ApiError(400, 'reserved_topic', `topic ${JSON.stringify(topic)}: $SYS/ and $swallow/ belong to the broker`)
  if (topic.startsWith('$delayed/')) throw new ApiError(400, 'reserved_topic', `topic ${JSON.stringify(topic)}: delayed publish ($delayed/) is for MQTT clients; publish to the topic when it is due`)
  if (payload !== undefined && payloadBase64 !== undefined) throw new ApiError(400, 'bad_payload', 'pass payload (text) or payloadBase64, not both')
  if (payload !== undefined && typeof payload !== 'string') throw new ApiError(400, 'bad_payload', 'payload: expected a string (use payloadBase64 for bytes)')
  if (payloadBase64 !== undefined && (typeof payloadBase64 !== 'string' || !/^[A-Za-z0-9+/]*={0,2}$/.test(payloadBase64))) throw new ApiError(400, 'bad_payload', 'payloadBase64: expected base64 text')
  if (qos !== 0 && qos !== 1 && qos !== 2) throw new ApiError(400, 'bad_qos', `qos: expected 0, 1 or 2, got ${JSON.stringify(qos)}`)
  if (typeof retain !== 'boolean') throw new ApiError(400, 'bad_retain', 'retain: expected true or false')
  const message: RoutedPacket = {
    cmd: 'publish',
    topic,
    payload: typeof payloadBase64 === 'string' ? Buffer.from(payloadBase64, 'base64') : Buffer.from(typeof payload === 'string' ? payload : ''),
    qos,
    retain,
    dup: false
  }
  if (properties !== undefined) {
    const parsed = parseProperties(properties)
    if (parsed.payloadFormatIndicator === true && !isUtf8(message.payload)) throw new ApiError(400, 'bad_payload', 'properties.payloadFormatIndicator says UTF-8, but the payload is not')
    if (parsed.messageExpiryInterval !== undefined) message.messageExpiry = Date.now() + parsed.messageExpiryInterval * 1000
    if (Object.keys(parsed).length > 0) message.properties = parsed
  }
  return message
}

function parseProperties (raw: unknown): MessageProperties {
  if (raw === null || typeof raw !== 'object' || Array.isArray(raw)) throw new ApiError(400, 'bad_properties', 'properties: expected an object')
  const p = raw as Record<string, unknown>
  const bad = (what: string): never => { throw new ApiError(400, 'bad_properties', `properties.${what}`) }
  const out: MessageProperties = {}
  for (const key of Object.keys(p)) {
    const v = p[key]
    switch (key) {
      case 'contentType': case 'responseTopic':
        if (typeof v !== 'string') bad(`${key}: expected a string`)
        if (key === 'responseTopic' && !validTopicName(v as string)) bad('responseTopic: expected a topic name without wildcards')
        out[key] = v as string
        break
      case 'correlationData':
        if (typeof v !== 'string') bad('correlationData: expected base64 text')
        out.correlationData = Buffer.from(v as string, 'base64')
        break
      case 'payloadFormatIndicator':
        if (typeof v !== 'boolean') bad('payloadFormatIndicator: expected true (UTF-8) or false')
        out.payloadFormatIndicator = v as boolean
        break
      case 'messageExpiryInterval':
        if (typeof v !== 'number' || !Number.isInteger(v) || v < 1 || v > 0xffffffff) bad('messageExpiryInterval: expected whole seconds from 1')
        out.messageExpiryInterval = v as number
        break
      case 'userProperties':
        if (v === null || typeof v !== 'object' || Array.isArray(v) || !Object.values(v as object).every(x => typeof x === 'string' || (Array.isArray(x) && x.every(y => typeof y === 'string')))) {
          bad('userProperties: expected an object of strings (or arrays of strings)')
        }
        out.userProperties = v as Record<string, string | string[]>
        break
      default:
        bad(`${key}: unknown; expected contentType, responseTopic, correlationData, payloadFormatIndicator, messageExpiryInterval or userProperties`)
    }
  }
  return out
}
