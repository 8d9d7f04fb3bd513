// snnbench report: sortable tables and the page's Vega-Lite charts.
// Everything it needs is on the page or beside it (vega.js); it fetches nothing.

function sortTable(table, column, header) {
  const ascending = header.dataset.order !== "asc";
  table.querySelectorAll("th").forEach((th) => delete th.dataset.order);
  header.dataset.order = ascending ? "asc" : "desc";
  const numeric = header.dataset.type === "number";
  const key = (row) => {
    const cell = row.cells[column];
    const value = cell.dataset.value !== undefined ? cell.dataset.value : cell.textContent.trim();
    return numeric ? (value === "" ? NaN : Number(value)) : value;
  };
  const body = table.tBodies[0];
  const rows = Array.from(body.rows);
  rows.sort((a, b) => {
    const x = key(a), y = key(b);
    if (numeric) {
      if (Number.isNaN(x)) return Number.isNaN(y) ? 0 : 1;  // rows without a value stay last
      if (Number.isNaN(y)) return -1;
      return ascending ? x - y : y - x;
    }
    return ascending ? x.localeCompare(y) : y.localeCompare(x);
  });
  rows.forEach((row) => body.appendChild(row));
}

document.querySelectorAll("table.sortable").forEach((table) => {
  table.querySelectorAll("thead th").forEach((header, column) => {
    header.addEventListener("click", () => sortTable(table, column, header));
  });
});

document.querySelectorAll("script[type='application/vnd.vegalite+json']").forEach((script) => {
  const target = document.getElementById(script.dataset.target);
  window.vegaEmbed(target, JSON.parse(script.textContent), { renderer: "svg", actions: false })
    .then(() => { target.dataset.drawn = "yes"; })
    .catch((error) => { target.textContent = "could not draw this chart: " + error; console.error(error); });
});
