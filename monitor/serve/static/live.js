// Live refresh without a full reload: poll /api/status; when the data stamp changes, fetch this page
// again and swap every [data-live] element by id, then tell the page scripts (charts, filters).
(function () {
  "use strict";
  var POLL_MS = 15000;
  var body = document.body;
  var state = document.getElementById("live-state");

  function say(text) { if (state) { state.textContent = text; } }

  function swap(html) {
    var doc = new DOMParser().parseFromString(html, "text/html");
    document.querySelectorAll("[data-live][id]").forEach(function (old) {
      var fresh = doc.getElementById(old.id);
      if (fresh) { old.replaceWith(document.importNode(fresh, true)); }
    });
    state = document.getElementById("live-state");
  }

  function check() {
    fetch("/api/status", {headers: {"Accept": "application/json"}, cache: "no-store"})
      .then(function (r) { return r.ok ? r.json() : Promise.reject(r.status); })
      .then(function (status) {
        if (status.stamp === body.dataset.stamp) { return null; }
        return fetch(location.href, {cache: "no-store"}).then(function (r) { return r.text(); }).then(function (html) {
          swap(html);
          body.dataset.stamp = status.stamp;
          say("updated " + new Date().toLocaleTimeString());
          document.dispatchEvent(new CustomEvent("divmon:refreshed", {detail: status}));
        });
      })
      .catch(function () { say("offline: retrying"); });
  }

  window.divmonLive = {check: check};
  setInterval(check, POLL_MS);
})();
