// django-celery-beat's periodic task form: shows the chosen crontab in words under the field.
// Moved out of its template's inline <script> (blocked by the Content-Security-Policy).
"use strict";
(function () {
  var data = document.getElementById("readable-crontabs");
  var help = document.querySelector(".field-crontab .help");
  var select = document.getElementById("id_crontab");
  var translation = document.querySelector(".field-crontab_translation");
  if (!data || !select) {
    return;
  }
  var readable = JSON.parse(data.textContent);
  var original = help ? help.textContent : "";
  if (translation) {
    translation.hidden = true;
  }
  select.addEventListener("change", function () {
    if (!help) {
      return;
    }
    help.textContent = original;
    help.appendChild(document.createElement("br"));
    help.appendChild(document.createTextNode("Translation: " + (readable[select.value] || "")));
  });
})();
