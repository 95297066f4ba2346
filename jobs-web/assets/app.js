// jobs dashboard: the live chart and "select all". No inline script is needed (strict CSP).
(function () {
  "use strict";

  function clamp(n, lo, hi) { return Math.min(hi, Math.max(lo, n)); }

  function live() {
    var box = document.getElementById("live");
    if (!box) return;
    var src = box.getAttribute("data-src");
    var secs = clamp(parseInt(box.getAttribute("data-interval"), 10) || 5, 2, 60);
    var pts = { processed: [], failed: [] };
    var last = null;
    var max = 60;

    function draw() {
      var all = pts.processed.concat(pts.failed);
      var top = Math.max(1, Math.max.apply(null, all.length ? all : [1]));
      ["processed", "failed"].forEach(function (k) {
        var line = document.getElementById("live-" + k);
        if (!line) return;
        var step = 600 / (max - 1);
        var start = max - pts[k].length; // newest point at the right edge
        line.setAttribute("points", pts[k].map(function (v, i) {
          return ((start + i) * step).toFixed(1) + "," + (148 - (v / top) * 140).toFixed(1);
        }).join(" "));
      });
    }

    function tick() {
      fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) { return r.ok ? r.json() : null; })
        .then(function (s) {
          if (!s) return;
          if (last) {
            pts.processed.push(Math.max(0, s.processed - last.processed));
            pts.failed.push(Math.max(0, s.failed - last.failed));
            if (pts.processed.length > max) { pts.processed.shift(); pts.failed.shift(); }
            draw();
          }
          last = s;
          document.querySelectorAll("[data-stat]").forEach(function (el) {
            var v = s[el.getAttribute("data-stat")];
            if (typeof v === "number") el.textContent = String(v);
          });
        })
        .catch(function () {});
    }
    tick();
    setInterval(tick, secs * 1000);
  }

  function selectAll() {
    document.querySelectorAll("input.select-all").forEach(function (box) {
      box.addEventListener("change", function () {
        var form = box.closest("form");
        if (!form) return;
        form.querySelectorAll("input[name=jid]").forEach(function (c) { c.checked = box.checked; });
      });
    });
  }

  document.addEventListener("DOMContentLoaded", function () { live(); selectAll(); });
})();
