// Small progressive touches; every page works without them.
(function () {
  "use strict";
  // filters apply as soon as one changes
  document.querySelectorAll("form.filters select").forEach(function (select) {
    select.addEventListener("change", function () { select.form.requestSubmit(); });
  });
  // the forecast target: recomputed a moment after typing stops
  var target = document.getElementById("target");
  if (target) {
    var timer = null;
    target.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () { if (target.value) { target.form.requestSubmit(); } }, 800);
    });
  }
})();
