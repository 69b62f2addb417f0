/* Upload with a progress bar, from the form or by dropping files onto the list: each file is
   sent as the raw body of a PUT, streamed by the browser and by the node, never held whole
   in memory. Without this script, the form posts as multipart and still works. */
(function () {
  var form = document.getElementById("upload");
  if (!form || !window.XMLHttpRequest) return;
  var byId = form.hasAttribute("data-by-id");
  var token = (document.body.getAttribute("hx-headers") || "").match(/"X-CSRF-Token": "([^"]+)"/);
  var progress = document.getElementById("progress");

  function send(files) {
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
  }

  form.addEventListener("submit", function (event) {
    var input = form.querySelector("input[type=file]");
    if (!token || !input.files.length) return;
    event.preventDefault();
    send(Array.prototype.slice.call(input.files));
  });

  // Files dropped onto the list go the same way; folders are left out.
  var list = document.getElementById("listing");
  if (!list || !token || !("ondrop" in list)) return;
  var hint = form.querySelector(".drop-hint");
  if (hint) hint.hidden = false;
  function carriesFiles(event) {
    var types = event.dataTransfer && event.dataTransfer.types;
    return types && Array.prototype.indexOf.call(types, "Files") >= 0;
  }
  list.addEventListener("dragover", function (event) {
    if (!carriesFiles(event)) return;
    event.preventDefault();
    event.dataTransfer.dropEffect = "copy";
    list.classList.add("dropping");
  });
  list.addEventListener("dragleave", function () { list.classList.remove("dropping"); });
  // A file dropped beside the list would make the browser leave the page to show it.
  ["dragover", "drop"].forEach(function (kind) {
    document.addEventListener(kind, function (event) {
      if (carriesFiles(event) && !list.contains(event.target)) event.preventDefault();
    });
  });
  list.addEventListener("drop", function (event) {
    list.classList.remove("dropping");
    if (!carriesFiles(event)) return;
    event.preventDefault();
    var items = event.dataTransfer.items || [];
    var files = Array.prototype.filter.call(event.dataTransfer.files, function (file, i) {
      var entry = items[i] && items[i].webkitGetAsEntry && items[i].webkitGetAsEntry();
      return !entry || entry.isFile;
    });
    if (files.length) send(files);
  });
})();
