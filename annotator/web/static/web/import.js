// The import page (web/import.html): folders, zips and NIfTI files go to the import API
// (POST /api/v1/projects/{id}/cases/, multipart `files` + optional `targets`), one upload per
// dropped file or folder, one after another, each with its progress and the API's answer:
// the cases created, what was skipped and why, the notes, or the refusal and its reason.
// With a targets CSV everything goes in one upload: its rows name cases across the files.
(() => {
  const root = document.getElementById('importer')
  if (!root) return
  const $ = (sel) => root.querySelector(sel)
  const api = root.dataset.api
  const csrf = root.dataset.csrf
  const maxBytes = Number(root.dataset.maxBytes)
  const body = $('[data-queue] tbody')
  const uploads = [] // {name, files, state, sent, total, result, error, row}
  let running = false

  const el = (tag, attrs = {}, ...children) => {
    const node = document.createElement(tag)
    for (const [k, v] of Object.entries(attrs)) {
      if (v == null || v === false) continue
      if (k === 'class') node.className = v
      else node.setAttribute(k, v)
    }
    for (const c of children.flat()) if (c != null && c !== false) node.append(c instanceof Node ? c : document.createTextNode(String(c)))
    return node
  }
  const size = (n) => (n >= 1 << 30 ? `${(n / (1 << 30)).toFixed(1)} GiB` : n >= 1 << 20 ? `${(n / (1 << 20)).toFixed(1)} MiB` : `${Math.max(1, Math.round(n / 1024))} KiB`)
  const bytes = (files) => files.reduce((s, f) => s + f.size, 0)

  function add(name, files) {
    if (!files.length) return
    const upload = { name, files, state: 'queued', sent: 0, total: bytes(files), result: null, error: null }
    upload.row = el('tr', { 'data-upload': name })
    uploads.push(upload)
    body.append(upload.row)
    render(upload)
    refresh()
  }

  // ------------------------------------------------------------------ choosing and dropping

  $('[data-files]').addEventListener('change', (e) => {
    for (const f of e.target.files) add(f.name, [f])
    e.target.value = ''
  })
  $('[data-folder]').addEventListener('change', (e) => {
    const folders = new Map() // the top folder of each file (webkitRelativePath)
    for (const f of e.target.files) {
      const top = (f.webkitRelativePath || f.name).split('/')[0]
      if (!folders.has(top)) folders.set(top, [])
      folders.get(top).push(f)
    }
    for (const [name, files] of folders) add(`${name}/`, files)
    e.target.value = ''
  })

  const zone = $('[data-dropzone]')
  zone.addEventListener('dragover', (e) => { e.preventDefault(); zone.classList.add('over') })
  zone.addEventListener('dragleave', () => zone.classList.remove('over'))
  zone.addEventListener('drop', async (e) => {
    e.preventDefault()
    zone.classList.remove('over')
    const entries = [...(e.dataTransfer.items || [])].map((i) => i.webkitGetAsEntry?.()).filter(Boolean)
    if (!entries.length) {
      for (const f of e.dataTransfer.files) add(f.name, [f])
      return
    }
    for (const entry of entries) {
      if (entry.isDirectory) add(`${entry.name}/`, await filesIn(entry))
      else add(entry.name, [await fileOf(entry)])
    }
  })

  const fileOf = (entry) => new Promise((resolve, reject) => entry.file(resolve, reject))
  async function filesIn(dir) {
    const reader = dir.createReader()
    const found = []
    for (;;) { // readEntries answers in batches until it answers none
      const batch = await new Promise((resolve, reject) => reader.readEntries(resolve, reject))
      if (!batch.length) break
      for (const entry of batch) {
        if (entry.isDirectory) found.push(...(await filesIn(entry)))
        else found.push(await fileOf(entry))
      }
    }
    return found
  }

  // ------------------------------------------------------------------ uploading

  $('[data-start]').addEventListener('click', start)
  $('[data-clear]').addEventListener('click', () => {
    for (const u of uploads.splice(0)) u.row.remove()
    refresh()
  })

  async function start() {
    if (running) return
    const csv = $('[data-targets]').files[0] || null
    let todo = uploads.filter((u) => u.state === 'queued')
    if (csv && todo.length > 1) { // one import: the CSV's rows name cases in every file
      for (const u of todo) { uploads.splice(uploads.indexOf(u), 1); u.row.remove() }
      add(todo.map((u) => u.name).join(' + '), todo.flatMap((u) => u.files))
      todo = uploads.filter((u) => u.state === 'queued')
    }
    running = true
    refresh()
    for (const upload of todo) await send(upload, csv)
    running = false
    refresh()
  }

  function send(upload, csv) {
    return new Promise((resolve) => {
      const total = upload.total + (csv ? csv.size : 0)
      if (total > maxBytes) {
        finish(upload, 'refused', null, `${size(total)} is over this server's import limit of ${size(maxBytes)}; send fewer files at a time`)
        return resolve()
      }
      const form = new FormData()
      for (const f of upload.files) form.append('files', f, f.name)
      if (csv) form.append('targets', csv, csv.name)
      const xhr = new XMLHttpRequest()
      xhr.open('POST', api)
      xhr.setRequestHeader('X-CSRFToken', csrf)
      xhr.setRequestHeader('Accept', 'application/json')
      xhr.upload.addEventListener('progress', (e) => {
        upload.state = e.loaded >= e.total ? 'processing' : 'uploading'
        upload.sent = e.loaded
        upload.total = e.total
        render(upload)
      })
      xhr.upload.addEventListener('load', () => { upload.state = 'processing'; render(upload) })
      xhr.addEventListener('load', () => {
        let data = null
        try { data = JSON.parse(xhr.responseText) } catch { data = null }
        if (xhr.status === 200 || xhr.status === 201) finish(upload, 'done', data)
        else finish(upload, 'refused', null, (data && data.detail) || `HTTP ${xhr.status} ${xhr.statusText}`, data && data.code)
        resolve()
      })
      xhr.addEventListener('error', () => { finish(upload, 'refused', null, 'no answer from the server (network error); try again'); resolve() })
      upload.state = 'uploading'
      render(upload)
      xhr.send(form)
    })
  }

  function finish(upload, state, result, error = null, code = null) {
    Object.assign(upload, { state, result, error, code })
    render(upload)
    refresh()
  }

  // ------------------------------------------------------------------ drawing

  function render(u) {
    const pct = u.total ? Math.round((100 * u.sent) / u.total) : 0
    const bar = el('div', { class: `upload-bar${u.state === 'processing' ? ' indeterminate' : u.state === 'done' ? ' ok' : u.state === 'refused' ? ' refused' : ''}`, role: 'progressbar', 'aria-valuenow': String(pct) },
      el('span', { style: `width: ${u.state === 'uploading' ? pct : 0}%` }))
    const label = { queued: 'waiting', uploading: `uploading ${pct}%`, processing: 'importing on the server…', done: 'done', refused: 'refused' }[u.state]
    u.row.dataset.state = u.state
    u.row.replaceChildren(
      el('td', {}, u.name),
      el('td', { class: 'num' }, String(u.files.length)),
      el('td', { class: 'num' }, size(bytes(u.files))),
      el('td', {}, bar, el('span', { class: 'muted' }, label)),
      el('td', { class: 'result' }, result(u)))
  }

  function result(u) {
    if (u.state === 'refused') return el('div', { class: 'refused', 'data-refused': u.code || '' }, `Refused${u.code ? ` (${u.code})` : ''}: ${String(u.error).replace(/\.\s*$/, '')}. Nothing from this upload was kept.`)
    if (u.state !== 'done' || !u.result) return ''
    const { created = [], skipped = [], notes = [], targets = 0 } = u.result
    return el('div', {},
      created.length
        ? el('div', { 'data-created': String(created.length) }, `Imported ${created.length} case${created.length > 1 ? 's' : ''}${targets ? `, ${targets} target${targets > 1 ? 's' : ''}` : ''}: `,
          ...created.flatMap((c, i) => [i ? ', ' : '', el('a', { href: `/cases/${c.id}/` }, c.study_id)]))
        : el('div', { 'data-created': '0' }, 'Nothing new imported.'),
      skipped.length ? el('div', { 'data-skipped': String(skipped.length) }, 'Skipped:', el('ul', {}, skipped.map((s) => el('li', {}, s)))) : '',
      notes.length ? el('div', { class: 'muted', 'data-notes': String(notes.length) }, 'Notes:', el('ul', {}, notes.map((n) => el('li', {}, n)))) : '')
  }

  function refresh() {
    $('[data-queue]').hidden = !uploads.length
    $('[data-start]').disabled = running || !uploads.some((u) => u.state === 'queued')
    $('[data-clear]').disabled = running || !uploads.length
    const count = (s) => uploads.filter((u) => u.state === s).length
    const cases = uploads.reduce((n, u) => n + (u.result?.created?.length || 0), 0)
    const skipped = uploads.reduce((n, u) => n + (u.result?.skipped?.length || 0), 0)
    $('[data-summary]').textContent = uploads.length
      ? `${uploads.length} upload${uploads.length > 1 ? 's' : ''}: ${cases} case${cases === 1 ? '' : 's'} imported, ${skipped} skipped, ${count('refused')} refused${count('queued') ? `, ${count('queued')} waiting` : ''}`
      : ''
  }
})()
