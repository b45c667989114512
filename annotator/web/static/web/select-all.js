// A "select all" checkbox (data-select-all="<name>") ticks every enabled checkbox of that name.
document.addEventListener("DOMContentLoaded", () => {
  document.querySelectorAll("[data-select-all]").forEach((box) => {
    box.addEventListener("change", () => {
      const name = box.dataset.selectAll;
      document
        .querySelectorAll(`input[name="${name}"]:not([disabled])`)
        .forEach((c) => { c.checked = box.checked; });
    });
  });
});
