"""The evaluation report as a page: the main table laid out like the paper's, the extra columns,
the ablation beside the paper's numbers, training curves from MLflow, a GIF gallery, and the
config and git revision that made it. One self-contained HTML file (images inlined) and a
Markdown twin with the same tables.

A row is a `Row`: a name and flat metrics (`top1`, `top1_interval`, ...). Missing values print
as "–".
"""

from __future__ import annotations

import base64
import html
import subprocess
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path

MAIN_COLUMNS = [
    ("top1", "Top-1 ↑"),
    ("top2", "Top-2 ↑"),
    ("top3", "Top-3 ↑"),
    ("fid", "FID ↓"),
    ("mm_dist", "MM-Dist ↓"),
    ("diversity", "Diversity →"),
    ("multimodality", "MModality ↑"),
]
EXTRA_COLUMNS = [
    ("format_validity", "Format validity (no grammar) ↑"),
    ("chain_steps", "Chain steps"),
    ("chain_fidelity", "Chain fidelity ↑"),
    ("length_error_s/free", "Length error s, free ↓"),
    ("length_error_s/hinted", "hinted ↓"),
    ("skating", "Foot skating m/s ↓"),
    ("penetration", "Penetration m ↓"),
    ("jitter", "Jitter m/s² ↓"),
]
# Motion-R1, Table 2 (HumanML3D, second-hand: REFERENCE.md section 1): setting -> (FID, Top-1)
PAPER_ABLATION = {
    "sft/cot": ("CoT SFT only", 0.530, 0.340),
    "grpo/semantic": ("+ R_sem", 0.252, 0.489),
    "grpo/motion": ("+ R_motion", 0.281, 0.475),
    "grpo/both": ("+ both", 0.201, 0.515),
}


@dataclass
class Row:
    """One table row: its display name, its policy key (None for Real / VQ-VAE) and metrics."""

    name: str
    key: str | None
    metrics: dict[str, float] = field(default_factory=dict)

    def cell(self, metric: str, digits: int = 3) -> str:
        """ "mean±interval", "mean" without an interval, or "–"."""
        if metric not in self.metrics:
            return "–"
        mean = self.metrics[metric]
        ci = self.metrics.get(f"{metric}_interval")
        return f"{mean:.{digits}f}" + (f"±{ci:.{digits}f}" if ci is not None else "")


def markdown_table(rows: Sequence[Row], columns: Sequence[tuple[str, str]]) -> str:
    """A Markdown table of `rows` over `columns` ((metric, header) pairs)."""
    head = "| | " + " | ".join(h for _, h in columns) + " |"
    rule = "|---" * (len(columns) + 1) + "|"
    body = [f"| {r.name} | " + " | ".join(r.cell(m) for m, _ in columns) + " |" for r in rows]
    return "\n".join([head, rule, *body])


def ablation_rows(rows: Sequence[Row]) -> list[tuple[str, str, str, str, str]]:
    """(ours, our FID, our Top-1, the paper's setting, its FID / Top-1) for each policy row
    that has a counterpart in the paper's ablation."""
    out = []
    for r in rows:
        if r.key in PAPER_ABLATION:
            setting, fid, top1 = PAPER_ABLATION[r.key]
            out.append((r.name, r.cell("fid"), r.cell("top1"), setting, f"{fid:.3f} / {top1:.3f}"))
    return out


def git_revision(root: Path) -> str:
    """`git describe --always --dirty` of the project, or "unknown" outside a repository."""
    try:
        res = subprocess.run(
            ["git", "describe", "--always", "--dirty", "--abbrev=12"],
            cwd=root,
            capture_output=True,
            text=True,
            timeout=10,
        )
    except (OSError, subprocess.TimeoutExpired):
        return "unknown"
    return res.stdout.strip() or "unknown"


