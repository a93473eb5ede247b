// Bytes in and out over all client sockets, read off the sockets when /metrics is scraped
// (nothing is counted per packet).
import type { Socket } from 'node:net'

export class Traffic {
  private closedRead = 0
  private closedWritten = 0
  private readonly live = new Set<Socket>()

  track (socket: Socket): void {
    this.live.add(socket)
    socket.once('close', () => {
      this.live.delete(socket)
      this.closedRead += socket.bytesRead
      this.closedWritten += socket.bytesWritten
    })
  }

  totals (): { read: number, written: number } {
    let read = this.closedRead
    let written = this.closedWritten
    for (const s of this.live) {
      read += s.bytesRead
      written += s.bytesWritten
    }
    return { read, written }
  }
}
