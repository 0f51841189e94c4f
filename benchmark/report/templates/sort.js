// Sortable leaderboards: click a header to sort; metric columns start best-first
// (data-dir="lower" ascending, "higher" descending). Empty cells (failed, missing) stay last.
(function () {
  function key(cell) {
    if (!cell) return null;
    var v = cell.getAttribute("data-sort");
    if (v === null || v === "") return null;
    var n = parseFloat(v);
    return isNaN(n) ? v.toLowerCase() : n;
  }
  function cellAt(row, index) {  // the cell under a header, counting colspans
    var col = 0;
    for (var i = 0; i < row.cells.length; i++) {
      col += row.cells[i].colSpan || 1;
      if (col > index) return row.cells[i];
    }
    return null;
  }
  function sortBy(table, th, index) {
    var tbody = table.tBodies[0];
    var rows = Array.prototype.slice.call(tbody.rows);
    var current = th.getAttribute("aria-sort");
    var first = th.getAttribute("data-dir") === "higher" ? "descending" : "ascending";
    var order = current === first ? (first === "ascending" ? "descending" : "ascending") : first;
    var sign = order === "ascending" ? 1 : -1;
    rows.sort(function (a, b) {
      var ka = key(cellAt(a, index)), kb = key(cellAt(b, index));
      if (ka === null && kb === null) return 0;
      if (ka === null) return 1;
      if (kb === null) return -1;
      return ka < kb ? -sign : ka > kb ? sign : 0;
    });
    rows.forEach(function (r) { tbody.appendChild(r); });
    table.tHead.querySelectorAll("th[aria-sort]").forEach(function (h) { h.removeAttribute("aria-sort"); });
    th.setAttribute("aria-sort", order);
  }
  document.addEventListener("DOMContentLoaded", function () {
    document.querySelectorAll("table.sortable").forEach(function (table) {
      // data-col is the header's column in the body rows (variant group headers have none)
      table.tHead.querySelectorAll("th[data-col]").forEach(function (th) {
        var i = parseInt(th.getAttribute("data-col"), 10);
        th.addEventListener("click", function () { sortBy(table, th, i); });
      });
    });
  });
})();