def mlflow_curves(
    tracking_uri: str, experiment: str, dataset: str, out: Path
) -> tuple[Path | None, list[str]]:
    """Loss and reward curves of the newest finished sft_policy and grpo_policy runs of
    `dataset`, read back from MLflow, as one PNG; (None, []) when no run is there.
    Returns the path and the run ids used."""
    from mlflow.tracking import MlflowClient

    from motion_r1_core.render import plot_curves

    client = MlflowClient(tracking_uri)
    exp = client.get_experiment_by_name(experiment)
    if exp is None:
        return None, []
    history: dict[float, dict[str, float]] = {}
    used: list[str] = []
    wanted = {
        "sft_policy": ("cot/loss", "no_cot/loss"),
        "grpo_policy": ("reward", "kl", "rewards/format/mean"),
    }
    for stage, keys in wanted.items():
        runs = client.search_runs(
            [exp.experiment_id],
            f"tags.stage = '{stage}' and tags.dataset = '{dataset}' and attributes.status = "
            "'FINISHED'",
            order_by=["attributes.start_time DESC"],
            max_results=1,
        )
        if not runs:
            continue
        run = runs[0]
        used.append(run.info.run_id)
        label = "grpo " + run.data.tags.get("ablation", "") if stage == "grpo_policy" else "sft"
        for key in keys:
            for m in client.get_metric_history(run.info.run_id, key):
                history.setdefault(m.step, {"step": float(m.step)})[f"{label}: {key}"] = m.value
    keys = sorted({k for row in history.values() for k in row if k != "step"})
    if not keys:
        return None, used
    path = plot_curves(
        [history[s] for s in sorted(history)],
        keys,
        out,
        title="training curves (MLflow)",
        log_scale=tuple(k for k in keys if k.endswith("loss")),
    )
    return path, used


def _data_uri(path: Path, mime: str) -> str:
    return f"data:{mime};base64," + base64.b64encode(Path(path).read_bytes()).decode()


def _html_table(rows: Sequence[Row], columns: Sequence[tuple[str, str]], tid: str) -> str:
    head = "".join(f"<th>{html.escape(h)}</th>" for _, h in columns)
    body = "".join(
        f"<tr><th>{html.escape(r.name)}</th>"
        + "".join(f"<td>{html.escape(r.cell(m))}</td>" for m, _ in columns)
        + "</tr>"
        for r in rows
    )
    return f'<table id="{tid}"><thead><tr><th></th>{head}</tr></thead><tbody>{body}</tbody></table>'


@dataclass
class Page:
    """Everything the page shows."""

    title: str
    provenance: str  # which evaluator, data, chain source, protocol
    rows: list[Row]
    extra_tables: dict[str, list[Row]]  # e.g. the published evaluator's main table
    gallery: list[tuple[Path, str]]  # (GIF, caption + chains)
    curves: Path | None
    config_yaml: str
    revision: str
    notes: list[str] = field(default_factory=list)


def write_markdown(page: Page, out: Path) -> Path:
    """The Markdown twin of the page (GIFs and curves as relative links)."""
    lines = [f"# {page.title}", "", page.provenance, "", markdown_table(page.rows, MAIN_COLUMNS)]
    lines += ["", "## Format, chains, length and physical plausibility", ""]
    lines += [markdown_table(page.rows, EXTRA_COLUMNS)]
    for name, rows in page.extra_tables.items():
        lines += ["", f"## {name}", "", markdown_table(rows, MAIN_COLUMNS)]
    abl = ablation_rows(page.rows)
    if abl:
        lines += [
            "",
            "## Ablation beside the paper (another dataset: the paper's is HumanML3D)",
            "",
            "| ours | FID | Top-1 | paper setting | paper FID / Top-1 |",
            "|---|---|---|---|---|",
        ]
        lines += ["| " + " | ".join(a) + " |" for a in abl]
    if page.notes:
        lines += ["", *[f"- {n}" for n in page.notes]]
    if page.curves:
        lines += ["", f"![training curves]({page.curves.name})"]
    if page.gallery:
        lines += ["", "## Gallery", ""]
        lines += [
            f"![{cap.splitlines()[0]}](gallery/{gif.name})\n\n{cap}\n" for gif, cap in page.gallery
        ]
    lines += ["", f"Revision: `{page.revision}`", "", "```yaml", page.config_yaml.strip(), "```"]
    out = Path(out)
    out.write_text("\n".join(lines) + "\n")
    return out


