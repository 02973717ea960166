"""The page template and its stylesheet, inline so the package needs no asset files.

Sized in ``rem`` from a root font that grows with the viewport: readable on a laptop
and, on a 1920×1080 wall screen, from across the room. Panels flow in a grid of two
columns on wide screens and one on narrow ones.
"""

from __future__ import annotations

CSS = """
:root { font-size: clamp(13px, 0.3vw + 10px, 17px); }
* { box-sizing: border-box; }
body { margin: 0; font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif;
       background: #f3f4f6; color: #111827; }
nav.top { display: flex; align-items: center; gap: 1.2rem; padding: 0.5rem 1.2rem;
          background: #111827; color: #f9fafb; flex-wrap: wrap; }
nav.top .brand { font-weight: 700; font-size: 1.25rem; margin-right: 0.8rem; }
nav.top a.nav { color: #d1d5db; text-decoration: none; font-size: 1.05rem; }
nav.top a.nav:hover { color: #fff; text-decoration: underline; }
.picker { margin-left: auto; display: flex; gap: 0.5rem; align-items: center; }
.picker .preset { width: 9rem; color: #111827; }
.picker .every { width: 10rem; color: #111827; }
.range-input { width: 11rem; padding: 0.35rem 0.5rem; border-radius: 4px; border: 1px solid #9ca3af;
               color: #111827; background: #fff; font-size: 0.95rem; }
button.apply { padding: 0.35rem 0.9rem; border-radius: 4px; border: 0; background: #2563eb;
               color: #fff; font-weight: 600; cursor: pointer; }
main { padding: 0.8rem 1.2rem 2rem; }
.page-head { display: flex; align-items: baseline; gap: 1rem; flex-wrap: wrap; margin-bottom: 0.6rem; }
h1 { font-size: 1.6rem; margin: 0.2rem 0; }
.subtitle { color: #4b5563; font-size: 1rem; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(38rem, 1fr)); gap: 0.9rem; }
.panel { background: #fff; border-radius: 8px; padding: 0.8rem 1rem; box-shadow: 0 1px 2px rgba(0,0,0,.08);
         min-width: 0; }
.panel.wide { grid-column: 1 / -1; }
.panel h2 { font-size: 1.15rem; margin: 0 0 0.2rem; }
.note { color: #6b7280; margin: 0 0 0.5rem; font-size: 0.9rem; }
.table-wrap { overflow-x: auto; max-height: 32rem; overflow-y: auto; }
table { border-collapse: collapse; width: 100%; font-size: 0.95rem; }
th { text-align: left; color: #374151; font-weight: 600; border-bottom: 2px solid #e5e7eb;
     padding: 0.35rem 0.6rem; position: sticky; top: 0; background: #fff; }
td { border-bottom: 1px solid #f3f4f6; padding: 0.35rem 0.6rem; vertical-align: top; }
td a { color: #1d4ed8; }
.empty { color: #6b7280; padding: 1rem 0; }
.error { color: #b91c1c; font-size: 1.1rem; }
.kpis { display: flex; gap: 0.9rem; flex-wrap: wrap; grid-column: 1 / -1; }
.kpi { background: #fff; border-radius: 8px; padding: 0.6rem 1rem; box-shadow: 0 1px 2px rgba(0,0,0,.08);
       min-width: 11rem; }
.kpi .v { font-size: 1.7rem; font-weight: 700; }
.kpi .k { color: #6b7280; font-size: 0.9rem; }
.kpi.bad .v { color: #b91c1c; }
.badge { display: inline-block; padding: 0.1rem 0.5rem; border-radius: 999px; font-size: 0.85rem;
         background: #e5e7eb; color: #111827; white-space: nowrap; }
.badge.network_congestion { background: #dbeafe; color: #1e40af; }
.badge.noisy_neighbor { background: #fee2e2; color: #991b1b; }
.badge.gpu_underutilized { background: #dcfce7; color: #166534; }
.badge.cpu_saturation { background: #ffedd5; color: #9a3412; }
.badge.load_surge { background: #f3e8ff; color: #6b21a8; }
.hot { color: #b91c1c; font-weight: 700; }
.ok { color: #15803d; }
.story { font-size: 1.1rem; line-height: 1.5; }
.culprit { font-family: ui-monospace, SFMono-Regular, Menlo, monospace; }
.login { max-width: 26rem; margin: 6rem auto; background: #fff; padding: 1.5rem 2rem; border-radius: 8px;
         box-shadow: 0 1px 3px rgba(0,0,0,.15); }
.login input { width: 100%; padding: 0.5rem; margin: 0.6rem 0; font-size: 1rem; }
"""

# plotly.js (4.8 MB) is fetched and parsed only once a page's first graph mounts, that is
# after the page's callback has answered: on a day's range it spent 0.3-2 s on the
# critical path after the server's work. Here its load starts as soon as Dash has sent its
# first callback request (``fetch``), so it parses while the server renders; started any
# earlier it would hold up the requests themselves. Until it has run, ``window.Plotly`` is
# a promise of it: ``dcc.Graph`` waits on whatever ``window.Plotly`` holds
# (``Promise.resolve``) rather than loading the script again, and the script replaces the
# promise with itself when it runs (the URL of Dash's own load: one cache entry).
PLOTLY_EARLY = """
(function () {
    var started = false;
    var fetchFirst = window.fetch;
    var settle = {};
    window.Plotly = new Promise(function (resolve, reject) {
        settle.resolve = resolve;
        settle.reject = reject;
    });
    window.Plotly.catch(function () { delete window.Plotly; });
    function load() {
        if (started) return;
        started = true;
        var s = document.createElement("script");
        s.src = "/_dash-component-suites/plotly/package_data/plotly.min.js";
        s.async = true;
        s.onload = function () { settle.resolve(window.Plotly); };
        s.onerror = settle.reject;
        document.head.appendChild(s);
    }
    window.fetch = function (input) {
        var sent = fetchFirst.apply(this, arguments);
        if (!started && String((input && input.url) || input).indexOf("_dash-update-component") >= 0) {
            setTimeout(load, 0);
        }
        return sent;
    };
    window.addEventListener("load", function () { setTimeout(load, 3000); });
})();
"""

INDEX = (
    """<!DOCTYPE html>
<html>
    <head>
        {%metas%}
        <title>{%title%}</title>
        {%favicon%}
        {%css%}
        <style>"""
    + CSS
    + """</style>
        <script>"""
    + PLOTLY_EARLY
    + """</script>
    </head>
    <body>
        {%app_entry%}
        <footer>
            {%config%}
            {%scripts%}
            {%renderer%}
        </footer>
    </body>
</html>"""
)
