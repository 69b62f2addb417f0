/* Live conversation: new messages arrive over server-sent events (no polling); replies are
   sent in the background. Without this script the page still works, by reloading. */
(function () {
  var list = document.getElementById("messages");
  if (!list || !list.getAttribute("data-events") || !window.EventSource) return;  // an older page
  var source = new EventSource(list.getAttribute("data-events"));
  source.addEventListener("message", function (event) {
    var message = JSON.parse(event.data);
    if (document.getElementById("m" + message.id)) return;
    var item = document.createElement("li");
    item.id = "m" + message.id;
    var author = document.createElement("strong");
    author.textContent = message.author;
    var body = document.createElement("p");
    body.textContent = message.body;
    item.appendChild(author);
    item.appendChild(body);
    list.appendChild(item);
  });
  var form = document.getElementById("reply");
  var token = (document.body.getAttribute("hx-headers") || "").match(/"X-CSRF-Token": "([^"]+)"/);
  if (!form || !token || !window.XMLHttpRequest) return;
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var area = form.querySelector("textarea");
    var request = new XMLHttpRequest();
    request.open("POST", form.getAttribute("action"));
    request.setRequestHeader("Content-Type", "application/x-www-form-urlencoded");
    request.setRequestHeader("X-CSRF-Token", token[1]);
    request.setRequestHeader("HX-Request", "true");
    request.onload = function () { if (request.status < 400) area.value = ""; };
    request.send("body=" + encodeURIComponent(area.value));
  });
})();
