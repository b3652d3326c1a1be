// Live pages without a framework: poll the page's stamp; when it moves, fetch the page again
// and swap its <main>, unless someone is typing in it. Without JavaScript the pages still work.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !main.dataset.stampUrl) return;
  var current = main.dataset.stamp;
  var busy = false;

  function typing() {
    var el = document.activeElement;
    return el && main.contains(el) && /^(INPUT|TEXTAREA|SELECT)$/.test(el.tagName) && el.value;
  }

  function refresh() {
    return fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html) return;
        var next = new DOMParser().parseFromString(html, "text/html");
        var fresh = next.getElementById("main");
        if (!fresh) return;
        main.innerHTML = fresh.innerHTML;
        current = fresh.dataset.stamp || current;
        main.dataset.stamp = current;
        document.title = next.title;
      });
  }

  function poll() {
    if (busy || document.hidden || typing()) return;
    busy = true;
    fetch(main.dataset.stampUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (body && body.stamp !== current) {
          current = body.stamp;
          return refresh();
        }
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }

  setInterval(poll, 1000);
})();
