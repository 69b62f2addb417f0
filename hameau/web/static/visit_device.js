/* A terminal's device sign-in (hamlet/terminal_device.py) waits for the visitor's approval at
   home: every 5 s it asks this node for the waiting part, which the node answers after asking
   the home; once approved, the node says where to go (HX-Redirect). Not htmx: htmx is only for
   members, and this browser must keep nothing (no history in sessionStorage). */
(function () {
  "use strict";
  function ask() {
    var part = document.getElementById("device-sign-in");
    if (!part || !part.hasAttribute("data-poll")) { return; }
    fetch(part.getAttribute("data-poll"), { headers: { "HX-Request": "true" }, credentials: "same-origin" })
      .then(function (answer) {
        var target = answer.headers.get("HX-Redirect");
        if (target) { window.location.assign(target); return null; }
        return answer.ok ? answer.text() : null;
      })
      .then(function (html) {
        if (html === null) { return; }
        var made = document.createElement("template");
        made.innerHTML = html;
        var fresh = made.content.getElementById("device-sign-in");
        if (fresh) { part.replaceWith(fresh); }
      })
      .catch(function () {})
      .then(function () { window.setTimeout(ask, 5000); });
  }
  document.addEventListener("DOMContentLoaded", function () { window.setTimeout(ask, 5000); });
})();
