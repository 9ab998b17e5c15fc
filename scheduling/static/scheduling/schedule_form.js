/* The schedule form (admin and /schedules/): live fire-time preview and kind-specific fields.
 *
 * The preview asks the server (the same form validation the save runs) what the form as typed
 * would fire, 300 ms after the last edit of a timing field. Nothing is saved. Plain JS, no build.
 */
(function () {
  "use strict";

  var TIMING = ["kind", "cron", "interval_seconds", "run_at", "timezone", "start_at", "end_at"];
  var KIND_FIELDS = { cron: ["cron"], interval: ["interval_seconds"], once: ["run_at"] };
  var DELAY_MS = 300;

  function ready(fn) {
    if (document.readyState !== "loading") fn();
    else document.addEventListener("DOMContentLoaded", fn);
  }

  function fieldName(target) {
    var name = (target && target.name) || "";
    return name.replace(/_[01]$/, "");
  }

  ready(function () {
    var config = document.querySelector("[data-preview-url]");
    var box = document.querySelector("[data-fire-preview]");
    if (!config || !box) return;
    var form = box.closest("form") || config.closest("form");
    if (!form) return;
    var url = config.getAttribute("data-preview-url");
    var timer = null;
    var sequence = 0;

    function row(name) {
      return form.querySelector(".form-row.field-" + name) || form.querySelector('[data-row="' + name + '"]');
    }

    function currentKind() {
      var checked = form.querySelector('input[name="kind"]:checked');
      if (checked) return checked.value;
      var select = form.querySelector('[name="kind"]');
      return select ? select.value : "";
    }

    // Another kind's field is hidden and not sent: the server refuses a field that does not apply
    // to the kind (rather than ignoring it), and a hidden one could not be corrected.
    function showKindFields() {
      var kind = currentKind();
      Object.keys(KIND_FIELDS).forEach(function (k) {
        KIND_FIELDS[k].forEach(function (name) {
          var element = row(name);
          if (!element) return;
          var hidden = Boolean(kind) && k !== kind;
          element.style.display = hidden ? "none" : "";
          element.querySelectorAll("input, select, textarea").forEach(function (input) {
            input.disabled = hidden;
          });
        });
      });
    }

    // The chosen job's description and params, from its option's data attributes.
    function showJobHelp() {
      var select = form.querySelector('select[name="job"]');
      if (!select) return;
      var help = form.querySelector("[data-job-help]");
      if (!help) {
        help = document.createElement("div");
        help.className = "help job-help";
        help.setAttribute("data-job-help", "");
        help.setAttribute("aria-live", "polite");
        select.insertAdjacentElement("afterend", help);
      }
      var option = select.options[select.selectedIndex];
      var description = option ? option.getAttribute("data-description") || "" : "";
      var params = option ? option.getAttribute("data-params") || "" : "";
      help.textContent = "";
      if (!description && !params) return;
      var words = document.createElement("div");
      words.textContent = description;
      var takes = document.createElement("div");
      takes.textContent = "Params: " + params;
      help.appendChild(words);
      help.appendChild(takes);
    }

    function part(selector) {
      return box.querySelector(selector);
    }

    function render(preview, typed, quiet) {
      if (quiet && Object.keys(preview.errors || {}).length) {
        // Nothing typed yet: an empty form is not wrong yet, so no error is shown before an edit.
        box.setAttribute("data-state", "untouched");
        return;
      }
      var caption = part(".fire-preview-caption");
      var words = part(".fire-preview-words");
      var table = part(".fire-preview-table");
      var body = table.querySelector("tbody");
      var note = part(".fire-preview-note");
      var errors = part(".fire-preview-errors");
      caption.textContent = typed ? "As typed (not saved yet)." : "As saved.";
      words.textContent = preview.description || "";
      body.textContent = "";
      (preview.times || []).forEach(function (time, index) {
        var tr = document.createElement("tr");
        var number = document.createElement("td");
        number.textContent = String(index + 1);
        var local = document.createElement("td");
        var stamp = document.createElement("time");
        stamp.setAttribute("datetime", time.iso);
        stamp.textContent = time.local;
        local.appendChild(stamp);
        var utc = document.createElement("td");
        utc.textContent = time.utc;
        tr.appendChild(number);
        tr.appendChild(local);
        tr.appendChild(utc);
        if (time.excluded) {
          var excluded = document.createElement("td");
          excluded.className = "fire-excluded-by";
          excluded.textContent = "excluded by " + time.excluded + " (skipped, not run)";
          tr.className = "fire-excluded";
          tr.setAttribute("data-excluded", time.excluded);
          tr.appendChild(excluded);
        }
        body.appendChild(tr);
      });
      table.hidden = !(preview.times && preview.times.length);
      note.textContent = preview.note || "";
      errors.textContent = "";
      Object.keys(preview.errors || {}).forEach(function (field) {
        preview.errors[field].forEach(function (message) {
          var li = document.createElement("li");
          var strong = document.createElement("strong");
          strong.textContent = field;
          li.appendChild(strong);
          li.appendChild(document.createTextNode(" " + message));
          errors.appendChild(li);
        });
      });
      box.setAttribute("data-source", typed ? "typed" : "saved");
      box.setAttribute("data-state", Object.keys(preview.errors || {}).length ? "invalid" : "valid");
    }

    function refresh(typed, quiet) {
      var mine = ++sequence;
      box.setAttribute("data-state", "loading");
      fetch(url, {
        method: "POST",
        body: new FormData(form),
        credentials: "same-origin",
        headers: { Accept: "application/json", "X-Requested-With": "fetch" },
      })
        .then(function (response) {
          if (!response.ok) throw new Error("preview answered " + response.status);
          return response.json();
        })
        .then(function (preview) {
          if (mine === sequence) render(preview, typed, quiet);
        })
        .catch(function () {
          if (mine === sequence) {
            box.setAttribute("data-state", "unavailable");
            part(".fire-preview-note").textContent = "The preview is unavailable right now; saving still validates.";
          }
        });
    }

    function onEdit(event) {
      var name = fieldName(event.target);
      if (name === "job") showJobHelp();
      if (TIMING.indexOf(name) === -1) return;
      if (name === "kind") showKindFields();
      window.clearTimeout(timer);
      timer = window.setTimeout(function () {
        refresh(true);
      }, DELAY_MS);
    }

    form.addEventListener("input", onEdit);
    form.addEventListener("change", onEdit);
    showKindFields();
    showJobHelp();
    // A form shown again with errors previews what is typed right away; a new one too, but quietly:
    // its times when its defaults already make a schedule, and no error before anything is typed.
    var hasErrors = form.querySelector(".errorlist, .errornote, .form-errors");
    if (hasErrors) refresh(true, false);
    else if (box.querySelector(".fire-preview-table tbody tr") === null) refresh(true, true);
  });
})();
