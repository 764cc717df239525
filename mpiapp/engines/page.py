"""One self-contained HTML page of a results file: `mpiapp.report FILE --html OUT.html`.

Why a page: a run's summary, its main tables and every chart in one file that opens anywhere, is
mailed or archived as it is, and needs no server and no network. So everything is inline: the charts
as PNG data URIs, the style and a few lines of plain JavaScript that sort a table by the column
header clicked (numbers as numbers, text as text). No framework, nothing fetched.

A job's report module (JobInfo.report) gives the parts: `text(path, ...)` (the summary),
`plot(path, dir, ...)` (the charts) and `HTML_TABLES` (the tables shown, in order; each read with
mpiapp.results.load, so codes are names and times are dates). The page names the file, the job and
when it was made, and links each section from a contents list at the top.
"""

from __future__ import annotations

import base64
import html
import os

#: rows of a table shown on the page at most (the file has them all; the page says how many)
MAX_ROWS = 1000
#: meta tag that marks a page written by this module (an existing OUT.html is replaced only then)
GENERATOR = "mpiapp report"

_STYLE = """
body{font-family:system-ui,-apple-system,'Segoe UI',sans-serif;margin:0 auto;max-width:1400px;padding:0 1.5em 3em;
color:#1b1b1b;background:#fff}
h1{font-size:1.5em;margin:1em 0 .2em}h2{font-size:1.25em;margin-top:2em;border-bottom:1px solid #ccc}
h3{font-size:1.05em;margin:1.5em 0 .4em}
nav ul{columns:3;font-size:.9em}pre{background:#f6f6f6;padding:1em;overflow-x:auto;font-size:.8em;line-height:1.35}
.tablewrap{max-height:32em;overflow:auto;border:1px solid #ddd}
table.data{border-collapse:collapse;font-size:.78em;white-space:nowrap}
table.data th{position:sticky;top:0;background:#e9eef5;cursor:pointer;padding:.3em .6em;text-align:right;
user-select:none}
table.data th.sorted-asc::after{content:' \\25B2'}table.data th.sorted-desc::after{content:' \\25BC'}
table.data td{padding:.2em .6em;text-align:right;border-top:1px solid #eee}
table.data td.text{text-align:left}table.data tr:nth-child(even) td{background:#fafafa}
figure{margin:1.2em 0}figure img{max-width:100%;height:auto;border:1px solid #eee}
figcaption{font-size:.85em;color:#555}.note{color:#555;font-size:.85em}
"""

# sort a table by the clicked header: numbers (data-v) numerically, then text; a second click reverses
_SCRIPT = """
document.querySelectorAll('table.data').forEach(function (table) {
  table.querySelectorAll('th').forEach(function (th, col) {
    th.addEventListener('click', function () {
      var body = table.tBodies[0];
      var asc = !th.classList.contains('sorted-asc');
      table.querySelectorAll('th').forEach(function (h) { h.classList.remove('sorted-asc', 'sorted-desc'); });
      th.classList.add(asc ? 'sorted-asc' : 'sorted-desc');
      var rows = Array.prototype.slice.call(body.rows);
      rows.sort(function (a, b) {
        var x = a.cells[col], y = b.cells[col];
        var u = parseFloat(x.getAttribute('data-v')), v = parseFloat(y.getAttribute('data-v'));
        var c = (!isNaN(u) && !isNaN(v)) ? u - v : x.textContent.localeCompare(y.textContent);
        if (isNaN(u) !== isNaN(v)) { c = isNaN(u) ? 1 : -1; }
        return asc ? c : -c;
      });
      rows.forEach(function (r) { body.appendChild(r); });
    });
  });
});
"""


def anchor(kind: str, name: str) -> str:
    """An element id for a section: letters, digits, '-' and '_' only."""
    import re

    return f"{kind}-" + re.sub(r"[^A-Za-z0-9_-]", "_", name)


def _cell(v) -> str:
    """One <td>: numbers right-aligned with their value in data-v (for sorting), text left-aligned."""
    import math

    import numpy as np
    import pandas as pd

    if isinstance(v, (bool, np.bool_)):
        return f'<td data-v="{int(v)}">{v}</td>'
    if isinstance(v, (int, np.integer)):
        return f'<td data-v="{int(v)}">{int(v)}</td>'
    if isinstance(v, (float, np.floating)):
        f = float(v)
        if math.isnan(f):
            return "<td>NaN</td>"
        return f'<td data-v="{f!r}">{f:.6g}</td>'
    if isinstance(v, pd.Timestamp):
        if pd.isna(v):
            return "<td>NaT</td>"
        text = str(v.date()) if v == v.normalize() else v.strftime("%Y-%m-%d %H:%M")
        return f'<td class="text" data-v="{v.value}">{html.escape(text)}</td>'
    if v is None or (not isinstance(v, str) and pd.isna(v)):
        return "<td></td>"
    return f'<td class="text">{html.escape(str(v))}</td>'


