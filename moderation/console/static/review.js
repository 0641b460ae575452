// Review item page: reveal / peek / zoom the image (the reveal kept across reloads of the
// item), and deciding with the keyboard: a allow, b block, 1-9 category, s skip, n note,
// u undo, Ctrl+Enter submit. A decision that changes the model's action needs a note: the
// page asks for it instead of sending a request that would be refused.
(function () {
  "use strict";
  var image = document.getElementById("item-image");
  var reveal = document.getElementById("reveal");
  var form = document.getElementById("decide-form");
  var picker = document.getElementById("decide-category");
  var note = document.getElementById("note");
  var pending = null;  // the button whose decision waits for a note

  function byId(id) { return document.getElementById(id); }

  function setRevealed(revealed) {
    image.classList.toggle("blurred", !revealed);
    reveal.textContent = revealed ? "Blur" : "Reveal";
    reveal.setAttribute("aria-pressed", String(revealed));
    var key = "revealed:" + image.getAttribute("data-submission-id");
    if (revealed) window.sessionStorage.setItem(key, "1");
    else window.sessionStorage.removeItem(key);
  }

  if (image && reveal) {
    reveal.addEventListener("click", function () {
      setRevealed(image.classList.contains("blurred"));
    });
    if (window.sessionStorage.getItem("revealed:" + image.getAttribute("data-submission-id"))) {
      setRevealed(true);
    }
    image.addEventListener("click", function () { image.classList.toggle("zoomed"); });
  }

  function showRules() {
    var rules = document.querySelectorAll("#rules .rules");
    for (var i = 0; i < rules.length; i++) {
      rules[i].hidden = rules[i].getAttribute("data-category") !== picker.value;
    }
  }
  if (picker) picker.addEventListener("change", showRules);

  function needsNote(button) {
    var category = button.value === "allow" ? "" : picker.value;
    var agrees = button.value === form.getAttribute("data-agree-action") &&
      category === form.getAttribute("data-agree-category");
    return !agrees && !note.value.trim();
  }

  if (form) {
    form.addEventListener("submit", function (event) {
      var button = event.submitter;
      if (!button || !button.name) return;
      if (needsNote(button)) {
        event.preventDefault();
        pending = button;
        byId("note-needed").hidden = false;
        note.focus();
      }
    });
  }

  function decide(id) {
    var button = byId(id);
    if (button) form.requestSubmit(button);
  }

  function pick(digit) {
    var option = picker && picker.options[digit - 1];
    if (!option) return;
    picker.value = option.value;
    showRules();
  }

  function submitFocused(target) {
    var owner = target && target.closest ? target.closest("form") : null;
    if (!owner) return false;
    if (owner === form) form.requestSubmit(pending || byId("block"));
    else owner.requestSubmit();
    return true;
  }

  var keys = {
    a: function () { decide("allow"); },
    b: function () { decide("block"); },
    s: function () { var f = byId("skip-form"); if (f) f.requestSubmit(); },
    n: function () { if (note) note.focus(); },
    u: function () {
      var f = byId("undo-form");
      if (f && !byId("done").hidden) f.requestSubmit();
    },
  };

  document.addEventListener("keydown", function (event) {
    var target = event.target;
    if (event.key === "Enter" && (event.ctrlKey || event.metaKey)) {
      if (submitFocused(target)) event.preventDefault();
      return;
    }
    if (event.ctrlKey || event.metaKey || event.altKey) return;
    var tag = target && target.tagName;
    if (event.key === "Escape" && tag === "TEXTAREA") { target.blur(); return; }
    if (tag === "INPUT" || tag === "TEXTAREA" || (target && target.isContentEditable)) return;
    if (event.key === "v" && image) { image.classList.add("peek"); return; }
    if (tag === "SELECT" && !/^[1-9]$/.test(event.key)) return;
    if (/^[1-9]$/.test(event.key) && picker) {
      pick(Number(event.key));
      event.preventDefault();
    } else if (keys[event.key] && (form || event.key === "u")) {
      event.preventDefault();
      keys[event.key]();
    }
  });
  document.addEventListener("keyup", function (event) {
    if (event.key === "v" && image) image.classList.remove("peek");
  });

  document.body.setAttribute("data-keys", "ready");  // what tests and the benchmark wait for

  var done = byId("done");
  if (done) {  // the undo is offered for its window only
    var seconds = Number(done.getAttribute("data-undo-window")) || 10;
    window.setTimeout(function () { done.hidden = true; }, seconds * 1000);
  }
})();
