"""The claims ledger: what each paper claims, in checkable form, and the verdict our stored runs give.

One TOML per paper under ``recsys/bench/claims/`` (data beside the suites) (or a folder given to ``recsys claims --ledger``)::

    paper = "H2Rec"
    reference = "Hybrid hashing ... (2025)"
    [[claims]]
    id = "beats-sasrec"
    text = "H2Rec beats SASRec on NDCG@10"
    suite = "sequential"
    model = "H2Rec"            # the row label in that suite's runs
    baseline = "SASRec"
    metric = "ndcg@10"         # a split may be named: "test_ood/ndcg@20"; a group too: "ndcg@10|item:tail"
    datasets = ["beauty", "ml-100k"]
    protocol = "full ranking"  # or "sampled": the paper's 100 sampled negatives (metric on that split)

Every (claim, dataset) gets: the effect (model minus baseline, absolute and relative) with a 95%
confidence interval over users (seed-averaged per-user values; for AUC, a paired bootstrap over samples),
a p-value (Wilcoxon signed-rank; DeLong for AUC), Holm-corrected over all rows of the paper, the seeds
and the tuning budget of each side, and a verdict:

- ``holds``: the effect has the claimed sign and corrected p < alpha;
- ``reversed``: the opposite sign, corrected p < alpha;
- ``not significant``;
- ``not checkable``: no runs, or the comparison is not fair yet: fewer than 3 seeds, an unconverged
  run, one side tuned and the other not (or unequal budgets), or different loss families. The
  statistical outcome is still shown (``evidence``) so a reader sees which way it points.
"""

from __future__ import annotations

import tomllib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from recsys.bench.fairness import record_converged, record_loss_family
from recsys.bench.store import ResultsStore, record_suites
from recsys.errors import RecipeError
from recsys.report.leaderboard import md_cell

LEDGER_DIR = Path(__file__).resolve().parents[1] / "bench" / "claims"  # data: one TOML per paper
CLAIM_KEYS = {"id", "text", "suite", "model", "baseline", "metric", "datasets", "protocol", "direction"}
REQUIRED = ("id", "text", "suite", "model", "baseline", "metric", "datasets")
VERDICTS = ("holds", "not significant", "reversed", "not checkable")
MIN_SEEDS = 3


@dataclass
class Claim:
    paper: str
    id: str
    text: str
    suite: str
    model: str
    baseline: str
    metric: str
    datasets: list[str]
    protocol: str = "full ranking"
    direction: str = "higher"  # the claimed effect: "higher" (model > baseline) or "lower" (e.g. LogLoss)


def load_ledger(folder: str | Path | None = None) -> list[Claim]:
    """Every claim of every paper file in ``folder`` (default: the shipped ledger), checked on load."""
    folder = Path(folder) if folder else LEDGER_DIR
    claims = []
    for path in sorted(folder.glob("*.toml")):
        try:
            raw = tomllib.loads(path.read_text(encoding="utf-8"))
        except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
            raise RecipeError(f"invalid TOML: {exc}", recipe=path) from exc
        if not isinstance(raw.get("paper"), str) or not isinstance(raw.get("claims"), list):
            raise RecipeError("expected paper = \"...\" and [[claims]] tables", recipe=path, key="paper")
        for i, c in enumerate(raw["claims"]):
            where = f"claims[{i}]"
            if not isinstance(c, dict):
                raise RecipeError("expected a table", recipe=path, key=where)
            for key in REQUIRED:
                if key not in c:
                    raise RecipeError("missing key", recipe=path, key=f"{where}.{key}")
            for key in c:
                if key not in CLAIM_KEYS:
                    raise RecipeError("unknown key", recipe=path, key=f"{where}.{key}", hint=f"allowed: {sorted(CLAIM_KEYS)}")
            if c.get("direction", "higher") not in ("higher", "lower"):
                raise RecipeError("expected \"higher\" or \"lower\"", recipe=path, key=f"{where}.direction")
            if not (isinstance(c["datasets"], list) and c["datasets"] and all(isinstance(d, str) for d in c["datasets"])):
                raise RecipeError("expected a non-empty list of dataset names", recipe=path, key=f"{where}.datasets")
            claims.append(Claim(paper=raw["paper"], **{k: c[k] for k in c}))
    return claims


