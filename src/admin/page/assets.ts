// The admin page's stylesheet and its one script (copy buttons), served from memory so the
// compiled binary needs no files. Everything else works without JavaScript.

export const ADMIN_CSS = `
:root { --fg: #1d2330; --muted: #5b6475; --line: #d9dde5; --bg: #f6f7f9; --card: #fff; --accent: #2e5bd8; --bad: #b42318; --good: #067647; --warn: #b54708; }
* { box-sizing: border-box; }
body { margin: 0; font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: var(--fg); background: var(--bg); }
header { display: flex; flex-wrap: wrap; gap: .5rem 1.25rem; align-items: center; padding: .75rem 1rem; background: var(--card); border-bottom: 1px solid var(--line); }
header .brand { font-weight: 700; margin-right: auto; }
header a { color: var(--fg); text-decoration: none; }
header form { margin: 0; }
main { max-width: 1100px; margin: 0 auto; padding: 1rem; }
h1 { font-size: 1.4rem; margin: .25rem 0 1rem; }
h2 { font-size: 1.1rem; margin: 1.5rem 0 .5rem; }
a { color: var(--accent); }
section.card { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: 1rem; margin-bottom: 1rem; }
.scroll { overflow-x: auto; -webkit-overflow-scrolling: touch; }
table { border-collapse: collapse; width: 100%; background: var(--card); }
th, td { text-align: left; padding: .45rem .6rem; border-bottom: 1px solid var(--line); white-space: nowrap; vertical-align: top; }
th { font-weight: 600; color: var(--muted); font-size: .85rem; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
form.stack { display: grid; gap: .6rem; grid-template-columns: repeat(auto-fit, minmax(180px, 1fr)); align-items: end; }
form.inline { display: inline; margin: 0; }
label { display: grid; gap: .2rem; font-size: .85rem; color: var(--muted); }
fieldset { border: 1px solid var(--line); border-radius: 6px; padding: .4rem .6rem; margin: 0; font-size: .85rem; color: var(--muted); }
fieldset label { display: inline-flex; gap: .3rem; margin-right: .8rem; color: var(--fg); }
input, select, button { font: inherit; padding: .45rem .55rem; border: 1px solid var(--line); border-radius: 6px; background: #fff; color: var(--fg); min-width: 0; }
button { background: var(--accent); color: #fff; border-color: var(--accent); cursor: pointer; }
button.secondary { background: #fff; color: var(--fg); border-color: var(--line); }
button.danger { background: #fff; color: var(--bad); border-color: var(--bad); }
.notice, .error, .secret { border-radius: 8px; padding: .75rem 1rem; margin-bottom: 1rem; }
.notice { background: #ecfdf3; border: 1px solid #abefc6; }
.error { background: #fef3f2; border: 1px solid #fecdca; color: var(--bad); }
.secret { background: #fffaeb; border: 2px solid var(--warn); }
.secret code { display: block; padding: .6rem; margin: .5rem 0; background: #fff; border: 1px solid var(--line); border-radius: 6px; font-size: 1rem; word-break: break-all; user-select: all; }
.status { display: inline-block; padding: 0 .45rem; border-radius: 999px; font-size: .8rem; border: 1px solid currentColor; }
.status.active { color: var(--good); } .status.revoked, .status.expired { color: var(--bad); } .status.rotating { color: var(--warn); }
.muted { color: var(--muted); }
.stats { display: grid; grid-template-columns: repeat(auto-fit, minmax(150px, 1fr)); gap: .75rem; margin-bottom: 1rem; }
.stats div { background: var(--card); border: 1px solid var(--line); border-radius: 8px; padding: .6rem .8rem; }
.stats strong { display: block; font-size: 1.2rem; }
svg.chart { width: 100%; height: auto; display: block; }
svg.chart text { font-size: 11px; fill: var(--muted); }
.pager { display: flex; justify-content: space-between; margin-top: .5rem; }
.login { max-width: 380px; margin: 10vh auto; }
@media (max-width: 600px) {
  main { padding: .6rem; }
  th, td { padding: .4rem; font-size: .85rem; }
  form.stack { grid-template-columns: 1fr; }
}
`;

/** Reveals the copy buttons (hidden without JS) and copies the named element's text. */
export const COPY_SCRIPT = `
document.querySelectorAll("button[data-copy]").forEach(function (button) {
  button.hidden = false;
  button.addEventListener("click", function () {
    var target = document.getElementById(button.getAttribute("data-copy"));
    var text = target ? target.textContent.trim() : "";
    var done = function () { button.textContent = "Copied"; };
    if (navigator.clipboard && window.isSecureContext) {
      navigator.clipboard.writeText(text).then(done, function () { select(target); });
    } else {
      select(target);
      try { if (document.execCommand("copy")) done(); } catch (e) {}
    }
  });
});
function select(element) {
  var range = document.createRange();
  range.selectNodeContents(element);
  var selection = window.getSelection();
  selection.removeAllRanges();
  selection.addRange(range);
}
`;
