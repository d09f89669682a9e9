// Enhancement only: the Link pages work without JavaScript (paste the file's contents instead).
// Reads a chosen or dropped credentials file into the form, locally: nothing is sent until Continue.
(function () {
  "use strict";
  var box = document.querySelector(".js-only");
  var input = document.getElementById("credentials_file");
  var text = document.getElementById("credentials_text");
  var status = document.getElementById("file-status");
  var summary = document.getElementById("error-summary");
  if (summary) { summary.focus(); }
  if (!box || !input || !text) { return; }
  box.hidden = false;
  var fields = { "CLIENT ID": "client_id", "CLIENT SECRET": "client_secret", "ACCESS TOKEN": "access_token", "API PATH": "api_path" };
  function load(file) {
    if (!file || file.size > 16384) { status.textContent = "That does not look like a BigCommerce credentials file."; return; }
    var reader = new FileReader();
    reader.onload = function () {
      var found = 0;
      String(reader.result).split(/\r?\n/).forEach(function (line) {
        var at = line.indexOf(":");
        if (at < 0) { return; }
        var id = fields[line.slice(0, at).trim().toUpperCase()];
        var value = line.slice(at + 1).trim();
        if (id && value) { document.getElementById(id).value = value; found += 1; }
      });
      status.textContent = found === 4 ? "All four values were filled in from the file." : "The file had " + found + " of the 4 values; fill in the rest.";
    };
    reader.readAsText(file);
  }
  input.addEventListener("change", function () { load(input.files[0]); });
  var form = input.form;
  form.addEventListener("dragover", function (e) { e.preventDefault(); form.classList.add("dropping"); });
  form.addEventListener("dragleave", function () { form.classList.remove("dropping"); });
  form.addEventListener("drop", function (e) { e.preventDefault(); form.classList.remove("dropping"); load(e.dataTransfer.files[0]); });
})();
