/* The schedules page: refresh the rows every few seconds, and run now / enable / disable in place.
 *
 * Rows are patched cell by cell (only cells whose HTML changed are replaced), so the page keeps
 * its scroll position, the search box and the focused button. Actions are the page's own
 * CSRF-protected forms, sent with fetch; without JavaScript they still work (with a reload).
 */
(function () {
  "use strict";

  var status = document.getElementById("refresh-status");
  var table = document.getElementById("schedules");
  var flash = document.getElementById("flash");
  if (!status || !table) return;
  var body = table.querySelector("tbody");
  var refreshUrl = status.getAttribute("data-refresh-url");
  var everyMs = (parseInt(status.getAttribute("data-refresh-seconds"), 10) || 5) * 1000;
  var inFlight = false;
  var timer = null;

  function say(level, text, link) {
    var item = document.createElement("div");
    item.className = "flash flash-" + (level || "info");
    item.textContent = text;
    if (link) {
      item.appendChild(document.createTextNode(" "));
      var anchor = document.createElement("a");
      anchor.href = link.href;
      anchor.textContent = link.text;
      item.appendChild(anchor);
    }
    flash.appendChild(item);
    window.setTimeout(function () {
      item.classList.add("flash-fading");
      window.setTimeout(function () {
        item.remove();
      }, 600);
    }, 12000);
  }

  function parseRow(html) {
    var holder = document.createElement("tbody");
    holder.innerHTML = html.trim();
    return holder.firstElementChild;
  }

  // Each render carries a freshly masked CSRF token: it is not a change worth repainting.
  function normalised(html) {
    return html.replace(/name="csrfmiddlewaretoken" value="[^"]*"/g, "");
  }

  function patchRow(existing, fresh) {
    var focused = document.activeElement;
    var focusedAction = existing.contains(focused) && focused.getAttribute("data-action-button");
    ["data-enabled", "class"].forEach(function (name) {
      if (existing.getAttribute(name) !== fresh.getAttribute(name)) existing.setAttribute(name, fresh.getAttribute(name) || "");
    });
    var changed = false;
    fresh.querySelectorAll("[data-cell]").forEach(function (cell) {
      var name = cell.getAttribute("data-cell");
      var current = existing.querySelector('[data-cell="' + name + '"]');
      if (!current) return;
      if (normalised(current.innerHTML) === normalised(cell.innerHTML)) return;
      current.innerHTML = cell.innerHTML;
      changed = true;
    });
    if (focusedAction) {
      var again = existing.querySelector('[data-action-button="' + focusedAction + '"]');
      if (again && again !== document.activeElement) again.focus();
    }
    return changed;
  }

  function applyRows(rows) {
    var existing = {};
    body.querySelectorAll("tr[data-schedule-id]").forEach(function (tr) {
      existing[tr.getAttribute("data-schedule-id")] = tr;
    });
    var order = rows.map(function (row) {
      return String(row.id);
    });
    var sameSet =
      order.length === Object.keys(existing).length &&
      order.every(function (id) {
        return Object.prototype.hasOwnProperty.call(existing, id);
      });
    if (!sameSet) {
      // Schedules were added or removed: rebuild the body (rare), keeping the rows we have.
      var empty = body.querySelector("tr.empty");
      if (empty && rows.length) empty.remove();
      rows.forEach(function (row) {
        var fresh = parseRow(row.html);
        var current = existing[String(row.id)];
        if (current) {
          patchRow(current, fresh);
          body.appendChild(current);
        } else {
          body.appendChild(fresh);
        }
      });
      Object.keys(existing).forEach(function (id) {
        if (order.indexOf(id) === -1) existing[id].remove();
      });
      return;
    }
    rows.forEach(function (row) {
      patchRow(existing[String(row.id)], parseRow(row.html));
    });
  }

  function refresh() {
    if (inFlight) return;
    inFlight = true;
    fetch(refreshUrl + window.location.search, {
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "fetch" },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.redirected || type.indexOf("application/json") === -1) throw new Error("logged-out");
        if (!response.ok) throw new Error("answered " + response.status);
        return response.json();
      })
      .then(function (data) {
        applyRows(data.rows);
        var now = new Date();
        status.textContent = "Updated " + now.toISOString().slice(11, 19) + " UTC · refreshes every " + everyMs / 1000 + " seconds.";
        status.setAttribute("data-updated-at", now.toISOString());
        status.classList.remove("is-stale");
      })
      .catch(function (error) {
        status.classList.add("is-stale");
        status.textContent =
          error.message === "logged-out"
            ? "Your session has ended: reload the page to log in again."
            : "Could not refresh (" + error.message + "); trying again in " + everyMs / 1000 + " seconds.";
      })
      .then(function () {
        inFlight = false;
      });
  }

  function schedule(delayMs) {
    window.clearTimeout(timer);
    timer = window.setTimeout(function tick() {
      if (!document.hidden) refresh();
      timer = window.setTimeout(tick, everyMs);
    }, delayMs);
  }

  table.addEventListener("submit", function (event) {
    var form = event.target;
    if (!form.matches("form[data-action]")) return;
    event.preventDefault();
    var button = form.querySelector("button");
    if (button) button.disabled = true;
    var tr = form.closest("tr");
    fetch(form.action, {
      method: "POST",
      body: new FormData(form),
      credentials: "same-origin",
      headers: { Accept: "application/json", "X-Requested-With": "fetch" },
    })
      .then(function (response) {
        var type = response.headers.get("Content-Type") || "";
        if (response.status === 403) throw new Error("You do not have permission to change schedules.");
        if (type.indexOf("application/json") === -1) throw new Error("The server did not answer (status " + response.status + ").");
        return response.json();
      })
      .then(function (data) {
        if (data.row && tr) {
          patchRow(tr, parseRow(data.row.html));
          tr.classList.add("flash-row");
          window.setTimeout(function () {
            tr.classList.remove("flash-row");
          }, 1500);
        }
        if (button && button.isConnected) button.disabled = false;
        say(data.level, data.message, data.run_url ? { href: data.run_url, text: "Open the run" } : null);
        schedule(1000); // show the run's progress soon
      })
      .catch(function (error) {
        say("error", error.message || "The action failed.");
        if (button) button.disabled = false;
      });
  });

  schedule(everyMs);
})();
