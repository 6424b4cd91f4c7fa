// Flask-Admin's menus use href="javascript:void(0)" links; our Content-Security-Policy blocks
// javascript: URLs (no 'unsafe-inline'), and following one would log a violation. Cancel the
// navigation before it happens; the menus' own click handlers still run (no stopPropagation).
document.addEventListener(
  "click",
  function (event) {
    var link = event.target.closest && event.target.closest('a[href^="javascript:"]');
    if (link) {
      event.preventDefault();
    }
  },
  true
);
