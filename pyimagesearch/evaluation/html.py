"""Self-contained HTML pages: one file with its style and images inside, no network needed
to view it, opened from the file system. The pieces the run report and the comparison
share: the page, tables, images and escaping."""

import base64
import html

CSS = """
body { font: 15px/1.45 system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; color: #1b1b1b;
       max-width: 1320px; margin: 0 auto; padding: 1.2em 1.6em 3em; }
h1 { font-size: 1.6em; margin: 0.2em 0; } h2 { font-size: 1.25em; margin-top: 1.8em;
  border-bottom: 1px solid #ddd; padding-bottom: 0.2em; }
.sub { color: #555; margin: 0 0 1em; }
table { border-collapse: collapse; margin: 0.6em 0; }
th, td { text-align: left; padding: 0.25em 0.8em 0.25em 0; vertical-align: top; }
tr + tr td, tr + tr th { border-top: 1px solid #eee; }
td.num, th.num { text-align: right; font-variant-numeric: tabular-nums; }
img { max-width: 100%; height: auto; display: block; margin: 0.6em 0; }
.badge { display: inline-block; min-width: 7.5em; text-align: center; border-radius: 3px;
         padding: 0.05em 0.5em; font-weight: 600; color: #fff; }
a.badge { text-decoration: none; min-width: 0; margin: 0.15em 0.2em 0.15em 0; }
.glance { margin: 0.4em 0 0.8em; }
.fine { background: #1a7f37; } .problem { background: #c0392b; } .unknown { background: #777; }
.big { font-size: 1.6em; font-weight: 600; }
.note { color: #555; font-size: 0.92em; }
details > summary { cursor: pointer; color: #0b5cad; }
.scroll { max-height: 26em; overflow-y: auto; display: inline-block; padding-right: 1em; }
@media print { .scroll { max-height: none; overflow: visible; } details { display: block; } }
"""


def escape(value) -> str:
    return html.escape(str(value), quote=True)


def page(title: str, body: str) -> str:
    """A whole HTML document around `body` (already HTML)."""
    return (f'<!DOCTYPE html>\n<html lang="en">\n<head>\n<meta charset="utf-8">\n'
            f'<meta name="viewport" content="width=device-width, initial-scale=1">\n'
            f"<title>{escape(title)}</title>\n<style>{CSS}</style>\n</head>\n<body>\n{body}\n"
            "</body>\n</html>\n")


def image(png: bytes, alt: str) -> str:
    """An `<img>` carrying the PNG itself (a data URL)."""
    data = base64.b64encode(png).decode("ascii")
    return f'<img src="data:image/png;base64,{data}" alt="{escape(alt)}">'


def table(rows, header=None, numeric=()) -> str:
    """A table of `rows` (lists of cells: plain values, escaped here); `numeric` names the
    columns (by index) aligned right."""
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f'<th{_cls(i, numeric)}>{escape(h)}</th>'
                                    for i, h in enumerate(header)) + "</tr>")
    for row in rows:
        out.append("<tr>" + "".join(f"<td{_cls(i, numeric)}>{escape(c)}</td>"
                                    for i, c in enumerate(row)) + "</tr>")
    out.append("</table>")
    return "\n".join(out)


def _cls(index: int, numeric) -> str:
    return ' class="num"' if index in numeric else ""
