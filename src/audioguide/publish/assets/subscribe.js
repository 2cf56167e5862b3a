(function () {
  var button = document.getElementById("copy");
  var address = document.getElementById("feed-url");
  var status = document.getElementById("copy-status");
  function report(ok) {
    status.textContent = ok ? button.dataset.copied : button.dataset.failed;
  }
  function selectAndCopy() {
    var range = document.createRange();
    range.selectNodeContents(address);
    var selection = window.getSelection();
    selection.removeAllRanges();
    selection.addRange(range);
    var ok = false;
    try { ok = document.execCommand("copy"); } catch (e) { ok = false; }
    report(ok);
  }
  button.hidden = false;
  button.addEventListener("click", function () {
    var text = address.textContent;
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(function () { report(true); }, selectAndCopy);
    } else {
      selectAndCopy();
    }
  });
})();
