// The dashboard's charts: generated (declared) vs disposed by month, category and district.
// Data comes from the <script type="application/json" id="chart-data"> block the view
// renders; Chart.js is the vendored classic script (global Chart), loaded before this module.

const COLOURS = { declared: "#f39800", disposed: "#1f7a3a" };

function readData() {
  const block = document.getElementById("chart-data");
  if (!block) return null;
  try {
    return JSON.parse(block.textContent);
  } catch {
    return null;
  }
}

function labelsFor(series) {
  // Categories and districts read better with their names ("HW49 其他废物").
  if (!series.names) return series.keys;
  return series.keys.map((key, i) => (series.names[i] ? `${key} ${series.names[i]}` : key));
}

function draw(canvas, series, labels) {
  const phone = window.matchMedia("(max-width: 40rem)").matches;
  return new Chart(canvas, {
    type: "bar",
    data: {
      labels: labelsFor(series),
      datasets: [
        { label: labels.declared, data: series.declared, backgroundColor: COLOURS.declared },
        { label: labels.disposed, data: series.disposed, backgroundColor: COLOURS.disposed },
      ],
    },
    options: {
      responsive: true,
      maintainAspectRatio: false,
      animation: false,
      indexAxis: phone && series.names ? "y" : "x",
      plugins: { legend: { position: "bottom" } },
      scales: { x: { ticks: { autoSkip: true } }, y: { beginAtZero: true } },
    },
  });
}

function main() {
  const data = readData();
  if (!data || typeof Chart === "undefined") return;
  for (const canvas of document.querySelectorAll("canvas[data-chart]")) {
    const series = data[canvas.dataset.chart];
    if (!series) continue;
    if (series.keys.length === 0) {
      canvas.closest("figure")?.classList.add("empty");
      continue;
    }
    draw(canvas, series, data.labels);
    canvas.dataset.drawn = "1";
  }
  document.body.dataset.chartsReady = "1";
}

main();

// Sortable tables (the drill-down): a header button sorts by its column, again reverses.
for (const table of document.querySelectorAll("table.sortable")) {
  table.querySelectorAll("thead button[data-sort]").forEach((button, column) => {
    button.addEventListener("click", () => {
      const body = table.tBodies[0];
      const numeric = button.dataset.sort === "number";
      const descending = button.getAttribute("aria-sort") === "ascending";
      table.querySelectorAll("thead button").forEach((b) => b.removeAttribute("aria-sort"));
      button.setAttribute("aria-sort", descending ? "descending" : "ascending");
      const value = (row) => row.cells[column].dataset.value || "";
      const rows = [...body.rows].sort((a, b) => {
        const order = numeric ? Number(value(a)) - Number(value(b))
          : value(a).localeCompare(value(b), "zh-CN");
        return descending ? -order : order;
      });
      body.append(...rows);
    });
  });
}

// The case charts (问题整改): several series per chart, counts or percentages; their own
// canvases (data-case-chart) and data block, so the mass-balance charts stay as they are.
function drawCases() {
  const block = document.getElementById("case-chart-data");
  if (!block || typeof Chart === "undefined") return;
  let data;
  try { data = JSON.parse(block.textContent); } catch { return; }
  for (const canvas of document.querySelectorAll("canvas[data-case-chart]")) {
    const chart = data[canvas.dataset.caseChart];
    if (!chart || chart.keys.length === 0) continue;
    new Chart(canvas, {
      type: "bar",
      data: {
        labels: chart.keys,
        datasets: chart.series.map((s) => ({ label: s.label, data: s.data,
                                             backgroundColor: s.colour })),
      },
      options: {
        responsive: true, maintainAspectRatio: false, animation: false,
        plugins: { legend: { position: "bottom" } },
        scales: { y: chart.percent ? { beginAtZero: true, max: 100 }
                                   : { beginAtZero: true, ticks: { precision: 0 } } },
      },
    });
    canvas.dataset.drawn = "1";
  }
  document.body.dataset.caseChartsReady = "1";
}

drawCases();
