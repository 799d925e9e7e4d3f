// The dashboard's charts (Chart.js 4), drawn from the JSON the page embeds in #dashboard-data.
// Each series differs by point shape and line dash as well as colour; the tables under the charts
// carry the same numbers as text.
(function () {
  "use strict";
  const source = document.getElementById("dashboard-data");
  if (!source || typeof Chart === "undefined") return;
  const data = JSON.parse(source.textContent);
  const css = getComputedStyle(document.documentElement);
  const color = (name, fallback) => (css.getPropertyValue(name) || fallback).trim();
  const ink = color("--fg", "#1d2330"), muted = color("--muted", "#5d6675"), grid = color("--line", "#e6e8ec");

  Chart.defaults.font.family = getComputedStyle(document.body).fontFamily;
  Chart.defaults.color = muted;
  Chart.defaults.animation = false; // the numbers matter, not the motion (and screenshots stay stable)

  const fmt = (x, digits = 3) => (x === null || x === undefined ? "unknown" : Number(x).toFixed(digits));

  function qualityChart() {
    const canvas = document.getElementById("quality-chart");
    if (!canvas || !data.points.length) return;
    const points = data.points;
    const series = [
      { key: "f1", label: "F1", color: color("--accent", "#2457c5"), shape: "circle", dash: [] },
      { key: "precision", label: "Precision", color: color("--series-2", "#b45309"), shape: "triangle", dash: [6, 4] },
      { key: "recall", label: "Recall", color: color("--series-3", "#047857"), shape: "rect", dash: [2, 3] },
    ];
    const datasets = series.map((s) => ({
      label: s.label,
      data: points.filter((p) => p[s.key] !== null).map((p) => ({ x: p.labels_used, y: p[s.key], version: p.version, serving: p.serving })),
      borderColor: s.color,
      backgroundColor: s.color,
      borderDash: s.dash,
      borderWidth: s.key === "f1" ? 3 : 2,
      pointStyle: (ctx) => (ctx.raw && ctx.raw.serving ? "star" : s.shape),
      pointRadius: (ctx) => (ctx.raw && ctx.raw.serving ? 10 : 5),
      pointHoverRadius: 8,
      pointBorderWidth: (ctx) => (ctx.raw && ctx.raw.serving ? 2 : 1),
      tension: 0,
    }));
    new Chart(canvas, {
      type: "line",
      data: { datasets },
      options: {
        maintainAspectRatio: false,
        parsing: false,
        interaction: { mode: "nearest", intersect: false },
        scales: {
          x: { type: "linear", title: { display: true, text: "labels used for training" }, grid: { color: grid },
               ticks: { precision: 0 }, min: 0,
               suggestedMax: Math.max(10, ...points.map((p) => p.labels_used)) },
          y: { min: 0, max: 1, title: { display: true, text: "score on held-out target windows" }, grid: { color: grid } },
        },
        plugins: {
          legend: {
            labels: {
              usePointStyle: true,
              color: ink,
              // The legend shows each series' own shape, not the serving version's star.
              generateLabels: (chart) => Chart.defaults.plugins.legend.labels.generateLabels(chart)
                .map((item, i) => ({ ...item, pointStyle: series[i].shape })),
            },
          },
          tooltip: {
            callbacks: {
              title: (items) => {
                const raw = items[0].raw;
                return `v${raw.version}${raw.serving ? " (serving)" : ""} · ${raw.x} labels`;
              },
              label: (item) => `${item.dataset.label}: ${fmt(item.raw.y)}`,
            },
          },
        },
      },
    });
  }

  function histogram(id, hist, opts) {
    const canvas = document.getElementById(id);
    if (!canvas || !hist || !hist.counts || !hist.counts.length) return;
    const edges = hist.edges;
    const labels = hist.counts.map((_, i) => Number((edges[i] + edges[i + 1]) / 2).toPrecision(3));
    const base = opts.color, strong = opts.strong || opts.color;
    const above = (i) => opts.threshold !== undefined && edges[i] >= opts.threshold;
    new Chart(canvas, {
      type: "bar",
      data: {
        labels,
        datasets: [{
          label: "pool windows",
          data: hist.counts,
          backgroundColor: hist.counts.map((_, i) => (above(i) ? strong : base)),
          borderColor: hist.counts.map((_, i) => (above(i) ? ink : base)),
          borderWidth: hist.counts.map((_, i) => (above(i) ? 1 : 0)),
          barPercentage: 1.0,
          categoryPercentage: 0.96,
        }],
      },
      options: {
        maintainAspectRatio: false,
        scales: {
          x: { title: { display: true, text: opts.axis }, grid: { display: false }, ticks: { maxTicksLimit: 8 } },
          y: { type: opts.log ? "logarithmic" : "linear", title: { display: true, text: "windows" }, grid: { color: grid } },
        },
        plugins: {
          legend: { display: false },
          tooltip: {
            callbacks: {
              title: (items) => {
                const i = items[0].dataIndex;
                return `${Number(edges[i]).toPrecision(3)} to ${Number(edges[i + 1]).toPrecision(3)}`;
              },
              label: (item) => `${item.raw} windows${above(item.dataIndex) ? " (predicted anomalous)" : ""}`,
            },
          },
        },
      },
    });
  }

  qualityChart();
  if (data.hist) {
    histogram("free-energy-chart", data.hist.free_energy, { axis: "free energy F(V)", color: color("--series-4", "#7c3aed") });
    histogram("p-anomaly-chart", data.hist.p_anomaly, {
      axis: "p(anomaly)", color: color("--series-5", "#94a3b8"), strong: color("--bad", "#b42318"),
      threshold: data.hist.threshold, log: true,
    });
  }
})();