def table_html(name: str, df, note: str = "") -> str:
    """A sortable table of a DataFrame's first MAX_ROWS rows, under an <h3> with its name."""
    shown = df.head(MAX_ROWS)
    head = "".join(f"<th>{html.escape(str(c))}</th>" for c in shown.columns)
    rows = []
    for rec in shown.itertuples(index=False, name=None):
        rows.append("<tr>" + "".join(_cell(v) for v in rec) + "</tr>")
    count = f"{len(df):,} rows" + (f", the first {MAX_ROWS:,} shown" if len(df) > MAX_ROWS else "")
    return (
        f'<section id="{anchor("table", name)}"><h3>{html.escape(name)}</h3>'
        f'<p class="note">{count}{(" — " + html.escape(note)) if note else ""}</p>'
        f'<div class="tablewrap"><table class="data" data-table="{html.escape(name)}"><thead><tr>{head}</tr></thead>'
        f"<tbody>{''.join(rows)}</tbody></table></div></section>"
    )


def figure_html(png_path: str) -> str:
    """A chart as an inline PNG (data URI) with its file name as caption."""
    with open(png_path, "rb") as fh:
        data = base64.b64encode(fh.read()).decode("ascii")
    name = os.path.splitext(os.path.basename(png_path))[0]
    return (
        f'<figure id="{anchor("chart", name)}"><img alt="{html.escape(name)}" '
        f'src="data:image/png;base64,{data}"><figcaption>{html.escape(os.path.basename(png_path))}'
        "</figcaption></figure>"
    )


def page(path: str, attrs: dict, summary: str, tables: list, charts: list, notes: list) -> str:
    """The whole page. tables: [(name, DataFrame, note)]; charts: PNG paths; notes: lines about what
    is missing (a chart that could not be drawn, and why)."""
    job = attrs.get("job", "score")
    title = f"mpiapp {job}: {os.path.basename(path)}"
    toc = ['<li><a href="#summary">summary</a></li>']
    toc += [f'<li><a href="#{anchor("table", n)}">table {html.escape(n)}</a></li>' for n, _, _ in tables]
    toc += [
        f'<li><a href="#{anchor("chart", os.path.splitext(os.path.basename(c))[0])}">chart '
        f"{html.escape(os.path.splitext(os.path.basename(c))[0])}</a></li>"
        for c in charts
    ]
    made = (
        f"status {attrs.get('status', '?')}, finished {attrs.get('finished', '?')}, {attrs.get('ranks', '?')} rank(s), "
        f"mpiapp {attrs.get('mpiapp_version', '?')}"
    )
    parts = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        f'<meta name="generator" content="{GENERATOR}">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        # nothing is fetched: no network, even for a favicon
        '<link rel="icon" href="data:,">',
        f"<title>{html.escape(title)}</title><style>{_STYLE}</style></head><body>",
        f"<h1>{html.escape(title)}</h1>",
        f'<p class="note">{html.escape(path)} — {html.escape(made)}</p>',
        f"<nav><ul>{''.join(toc)}</ul></nav>",
        f'<section id="summary"><h2>Summary</h2><pre>{html.escape(summary)}</pre></section>',
        '<section id="tables"><h2>Tables</h2><p class="note">Click a column header to sort by it. '
        "Every table of the file: <code>mpiapp.results.tables(path)</code>; any of them as pandas: "
        "<code>mpiapp.results.load(path, name)</code>.</p>",
    ]
    parts += [table_html(n, df, note) for n, df, note in tables]
    parts += ["</section>", '<section id="charts"><h2>Charts</h2>']
    parts += [f'<p class="note">{html.escape(n)}</p>' for n in notes]
    if not charts:
        parts.append('<p class="note">no charts for this file</p>')
    parts += [figure_html(c) for c in charts]
    parts += ["</section>", f"<script>{_SCRIPT}</script>", "</body></html>"]
    return "\n".join(parts) + "\n"


def is_page(path: str) -> bool:
    """Whether the file at `path` is a page this module wrote (read its head only)."""
    try:
        with open(path, "rb") as fh:
            head = fh.read(4096)
    except OSError:
        return False
    return f'<meta name="generator" content="{GENERATOR}">'.encode() in head


def write(out: str, text: str) -> None:
    """Write the page as OUT.tmp, then rename: a reader never sees half a page."""
    tmp = out + ".tmp"
    with open(tmp, "w", encoding="utf-8") as fh:
        fh.write(text)
    os.replace(tmp, out)
