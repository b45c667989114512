// Live progress of training rounds on the rounds and round pages: one websocket per round row
// that is still running (ws/training-rounds/<id>/progress); a finished round reloads the page.
(function () {
  const ACTIVE = new Set(["queued", "training", "evaluating"]);
  function describe(event) {
    const p = event.progress || {};
    if (p.total) {
      const eta = p.eta_s ? `, about ${Math.round(p.eta_s)} s left` : "";
      return `step ${p.step} / ${p.total}, loss ${p.loss}${eta}`;
    }
    return event.message || "";
  }
  function watch(row) {
    const id = row.dataset.round;
    const status = row.querySelector('[data-field="status"]');
    if (!status || !ACTIVE.has(status.className.replace(/.* s-/, ""))) return;
    const scheme = location.protocol === "https:" ? "wss" : "ws";
    const ws = new WebSocket(`${scheme}://${location.host}/ws/training-rounds/${id}/progress`);
    ws.onmessage = (msg) => {
      const event = JSON.parse(msg.data);
      if (event.type !== "round") return;
      status.textContent = event.status;
      status.className = `status s-${event.status}`;
      const progress = row.querySelector('[data-field="progress"]');
      if (progress) progress.textContent = describe(event);
      const bar = row.querySelector('[data-field="bar"]');
      if (bar && event.progress && event.progress.total) {
        bar.max = event.progress.total;
        bar.value = event.progress.step;
      }
      if (!ACTIVE.has(event.status)) {
        ws.close();
        setTimeout(() => location.reload(), 500);
      }
    };
  }
  document.addEventListener("DOMContentLoaded", () => {
    document.querySelectorAll("#rounds [data-round]").forEach(watch);
  });
})();
