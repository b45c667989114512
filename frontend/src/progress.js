// Live pre-segmentation progress over the case's websocket, reconnecting when it drops. On
// (re)connect the server sends a snapshot of the case's jobs, so nothing is missed.

export class ProgressSocket {
  constructor(path, onMessage, onStatus = () => {}) {
    this.url = `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${path}`
    this.onMessage = onMessage
    this.onStatus = onStatus
    this.delay = 1
    this.closed = false
    this.connect()
  }

  connect() {
    if (this.closed) return
    const ws = new WebSocket(this.url)
    this.ws = ws
    ws.onopen = () => {
      this.delay = 1
      this.onStatus(true)
    }
    ws.onmessage = (event) => {
      try {
        this.onMessage(JSON.parse(event.data))
      } catch (err) {
        console.warn('bad progress message', err)
      }
    }
    ws.onclose = () => {
      this.onStatus(false)
      if (this.closed) return
      setTimeout(() => this.connect(), this.delay * 1000)
      this.delay = Math.min(this.delay * 2, 15)
    }
  }

  close() {
    this.closed = true
    this.ws?.close()
  }
}
