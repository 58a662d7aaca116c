// isstreamer local receiver: keep the page current without reloading it.
// Asks /read/version every few seconds; when the data changed, swaps in the server-rendered
// (already escaped) <main> from ?fragment=1. Times are shown in the reader's local time zone.
(function () {
  "use strict";
  var main = document.getElementById("content");
  var live = document.getElementById("live");
  if (!main) { return; }
  var config = {};
  try { config = JSON.parse(main.getAttribute("data-config") || "{}"); } catch (e) { config = {}; }
  var every = Math.max(1, Number(config.refreshSeconds) || 2) * 1000;

  function localize(root) {
    var today = new Date().toDateString();
    var nodes = root.querySelectorAll("time[datetime]");
    for (var i = 0; i < nodes.length; i++) {
      var node = nodes[i];
      var when = new Date(node.getAttribute("datetime"));
      if (isNaN(when.getTime())) { continue; }
      node.title = node.getAttribute("datetime");
      node.textContent = when.toDateString() === today
        ? when.toLocaleTimeString() : when.toLocaleString();
    }
  }

  function setLive(ok) {
    if (!live) { return; }
    live.textContent = ok ? "live" : "offline";
    live.className = ok ? "live" : "live offline";
  }

  function fetchText(url) {
    return fetch(url, { cache: "no-store", headers: { "Accept": "text/html,application/json" } })
      .then(function (r) {
        if (!r.ok) { throw new Error("HTTP " + r.status); }
        return r;
      });
  }

  function tick() {
    if (document.hidden) { setTimeout(tick, every); return; }
    fetchText("/read/version")
      .then(function (r) { return r.json(); })
      .then(function (data) {
        if (data.version === main.getAttribute("data-version")) { return null; }
        return fetchText(location.pathname + "?fragment=1").then(function (r) {
          var version = r.headers.get("X-Receiver-Version") || data.version;
          return r.text().then(function (html) {
            main.innerHTML = html;
            main.setAttribute("data-version", version);
            localize(main);
          });
        });
      })
      .then(function () { setLive(true); }, function () { setLive(false); })
      .then(function () { setTimeout(tick, every); });
  }

  localize(document);
  setTimeout(tick, every);
})();
