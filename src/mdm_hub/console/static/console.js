// The console's own script: keyboard shortcuts of the review pair page. Served from the hub
// (Content-Security-Policy script-src 'self'); htmx does the rest.
(function () {
  "use strict";
  var keys = { y: "merge", n: "distinct", s: "skip", ArrowLeft: "prev", ArrowRight: "next" };
  document.addEventListener("keydown", function (event) {
    if (event.altKey || event.ctrlKey || event.metaKey || event.shiftKey) return;
    var target = event.target;
    var tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) return;
    var id = keys[event.key];
    if (!id) return;
    var element = document.getElementById(id);
    if (!element || element.disabled) return;
    event.preventDefault();
    element.click();
  });
})();
