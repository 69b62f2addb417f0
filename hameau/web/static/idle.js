/* Idle logout on a shared device. Typing, clicks and scrolling count as activity; the node is
   told about it when this page checks how long the session has left (shortly before the
   warning), so an active member is never logged out and an idle page costs one request per
   idle period. A band warns ahead with a button to stay. Before leaving (idle, or "switch
   person"), what the member was writing is saved on the node: forms marked data-draft are
   posted to their draft address, and other scripts (notes.js) finish their saves through the
   "hameau:leaving" event; the node's other tabs in this browser save theirs too and leave
   (BroadcastChannel). Nothing is kept in the browser's storage. One timer, no polling. */
(function () {
  var script = document.currentScript || document.querySelector("script[data-idle]");
  var band = document.getElementById("idle-warning");
  var logout = document.getElementById("logout");
  var token = (document.body.getAttribute("hx-headers") || "").match(/"X-CSRF-Token": "([^"]+)"/);
  if (!script || !band || !logout || !token || !window.XMLHttpRequest) return;
  var idle = parseFloat(script.getAttribute("data-idle")) * 1000;
  var ahead = Math.min(60000, idle / 3);      // the warning comes this long before the end
  var margin = Math.min(10000, ahead / 2);    // drafts are saved this long before the end
  var lastActive = 0, reported = Date.now(), timer = null, leaving = false;

  function post(url, body, passive, done) {
    var request = new XMLHttpRequest();
    request.open("POST", url);
    request.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
    request.setRequestHeader("X-CSRF-Token", token[1]);
    request.setRequestHeader("Accept", "application/json");
    if (passive) request.setRequestHeader("X-Hameau-Passive", "1");
    request.onload = function () { done(request); };
    request.onerror = function () { done(null); };
    request.send(body);
  }
  function later(delay, then) { clearTimeout(timer); timer = setTimeout(then, Math.max(0, delay)); }
  function warn(shown) {
    band.hidden = !shown;
    document.documentElement.classList.toggle("idle-warned", shown);
  }

  /* Asks the node how long is left (telling it of any activity since the last ask). */
  function check(final) {
    if (leaving) return;
    var active = lastActive > reported;
    var asked = Date.now();
    post("/session/alive", active ? "active=1" : "active=0", !active, function (request) {
      if (leaving) return;
      if (request && request.status === 401) { leave(); return; }  // already over on the node
      var left = -1;
      if (request && request.status === 200) {
        try { left = JSON.parse(request.responseText).left * 1000; } catch (ignored) { left = -1; }
      }
      if (!(left >= 0)) { later(5000, check); return; }  // no answer from the node: ask again
      if (active) reported = asked;
      if (left === 0) { leave(); return; }
      if (left > ahead + 1000) { warn(false); later(left - ahead, check); return; }
      if (final || left <= margin) { leave(); return; }
      warn(true);
      later(left - margin, function () { check(true); });
    });
  }

  function activity() {
    if (leaving) return;
    lastActive = Date.now();
    if (!band.hidden) check(false);  // working again while warned: stay
  }

  function formBody(form) {
    var parts = [];
    for (var i = 0; i < form.elements.length; i++) {
      var field = form.elements[i];
      if (!field.name || field.name === "csrf_token" || field.disabled) continue;
      if ((field.type === "checkbox" || field.type === "radio") && !field.checked) continue;
      if (field.type === "file" || field.type === "submit") continue;
      parts.push(encodeURIComponent(field.name) + "=" + encodeURIComponent(field.value));
    }
    return parts.join("&");
  }

  /* Other tabs of the node in this browser: when one leaves, all save their drafts first. */
  var me = String(Math.random()).slice(2), others = {};
  var channel = window.BroadcastChannel ? new BroadcastChannel("hameau-session") : null;
  var waitingFor = {};

  /* Saves every draft of this page (forms marked data-draft, and whatever listens to
     "hameau:leaving"), waits for the other tabs to do the same, then calls done once. */
  function saveAll(done, withOthers) {
    var pending = 1, gone = false;
    function settled() {
      pending -= 1;
      if (pending > 0 || gone) return;
      gone = true;
      done();
    }
    function wait() { pending += 1; var once = false; return function () { if (!once) { once = true; settled(); } }; }
    var forms = document.querySelectorAll("form[data-draft]");
    for (var i = 0; i < forms.length; i++) {
      post(forms[i].getAttribute("data-draft"), formBody(forms[i]), true, wait());
    }
    if (withOthers) {
      for (var id in others) { if (others.hasOwnProperty(id)) waitingFor[id] = wait(); }
      channel.postMessage({ type: "leaving", from: me });
    }
    var event;
    try { event = new CustomEvent("hameau:leaving", { detail: { wait: wait } }); } catch (old) {
      event = document.createEvent("CustomEvent");
      event.initCustomEvent("hameau:leaving", false, false, { wait: wait });
    }
    document.dispatchEvent(event);
    setTimeout(function () { pending = 1; settled(); }, 8000);  // never stay logged in for a save
    settled();
  }

  /* Saves every draft, then logs out through the header's form (which clears the browser). */
  function leave() {
    if (leaving) return;
    leaving = true;
    clearTimeout(timer);
    warn(false);
    saveAll(function () { logout.submit(); }, !!channel);
  }

  if (channel) {
    channel.onmessage = function (event) {
      var message = event.data || {};
      if (message.type === "here" || message.type === "here-too") {
        others[message.from] = true;
        if (message.type === "here") channel.postMessage({ type: "here-too", from: me });
      } else if (message.type === "bye") {
        delete others[message.from];
        if (waitingFor[message.from]) waitingFor[message.from]();
      } else if (message.type === "saved" && waitingFor[message.from]) {
        waitingFor[message.from]();
      } else if (message.type === "leaving" && !leaving) {
        leaving = true;  // another tab logs out: save here, then leave too
        clearTimeout(timer);
        warn(false);
        saveAll(function () {
          channel.postMessage({ type: "saved", from: me });
          logout.submit();
        }, false);
      }
    };
    channel.postMessage({ type: "here", from: me });
    window.addEventListener("pagehide", function () { channel.postMessage({ type: "bye", from: me }); });
  }

  var kinds = ["keydown", "input", "mousedown", "pointerdown", "touchstart", "wheel", "scroll"];
  for (var k = 0; k < kinds.length; k++) {
    document.addEventListener(kinds[k], activity, { capture: true, passive: true });
  }
  document.getElementById("idle-stay").addEventListener("click", function () {
    lastActive = Date.now();
    check(false);
  });
  logout.addEventListener("submit", function (event) {
    if (leaving) return;
    event.preventDefault();
    leave();
  });
  document.addEventListener("visibilitychange", function () {
    if (!document.hidden) check(false);  // timers of hidden tabs may have been held back
  });
  later(idle - ahead, check);
})();
