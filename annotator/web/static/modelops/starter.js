// Live progress of the starter model's training on the models page: poll its JSON every 3 s
// while it runs; when it ends, reload the page (the new model appears in the registry).
(function () {
  function poll(card) {
    fetch(card.dataset.url, { credentials: "same-origin" })
      .then((r) => (r.ok ? r.json() : Promise.reject(r.status)))
      .then((p) => {
        const status = card.querySelector('[data-field="status"]');
        status.textContent = p.status_display || p.status;
        status.className = `status s-${p.status}`;
        card.querySelector('[data-field="line"]').textContent = p.line || "";
        const bar = card.querySelector('[data-field="bar"]');
        if (bar && p.total) {
          bar.max = p.total;
          bar.value = p.step;
        }
        if (p.active) setTimeout(() => poll(card), 3000);
        else setTimeout(() => location.reload(), 500);
      })
      .catch(() => setTimeout(() => poll(card), 10000));
  }
  document.addEventListener("DOMContentLoaded", () => {
    const card = document.getElementById("starter");
    if (card && card.dataset.active === "1") setTimeout(() => poll(card), 3000);
  });
})();
