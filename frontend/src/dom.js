// A few DOM helpers (no framework: the page is one tool, updated in place).

export function h(tag, attrs = {}, ...children) {
  const el = document.createElement(tag)
  for (const [k, v] of Object.entries(attrs || {})) {
    if (v === false || v == null) continue
    if (k === 'class') el.className = v
    else if (k === 'dataset') Object.assign(el.dataset, v)
    else if (k.startsWith('on') && typeof v === 'function') el.addEventListener(k.slice(2), v)
    else if (k === 'style' && typeof v === 'object') Object.assign(el.style, v)
    else if (v === true) el.setAttribute(k, '')
    else el.setAttribute(k, v)
  }
  for (const c of children.flat()) {
    if (c == null || c === false) continue
    el.append(c instanceof Node ? c : document.createTextNode(String(c)))
  }
  return el
}

export function hexToRgb(hex) {
  const m = /^#?([0-9a-f]{6})$/i.exec(hex || '')
  if (!m) return [255, 64, 64]
  const n = parseInt(m[1], 16)
  return [(n >> 16) & 255, (n >> 8) & 255, n & 255]
}

/** Post a form the classic way (a page navigation carrying the CSRF token). */
export function postForm(url, csrfToken, fields = {}) {
  const form = h('form', { method: 'post', action: url, style: { display: 'none' } },
    h('input', { type: 'hidden', name: 'csrfmiddlewaretoken', value: csrfToken }),
    ...Object.entries(fields).map(([name, value]) => h('input', { type: 'hidden', name, value })))
  document.body.append(form)
  form.submit()
}
