/* Autosave for the note editor: the text is sent a moment after typing stops, with the
   revision it was made from; the node merges it (CRDT) and answers with the merged text. */
(function () {
  var form = document.getElementById("note");
  if (!form || !window.XMLHttpRequest || !window.JSON) return;
  var script = document.currentScript || document.querySelector("script[data-saved]");
  var area = form.querySelector("textarea");
  var base = form.querySelector("input[name=base]");
  var status = document.getElementById("status");
  var preview = document.getElementById("preview");
  var token = (document.body.getAttribute("hx-headers") || "").match(/"X-CSRF-Token": "([^"]+)"/);
  var timer = null, sending = false, again = false, waiting = [];
  function settled() { while (waiting.length) waiting.shift()(); }  // tells idle.js it may leave
  function save() {
    timer = null;
    if (sending) { again = true; return; }
    sending = true;
    status.textContent = script.getAttribute("data-saving");
    var sent = area.value;
    var request = new XMLHttpRequest();
    request.open("PUT", form.getAttribute("data-api"));
    request.setRequestHeader("Content-Type", "application/json");
    if (token) request.setRequestHeader("X-CSRF-Token", token[1]);
    request.onload = function () {
      sending = false;
      if (request.status !== 200) { status.textContent = script.getAttribute("data-failed"); schedule(5000); settled(); return; }
      var note = JSON.parse(request.responseText);
      base.value = note.revision;
      if (area.value === sent && note.text !== sent) area.value = note.text;  // someone else's edit, merged
      preview.innerHTML = note.html;  // sanitised by the node
      status.textContent = script.getAttribute("data-saved");
      if (again) { again = false; save(); } else if (!timer) settled();
    };
    request.onerror = function () { sending = false; status.textContent = script.getAttribute("data-failed"); schedule(5000); settled(); };
    request.send(JSON.stringify({ base: parseInt(base.value, 10), text: sent }));
  }
  function schedule(delay) { clearTimeout(timer); timer = setTimeout(save, delay); }
  area.addEventListener("input", function () { schedule(800); });
  /* Text typed before this script ran (a slow device) fired no event here: it is saved all
     the same. (The form has autocomplete="off": a browser going back to the page does not
     put an older text back, which would be saved over newer edits.) */
  if (area.value !== area.defaultValue) schedule(800);
  /* Logging out (idle, or switching person): save what was typed now, then let go. */
  document.addEventListener("hameau:leaving", function (event) {
    if (!timer && !sending) return;
    waiting.push(event.detail.wait());
    if (timer) { clearTimeout(timer); save(); }
  });
})();
