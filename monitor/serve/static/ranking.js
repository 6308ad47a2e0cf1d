// Ranking table: client-side filters (label, minimum severity, symbol) and sorting by any column.
(function () {
  "use strict";
  var SEV = {"": -1, info: 0, warn: 1, high: 2, critical: 3};
  var sortCol = null, sortDir = 1;

  function rows() { return Array.prototype.slice.call(document.querySelectorAll("#ranking-body tr[data-token]")); }

  function applyFilters() {
    var label = document.getElementById("filter-label").value;
    var sev = document.getElementById("filter-severity").value;
    var text = document.getElementById("filter-text").value.trim().toUpperCase();
    var shown = 0, all = rows();
    all.forEach(function (tr) {
      var ok = (!label || tr.dataset.label === label) &&
               (!sev || SEV[tr.dataset.severity || ""] >= SEV[sev]) &&
               (!text || tr.dataset.token.toUpperCase().indexOf(text) !== -1);
      tr.hidden = !ok;
      if (ok) { shown += 1; }
    });
    document.getElementById("shown-count").textContent = shown + " of " + all.length + " shown";
  }

  function value(tr, col, kind) {
    var v = tr.children[col].dataset.v;
    if (kind === "num") { return parseFloat(v); }
    if (kind === "sev") { return SEV[v || ""]; }
    return v.toUpperCase();
  }

  function applySort() {
    if (sortCol === null) { return; }
    var kind = document.querySelectorAll("#ranking thead th")[sortCol].dataset.sort;
    var body = document.getElementById("ranking-body");
    rows().sort(function (a, b) {
      var x = value(a, sortCol, kind), y = value(b, sortCol, kind);
      return (x < y ? -1 : x > y ? 1 : 0) * sortDir;
    }).forEach(function (tr) { body.appendChild(tr); });
  }

  document.querySelectorAll("#ranking thead th").forEach(function (th, i) {
    th.tabIndex = 0;
    th.addEventListener("click", function () {
      sortDir = sortCol === i ? -sortDir : (th.dataset.sort === "text" ? 1 : -1);
      sortCol = i;
      document.querySelectorAll("#ranking thead th").forEach(function (h) { h.removeAttribute("aria-sort"); });
      th.setAttribute("aria-sort", sortDir > 0 ? "ascending" : "descending");
      applySort();
    });
  });
  ["filter-label", "filter-severity", "filter-text"].forEach(function (id) {
    document.getElementById(id).addEventListener("input", applyFilters);
    document.getElementById(id).addEventListener("change", applyFilters);
  });
  document.getElementById("filters").addEventListener("submit", function (e) { e.preventDefault(); });
  document.addEventListener("divmon:refreshed", function () { applySort(); applyFilters(); });
  applyFilters();
})();
