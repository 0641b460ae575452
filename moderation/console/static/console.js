// Every console page: times in the reader's own time zone (the server writes UTC).
(function () {
  "use strict";
  function localise() {
    var times = document.querySelectorAll("time[datetime]");
    for (var i = 0; i < times.length; i++) {
      var at = new Date(times[i].getAttribute("datetime"));
      if (isNaN(at.getTime())) continue;
      times[i].title = at.toLocaleString();  // the exact local time on hover
      if (!times[i].closest(".age")) times[i].textContent = at.toLocaleString();
    }
  }
  document.addEventListener("DOMContentLoaded", localise);
})();