def _side(records: list[dict], suite: str, label: str, dataset: str) -> list[dict]:
    """The runs of one side: by leaderboard label (``LLM4CDSR (keywords-tfidf fallback)``), else by entry name."""
    runs = [r for r in records if r["status"] == "ok" and suite in record_suites(r) and r["dataset"] == dataset]
    by_label = [r for r in runs if r.get("label", r["model"]) == label]
    return sorted(by_label or [r for r in runs if r["model"] == label], key=lambda r: r["seed"])


def _caveats(mine: list[dict], theirs: list[dict]) -> list[str]:
    """Why a comparison is not like for like yet (empty: it is)."""
    out = []
    n = min(len(mine), len(theirs))
    if n < MIN_SEEDS:
        out.append(f"fewer than {MIN_SEEDS} seeds ({len(mine)} vs {len(theirs)})")
    bad = sum(not record_converged(r) for r in mine + theirs)
    if bad:
        out.append(f"{bad} unconverged run{'s' * (bad > 1)}")
    budgets = {int((r.get("tuning") or {}).get("trials", 0)) for r in mine + theirs}
    if budgets == {0}:
        out.append("neither side tuned")
    elif len(budgets) > 1:
        out.append(f"unequal tuning budgets ({sorted(budgets)} trials)")
    families = ({record_loss_family(r) for r in mine}, {record_loss_family(r) for r in theirs})
    if families[0] != families[1]:
        out.append(f"different loss families ({'+'.join(sorted(families[0]))} vs {'+'.join(sorted(families[1]))})")
    return out


def _effect(store: ResultsStore, claim: Claim, mine: list[dict], theirs: list[dict]) -> dict:
    """Effect, 95% interval, raw p-value, on the claim's metric (higher-is-better sign as claimed)."""
    from scipy import stats as st

    from recsys.eval.ctr import CTR_METRICS
    from recsys.eval.stats import wilcoxon
    from recsys.report.leaderboard import base_metric, ctr_test, metric_value, user_means

    ids_a, ids_b = [r["run_id"] for r in mine], [r["run_id"] for r in theirs]
    base_value = float(np.mean([metric_value(r, claim.metric) for r in theirs]))
    if base_metric(claim.metric) in CTR_METRICS:
        res = ctr_test(store, ids_a, ids_b, claim.metric)
        diff = float(np.mean([metric_value(r, claim.metric) for r in mine])) - base_value
        if base_metric(claim.metric) == "auc" and res.statistic:  # DeLong: se = diff / z
            se = abs(res.mean_diff / res.statistic)
            diff = float(res.mean_diff)
            lo, hi = diff - 1.96 * se, diff + 1.96 * se
        else:
            lo = hi = float("nan")
        return {"effect": diff, "ci_low": float(lo), "ci_high": float(hi), "p_raw": float(res.p_value),
                "baseline_value": base_value, "test": res.test}
    a = user_means(store, ids_a, claim.metric)
    b = user_means(store, ids_b, claim.metric)
    both = a.join(b, on="user_idx", suffix="_b")
    d = both[claim.metric].to_numpy() - both[f"{claim.metric}_b"].to_numpy()
    half = float(st.t.ppf(0.975, len(d) - 1) * d.std(ddof=1) / np.sqrt(len(d))) if len(d) > 1 else float("nan")
    res = wilcoxon(both[claim.metric].to_numpy(), both[f"{claim.metric}_b"].to_numpy())
    return {"effect": float(d.mean()), "ci_low": float(d.mean() - half), "ci_high": float(d.mean() + half),
            "p_raw": float(res.p_value), "baseline_value": base_value, "test": res.test}


