// One raw MQTT connection of the load generator: TCP socket + frame parser. Roles set
// `onFrame` to handle traffic after the CONNACK.
import net from 'node:net'
import { CONNACK, SUBACK, FrameParser, encodeConnect, encodeSubscribe, subackCodesAt, type FrameHandler } from './wire.js'

export interface ConnectOptions {
  host: string
  port: number
  clientId: string
  keepalive: number
  clean: boolean
  timeoutMs: number
  username?: string
  password?: string
}

/** The broker answered the CONNECT with a non-zero return code (as opposed to a timeout or reset). */
export class ConnackRefused extends Error {
  constructor (readonly code: number) { super(`CONNACK ${code}`) }
}

export class BenchConn {
  onFrame: FrameHandler = () => {}
  closed = false
  private readonly parser: FrameParser

  private constructor (readonly socket: net.Socket) {
    this.parser = new FrameParser((type, flags, buf, start, end) => this.onFrame(type, flags, buf, start, end))
    socket.on('data', (chunk: Buffer) => this.parser.push(chunk))
    socket.on('close', () => { this.closed = true })
    socket.on('error', () => {}) // a reset shows up as 'close'; the role counts it
  }

  /** Resolves once the broker accepted the CONNECT; rejects on refusal, reset or timeout. */
  static open (opts: ConnectOptions): Promise<BenchConn> {
    return new Promise((resolve, reject) => {
      const socket = net.connect({ host: opts.host, port: opts.port, noDelay: true })
      const conn = new BenchConn(socket)
      const timer = setTimeout(() => fail(new Error('connect timeout')), opts.timeoutMs)
      const fail = (err: Error): void => { clearTimeout(timer); socket.destroy(); reject(err) }
      socket.once('close', () => fail(new Error('closed before CONNACK')))
      socket.once('connect', () => socket.write(encodeConnect(opts.clientId, opts.keepalive, opts.clean, opts.username, opts.password)))
      conn.onFrame = (type, _flags, buf, start) => {
        if (type !== CONNACK) return
        const code = buf[start + 1]
        if (code !== 0) return fail(new ConnackRefused(code))
        clearTimeout(timer)
        socket.removeAllListeners('close')
        socket.on('close', () => { conn.closed = true })
        conn.onFrame = () => {}
        resolve(conn)
      }
    })
  }

  subscribe (topic: string, qos: 0 | 1 | 2, timeoutMs = 10_000): Promise<void> {
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => reject(new Error(`SUBACK timeout for ${topic}`)), timeoutMs)
      const previous = this.onFrame
      this.onFrame = (type, flags, buf, start, end) => {
        if (type !== SUBACK) return previous(type, flags, buf, start, end)
        clearTimeout(timer)
        this.onFrame = previous
        if (buf[subackCodesAt(buf, start)] >= 0x80) reject(new Error(`subscription to ${topic} refused`))
        else resolve()
      }
      this.socket.write(encodeSubscribe(1, topic, qos))
    })
  }

  /** Writes and reports whether the socket can take more now (false: wait for 'drain'). */
  write (bytes: Buffer): boolean {
    return this.socket.write(bytes)
  }

  waitDrain (): Promise<void> {
    return new Promise(resolve => {
      if (!this.socket.writableNeedDrain || this.closed) return resolve()
      const done = (): void => { this.socket.off('drain', done); this.socket.off('close', done); resolve() }
      this.socket.on('drain', done)
      this.socket.on('close', done)
    })
  }

  end (graceful: boolean): void {
    if (this.closed) return
    if (graceful) this.socket.end(Buffer.from([0xe0, 0]))
    else this.socket.destroy()
  }
}

/** Opens `count` connections with at most `concurrency` handshakes in flight at a time. */
export async function openMany (
  count: number,
  concurrency: number,
  optsFor: (i: number) => ConnectOptions,
  onEach: (i: number, conn: BenchConn | null, ns: number, err?: unknown) => void,
  clock: () => number
): Promise<void> {
  let next = 0
  const lane = async (): Promise<void> => {
    while (next < count) {
      const i = next++
      const t = clock()
      try {
        const conn = await BenchConn.open(optsFor(i))
        onEach(i, conn, clock() - t)
      } catch (err) {
        onEach(i, null, clock() - t, err)
      }
    }
  }
  await Promise.all(Array.from({ length: Math.min(concurrency, count) }, lane))
}
