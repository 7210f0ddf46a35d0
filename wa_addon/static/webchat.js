// The demo web chat, enhanced: send without reloading and poll for what the phone received.
// Without this script the page still works (plain form posts; reload to see replies).
(function () {
  "use strict";
  var box = document.getElementById("messages");
  var form = document.getElementById("composer");
  var input = document.getElementById("text");
  var picker = document.getElementById("who-select");
  if (!box || !form) { return; }
  var who = box.dataset.who;
  var shown = "";

  function clock(at) {  // in WA_TIMEZONE, as the page's own times are
    return new Date(at * 1000).toLocaleTimeString("en-GB", {timeZone: box.dataset.tz, hour: "2-digit",
                                                            minute: "2-digit", hour12: false});
  }

  function bubble(m) {
    var div = document.createElement("div");
    div.className = "bubble " + (m.mine ? "mine" : "theirs");
    div.dataset.id = m.id;
    div.textContent = m.text;  // text, never HTML: messages carry user input
    var time = document.createElement("time");
    time.textContent = clock(m.at);
    div.appendChild(time);
    return div;
  }

  function render(messages) {
    var key = messages.map(function (m) { return m.id; }).join(",");
    if (key === shown) { return; }
    shown = key;
    var nearEnd = box.scrollHeight - box.scrollTop - box.clientHeight < 80;
    box.replaceChildren.apply(box, messages.map(bubble));
    if (!messages.length) {
      var p = document.createElement("p");
      p.className = "empty";
      p.textContent = "No messages yet. Type a command below, or pick one on the right. Try HELP.";
      box.appendChild(p);
    }
    if (nearEnd || messages.length && messages[messages.length - 1].mine) { box.scrollTop = box.scrollHeight; }
  }

  function poll() {
    fetch(box.dataset.poll + "?who=" + encodeURIComponent(who), {cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) { if (body) { render(body.messages); } })
      .catch(function () { /* the demo restarting: try again next tick */ })
      .finally(function () { setTimeout(poll, 1000); });
  }

  form.addEventListener("submit", function (event) {
    event.preventDefault();
    var text = input.value.trim();
    if (!text) { return; }
    input.value = "";
    fetch(form.action, {method: "POST", headers: {"Content-Type": "application/json"},
                        body: JSON.stringify({who: who, text: text})})
      .then(function (r) { return r.json(); })
      .then(function (body) { if (body.messages) { render(body.messages); } })
      .catch(function () { input.value = text; });
    input.focus();
  });

  document.querySelectorAll("[data-fill]").forEach(function (link) {
    link.addEventListener("click", function (event) {
      event.preventDefault();
      input.value = link.dataset.fill;
      input.focus();
    });
  });

  if (picker) {
    picker.addEventListener("change", function () { picker.form.submit(); });
  }
  shown = Array.prototype.map.call(box.querySelectorAll(".bubble"), function (b) { return b.dataset.id; }).join(",");
  box.scrollTop = box.scrollHeight;
  poll();
})();
