// The fleet API as OpenAPI 3.1 (served at GET /api/openapi.json). Kept next to the routes it
// describes; test/plugins/fleet checks that every registered route is in it.
const error = { $ref: '#/components/responses/Error' }
const page = (name: string): Record<string, unknown> => ({ name, in: 'query', schema: { type: 'integer', minimum: 1 } })
const q = (name: string, description: string): Record<string, unknown> => ({ name, in: 'query', description, schema: { type: 'string' } })
const id = { name: 'id', in: 'path', required: true, schema: { type: 'string' }, description: 'client id, URL-encoded' }
const paged = [page('page'), { ...page('limit'), description: '1 to 1000, default 100' }]
const ok = (description: string): Record<string, unknown> => ({ description, content: { 'application/json': { schema: { type: 'object' } } } })
const common = { 400: error, 401: error, 403: error }

export const OPENAPI = {
  openapi: '3.1.0',
  info: { title: 'Swallow fleet API', version: '1', description: 'Clients, sessions, subscriptions, bans, publish and reload. Authorization: Bearer <--admin-token> (or --admin-read-token for GET). Errors: { error, message }.' },
  components: {
    securitySchemes: { bearer: { type: 'http', scheme: 'bearer' } },
    responses: { Error: { description: 'error', content: { 'application/json': { schema: { type: 'object', required: ['error', 'message'], properties: { error: { type: 'string' }, message: { type: 'string' } } } } } } }
  },
  security: [{ bearer: [] }],
  paths: {
    '/api/clients': {
      get: {
        summary: 'connected clients (and offline sessions with state=offline|all), paginated',
        parameters: [q('prefix', 'client id prefix'), q('username', 'user name'), q('address', 'remote address'), q('protocol', '3, 4 or 5'), q('node', 'cluster node id'), q('state', 'connected (default), offline or all'), ...paged],
        responses: { 200: ok('{ items, page, limit, total, pages }'), ...common }
      },
      delete: {
        summary: 'disconnect every client matching username, prefix or address (MQTT 5: DISCONNECT 0x98)',
        parameters: [q('username', 'user name'), q('prefix', 'client id prefix'), q('address', 'remote address'), q('session', 'true: delete their sessions too')],
        responses: { 200: ok('{ kicked }'), ...common }
      }
    },
    '/api/clients/{id}': {
      get: { summary: 'one client: figures, subscriptions, will, stored queue, oldestQueuedAt / oldestQueuedSeconds (null: not known)', parameters: [id], responses: { 200: ok('client'), 404: error, ...common } },
      delete: { summary: 'disconnect it (MQTT 5: DISCONNECT 0x98)', parameters: [id, q('session', 'true: delete its session too')], responses: { 200: ok('{ kicked }'), 404: error, ...common } }
    },
    '/api/sessions': { get: { summary: 'stored persistent sessions of offline clients: expiresAt, disconnectedAt / offlineSeconds, queued, oldestQueuedAt / oldestQueuedSeconds (null: not known)', parameters: [q('prefix', 'client id prefix'), ...paged], responses: { 200: ok('page'), ...common } } },
    '/api/sessions/{id}': {
      get: { summary: 'one stored session', parameters: [id], responses: { 200: ok('session'), 404: error, ...common } },
      delete: { summary: 'delete an offline session', parameters: [id], responses: { 200: ok('{ deleted }'), 404: error, 409: error, ...common } }
    },
    '/api/subscriptions': { get: { summary: 'subscriptions within filter, or reaching topic', parameters: [q('filter', 'MQTT filter'), q('topic', 'topic name'), q('clientId', 'one client'), ...paged], responses: { 200: ok('page'), ...common } } },
    '/api/topics': { get: { summary: 'subscribed filters with subscriber counts', parameters: [q('filter', 'MQTT filter'), q('topic', 'topic name'), ...paged], responses: { 200: ok('page'), ...common } } },
    '/api/bans': {
      get: { summary: 'bans in force', responses: { 200: ok('{ items }'), ...common } },
      post: {
        summary: 'ban a client id, user name or address (CONNACK 0x8A / 0x05); closes the clients it matches',
        requestBody: { content: { 'application/json': { schema: { type: 'object', required: ['kind', 'value'], properties: { kind: { enum: ['clientId', 'username', 'address'] }, value: { type: 'string' }, reason: { type: 'string' }, expiresIn: { type: 'number', description: 'seconds' }, expiresAt: { type: 'string', format: 'date-time' } } } } } },
        responses: { 201: ok('the ban, with kicked'), 503: error, ...common }
      }
    },
    '/api/bans/{kind}/{value}': { delete: { summary: 'remove a ban', parameters: [{ name: 'kind', in: 'path', required: true, schema: { enum: ['clientId', 'username', 'address'] } }, { name: 'value', in: 'path', required: true, schema: { type: 'string' } }], responses: { 200: ok('{ removed }'), 404: error, ...common } } },
    '/api/publish': {
      post: {
        summary: 'publish as a backend (authorizePublish hooks, then retained store, offline queues, router); 200 once stored (QoS 1/2). Without `as` a trusted backend: client ACLs do not apply; with `as` that identity\'s ACL write check applies (403 not_authorized when denied, nothing published)',
        requestBody: {
          content: {
            'application/json': {
              schema: {
                type: 'object',
                required: ['topic'],
                properties: {
                  topic: { type: 'string' },
                  payload: { type: 'string' },
                  payloadBase64: { type: 'string' },
                  qos: { enum: [0, 1, 2] },
                  retain: { type: 'boolean' },
                  properties: { type: 'object', description: 'MQTT 5: contentType, responseTopic, correlationData (base64), payloadFormatIndicator, messageExpiryInterval, userProperties' },
                  as: { type: 'object', description: 'publish as this identity: the --acl-file rules for its user name and client id apply', properties: { username: { type: 'string' }, clientId: { type: 'string' } } }
                }
              }
            }
          }
        },
        responses: { 200: ok('{ published, topic, qos, retain, bytes, as? }'), 503: error, ...common }
      }
    },
    '/api/reload': { post: { summary: 'reload TLS certificates and auth files, as SIGHUP', responses: { 200: ok('{ summary, ok, parts }'), ...common } } },
    '/api/events': { get: { summary: 'Server-Sent Events: connected, disconnected, kicked, banned, unbanned, session-deleted, published, reloaded', responses: { 200: { description: 'text/event-stream' }, 401: error } } },
    '/api/nodes': { get: { summary: 'the cluster nodes answering (this one first) with their connected clients', responses: { 200: ok('{ items: [{ id, self, clients }] }'), 401: error } } },
    '/api/openapi.json': { get: { summary: 'this document', responses: { 200: ok('OpenAPI 3.1') } } }
  }
} as const
