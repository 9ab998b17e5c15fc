// Asks before submitting a form marked data-confirm="question" (the run page's Cancel button).
// A file rather than an onsubmit attribute: the Content-Security-Policy allows no inline script.
"use strict";
document.addEventListener("submit", function (event) {
  var form = event.target;
  var question = form && form.getAttribute ? form.getAttribute("data-confirm") : null;
  if (question && !window.confirm(question)) {
    event.preventDefault();
  }
}, true);
