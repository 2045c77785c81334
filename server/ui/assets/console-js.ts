// The console's only script (served as /assets/console.js; the CSP allows no inline script):
// progressive enhancement over server-rendered pages. It asks before destructive actions, ticks
// soak countdowns, and listens to /events (server-sent events from the server's event stream):
// on a change it fetches the page again and swaps the live region, so progress shows without a
// reload. Without it every page still works, just without live updates and confirmations.
export const CONSOLE_JS = `
'use strict';
(function () {
  document.addEventListener('submit', function (e) {
    var form = e.target;
    var text = form && form.getAttribute && form.getAttribute('data-confirm');
    if (text && !window.confirm(text)) e.preventDefault();
  }, true);

  function fmt(ms) {
    var s = Math.max(0, Math.round(ms / 1000));
    return s >= 60 ? Math.floor(s / 60) + 'm ' + (s % 60) + 's' : s + 's';
  }
  function tick() {
    var els = document.querySelectorAll('[data-countdown]');
    for (var i = 0; i < els.length; i++) {
      var left = Date.parse(els[i].getAttribute('data-countdown')) - Date.now();
      els[i].textContent = left > 0 ? 'soak ends in ' + fmt(left) : 'soak over';
    }
  }
  setInterval(tick, 1000);
  tick();

  var main = document.getElementById('main');
  if (!main || main.getAttribute('data-live') !== 'on' || !window.EventSource) return;
  var state = document.getElementById('live-state');
  var pending = false, running = false;
  function refresh() {
    if (running) { pending = true; return; }
    running = true;
    fetch(location.href, { credentials: 'same-origin', headers: { 'x-ferry-live': '1' } })
      .then(function (r) { return r.ok ? r.text() : null; })
      .then(function (text) {
        if (text === null) return;
        var doc = new DOMParser().parseFromString(text, 'text/html');
        var next = doc.getElementById('main');
        var active = document.activeElement;
        // Never swap under someone typing in a field.
        if (next && !(active && main.contains(active) && /^(INPUT|TEXTAREA|SELECT)$/.test(active.tagName))) {
          main.innerHTML = next.innerHTML;
          tick();
          document.dispatchEvent(new CustomEvent('ferry:refreshed'));
        }
      })
      .catch(function () {})
      .then(function () {
        running = false;
        if (pending) { pending = false; refresh(); }
      });
  }
  var timer = null;
  // "since": the changes the page was rendered after; the server sends a change at once when more
  // happened between the render and this stream's (re)connection, so that gap is never missed.
  var source = new EventSource('/events?since=' + encodeURIComponent(main.getAttribute('data-live-since') || ''));
  source.addEventListener('change', function () {
    if (timer) return;
    timer = setTimeout(function () { timer = null; refresh(); }, 150);
  });
  source.onopen = function () { if (state) { state.textContent = 'live'; state.className = 'live'; } };
  source.onerror = function () { if (state) { state.textContent = 'reconnecting'; state.className = 'live off'; } };
})();
`;