def check_claims(store: ResultsStore, claims: list[Claim], alpha: float = 0.05) -> list[dict]:
    """One row per (claim, dataset): effect, interval, Holm-corrected p (per paper), seeds, budgets, verdict."""
    from recsys.eval.stats import holm

    records = store.records()
    rows = []
    for claim in claims:
        for dataset in claim.datasets:
            mine = _side(records, claim.suite, claim.model, dataset)
            theirs = _side(records, claim.suite, claim.baseline, dataset)
            row = {"paper": claim.paper, "claim": claim.id, "text": claim.text, "protocol": claim.protocol,
                   "suite": claim.suite, "dataset": dataset, "model": claim.model, "baseline": claim.baseline,
                   "metric": claim.metric, "seeds": f"{len(mine)} vs {len(theirs)}",
                   "trials": f"{_trials(mine)} vs {_trials(theirs)}", "effect": None, "relative": None,
                   "ci_low": None, "ci_high": None, "p_raw": None, "p_holm": None, "test": None,
                   "evidence": None, "verdict": "not checkable", "reason": "",
                   "run_ids": ",".join(r["run_id"] for r in mine + theirs)}
            if not mine or not theirs:
                missing = [x for x, rs in ((claim.model, mine), (claim.baseline, theirs)) if not rs]
                row["reason"] = f"no runs of {' and '.join(missing)} on {dataset} in suite {claim.suite}"
                rows.append(row)
                continue
            try:
                eff = _effect(store, claim, mine, theirs)
            except (KeyError, ValueError) as exc:  # a metric or group the runs lack
                row["reason"] = f"cannot compute {claim.metric}: {exc}"
                rows.append(row)
                continue
            sign = 1.0 if claim.direction == "higher" else -1.0
            row.update(effect=eff["effect"], ci_low=eff["ci_low"], ci_high=eff["ci_high"], p_raw=eff["p_raw"],
                       test=eff["test"], relative=eff["effect"] / eff["baseline_value"] if eff["baseline_value"] else None,
                       _sign=sign, reason="; ".join(_caveats(mine, theirs)))
            rows.append(row)
    for paper in sorted({r["paper"] for r in rows}):
        tested = [r for r in rows if r["paper"] == paper and r["p_raw"] is not None]
        for r, p in zip(tested, holm([r["p_raw"] for r in tested])):
            r["p_holm"] = float(p)
            signed = r["effect"] * r.pop("_sign")
            r["evidence"] = ("holds" if signed > 0 else "reversed") if p < alpha else "not significant"
            r["verdict"] = r["evidence"] if not r["reason"] else "not checkable"
    return rows


def _trials(records: list[dict]) -> int:
    return max((int((r.get("tuning") or {}).get("trials", 0)) for r in records), default=0)


def _fmt(v, spec=".4f") -> str:
    return "-" if v is None or (isinstance(v, float) and np.isnan(v)) else format(v, spec)


def claims_markdown(rows: list[dict], alpha: float = 0.05) -> str:
    """The ledger as Markdown: one table per paper."""
    out = ["# Claims ledger\n",
           f"Each row: a paper's claim on one dataset, checked on our stored runs. Effect = model - baseline "
           f"(seed-averaged per-user values), 95% interval over users; p Holm-corrected over the paper's rows; "
           f"verdict at alpha = {alpha}. `not checkable` rows give the reason (fewer than {MIN_SEEDS} seeds, "
           "unconverged runs, untuned or unequally tuned sides, different loss families, missing runs) and the "
           "evidence they would give. Recomputed from the results store by `recsys claims`.\n"]
    for paper in sorted({r["paper"] for r in rows}):
        out.append(f"## {paper}\n")
        out.append("| claim | protocol | dataset | metric | effect (rel.) | 95% CI | p (Holm) | seeds | trials | "
                   "verdict | evidence | reason |")
        out.append("|---|---|---|---|---|---|---|---|---|---|---|---|")
        for r in [x for x in rows if x["paper"] == paper]:
            rel = f" ({r['relative']:+.1%})" if r["relative"] is not None else ""
            ci = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if r["effect"] is not None else "-"
            out.append(f"| {md_cell(r['text'])} | {r['protocol']} | {r['dataset']} | {md_cell(r['metric'])} | "
                       f"{_fmt(r['effect'], '+.4f')}{rel} | {ci} | {_fmt(r['p_holm'], '.3g')} | {r['seeds']} | "
                       f"{r['trials']} | **{r['verdict']}** | {r['evidence'] or '-'} | {md_cell(r['reason'] or '-')} |")
        out.append("")
    return "\n".join(out)


