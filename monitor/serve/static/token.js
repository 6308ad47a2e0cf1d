// Token page charts (uPlot, shipped with the package): OI per venue vs TVL, on-chain activity, funding
// with cap lines, long/short, RSI with 70/80/90, liquidations, perp vs spot volume. Events are labelled
// vertical markers; dragging zooms every chart together (uPlot's cursor sync), a double-click zooms out.
(function () {
  "use strict";
  var COLORS = ["#1f77b4", "#d62728", "#2ca02c", "#9467bd", "#ff7f0e", "#17becf", "#8c564b", "#e377c2"];
  var root = document.getElementById("charts");
  var plots = [];
  if (!root || typeof uPlot === "undefined") { return; }

  function usd(v) {
    if (v == null) { return ""; }
    var a = Math.abs(v), units = [[1e12, "T"], [1e9, "B"], [1e6, "M"], [1e3, "K"]];
    for (var i = 0; i < units.length; i++) { if (a >= units[i][0]) { return "$" + (v / units[i][0]).toFixed(1) + units[i][1]; } }
    return "$" + v.toFixed(0);
  }
  function pct(v) { return v == null ? "" : (v * 100).toFixed(3) + "%"; }
  function num(v) { return v == null ? "" : (Math.abs(v) >= 1000 ? v.toFixed(0) : v.toPrecision(3)); }

  // lines: [{name, pairs: {t, v}, scale, dash, color}]
  function join(lines) {
    var tables = lines.map(function (l) { return [l.pairs.t, l.pairs.v]; });
    return uPlot.join(tables);
  }

  function eventsPlugin(events) {
    return {hooks: {draw: [function (u) {
      var ctx = u.ctx, top = u.bbox.top, h = u.bbox.height;
      ctx.save();
      ctx.font = Math.round(10 * devicePixelRatio) + "px sans-serif";
      events.forEach(function (e, i) {
        var x = Math.round(u.valToPos(e.t, "x", true));
        if (x < u.bbox.left || x > u.bbox.left + u.bbox.width) { return; }
        ctx.strokeStyle = "#b8860b"; ctx.setLineDash([4, 3]); ctx.lineWidth = devicePixelRatio;
        ctx.beginPath(); ctx.moveTo(x, top); ctx.lineTo(x, top + h); ctx.stroke();
        ctx.fillStyle = "#8a6500"; ctx.fillText(e.label, x + 3, top + 12 * devicePixelRatio * (1 + (i % 3)));
      });
      ctx.restore();
    }]}};
  }

  function levelsPlugin(levels) {
    return {hooks: {draw: [function (u) {
      var ctx = u.ctx;
      ctx.save(); ctx.setLineDash([2, 4]); ctx.lineWidth = devicePixelRatio;
      levels.forEach(function (lv) {
        var y = Math.round(u.valToPos(lv, "y", true));
        ctx.strokeStyle = lv >= 90 ? "#b00020" : lv >= 80 ? "#d9480f" : "#e8a200";
        ctx.beginPath(); ctx.moveTo(u.bbox.left, y); ctx.lineTo(u.bbox.left + u.bbox.width, y); ctx.stroke();
      });
      ctx.restore();
    }]}};
  }

  function chart(id, title, lines, opts) {
    lines = lines.filter(function (l) { return l.pairs && l.pairs.t && l.pairs.t.length; });
    var box = document.createElement("figure");
    box.className = "chart"; box.id = "chart-" + id;
    var cap = document.createElement("figcaption"); cap.textContent = title; box.appendChild(cap);
    root.appendChild(box);
    if (!lines.length) {
      var none = document.createElement("p"); none.className = "muted"; none.textContent = "no data stored";
      box.appendChild(none); box.dataset.points = "0"; return;
    }
    var scales = {x: {time: true}}, axes = [{}], seen = {};
    lines.forEach(function (l) {
      var s = l.scale || "y";
      if (!seen[s]) {
        seen[s] = true; scales[s] = s === "rsi" ? {range: [0, 100]} : {};
        axes.push({scale: s, side: Object.keys(seen).length > 1 ? 1 : 3, size: 70,
                   values: function (u, vals) { return vals.map(l.fmt || num); }});
      }
    });
    var series = [{}].concat(lines.map(function (l, i) {
      return {label: l.name, scale: l.scale || "y", stroke: l.color || COLORS[i % COLORS.length], width: 1.5,
              dash: l.dash, spanGaps: true, value: function (u, v) { return (l.fmt || num)(v); }};
    }));
    var plugins = [eventsPlugin(opts.events || [])];
    if (opts.levels) { plugins.push(levelsPlugin(opts.levels)); }
    var data = join(lines);
    var width = Math.max(320, root.clientWidth - 8);
    var u = new uPlot({width: width, height: 240, scales: scales, axes: axes, series: series, plugins: plugins,
                       // one sync key: the cursor and a drag-zoom on any chart apply to all of them
                       cursor: {sync: {key: "divmon"}, drag: {x: true, y: false}}}, data, box);
    box.dataset.points = String(data[0].length);
    plots.push(u);
  }

  function venues(map, fmt, scale, extra) {
    return Object.keys(map || {}).sort().map(function (k) {
      return Object.assign({name: k, pairs: map[k], fmt: fmt, scale: scale}, extra || {});
    });
  }

  function capLines(caps) {
    var out = [];
    Object.keys(caps || {}).sort().forEach(function (k) {
      var p = caps[k];
      out.push({name: k + " cap", pairs: p, fmt: pct, dash: [6, 4], color: "#999"});
      out.push({name: k + " -cap", pairs: {t: p.t, v: p.v.map(function (x) { return -x; })}, fmt: pct,
                dash: [6, 4], color: "#999"});
    });
    return out;
  }

  function draw(c) {
    plots.forEach(function (p) { p.destroy(); });
    plots = [];
    root.textContent = "";
    var ev = {events: c.events};
    chart("oi", "Open interest per venue vs TVL (USD)",
          venues(c.oi_by_venue, usd, "usd").concat([{name: "TVL", pairs: c.tvl, fmt: usd, scale: "usd",
                                                     color: "#000", width: 2}]), ev);
    chart("onchain", "Active addresses and dev activity",
          [{name: "active addresses", pairs: c.active_addresses, scale: "addr"},
           {name: "dev activity", pairs: c.dev_activity, scale: "dev", color: "#2ca02c"}], ev);
    chart("funding", "Funding per 8h by venue, with caps", venues(c.funding, pct, "y").concat(capLines(c.funding_cap)), ev);
    chart("longshort", "Long/short account ratio", venues(c.long_short, num, "y"), ev);
    chart("rsi", "RSI(14) with 70 / 80 / 90", [{name: "RSI", pairs: c.rsi, scale: "rsi"}],
          {events: c.events, levels: c.rsi_levels});
    chart("liq", "Liquidations (USD)", [{name: "long liquidations", pairs: c.liq_long, fmt: usd, scale: "usd"},
                                        {name: "short liquidations", pairs: c.liq_short, fmt: usd, scale: "usd"}], ev);
    chart("volume", "Perp vs spot volume (USD)", venues(c.volume, usd, "usd"), ev);
    root.dataset.drawn = String(plots.length);
    window.divmonCharts = plots;  // for tests and the console
  }

  function load() {
    fetch(root.dataset.chartsUrl, {cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(new Error("HTTP " + r.status)); })
      .then(draw)
      .catch(function (e) { root.textContent = "charts unavailable: " + e.message; root.dataset.drawn = "error"; });
  }

  document.addEventListener("divmon:refreshed", load);
  load();
})();
