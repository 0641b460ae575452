// Review item page: reveal the blurred image, keyboard shortcuts (c, o, Ctrl+Enter).
(function () {
  "use strict";
  var image = document.getElementById("item-image");
  var reveal = document.getElementById("reveal");
  if (image && reveal) {
    reveal.addEventListener("click", function () {
      var blurred = image.classList.toggle("blurred");
      reveal.textContent = blurred ? "Reveal" : "Blur";
      reveal.setAttribute("aria-pressed", String(!blurred));
    });
  }

  function focusById(id) {
    var el = document.getElementById(id);
    if (el) { el.focus(); return true; }
    return false;
  }

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      var form = target && target.closest ? target.closest("form") : null;
      if (form) {
        event.preventDefault();
        form.requestSubmit();
      }
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = target && target.tagName;
    if (tag === "INPUT" || tag === "TEXTAREA" || tag === "SELECT" || (target && target.isContentEditable)) return;
    if (event.key === "c" && focusById("confirm-note")) event.preventDefault();
    else if (event.key === "o" && focusById("overturn-action")) event.preventDefault();
  });
})();