def claims_html(rows: list[dict]) -> str:
    """The ledger as a section of HTML (a table per paper; run ids in each row's tooltip)."""
    import html

    parts = ["<section id='claims'><h2>Claims ledger</h2>"]
    for paper in sorted({r["paper"] for r in rows}):
        parts.append(f"<h3>{html.escape(paper)}</h3><table><thead><tr>" + "".join(
            f"<th>{h}</th>" for h in ("claim", "protocol", "dataset", "metric", "effect", "95% CI", "p (Holm)",
                                      "seeds", "trials", "verdict", "reason")) + "</tr></thead><tbody>")
        for r in [x for x in rows if x["paper"] == paper]:
            ci = f"[{_fmt(r['ci_low'])}, {_fmt(r['ci_high'])}]" if r["effect"] is not None else "-"
            cells = [r["text"], r["protocol"], r["dataset"], r["metric"], _fmt(r["effect"], "+.4f"), ci,
                     _fmt(r["p_holm"], ".3g"), r["seeds"], r["trials"], r["verdict"],
                     (r["reason"] or "-") + (f" (evidence: {r['evidence']})" if r["evidence"] and r["reason"] else "")]
            parts.append(f"<tr title='{html.escape('runs: ' + r['run_ids'])}'>"
                         + "".join(f"<td>{html.escape(str(c))}</td>" for c in cells) + "</tr>")
        parts.append("</tbody></table>")
    parts.append("</section>")
    return "\n".join(parts)


CSV_COLUMNS = ["paper", "claim", "text", "protocol", "suite", "dataset", "model", "baseline", "metric", "seeds",
               "trials", "effect", "relative", "ci_low", "ci_high", "p_raw", "p_holm", "test", "evidence", "verdict",
               "reason", "run_ids"]


def write_claims(store: ResultsStore, out_dir: str | Path, ledger: str | Path | None = None,
                 alpha: float = 0.05) -> tuple[Path, Path, Path]:
    """``claims.csv``, ``claims.md`` and ``claims.html`` in ``out_dir``, from the store alone."""
    import polars as pl

    from recsys.io.paths import inside, writable_folder
    from recsys.io.safe_write import atomic_write

    rows = check_claims(store, load_ledger(ledger), alpha)
    out = writable_folder(Path(out_dir), "the claims folder", "give --out a writable folder")
    csv, md, page = inside(out, "claims.csv"), inside(out, "claims.md"), inside(out, "claims.html")
    frame = pl.DataFrame([{k: r[k] for k in CSV_COLUMNS} for r in rows],
                         schema_overrides={k: pl.Float64 for k in ("effect", "relative", "ci_low", "ci_high",
                                                                   "p_raw", "p_holm")} | {"test": pl.String,
                                                                                         "evidence": pl.String})
    atomic_write(csv, frame.write_csv)
    text = claims_markdown(rows, alpha)
    atomic_write(md, lambda p: Path(p).write_text(text))
    html = ("<!doctype html><html><head><meta charset='utf-8'><title>recsys claims ledger</title><style>"
            "body{font-family:system-ui,sans-serif;margin:2em} table{border-collapse:collapse} "
            "td,th{border:1px solid #ccc;padding:4px 8px}</style></head><body>" + claims_html(rows) + "</body></html>")
    atomic_write(page, lambda p: Path(p).write_text(html))
    return csv, md, page
