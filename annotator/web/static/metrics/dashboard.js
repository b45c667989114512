/* Project dashboard: fetches /api/v1/projects/{id}/metrics and draws it with Chart.js.
   The charts are kept in window.dashboardCharts and the figures in window.dashboardData,
   so what is drawn can be checked against the API. */
(function () {
  "use strict";

  const root = document.getElementById("dashboard");
  const statusLine = document.getElementById("status");
  const charts = {};
  window.dashboardCharts = charts;

  const COLORS = ["#2563eb", "#16a34a", "#ea580c", "#9333ea", "#0891b2", "#dc2626", "#ca8a04"];

  function fmt(value, digits) {
    if (value === null || value === undefined) return "–";
    return Number(value).toLocaleString(undefined, { maximumFractionDigits: digits });
  }

  function pct(value) {
    return value === null || value === undefined ? "–" : fmt(100 * value, 1) + " %";
  }

  function query() {
    const form = new FormData(document.getElementById("filters"));
    const params = new URLSearchParams();
    for (const [key, value] of form.entries()) if (value) params.set(key, value);
    return params.toString();
  }

  function draw(name, config) {
    if (charts[name]) charts[name].destroy();
    config.options = Object.assign(
      { responsive: true, maintainAspectRatio: false, animation: false,
        interaction: { mode: "index", intersect: false } },
      config.options || {}
    );
    charts[name] = new window.Chart(document.getElementById("chart-" + name), config);
  }

  function tiles(data) {
    const s = data.summary;
    const items = [
      ["Targets accepted", fmt(s.targets, 0)],
      ["Targets per active hour", fmt(s.throughput_per_hour, 1)],
      ["Median time per target", fmt(s.median_active_seconds, 0) + " s"],
      ["Mean Dice, model vs accepted", fmt(s.mean_dice, 3)],
      ["Accepted unchanged", pct(s.unchanged_rate)],
      ["Time saved", fmt(s.time_saved_hours, 1) + " h"],
      ["Time saved vs manual", s.time_saved_percent === null ? "–" : fmt(s.time_saved_percent, 1) + " %"],
      ["Accepted with a flagged model mask", fmt(s.flagged_targets, 0) + " (not in time saved)"],
      ["Reworked after review", pct(s.rework_rate)],
    ];
    document.getElementById("tiles").innerHTML = items
      .map(([name, value]) =>
        `<div class="tile"><div class="value">${value}</div><div class="name">${name}</div></div>`)
      .join("");
  }

  function table(id, rows, keyTitle) {
    const columns = [
      [keyTitle, (r) => r.label],
      ["targets", (r) => fmt(r.targets, 0)],
      ["median s/target", (r) => fmt(r.median_active_seconds, 1)],
      ["targets/h", (r) => fmt(r.throughput_per_hour, 2)],
      ["mean Dice", (r) => fmt(r.mean_dice, 3)],
      ["unchanged", (r) => pct(r.unchanged_rate)],
      ["flagged", (r) => pct(r.flagged_rate)],
      ["re-prompts/target", (r) => fmt(r.reprompts_per_target, 2)],
      ["rework", (r) => pct(r.rework_rate)],
      ["saved h", (r) => fmt(r.time_saved_hours, 2)],
      ["saved %", (r) => fmt(r.time_saved_percent, 1)],
    ];
    // Built with textContent: labels are user names and must never be parsed as HTML.
    const el = document.getElementById(id);
    el.replaceChildren();
    const head = el.insertRow();
    for (const [title] of columns) {
      const th = document.createElement("th");
      th.textContent = title;
      head.appendChild(th);
    }
    for (const row of rows) {
      const tr = el.insertRow();
      for (const [, cell] of columns) tr.insertCell().textContent = cell(row);
    }
  }

  // Pre-segmentation checks per model version: every model mask made, accepted or not.
  function checks(rows) {
    const el = document.getElementById("table-checks");
    el.replaceChildren();
    const head = el.insertRow();
    for (const title of ["model", "masks", "flagged", "share", "by check"]) {
      const th = document.createElement("th");
      th.textContent = title;
      head.appendChild(th);
    }
    for (const r of rows) {
      const tr = el.insertRow();
      tr.dataset.model = String(r.key);
      const codes = Object.entries(r.codes).map(([c, n]) => `${c.replace("_", " ")} ${n}`);
      for (const value of [r.label, fmt(r.masks, 0), fmt(r.flagged, 0), pct(r.flagged_rate),
        codes.join(", ") || "–"]) tr.insertCell().textContent = value;
    }
  }

  function render(data) {
    window.dashboardData = data;
    tiles(data);
    checks(data.model_checks || []);
    const rounds = data.by_round;
    draw("rounds", {
      type: "bar",
      data: {
        labels: rounds.map((r) => r.label),
        datasets: [
          { label: "median s per target", data: rounds.map((r) => r.median_active_seconds),
            backgroundColor: COLORS[0] },
          { label: "mean s per target", data: rounds.map((r) => r.mean_active_seconds),
            backgroundColor: "#93c5fd" },
          { type: "line", label: "manual baseline (s)",
            data: rounds.map(() => data.baseline.seconds), borderColor: COLORS[5],
            borderDash: [6, 4], pointRadius: 0, order: 0 },
        ],
      },
      options: { scales: { y: { beginAtZero: true, title: { display: true, text: "seconds" } } } },
    });
    const aiRounds = rounds.filter((r) => r.key !== null);
    draw("quality", {
      type: "line",
      data: {
        labels: aiRounds.map((r) => r.label),
        datasets: [
          { label: "mean Dice", data: aiRounds.map((r) => r.mean_dice), borderColor: COLORS[1],
            backgroundColor: COLORS[1] },
          { label: "accepted unchanged", data: aiRounds.map((r) => r.unchanged_rate),
            borderColor: COLORS[2], backgroundColor: COLORS[2] },
        ],
      },
      options: { scales: { y: { min: 0, max: 1 } } },
    });
    const days = data.by_day;
    draw("days", {
      type: "bar",
      data: {
        labels: days.map((d) => d.label),
        datasets: [
          { label: "targets accepted", data: days.map((d) => d.targets),
            backgroundColor: "#93c5fd", yAxisID: "y", order: 2 },
          { type: "line", label: "targets per active hour",
            data: days.map((d) => d.throughput_per_hour), borderColor: COLORS[2],
            backgroundColor: COLORS[2], yAxisID: "y1", order: 1 },
        ],
      },
      options: { scales: { y: { beginAtZero: true, position: "left" },
                           y1: { beginAtZero: true, position: "right", grid: { drawOnChartArea: false } } } },
    });
    let total = 0;
    const cumulative = days.map((d) => (total += d.time_saved_hours || 0));
    draw("saved", {
      type: "line",
      data: {
        labels: days.map((d) => d.label),
        datasets: [{ label: "hours saved (cumulative)", data: cumulative, fill: true,
                     borderColor: COLORS[1], backgroundColor: "rgba(22,163,74,0.15)" }],
      },
      options: { scales: { y: { beginAtZero: true } } },
    });
    const people = data.by_annotator;
    draw("annotators", {
      type: "bar",
      data: {
        labels: people.map((p) => p.label),
        datasets: [
          { label: "median s per target", data: people.map((p) => p.median_active_seconds),
            backgroundColor: COLORS[3], xAxisID: "x" },
          { label: "targets per active hour", data: people.map((p) => p.throughput_per_hour),
            backgroundColor: COLORS[4], xAxisID: "x1" },
        ],
      },
      options: { indexAxis: "y",
                 scales: { x: { beginAtZero: true, position: "bottom" },
                           x1: { beginAtZero: true, position: "top", grid: { drawOnChartArea: false } } } },
    });
    table("table-rounds", rounds, "round");
    table("table-annotators", people, "annotator");
    const b = data.baseline;
    document.getElementById("baseline-note").textContent =
      `Manual baseline: ${fmt(b.seconds, 1)} s per target (` +
      (b.source === "measured"
        ? `median of ${b.manual_targets} targets annotated without AI`
        : `project setting; ${b.manual_targets} targets annotated without AI, ` +
          `${b.min_manual_targets} needed to measure it`) + ").";
    const pending = data.outcomes_pending
      ? ` ${data.outcomes_pending} accepted target(s) are still being measured.` : "";
    statusLine.textContent = data.summary.targets
      ? `Updated ${new Date(data.generated_at).toLocaleString()}.${pending}`
      : "No accepted targets yet." + pending;
    statusLine.classList.remove("error");
    root.dataset.ready = "true";
  }

  async function load() {
    const qs = query();
    for (const [id, key] of [["csv-metrics", "csvUrl"], ["csv-targets", "targetsCsvUrl"],
                             ["csv-cases", "casesCsvUrl"]]) {
      document.getElementById(id).href = root.dataset[key] + (qs ? "?" + qs : "");
    }
    statusLine.textContent = "Loading…";
    try {
      const response = await fetch(root.dataset.metricsUrl + (qs ? "?" + qs : ""), {
        credentials: "same-origin", headers: { Accept: "application/json" },
      });
      const body = await response.json();
      if (!response.ok) throw new Error(body.detail || response.statusText);
      render(body);
    } catch (error) {
      statusLine.textContent = "Could not load the figures: " + error.message;
      statusLine.classList.add("error");
      root.dataset.ready = "error";
    }
  }

  document.getElementById("filters").addEventListener("submit", (event) => {
    event.preventDefault();
    load();
  });
  load();
})();
