// jobs dashboard: the live chart, "select all" and times in the viewer's zone. No inline
// script is needed (strict CSP).
(function () {
  "use strict";

  function clamp(n, lo, hi) { return Math.min(hi, Math.max(lo, n)); }

  function live() {
    var box = document.getElementById("live");
    if (!box) return;
    var src = box.getAttribute("data-src");
    var secs = clamp(parseInt(box.getAttribute("data-interval"), 10) || 5, 2, 60);
    var pts = { processed: [], failed: [], at: [] };
    var last = null;
    var max = 60;
    var status = document.getElementById("live-status");
    var hover = document.getElementById("live-hover");
    var svg = document.getElementById("live-chart");

    function say(text) {
      if (!status) return;
      status.textContent = text || "";
      status.hidden = !text;
    }

    function draw() {
      var all = pts.processed.concat(pts.failed);
      var top = Math.max(1, Math.max.apply(null, all.length ? all : [1]));
      var labels = document.querySelectorAll("#live-y span");
      if (labels.length === 3) {
        labels[0].textContent = String(top);
        labels[1].textContent = String(Math.round(top / 2));
        labels[2].textContent = "0";
      }
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

    // The values of the refresh under the pointer.
    if (svg && hover) {
      svg.addEventListener("mousemove", function (e) {
        var r = svg.getBoundingClientRect();
        if (!r.width) return;
        var slot = Math.round(((e.clientX - r.left) / r.width) * (max - 1));
        var i = slot - (max - pts.processed.length);
        if (i < 0 || i >= pts.processed.length) { hover.textContent = ""; return; }
        hover.textContent = pts.at[i].toLocaleTimeString() + ": " + pts.processed[i] +
          " processed, " + pts.failed[i] + " failed";
      });
      svg.addEventListener("mouseleave", function () { hover.textContent = ""; });
    }

    function tick() {
      fetch(src, { credentials: "same-origin", headers: { "Accept": "application/json" } })
        .then(function (r) {
          if (r.ok) return r.json();
          say("Live updates stopped: the server answered " + r.status +
            (r.status === 401 || r.status === 403 ? " (signed out?)" : "") +
            ". Trying again every " + secs + " s; reload the page to sign in again.");
          return null;
        })
        .then(function (s) {
          if (!s) return;
          say("");
          if (last) {
            pts.processed.push(Math.max(0, s.processed - last.processed));
            pts.failed.push(Math.max(0, s.failed - last.failed));
            pts.at.push(new Date());
            if (pts.processed.length > max) { pts.processed.shift(); pts.failed.shift(); pts.at.shift(); }
            draw();
          }
          last = s;
          document.querySelectorAll("[data-stat]").forEach(function (el) {
            var v = s[el.getAttribute("data-stat")];
            if (typeof v === "number") el.textContent = String(v);
          });
        })
        .catch(function () {
          say("Live updates stopped: the server does not answer. Trying again every " + secs + " s.");
        });
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

  // Times come in UTC (<time class="local" datetime=...>); show them in the viewer's zone,
  // or in the schedule's own (data-zone), and keep UTC on hover. Relative times
  // (<time class="rel">) keep their words and get the local time on hover.
  function localTimes() {
    var pad = function (n) { return (n < 10 ? "0" : "") + n; };
    function format(d, zone) {
      var opts = { year: "numeric", month: "2-digit", day: "2-digit", hour: "2-digit",
        minute: "2-digit", second: "2-digit", hour12: false, timeZoneName: "short" };
      if (zone) opts.timeZone = zone;
      try {
        var parts = {};
        new Intl.DateTimeFormat("en-GB", opts).formatToParts(d).forEach(function (p) {
          parts[p.type] = p.value;
        });
        return parts.year + "-" + parts.month + "-" + parts.day + " " +
          (parts.hour === "24" ? "00" : parts.hour) + ":" + parts.minute + ":" + parts.second +
          " " + parts.timeZoneName;
      } catch (e) {
        return d.getFullYear() + "-" + pad(d.getMonth() + 1) + "-" + pad(d.getDate()) + " " +
          pad(d.getHours()) + ":" + pad(d.getMinutes()) + ":" + pad(d.getSeconds());
      }
    }
    document.querySelectorAll("time[datetime]").forEach(function (el) {
      var d = new Date(el.getAttribute("datetime"));
      if (isNaN(d.getTime())) return;
      var utc = el.getAttribute("title") || el.textContent;
      if (el.classList.contains("local")) {
        el.textContent = format(d, el.getAttribute("data-zone"));
        el.setAttribute("title", utc);
      } else if (el.classList.contains("rel")) {
        el.setAttribute("title", format(d, null) + " (" + utc + ")");
      }
    });
  }

  document.addEventListener("DOMContentLoaded", function () { localTimes(); live(); selectAll(); });
})();
