// The REST API as the viewer uses it: session auth, CSRF header on writes, JSON errors.

export class ApiError extends Error {
  constructor(status, body) {
    super((body && (body.detail || JSON.stringify(body))) || `HTTP ${status}`)
    this.status = status
    this.body = body || {}
  }
  get code() {
    return this.body.code
  }
  /** Worth retrying: the server or something in front of it is briefly unavailable. */
  get transient() {
    return this.status >= 500 || this.status === 408 || this.status === 429
  }
}

/** The request never got an answer (server down, connection reset). Always worth retrying. */
export class NetworkError extends Error {
  get transient() {
    return true
  }
}

export function newKey() {
  if (globalThis.crypto?.randomUUID) return crypto.randomUUID()
  const b = crypto.getRandomValues(new Uint8Array(16))
  return Array.from(b, (x) => x.toString(16).padStart(2, '0')).join('')
}

export class Api {
  constructor({ base, csrfToken, fetchImpl }) {
    this.base = base.replace(/\/$/, '')
    this.csrfToken = csrfToken
    this.fetch = fetchImpl || ((...a) => globalThis.fetch(...a))
  }

  async raw(method, path, { body, headers = {} } = {}) {
    const h = { Accept: 'application/json', ...headers }
    if (method !== 'GET' && method !== 'HEAD') h['X-CSRFToken'] = this.csrfToken
    let response
    try {
      response = await this.fetch(this.base + path, { method, body, headers: h, credentials: 'same-origin' })
    } catch (err) {
      throw new NetworkError(`network error: ${err.message || err}`)
    }
    if (!response.ok) {
      let data = null
      try {
        data = await response.json()
      } catch {
        data = { detail: `${response.status} ${response.statusText}` }
      }
      throw new ApiError(response.status, data)
    }
    return response
  }

  async json(method, path, payload) {
    const init = payload === undefined ? {} : { body: JSON.stringify(payload), headers: { 'Content-Type': 'application/json' } }
    const response = await this.raw(method, path, init)
    if (response.status === 204) return null
    return response.json()
  }

  getCase(id) { return this.json('GET', `/cases/${id}/`) }
  targets(caseId) { return this.json('GET', `/cases/${caseId}/targets/`) }
  target(id) { return this.json('GET', `/targets/${id}/`) }
  revisions(targetId) { return this.json('GET', `/targets/${targetId}/revisions/?page_size=500`) }
  createTarget(caseId, body) { return this.json('POST', `/cases/${caseId}/targets/`, body) }
  changeTarget(id, body) { return this.json('PATCH', `/targets/${id}/`, body) }
  deleteTarget(id) { return this.json('DELETE', `/targets/${id}/`) }
  presegment(targetId, body) { return this.json('POST', `/targets/${targetId}/presegment`, body) }
  job(id) { return this.json('GET', `/jobs/${id}/`) }
  caseAction(caseId, action, body) { return this.json('POST', `/cases/${caseId}/${action}`, body ?? {}) }
  reviewTarget(targetId, body) { return this.json('POST', `/targets/${targetId}/review`, body) }
  image(caseId) { return this.raw('GET', `/cases/${caseId}/image`) }
  mask(targetId, revisionId) {
    return this.raw('GET', revisionId ? `/targets/${targetId}/revisions/${revisionId}/mask` : `/targets/${targetId}/mask`)
  }

  /** A new mask revision: raw uint8 voxels (x fastest, gzip) naming its parent. */
  async saveRevision(targetId, { parent, blob, shape, activeSeconds, note, key }) {
    const form = new FormData()
    form.append('parent', parent == null ? '' : String(parent))
    form.append('mask', blob, 'mask.raw.gz')
    form.append('shape', shape.join(','))
    if (activeSeconds != null) form.append('active_seconds', activeSeconds.toFixed(1))
    if (note) form.append('note', note)
    const response = await this.raw('POST', `/targets/${targetId}/revisions/`, { body: form, headers: { 'Idempotency-Key': key } })
    return response.json()
  }
}
