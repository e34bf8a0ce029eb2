// Live events on the site page: Server-Sent Events from /live/events,
// one JSON object per event ({iso, time, daemon, text}), newest on top,
// the list kept at its data-max length. Text only (textContent): an event
// field can never become markup. EventSource reconnects by itself.
"use strict";
(function () {
  var list = document.getElementById("events");
  var dot = document.getElementById("live-state");
  if (!list || !window.EventSource) return;
  var max = parseInt(list.getAttribute("data-max"), 10) || 20;
  var source = new EventSource("/live/events");
  source.onopen = function () { dot.className = "live-dot on"; dot.title = "live"; };
  source.onerror = function () { dot.className = "live-dot"; dot.title = "reconnecting"; };
  source.addEventListener("site", function (msg) {
    var e = JSON.parse(msg.data);
    var empty = document.getElementById("no-events");
    if (empty) empty.remove();
    var li = document.createElement("li");
    var time = document.createElement("time");
    time.setAttribute("datetime", e.iso);
    time.textContent = e.time;
    var who = document.createElement("strong");
    who.textContent = e.daemon;
    li.appendChild(time);
    li.appendChild(who);
    li.appendChild(document.createTextNode(" " + e.text));
    list.insertBefore(li, list.firstChild);
    while (list.children.length > max) list.removeChild(list.lastChild);
  });
  window.addEventListener("pagehide", function () { source.close(); });
})();
