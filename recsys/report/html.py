"""A static HTML leaderboard: one self-contained file (plots inlined, no server, no network).

Tables are sortable (click a header) and filterable (the model box); every cell shows its
provenance (runs, seeds, test, corrected p-value, git commit, config hash, dataset fingerprint)
in its tooltip.
"""

from __future__ import annotations

import base64
import html
from pathlib import Path

import polars as pl

from recsys.bench.store import ResultsStore
from recsys.report.leaderboard import cell_text, dataset_view, legend, row_marks

_SCRIPT = """
function sortTable(th) {
  const table = th.closest('table'), idx = Array.from(th.parentNode.children).indexOf(th);
  const asc = th.dataset.order !== 'asc'; th.dataset.order = asc ? 'asc' : 'desc';
  const rows = Array.from(table.tBodies[0].rows);
  rows.sort((a, b) => {
    const x = a.cells[idx].dataset.value, y = b.cells[idx].dataset.value;
    const nx = parseFloat(x), ny = parseFloat(y);
    const c = (!isNaN(nx) && !isNaN(ny)) ? nx - ny : x.localeCompare(y);
    return asc ? c : -c;
  });
  rows.forEach(r => table.tBodies[0].appendChild(r));
}
function filterModels(box) {
  const q = box.value.toLowerCase();
  document.querySelectorAll('tbody tr').forEach(r => {
    r.style.display = r.cells[0].dataset.value.toLowerCase().includes(q) ? '' : 'none';
  });
}
"""

_STYLE = """
body { font-family: system-ui, sans-serif; margin: 2em; color: #222; }
table { border-collapse: collapse; margin: 1em 0; }
th, td { border: 1px solid #ccc; padding: 4px 10px; text-align: right; }
th { background: #f0f0f0; cursor: pointer; } td:first-child, th:first-child { text-align: left; }
td.best { font-weight: bold; } .sig { color: #c0392b; } img { max-width: 640px; display: block; margin: 1em 0; }
"""


def _img(path: Path) -> str:
    data = base64.b64encode(path.read_bytes()).decode()
    return f'<img alt="{html.escape(path.stem)}" src="data:image/png;base64,{data}">'


def render_html(store: ResultsStore, board: pl.DataFrame, suite: str, plots: dict[str, list[Path]]) -> str:
    by_id = {r["run_id"]: r for r in store.records()}
    metrics = list(dict.fromkeys(board["metric"].to_list()))
    parts = [f"<!doctype html><html><head><meta charset='utf-8'><title>recsys leaderboard: {html.escape(suite)}"
             f"</title><style>{_STYLE}</style><script>{_SCRIPT}</script></head><body>",
             f"<h1>Leaderboard: suite <code>{html.escape(suite)}</code></h1>",
             "<p>Mean ± std over seeds. <span class='sig'>†</span> = differs from the baseline (Wilcoxon "
             "signed-rank on per-user values; for AUC, DeLong's test on per-sample predictions; for LogLoss, the "
             "paired t-test on per-sample losses; Holm-corrected "
             "p &lt; 0.05). Click a header to sort; hover a cell for its test and provenance.</p>",
             "<label>Filter models: <input id='filter' oninput='filterModels(this)'></label>"]
    for dataset in sorted(set(board["dataset"].to_list())):
        b, best, models = dataset_view(board, dataset, metrics)
        ds_metrics = list(best)
        parts.append(f"<h2>{html.escape(dataset)}</h2><table id='table-{html.escape(dataset)}'><thead><tr>"
                     "<th onclick='sortTable(this)'>model</th><th onclick='sortTable(this)'>loss</th>"
                     "<th onclick='sortTable(this)'>seeds</th><th onclick='sortTable(this)'>trials</th>" +
                     "".join(f"<th onclick='sortTable(this)'>{html.escape(m)}</th>" for m in ds_metrics) +
                     "</tr></thead><tbody>")
        for model in models:
            first = b.filter(pl.col("model") == model).row(0, named=True)
            tuned = f"tuned ({first['trials']} trials): {first['tuned']}" if first["trials"] else "untuned"
            cells = [f"<td data-value='{html.escape(model)}' title='{html.escape(tuned)}'>"
                     f"{html.escape(model + row_marks(b, model))}</td>",
                     f"<td data-value='{html.escape(first['loss_family'])}'>{html.escape(first['loss_family'])}</td>",
                     f"<td data-value='{first['seeds']}'>{first['seeds']}</td>",
                     f"<td data-value='{first['trials']}' title='{html.escape(tuned)}'>{first['trials'] or '-'}</td>"]
            for m in ds_metrics:
                r = b.filter((pl.col("model") == model) & (pl.col("metric") == m)).row(0, named=True)
                runs = [by_id[i] for i in r["run_ids"].split(",") if i in by_id]
                prov = [f"runs: {r['run_ids']}", f"seeds: {', '.join(str(x['seed']) for x in runs)}"]
                if runs:
                    p = runs[0]["provenance"]
                    prov += [f"git {p['git_commit'][:12]}", f"config {p['config_hash']}",
                             f"data {p['dataset_fingerprint'][:12]}", f"ties {p['tie_policy']}"]
                if r["p_value"] is not None:
                    prov.append(f"{r['test']} vs {r['baseline']}: p = {r['p_value']:.3g} (Holm)")
                mark = " <span class='sig'>†</span>" if r["significant"] else ""
                cls = " class='best'" if r["mean"] == best[m] else ""
                cells.append(f"<td{cls} data-value='{r['mean']:.6f}' title='{html.escape(' | '.join(prov))}'>"
                             f"{html.escape(cell_text(r))}{mark}</td>")
            parts.append("<tr>" + "".join(cells) + "</tr>")
        parts.append("</tbody></table>")
        parts += [f"<p class='note'>{html.escape(line)}</p>" for line in legend(b)]
        for path in plots.get(dataset, []):
            parts.append(_img(path))
    parts.append("</body></html>")
    return "\n".join(parts)
