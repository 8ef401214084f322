// wtool-registry package browser: results as you type, and copy buttons. The pages work
// without this file; it only adds to them. Nothing here writes HTML: text goes in as text.
"use strict";
(function () {
  function copyButtons() {
    document.querySelectorAll("button[data-copy]").forEach(function (button) {
      button.addEventListener("click", function () {
        var target = document.getElementById(button.getAttribute("data-copy"));
        if (!target) return;
        var text = target.textContent;
        var done = function () {
          button.textContent = "Copied";
          button.setAttribute("data-copied", text);
          setTimeout(function () { button.textContent = "Copy"; }, 1500);
        };
        if (navigator.clipboard && window.isSecureContext) {
          navigator.clipboard.writeText(text).then(done, function () { selectAndCopy(target, done); });
        } else {
          selectAndCopy(target, done);
        }
      });
    });
  }

  function selectAndCopy(node, done) {
    var range = document.createRange();
    range.selectNodeContents(node);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    try { document.execCommand("copy"); } catch (e) { /* the text stays selected */ }
    done();
  }

  function el(tag, text, cls) {
    var node = document.createElement(tag);
    if (text !== undefined) node.textContent = text;
    if (cls) node.className = cls;
    return node;
  }

  function showResults(live, data) {
    live.replaceChildren();
    var heading = el("h2", data.total + " matching packages");
    live.appendChild(heading);
    var list = el("ul", undefined, "packages");
    list.id = "live-results";
    data.packages.forEach(function (p) {
      var item = el("li");
      var link = el("a", p.name, "name");
      link.href = "/" + p.name;
      item.appendChild(link);
      if (p.latest) { item.appendChild(document.createTextNode(" ")); item.appendChild(el("span", p.latest, "version")); }
      if (p.description) item.appendChild(el("p", p.description, "description"));
      if (p.matched_interfaces && p.matched_interfaces.length) {
        item.appendChild(el("p", "Interfaces: " + p.matched_interfaces.join(", "), "matched"));
      }
      list.appendChild(item);
    });
    live.appendChild(list);
  }

  function searchAsYouType() {
    var input = document.getElementById("q");
    var live = document.getElementById("live");
    if (!input || !live) return;
    var timer = null;
    var latest = 0;
    input.addEventListener("input", function () {
      clearTimeout(timer);
      timer = setTimeout(function () {
        var q = input.value.trim();
        var ticket = ++latest;
        if (!q) { live.replaceChildren(); return; }
        fetch("/?q=" + encodeURIComponent(q), { headers: { "Accept": "application/json" }, credentials: "same-origin" })
          .then(function (r) { return r.ok ? r.json() : null; })
          .then(function (data) { if (data && ticket === latest) showResults(live, data); })
          .catch(function () { /* the form still works */ });
      }, 150);
    });
  }

  document.addEventListener("DOMContentLoaded", function () {
    copyButtons();
    searchAsYouType();
  });
})();
