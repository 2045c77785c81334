// The console's stylesheet, shipped inside the server (dist/ and the .deb) as a module: no build
// step, no file to find at run time. Calm colours with AA contrast; large type on wide screens
// (a wall display), states always spelled out beside their colour.
export const CONSOLE_CSS = `
:root { --bg: #f7f7f5; --fg: #1d2125; --muted: #5c6670; --line: #d9dcdf; --card: #fff; --accent: #1f5fa8;
  --ok: #1e6b3a; --ok-bg: #e3f2e8; --warn: #7a5200; --warn-bg: #fbf0d6; --bad: #a1262b; --bad-bg: #fbe4e4; --info-bg: #e4edf8; }
@media (prefers-color-scheme: dark) {
  :root { --bg: #16191c; --fg: #e6e8ea; --muted: #9aa4ad; --line: #333a40; --card: #1e2226; --accent: #7fb0ea;
    --ok: #8fd3a6; --ok-bg: #1c3326; --warn: #f0c36a; --warn-bg: #3a2f16; --bad: #f19a9d; --bad-bg: #3d1d1f; --info-bg: #1d2a3a; }
}
* { box-sizing: border-box; }
html { font: 14px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; background: var(--bg); color: var(--fg); }
@media (min-width: 1800px) { html { font-size: 18px; } }
body { margin: 0; }
a { color: var(--accent); }
a:focus-visible, button:focus-visible, input:focus-visible, summary:focus-visible { outline: 3px solid var(--accent); outline-offset: 2px; }
.top { display: flex; align-items: center; gap: 1.5rem; padding: .5rem 1.25rem; background: var(--card); border-bottom: 1px solid var(--line); flex-wrap: wrap; }
.brand { font-weight: 700; text-decoration: none; color: var(--fg); letter-spacing: .02em; }
.top ul { display: flex; gap: 1rem; list-style: none; margin: 0; padding: 0; flex-wrap: wrap; }
.top nav a { text-decoration: none; color: var(--muted); padding: .25rem 0; }
.top nav a[aria-current="page"] { color: var(--fg); border-bottom: 2px solid var(--accent); }
.who { margin-left: auto; display: flex; gap: .75rem; align-items: center; color: var(--muted); }
.live { font-size: .8rem; padding: 0 .4rem; border-radius: 3px; background: var(--ok-bg); color: var(--ok); }
.live.off { background: var(--warn-bg); color: var(--warn); }
main { padding: 1rem 1.25rem 3rem; max-width: 1600px; }
h1 { font-size: 1.35rem; margin: .25rem 0 1rem; }
h2 { font-size: 1.05rem; margin: 1.5rem 0 .5rem; }
.muted { color: var(--muted); }
.error { color: var(--bad); }
code, pre { font-family: ui-monospace, "SFMono-Regular", Menlo, Consolas, monospace; font-size: .9em; }
pre { background: var(--card); border: 1px solid var(--line); padding: .5rem .75rem; overflow: auto; max-height: 24rem; white-space: pre-wrap; }
.tiles { display: flex; gap: .75rem; flex-wrap: wrap; }
.tile { background: var(--card); border: 1px solid var(--line); border-radius: 6px; padding: .5rem 1rem; min-width: 8rem; color: var(--muted); }
.tile .n { display: block; font-size: 1.6rem; font-weight: 600; color: var(--fg); }
.tile.ok .n { color: var(--ok); } .tile.warn .n { color: var(--warn); } .tile.bad .n { color: var(--bad); }
table.grid { border-collapse: collapse; width: 100%; background: var(--card); border: 1px solid var(--line); }
.grid th, .grid td { text-align: left; padding: .3rem .6rem; border-bottom: 1px solid var(--line); vertical-align: top; }
.grid thead th { font-weight: 600; color: var(--muted); font-size: .85rem; }
.badge { display: inline-block; padding: 0 .45rem; border-radius: 3px; font-size: .8rem; background: var(--info-bg); }
.s-succeeded, .s-completed, .s-online, .s-authorized, .s-ok, .s-low { background: var(--ok-bg); color: var(--ok); }
.s-failed, .s-halted, .s-aborted, .s-offline, .s-rolled-back, .s-error, .s-high, .s-revoked, .s-timeout { background: var(--bad-bg); color: var(--bad); }
.s-paused, .s-waiting, .s-soaking, .s-drifted, .s-rolling-back, .s-medium, .s-retired, .s-skipped { background: var(--warn-bg); color: var(--warn); }
.tag { display: inline-block; font-size: .8rem; padding: 0 .35rem; border: 1px solid var(--line); border-radius: 3px; margin: 0 .15rem .15rem 0; }
.facts { display: grid; grid-template-columns: repeat(auto-fill, minmax(14rem, 1fr)); gap: .25rem 1.5rem; margin: 0 0 1rem; }
.facts dt { color: var(--muted); font-size: .8rem; } .facts dd { margin: 0; }
.actions { display: flex; gap: .5rem; align-items: center; flex-wrap: wrap; }
form.inline { display: inline; margin: 0; }
button, .button { font: inherit; padding: .3rem .8rem; border: 1px solid var(--accent); background: var(--card); color: var(--accent); border-radius: 4px; cursor: pointer; text-decoration: none; }
button.danger { border-color: var(--bad); color: var(--bad); }
button.link { border: 0; padding: 0; color: var(--accent); background: none; text-decoration: underline; }
.search { display: flex; gap: .5rem; align-items: center; margin: .5rem 0; flex-wrap: wrap; }
.search input { font: inherit; padding: .3rem .5rem; border: 1px solid var(--line); background: var(--card); color: var(--fg); min-width: 16rem; }
ul.attention, ol.timeline, ol.ops { list-style: none; padding: 0; margin: 0; }
.attention li, .timeline li, .ops li { padding: .25rem 0; border-bottom: 1px solid var(--line); }
progress { width: 10rem; vertical-align: middle; }
table.spread { border-collapse: collapse; width: 100%; }
.spread th { text-align: left; width: 12rem; font-weight: 500; } .spread td { padding: .2rem .5rem; }
svg.bar { width: 100%; height: 1.1rem; display: block; background: var(--line); }
.legend { white-space: nowrap; width: 1%; }
.c0 { fill: #1f5fa8; } .c1 { fill: #2f8f5b; } .c2 { fill: #b57600; } .c3 { fill: #8b4fb0; } .c4 { fill: #b5452d; } .c5 { fill: #4f6f7f; }
.key::before { content: "■ "; } .key.c0::before { color: #1f5fa8; } .key.c1::before { color: #2f8f5b; } .key.c2::before { color: #b57600; }
.key.c3::before { color: #8b4fb0; } .key.c4::before { color: #b5452d; } .key.c5::before { color: #4f6f7f; }
svg.chart { width: 100%; height: 8rem; display: block; background: var(--line); }
.line-finished, .line-failed { fill: none; stroke-width: 2; } .line-finished { stroke: #2f8f5b; } .line-failed { stroke: #b5452d; }
.k-finished::before { color: #2f8f5b; } .k-failed::before { color: #b5452d; }
.progress-chart { margin: 0; } .progress-chart figcaption { font-size: .85rem; }
h3 { font-size: .95rem; margin: .75rem 0 .25rem; } h4 { font-size: .85rem; color: var(--muted); font-weight: 600; margin: .25rem 0; }
.drift { display: flex; gap: 2rem; flex-wrap: wrap; align-items: baseline; } .drift h3 { flex-basis: 100%; }
ul.files { list-style: none; margin: 0; padding: 0; max-height: 16rem; overflow: auto; }
ul.violations { margin: .25rem 0 .75rem; color: var(--bad); }
.sr-only { position: absolute; width: 1px; height: 1px; overflow: hidden; clip: rect(0 0 0 0); }
@media print { .top, .noprint, .actions { display: none; } html { background: #fff; color: #000; } pre { max-height: none; } }
`;
