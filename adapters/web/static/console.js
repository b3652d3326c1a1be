// Moments are written in UTC; show them in the reader's own zone (UTC stays on hover).
(function () {
  "use strict";
  var local = new Intl.DateTimeFormat(undefined, {
    year: "numeric", month: "2-digit", day: "2-digit",
    hour: "2-digit", minute: "2-digit", second: "2-digit", timeZoneName: "short"
  });
  function localize() {
    var moments = document.querySelectorAll("time[datetime]:not([data-local])");
    for (var i = 0; i < moments.length; i++) {
      var at = new Date(moments[i].getAttribute("datetime"));
      if (isNaN(at.getTime())) continue;
      moments[i].textContent = local.format(at);
      moments[i].setAttribute("data-local", "");
    }
  }
  localize();
  new MutationObserver(localize).observe(document.body, { childList: true, subtree: true });
})();

// Live pages without a framework: poll the page's stamp; when it moves, fetch the page again
// and swap its <main>. Nothing a person has typed or chosen is ever replaced: while a field
// differs from what the page came with, the page says it changed and waits for them (submit,
// or reload by choice). Without JavaScript the pages still work.
(function () {
  "use strict";
  var main = document.getElementById("main");
  if (!main || !main.dataset.stampUrl) return;
  var current = main.dataset.stamp;
  var busy = false;
  var notice = null;

  // A field the person changed: typed text, a choice in a list, a box ticked or cleared.
  function changed(el) {
    if (el.type === "hidden" || el.type === "submit" || el.type === "button") return false;
    if (el.type === "checkbox" || el.type === "radio") return el.checked !== el.defaultChecked;
    if (el.tagName === "SELECT") {
      // Without a `selected` attribute a single select starts on its first option.
      var marked = false;
      for (var i = 0; i < el.options.length; i++) marked = marked || el.options[i].defaultSelected;
      for (var j = 0; j < el.options.length; j++) {
        var initially = marked ? el.options[j].defaultSelected : !el.multiple && j === 0;
        if (el.options[j].selected !== initially) return true;
      }
      return false;
    }
    return el.value !== el.defaultValue;
  }

  function holding() {
    var fields = main.querySelectorAll("input, textarea, select");
    for (var i = 0; i < fields.length; i++) {
      if (changed(fields[i])) return true;
    }
    return false;
  }

  function warn() {
    if (notice) return;
    notice = document.createElement("p");
    notice.className = "flash";
    notice.setAttribute("role", "status");
    notice.id = "changed-underneath";
    notice.textContent =
      "This page changed since you started: what you typed or chose is kept. " +
      "Review before you submit, or reload to see the changes (and lose what you typed). ";
    var reload = document.createElement("button");
    reload.type = "button";
    reload.textContent = "Reload";
    reload.addEventListener("click", function () { location.reload(); });
    notice.appendChild(reload);
    main.insertBefore(notice, main.firstChild);
  }

  function refresh() {
    return fetch(location.href, { credentials: "same-origin", headers: { "Accept": "text/html" } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (html) {
        if (!html || holding()) return;  // typed while it loaded: keep it
        var next = new DOMParser().parseFromString(html, "text/html");
        var fresh = next.getElementById("main");
        if (!fresh) return;
        main.innerHTML = fresh.innerHTML;
        notice = null;
        current = fresh.dataset.stamp || current;
        main.dataset.stamp = current;
        document.title = next.title;
      });
  }

  function poll() {
    if (busy || document.hidden) return;
    busy = true;
    fetch(main.dataset.stampUrl, { credentials: "same-origin", cache: "no-store" })
      .then(function (r) { return r.ok ? r.json() : null; })
      .then(function (body) {
        if (!body || body.stamp === current) return;
        if (holding()) return warn();
        current = body.stamp;
        return refresh();
      })
      .catch(function () {})
      .then(function () { busy = false; });
  }

  // The retry warning follows the checkpoint chosen: what a retry from there would replay.
  main.addEventListener("change", function (event) {
    var select = event.target;
    if (!select.matches || !select.matches("select[data-replays]")) return;
    var warning = document.getElementById(select.id + "-warning");
    var chosen = select.options[select.selectedIndex];
    if (!warning || !chosen) return;
    var unsafe = chosen.getAttribute("data-unsafe") || "";
    var from = chosen.value ? "checkpoint " + chosen.value : "the start";
    warning.hidden = !unsafe;
    warning.textContent = "From " + from + ", a retry would replay side effects that are not " +
      "idempotent: " + unsafe + ". You will be asked to confirm.";
  });

  setInterval(poll, 1000);
})();
