/* The AI chat page: the question goes to the node's own /v1/chat/completions, streamed;
   the answer appears as it is written, then the documents it used. */
(function () {
  var form = document.getElementById("ask");
  if (!form || !window.fetch || !window.TextDecoder) return;  // the form posts normally then
  var answer = document.getElementById("answer");
  var sources = document.getElementById("sources");
  var status = document.getElementById("status");
  var token = (document.body.getAttribute("hx-headers") || "").match(/"X-CSRF-Token": "([^"]+)"/);
  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var question = form.querySelector("textarea").value.trim();
    if (!question) return;
    answer.textContent = ""; sources.innerHTML = ""; status.textContent = form.getAttribute("data-thinking");
    var headers = { "Content-Type": "application/json" };
    if (token) headers["X-CSRF-Token"] = token[1];
    fetch("/v1/chat/completions", {
      method: "POST", headers: headers, credentials: "same-origin",
      body: JSON.stringify({
        model: form.querySelector("select").value, stream: true,
        retrieval: form.querySelector("input[name=retrieval]").checked,
        messages: [{ role: "user", content: question }]
      })
    }).then(function (response) {
      if (!response.ok) {
        return response.json().then(function (body) { status.textContent = body.error.message; });
      }
      var reader = response.body.getReader(), decoder = new TextDecoder(), pending = "";
      function pump() {
        return reader.read().then(function (part) {
          if (part.done) { status.textContent = ""; return; }
          pending += decoder.decode(part.value, { stream: true });
          var events = pending.split("\n\n");
          pending = events.pop();
          events.forEach(function (line) {
            var data = line.replace(/^data: /, "");
            if (data === "[DONE]") return;
            var chunk = JSON.parse(data), choice = chunk.choices[0];
            if (choice.delta && choice.delta.content) answer.textContent += choice.delta.content;
            (chunk.sources || []).forEach(function (source) {
              var item = document.createElement("li");
              item.textContent = "[" + source.number + "] " + source.title;
              sources.appendChild(item);
            });
          });
          return pump();
        });
      }
      return pump();
    }).catch(function () { status.textContent = form.getAttribute("data-failed"); });
  });
})();