STYLE = """body{font-family:system-ui,sans-serif;margin:2em;max-width:1400px}
table{border-collapse:collapse;margin:1em 0}th,td{border:1px solid #bbb;padding:4px 8px;
text-align:right;font-variant-numeric:tabular-nums}thead th{background:#eee}
tbody th{text-align:left}figure{display:inline-block;margin:8px;vertical-align:top;
max-width:640px}figcaption{white-space:pre-wrap;font-size:90%}pre{background:#f6f6f6;
padding:1em;overflow:auto;max-height:30em}"""


# marks <body data-images-loaded="decoded/total"> once the page has loaded (a browser test reads it)
LOADED = (
    "<script>window.addEventListener('load',()=>{const i=[...document.images];"
    "document.body.dataset.imagesLoaded=i.filter(x=>x.complete&&x.naturalWidth>0).length"
    "+'/'+i.length;});</script>"
)


def write_html(page: Page, out: Path) -> Path:
    """One self-contained HTML page: tables, curves and GIFs inlined as data URIs."""
    parts = [
        f"<!doctype html><html><head><meta charset='utf-8'><title>{html.escape(page.title)}"
        f"</title><style>{STYLE}</style></head><body>",
        f"<h1>{html.escape(page.title)}</h1><p>{html.escape(page.provenance)}</p>",
        "<h2>Main table</h2>",
        _html_table(page.rows, MAIN_COLUMNS, "main"),
        "<h2>Format, chains, length and physical plausibility</h2>",
        _html_table(page.rows, EXTRA_COLUMNS, "extra"),
    ]
    for i, (name, rows) in enumerate(page.extra_tables.items()):
        parts += [f"<h2>{html.escape(name)}</h2>", _html_table(rows, MAIN_COLUMNS, f"more{i}")]
    abl = ablation_rows(page.rows)
    if abl:
        head = ["ours", "FID", "Top-1", "paper setting", "paper FID / Top-1"]
        parts.append(
            "<h2>Ablation beside the paper (another dataset: the paper's is HumanML3D)</h2>"
            '<table id="ablation"><thead><tr>'
            + "".join(f"<th>{h}</th>" for h in head)
            + "</tr></thead><tbody>"
            + "".join(
                "<tr>" + "".join(f"<td>{html.escape(c)}</td>" for c in a) + "</tr>" for a in abl
            )
            + "</tbody></table>"
        )
    if page.notes:
        parts.append("<ul>" + "".join(f"<li>{html.escape(n)}</li>" for n in page.notes) + "</ul>")
    if page.curves:
        parts.append(
            f"<h2>Training curves</h2><img alt='training curves' src='"
            f"{_data_uri(page.curves, 'image/png')}'>"
        )
    if page.gallery:
        parts.append("<h2>Gallery</h2>")
        parts += [
            f"<figure><img class='gif' alt='{html.escape(cap.splitlines()[0])}' "
            f"src='{_data_uri(gif, 'image/gif')}'><figcaption>{html.escape(cap)}</figcaption>"
            "</figure>"
            for gif, cap in page.gallery
        ]
    parts += [
        f"<h2>Provenance</h2><p>Revision <code>{html.escape(page.revision)}</code></p>",
        f"<details><summary>config</summary><pre>{html.escape(page.config_yaml)}</pre></details>",
        LOADED,
        "</body></html>",
    ]
    out = Path(out)
    out.write_text("\n".join(parts))
    return out
