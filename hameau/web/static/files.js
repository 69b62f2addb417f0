/* Upload with a progress bar: each file is sent as the raw body of a PUT, streamed by the
   browser and by the node, never held whole in memory. Without this script, the form posts
   as multipart and still works. */
(function () {
  var form = document.getElementById("upload");
  if (!form || !window.XMLHttpRequest) return;
  var byId = form.hasAttribute("data-by-id");
  var token = (document.body.getAttribute("hx-headers") || "").match(/"X-CSRF-Token": "([^"]+)"/);
  form.addEventListener("submit", function (event) {
    var input = form.querySelector("input[type=file]");
    if (!token || !input.files.length) return;
    event.preventDefault();
    var progress = document.getElementById("progress");
    var files = Array.prototype.slice.call(input.files);
    var failed = false;
    function next() {
      var file = files.shift();
      if (!file) {
        if (!failed) window.location.search = "?done=uploaded";  // on failure, the reasons stay shown
        return;
      }
      var row = document.createElement("div");
      var bar = document.createElement("progress");
      bar.max = file.size || 1; bar.value = 0;
      row.textContent = file.name + " ";
      row.appendChild(bar);
      progress.appendChild(row);
      var request = new XMLHttpRequest();
      // On a shared device the name travels in a header: an address would reach the history.
      if (byId) {
        request.open("PUT", form.getAttribute("data-target"));
        request.setRequestHeader("X-File-Name", encodeURIComponent(file.name));
      } else {
        request.open("PUT", form.getAttribute("data-target") + encodeURIComponent(file.name));
      }
      request.setRequestHeader("X-CSRF-Token", token[1]);
      request.setRequestHeader("Accept", "application/json");
      request.upload.onprogress = function (e) { bar.value = e.loaded; };
      request.onload = function () {
        if (request.status >= 400) {
          failed = true;
          var reason = "";
          try { reason = JSON.parse(request.responseText).error; } catch (ignored) {}
          row.textContent = file.name + " — " + (reason || request.status);
          row.className = "error";
        } else { bar.value = bar.max; }
        next();
      };
      request.onerror = function () { failed = true; row.className = "error"; next(); };
      request.send(file);
    }
    next();
  });
})();
