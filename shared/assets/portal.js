// Enhancements only: every page works without this script.
(function () {
  "use strict";

  // Copy buttons: data-copy names the input whose value is copied.
  document.querySelectorAll("button[data-copy]").forEach(function (button) {
    button.addEventListener("click", function () {
      var input = document.getElementById(button.getAttribute("data-copy"));
      if (!input) return;
      var status = button.closest("div").parentNode.querySelector(".copied");
      var done = function () { if (status) status.textContent = "Copied to the clipboard."; };
      input.select();
      if (navigator.clipboard && window.isSecureContext) {
        navigator.clipboard.writeText(input.value).then(done, function () { document.execCommand("copy"); done(); });
      } else {
        document.execCommand("copy");
        done();
      }
    });
  });

  // "New company" opens the "Add new company" dialog; Add shows the Link URL in it.
  var opener = document.querySelector("a[data-dialog]");
  var dialog = opener && document.getElementById(opener.getAttribute("data-dialog"));
  if (opener && dialog && typeof dialog.showModal === "function") {
    opener.addEventListener("click", function (event) {
      event.preventDefault();
      dialog.showModal();
      var first = dialog.querySelector("input[name=name]");
      if (first) first.focus();
    });
    dialog.addEventListener("close", function () {
      if (dialog.querySelector("#created")) window.location.reload();
    });
    dialog.addEventListener("submit", function (event) {
      var form = event.target;
      if (!form.classList.contains("company-form")) return;
      event.preventDefault();
      var button = form.querySelector("button[type=submit]");
      if (button) button.disabled = true;
      fetch(form.action, {
        method: "POST",
        credentials: "same-origin",
        headers: { "Content-Type": "application/x-www-form-urlencoded" },
        body: new URLSearchParams(new FormData(form)).toString()
      }).then(function (response) { return response.text(); }).then(function (html) {
        var page = new DOMParser().parseFromString(html, "text/html");
        var result = page.getElementById("add-result");
        var body = dialog.querySelector(".dialog-body");
        if (!result || !body) { form.submit(); return; }
        var title = body.querySelector("h2");
        body.innerHTML = "";
        if (title) body.appendChild(title);
        Array.prototype.forEach.call(result.childNodes, function (node) { body.appendChild(document.importNode(node, true)); });
        var heading = body.querySelector("#created-heading") || body.querySelector("#error-summary");
        if (heading) heading.focus();
        body.querySelectorAll("button[data-copy]").forEach(function (copy) {
          copy.addEventListener("click", function () {
            var input = document.getElementById(copy.getAttribute("data-copy"));
            input.select();
            if (navigator.clipboard && window.isSecureContext) { navigator.clipboard.writeText(input.value); } else { document.execCommand("copy"); }
            var status = body.querySelector(".copied");
            if (status) status.textContent = "Copied to the clipboard.";
          });
        });
      }).catch(function () { form.submit(); });
    });
  }

  // Live progress on a company page while a sync runs.
  var section = document.getElementById("data-status");
  if (section && section.getAttribute("data-running") === "true") {
    var url = section.getAttribute("data-status-url");
    var poll = function () {
      fetch(url, { credentials: "same-origin", headers: { Accept: "application/json" } })
        .then(function (response) { return response.ok ? response.json() : null; })
        .then(function (status) {
          if (!status) return;
          status.items.forEach(function (item) {
            var bar = document.getElementById("progress-" + item.slot);
            var state = document.getElementById("state-" + item.slot);
            if (bar) { bar.value = item.progress; bar.textContent = item.progress + "%"; }
            if (state) state.textContent = item.status;
          });
          if (status.running) { setTimeout(poll, 1000); } else { window.location.reload(); }
        })
        .catch(function () { setTimeout(poll, 5000); });
    };
    setTimeout(poll, 1000);
  }
})();
