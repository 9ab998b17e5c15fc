// The run page refreshes itself while the run is active (pending, queued, running): every few
// seconds it fetches the page again and swaps in the new content (status, timings, events,
// artifacts), keeping the scroll position; it stops once the run is final. Paused while the tab is
// hidden. A file rather than an inline script: the Content-Security-Policy allows none.
"use strict";
(function () {
  var INTERVAL_MS = 2000;
  var timer = null;

  function live() { return document.getElementById("ost-run-live"); }
  function active(element) { return element && element.getAttribute("data-run-active") === "true"; }

  function schedule() {
    if (timer === null) { timer = window.setTimeout(refresh, INTERVAL_MS); }
  }

  function refresh() {
    timer = null;
    if (document.hidden) { return; }  // resumed by visibilitychange
    fetch(window.location.href, { credentials: "same-origin", headers: { "X-Requested-With": "run-refresh" } })
      .then(function (response) {
        if (!response.ok) { throw new Error("HTTP " + response.status); }
        return response.text();
      })
      .then(function (text) {
        var fresh = new DOMParser().parseFromString(text, "text/html");
        var incoming = fresh.getElementById("ost-run-live");
        var current = live();
        if (!incoming || !current) { return; }
        var x = window.scrollX, y = window.scrollY;
        current.replaceWith(document.importNode(incoming, true));
        if (fresh.title) { document.title = fresh.title; }
        window.scrollTo(x, y);
        if (active(incoming)) { schedule(); }
      })
      .catch(function () { schedule(); });  // a restarting server: try again
  }

  document.addEventListener("visibilitychange", function () {
    if (!document.hidden && active(live())) { schedule(); }
  });
  document.addEventListener("DOMContentLoaded", function () {
    if (active(live())) { schedule(); }
  });
})();
