// Reads a password: from a terminal without echo, or one line at a time from piped stdin
// (so scripts and tests can answer the prompts). Null at end of input or on Ctrl-C/Ctrl-D.
let buffered = ''
let ended = false
let waiter: (() => void) | null = null
let listening = false

function listenPiped (): void {
  if (listening) return
  listening = true
  process.stdin.setEncoding('utf8')
  process.stdin.on('data', (chunk: string) => { buffered += chunk; wake() })
  process.stdin.on('end', () => { ended = true; wake() })
}

function wake (): void {
  const w = waiter
  waiter = null
  w?.()
}

async function nextPipedLine (): Promise<string | null> {
  listenPiped()
  for (;;) {
    const nl = buffered.indexOf('\n')
    if (nl !== -1) {
      const line = buffered.slice(0, nl).replace(/\r$/, '')
      buffered = buffered.slice(nl + 1)
      if (buffered === '' && !ended) process.stdin.pause()
      return line
    }
    if (ended) {
      const rest = buffered
      buffered = ''
      return rest === '' ? null : rest
    }
    process.stdin.resume()
    await new Promise<void>(resolve => { waiter = resolve })
  }
}

function readFromTerminal (prompt: string): Promise<string | null> {
  return new Promise(resolve => {
    const stdin = process.stdin
    process.stderr.write(prompt)
    stdin.setRawMode(true)
    stdin.setEncoding('utf8')
    stdin.resume()
    let value = ''
    const finish = (result: string | null): void => {
      stdin.removeListener('data', onData)
      stdin.setRawMode(false)
      stdin.pause()
      process.stderr.write('\n')
      resolve(result)
    }
    const onData = (chunk: string): void => {
      for (const ch of chunk) {
        if (ch === '\r' || ch === '\n') return finish(value)
        if (ch === '\u0003' || ch === '\u0004') return finish(null)
        if (ch === '\u007f' || ch === '\b') value = value.slice(0, -1)
        else value += ch
      }
    }
    stdin.on('data', onData)
  })
}

export async function readPassword (prompt: string): Promise<string | null> {
  if (process.stdin.isTTY) return await readFromTerminal(prompt)
  process.stderr.write(prompt)
  const line = await nextPipedLine()
  process.stderr.write('\n')
  return line
}
