"""The batch drift check's reports: ``drift.json`` for machines, ``drift.html`` for people.

The page is self-contained (inline style, no scripts), so it opens from a CI artifact or
a mail attachment as it is.
"""

from __future__ import annotations

import html
from pathlib import Path
from typing import TYPE_CHECKING

from .reports import write_json

if TYPE_CHECKING:  # monitor imports this module to write what it computed
    from .monitor import DriftReport

JSON_FILE = "drift.json"
HTML_FILE = "drift.html"

CSS = """
body { font-family: system-ui, sans-serif; margin: 2rem; color: #222; }
table { border-collapse: collapse; margin-top: 1rem; }
th, td { padding: 0.3rem 0.8rem; border-bottom: 1px solid #ddd; text-align: right; }
th:first-child, td:first-child { text-align: left; }
th { background: #f3f3f3; }
tr.drifted { background: #fde2e1; font-weight: 600; }
"""


def _table_rows(report: DriftReport) -> str:
    return "\n".join(
        f'<tr class="{"drifted" if f.drifted else "stable"}">'
        f"<td>{html.escape(f.name)}</td><td>{f.kind}</td><td>{f.test}</td>"
        f"<td>{f.statistic:.4f}</td><td>{f.p_value:.3g}</td><td>{f.psi:.4f}</td>"
        f"<td>{'yes' if f.drifted else 'no'}</td></tr>"
        for f in report.features
    )


def render_html(report: DriftReport) -> str:
    """A self-contained page: summary, the decision rule's numbers, one row per feature."""
    return f"""<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Drift report</title>
<style>{CSS}</style>
</head>
<body>
<h1>Drift report</h1>
<p><strong>{html.escape(report.summary)}.</strong></p>
<p>A feature has drifted when its p-value is below the corrected alpha and its PSI is at
least the threshold. Alpha {report.alpha:g}, corrected alpha {report.corrected_alpha:.3g},
PSI threshold {report.psi_threshold:g}.</p>
<p>Reference: {report.n_reference} rows. Current: {report.n_current} rows.</p>
<table>
<thead><tr><th>Feature</th><th>Kind</th><th>Test</th><th>Statistic</th><th>p-value</th>
<th>PSI</th><th>Drifted</th></tr></thead>
<tbody>
{_table_rows(report)}
</tbody>
</table>
</body>
</html>
"""


def write_reports(report: DriftReport, out_dir: Path) -> tuple[Path, Path]:
    """Write ``drift.json`` and ``drift.html`` into ``out_dir``; return their paths."""
    json_path = write_json(out_dir / JSON_FILE, report.to_dict())
    html_path = out_dir / HTML_FILE
    html_path.write_text(render_html(report), encoding="utf-8")
    return json_path, html_path
