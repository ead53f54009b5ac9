"""``ncf report``: one self-contained HTML page about a trained run.

Sections: the data and its split, the run's options (those set apart from the defaults first),
training curves (loss and validation metric per epoch, from ``log.jsonl``), test metrics under
each protocol the split allows (sampled when it has negatives, and full ranking) next to a
popularity baseline, the item embedding map, a few users' recent history beside their top-10,
and what the recommendations cover: catalogue coverage and a long-tail plot.

:func:`build_report` computes everything into a :class:`Report` (tests read it directly);
:func:`render_html` turns it into the page. plotly.js is inlined once, so the page opens without a
network (about 5 MB); every other part is plain HTML.
"""

from __future__ import annotations

import datetime as _dt
import html
import json
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt

from ncf._io import atomic_write
from ncf._types import PathLike
from ncf.app.artifact import Run
from ncf.app.evaluate_job import evaluate_run
from ncf.app.spec import OPTIONS
from ncf.errors import ConfigError, DataError
from ncf.viz._deps import require
from ncf.viz.constants import DEFAULT_SAMPLE, METHODS
from ncf.viz.embedding import MapResult, embedding_map, entity_vectors
from ncf.viz.progress import Steps

logger = logging.getLogger(__name__)

__all__ = ["Coverage", "Report", "UserExample", "build_report", "render_html", "write_report"]

#: Metrics shown per protocol, in this order (others the evaluation returns follow).
_METRIC_ORDER = ("hr", "recall", "ndcg", "mrr", "precision", "map", "auc", "coverage", "popularity")
#: The head of the catalogue: this share of the items, the most popular ones.
HEAD_SHARE = 0.2


@dataclass(frozen=True)
class UserExample:
    """One user's recent history (newest first) and top-k, as display strings."""

    user: str
    history: tuple[str, ...]
    history_total: int
    recommended: tuple[str, ...]
    hits: tuple[bool, ...]
    held_out: tuple[str, ...]


@dataclass(frozen=True, eq=False)
class Coverage:
    """What the top-k lists of many users cover, against the training popularity."""

    users: int
    k: int
    train_counts: npt.NDArray[np.int64]
    test_counts: npt.NDArray[np.int64]
    recommended_counts: npt.NDArray[np.int64]

    @property
    def catalogue_coverage(self) -> float:
        """Share of the catalogue that appears in at least one top-k list."""
        return float((self.recommended_counts > 0).mean())

    @property
    def head_items(self) -> npt.NDArray[np.bool_]:
        """The most popular ``HEAD_SHARE`` of the items (by training interactions)."""
        n = self.train_counts.size
        head = np.zeros(n, dtype=bool)
        head[np.argsort(-self.train_counts, kind="stable")[: max(1, int(round(HEAD_SHARE * n)))]] = True
        return head

    def head_share(self, counts: npt.NDArray[np.int64]) -> float:
        total = counts.sum()
        return float(counts[self.head_items].sum() / total) if total else float("nan")

    @property
    def mean_recommended_popularity(self) -> float:
        """Mean training interactions of a recommended item (per recommendation)."""
        total = self.recommended_counts.sum()
        return float((self.recommended_counts * self.train_counts).sum() / total) if total else float("nan")

    @property
    def gini(self) -> float:
        """Gini coefficient of how often each item is recommended (0: evenly, 1: one item)."""
        x = np.sort(self.recommended_counts.astype(np.float64))
        n, total = x.size, x.sum()
        if n == 0 or total == 0:
            return float("nan")
        return float((2 * np.arange(1, n + 1) - n - 1).dot(x) / (n * total))

    def deciles(self) -> dict[str, list[float]]:
        """Shares of training interactions, test interactions and recommendations per popularity decile."""
        order = np.argsort(-self.train_counts, kind="stable")
        groups = np.array_split(order, 10)
        out: dict[str, list[float]] = {}
        for name, counts in (("train", self.train_counts), ("test", self.test_counts),
                             ("recommended", self.recommended_counts)):
            total = counts.sum()
            out[name] = [float(counts[g].sum() / total) if total else 0.0 for g in groups]
        return out


@dataclass(eq=False)
class Report:
    """Everything :func:`render_html` shows; built by :func:`build_report`."""

    run_path: str
    model: str
    created: str
    stats: dict[str, Any]
    options: dict[str, Any]
    changed_options: dict[str, Any]
    epochs: list[dict[str, Any]]
    train_seconds: float | None
    metrics: dict[str, dict[str, dict[str, float]]]
    eval_seconds: dict[str, float]
    map: MapResult | None
    map_note: str | None
    examples: list[UserExample]
    coverage: Coverage | None
    k: int
    history: dict[str, Any] | None = None
    notes: list[str] = field(default_factory=list)


# ---------------------------------------------------------------------- building
def build_report(
    run: Run | PathLike,
    *,
    k: int = 10,
    cutoffs: tuple[int, ...] = (10, 20),
    num_examples: int = 5,
    map_method: str | None = "umap",
    map_color: str | None = None,
    sample: int | None = DEFAULT_SAMPLE,
    max_users: int | None = 5_000,
    seed: int = 0,
    show_progress: bool = True,
) -> Report:
    """Compute every section of the report of a trained run.

    Parameters
    ----------
    run : Run or path of a run directory
    k : int
        Length of the recommendation lists shown and measured for coverage.
    cutoffs : tuple of int
        Cut-offs of the metrics table.
    num_examples : int
        Users whose history and top-k are shown (seeded choice among the test users).
    map_method : {"umap", "tsne", "pca"} or None
        Projection of the item map; None leaves the map out.
    map_color : str, optional
        Colour of the map (see :func:`ncf.viz.embedding_map`).
    sample : int or None
        Most points on the map.
    max_users : int or None
        Test users whose top-k lists measure coverage (a seeded sample beyond it; None: all).
    seed : int
    show_progress : bool
        A step bar on stderr when it is a terminal.
    """
    if k < 1 or any(c < 1 for c in cutoffs):
        raise ConfigError("k and the cut-offs must be positive")
    if map_method is not None and map_method not in METHODS:
        raise ConfigError(f"map method must be one of {', '.join(METHODS)} or none, got {map_method!r}")
    run = run if isinstance(run, Run) else Run.load(run)
    split = run.split
    info = run.info
    protocols = (["sampled"] if split.test_negatives is not None else []) + ["full"]
    notes: list[str] = []
    with Steps(3 + len(protocols), show=show_progress, desc="report") as steps:
        steps.next("statistics")
        stats = data_stats(run)
        options = dict(info.options)
        changed = changed_options(options)
        epochs = read_log(run.dir.log_path)

        metrics: dict[str, dict[str, dict[str, float]]] = {}
        seconds: dict[str, float] = {}
        for protocol in protocols:
            steps.next(f"metrics ({protocol})")
            model_report = evaluate_run(run, k=list(cutoffs), protocol=protocol)
            metrics[protocol] = {run.model.name: dict(model_report.metrics),
                                 "popularity": _popularity_metrics(run, protocol, cutoffs)}
            seconds[protocol] = model_report.seconds

        steps.next("embedding map")
        result: MapResult | None = None
        map_note: str | None = None
        if map_method is None:
            map_note = "left out (--map none)"
        else:
            try:
                entity_vectors(run.model, "items")
            except ConfigError as exc:  # e.g. a popularity model: no vectors to map; the rest still stands
                map_note = str(exc)
            else:  # other errors (a colour that does not exist, a missing package) are the user's to see
                result = embedding_map(run, method=map_method, color_by=map_color, sample=sample, seed=seed,
                                       show_progress=False)

        steps.next("recommendations")
        run.set_context(run.known("test"))
        examples = user_examples(run, num=num_examples, k=k, seed=seed)
        coverage = recommendation_coverage(run, k=k, max_users=max_users, seed=seed)
        if coverage.users < len(np.unique(split.test.users)):
            notes.append(f"coverage measured on a seeded sample of {coverage.users:,} test users")
    return Report(
        run_path=str(run.path), model=run.model.name,
        created=_dt.datetime.now(_dt.timezone.utc).strftime("%Y-%m-%d %H:%M UTC"),
        stats=stats, options=options, changed_options=changed, epochs=epochs, train_seconds=info.train_seconds,
        metrics=metrics, eval_seconds=seconds, map=result, map_note=map_note, examples=examples,
        coverage=coverage, k=k, history=info.history, notes=notes,
    )


def data_stats(run: Run) -> dict[str, Any]:
    """Counts of the run's data and split, as label -> value (display order)."""
    split = run.split
    info = run.info
    train = split.train
    per_user = np.bincount(train.users, minlength=split.num_users)
    items = train.item_counts()
    head = np.sort(items)[::-1][: max(1, int(round(HEAD_SHARE * items.size)))]
    out: dict[str, Any] = {
        "data": info.data.get("source") or info.data.get("path") or "?",
        "format": info.data.get("format") or "?",
        "split": "the dataset's own" if info.split.get("published") else str(info.split.get("protocol", "?")),
        "users": split.num_users,
        "items": split.num_items,
        "train interactions": len(train),
        "validation interactions": 0 if split.valid is None else len(split.valid),
        "test interactions": len(split.test),
        "test users": int(np.unique(split.test.users).size),
        "train density": f"{len(train) / (split.num_users * split.num_items):.4%}",
        "train items per user (median / mean)": f"{np.median(per_user):.0f} / {per_user.mean():.1f}",
        "items never in train": int((items == 0).sum()),
        f"train interactions on the top {HEAD_SHARE:.0%} items": f"{head.sum() / max(1, items.sum()):.1%}",
    }
    if split.test_negatives is not None:
        out["sampled negatives per test row"] = int((split.test_negatives >= 0).sum(axis=1).max())
    feats = run.features
    for side, table in zip(("user", "item"), feats, strict=True):
        if table is not None:
            groups = sorted({n.split("=", 1)[0] for n in table.names})
            out[f"{side} features"] = ", ".join(groups)
    return out


def changed_options(options: dict[str, Any]) -> dict[str, Any]:
    """The options whose value differs from the default (the data source included)."""
    out = {}
    for key, value in options.items():
        opt = OPTIONS.get(key)
        default = None if opt is None else opt.default
        default = list(default) if isinstance(default, tuple) else default
        if opt is None or value != default:
            out[key] = value
    return out


def read_log(path: Path) -> list[dict[str, Any]]:
    """``log.jsonl``: one dict per epoch (empty when the run has no log, e.g. closed-form models)."""
    if not path.is_file():
        return []
    out = []
    with open(path, encoding="utf-8") as fh:
        for line_no, line in enumerate(fh, 1):
            if not line.strip():
                continue
            try:
                obj = json.loads(line)
            except json.JSONDecodeError as exc:
                raise DataError(f"invalid JSON: {exc.msg}", path=path, line=line_no) from None
            if not isinstance(obj, dict) or "epoch" not in obj:
                raise DataError("an epoch record (object with \"epoch\") expected", path=path, line=line_no)
            out.append(obj)
    return out


def _popularity_metrics(run: Run, protocol: str, cutoffs: tuple[int, ...]) -> dict[str, float]:
    """The same evaluation for a popularity ranking fitted on the run's training data."""
    from ncf.evaluation import evaluate
    from ncf.models import Popularity

    split = run.split
    pop = Popularity(split.num_users, split.num_items).fit(split.train)
    known = run.known("test")
    report = evaluate(pop, split.test, exclude=known, k=cutoffs, protocol="sampled" if protocol == "sampled" else "full",
                      negatives=split.test_negatives if protocol == "sampled" else None,
                      train_counts=split.train.item_counts())
    return dict(report.metrics)


def user_examples(run: Run, *, num: int = 5, k: int = 10, seed: int = 0, history: int = 10) -> list[UserExample]:
    """``num`` test users (seeded): their latest ``history`` known items beside their top-``k``."""
    from ncf.retrieval import recommend

    split = run.split
    test_users = np.unique(split.test.users)
    if num <= 0 or test_users.size == 0:
        return []
    rng = np.random.default_rng(seed)
    users = np.sort(rng.choice(test_users, size=min(num, test_users.size), replace=False))
    known = run.known("test")
    top = recommend(run.model, users, k=k, exclude=known)
    k_users = np.concatenate([p.users for p in known])
    k_items = np.concatenate([p.items for p in known])
    has_time = all(p.timestamps is not None for p in known)
    k_time = np.concatenate([np.asarray(p.timestamps, dtype=np.float64) for p in known]) if has_time else None
    names = _names(run)
    raw_users = run.decode_users(users)
    out = []
    for r, user in enumerate(users):
        rows = np.flatnonzero(k_users == user)
        if k_time is not None:
            rows = rows[np.argsort(-k_time[rows], kind="stable")]
        else:
            rows = rows[::-1]  # no timestamps: the row order, latest last
        test_items = set(split.test.items[split.test.users == user].tolist())
        ids = [int(i) for i in np.asarray(top.ids[r]) if i >= 0]
        out.append(UserExample(
            user=raw_users[r], history=tuple(names[int(i)] for i in k_items[rows[:history]]),
            history_total=int(rows.size), recommended=tuple(names[i] for i in ids),
            hits=tuple(i in test_items for i in ids), held_out=tuple(names[i] for i in sorted(test_items)),
        ))
    return out


def _names(run: Run) -> list[str]:
    raw = run.decode_items(np.arange(run.model.num_items))
    titles = run.titles
    if titles is None:
        return [f"item {r}" for r in raw]
    return [t or f"item {r}" for t, r in zip(titles, raw, strict=True)]


def recommendation_coverage(run: Run, *, k: int = 10, max_users: int | None = 5_000, seed: int = 0) -> Coverage:
    """Top-``k`` lists of the test users (a seeded sample of ``max_users``), counted per item."""
    from ncf.retrieval import recommend

    split = run.split
    users = np.unique(split.test.users)
    if max_users is not None and users.size > max_users:
        users = np.sort(np.random.default_rng(seed).choice(users, size=max_users, replace=False))
    top = recommend(run.model, users, k=k, exclude=run.known("test"))
    ids = np.asarray(top.ids).reshape(-1)
    ids = ids[ids >= 0]
    n = split.num_items
    return Coverage(users=int(users.size), k=k, train_counts=split.train.item_counts().astype(np.int64),
                    test_counts=np.bincount(split.test.items, minlength=n).astype(np.int64),
                    recommended_counts=np.bincount(ids, minlength=n).astype(np.int64))


# ---------------------------------------------------------------------- rendering
_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,sans-serif;margin:0;color:#222;background:#fafafa}
main{max-width:1180px;margin:0 auto;padding:24px 28px 60px}
h1{font-size:1.6em;margin:0 0 4px} h2{font-size:1.25em;margin:34px 0 10px;border-bottom:1px solid #ddd;padding-bottom:4px}
.sub{color:#666;margin:0 0 10px} nav a{margin-right:14px;color:#2a5db0;text-decoration:none}
table{border-collapse:collapse;margin:8px 0;font-size:.92em;background:#fff}
th,td{border:1px solid #e0e0e0;padding:4px 10px;text-align:left;vertical-align:top}
th{background:#f2f2f2} td.num{text-align:right;font-variant-numeric:tabular-nums}
.grid{display:grid;grid-template-columns:repeat(auto-fill,minmax(540px,1fr));gap:16px}
.card{background:#fff;border:1px solid #e0e0e0;border-radius:6px;padding:10px 14px}
.card h3{margin:4px 0 8px;font-size:1em} ol{margin:0;padding-left:22px} li{margin:1px 0}
.hit{background:#dff3df;font-weight:600} .note{color:#666;font-size:.9em}
.cols{display:grid;grid-template-columns:1fr 1fr;gap:12px} details{margin:8px 0}
.plot{background:#fff;border:1px solid #e0e0e0;border-radius:6px;margin:8px 0}
"""


def _esc(value: Any) -> str:
    return html.escape(str(value))


def _fmt(value: Any) -> str:
    if isinstance(value, bool) or value is None:
        return _esc(json.dumps(value))
    if isinstance(value, int):
        return f"{value:,}"
    if isinstance(value, float):
        return "nan" if np.isnan(value) else f"{value:.4f}"
    if isinstance(value, (list, tuple)):
        return _esc(", ".join(map(str, value)))
    return _esc(value)


def _table(rows: list[tuple[Any, ...]], header: tuple[str, ...] | None = None) -> str:
    out = ["<table>"]
    if header:
        out.append("<tr>" + "".join(f"<th>{_esc(h)}</th>" for h in header) + "</tr>")
    for row in rows:
        cells = []
        for c, value in enumerate(row):
            cls = ' class="num"' if c and isinstance(value, (int, float)) and not isinstance(value, bool) else ""
            cells.append(f"<td{cls}>{_fmt(value)}</td>")
        out.append("<tr>" + "".join(cells) + "</tr>")
    out.append("</table>")
    return "".join(out)


def _metric_key(name: str) -> tuple[int, int, str]:
    base, _, cut = name.partition("@")
    rank = _METRIC_ORDER.index(base) if base in _METRIC_ORDER else len(_METRIC_ORDER)
    return rank, int(cut) if cut.isdigit() else 0, name


def _div(fig: Any, div_id: str) -> str:
    height = fig.layout.height or 450  # a fixed height: "100%" of an auto-height parent collapses on resize
    body: str = fig.to_html(full_html=False, include_plotlyjs=False, div_id=div_id, default_height=f"{height}px",
                            default_width="100%", config={"displaylogo": False, "responsive": True})
    return f'<div class="plot">{body}</div>'


def _curves_figure(epochs: list[dict[str, Any]]) -> Any:
    """Loss against epoch; each validation metric against epoch and against cumulative training seconds."""
    subplots = require("plotly.subplots", feature="ncf report")
    go = require("plotly.graph_objects", feature="ncf report")
    names = sorted({m for e in epochs for m in (e.get("metrics") or {})})
    fig = subplots.make_subplots(rows=1, cols=3 if names else 1, subplot_titles=["training loss"] + (
        ["validation against epoch", "validation against training seconds"] if names else []))
    xs = [e["epoch"] for e in epochs]
    fig.add_trace(go.Scatter(x=xs, y=[e.get("loss") for e in epochs], mode="lines+markers", name="loss"), row=1, col=1)
    elapsed = dict(zip(xs, np.cumsum([float(e.get("seconds") or 0.0) for e in epochs]).tolist(), strict=True))
    palette = ("#1f77b4", "#ff7f0e", "#2ca02c", "#d62728", "#9467bd", "#8c564b", "#e377c2", "#7f7f7f")
    for j, name in enumerate(names):
        pts = [(e["epoch"], e["metrics"][name]) for e in epochs if name in (e.get("metrics") or {})]
        line = {"color": palette[j % len(palette)]}
        fig.add_trace(go.Scatter(x=[p[0] for p in pts], y=[p[1] for p in pts], mode="lines+markers", name=name,
                                 line=line, legendgroup=name), row=1, col=2)
        fig.add_trace(go.Scatter(x=[elapsed[p[0]] for p in pts], y=[p[1] for p in pts], mode="lines+markers",
                                 name=name, line=line, legendgroup=name, showlegend=False), row=1, col=3)
    fig.update_xaxes(title_text="epoch")
    if names:
        fig.update_xaxes(title_text="training seconds (cumulative, without validation)", row=1, col=3)
    fig.update_layout(height=340, template="plotly_white", margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return fig


def negatives_note(options: dict[str, Any]) -> str | None:
    """What the run's negatives were, when they were not plain sampled uniform ones (from run.json's options)."""
    loss = options.get("loss")
    hard = float(options.get("hard-negatives") or 0.0)
    if loss == "softmax":
        parts = ["in-batch negatives (softmax over the batch's other positives"]
        parts.append("logQ correction " + ("on" if options.get("logq", True) else "off"))
        parts.append("accidental hits " + ("removed" if options.get("remove-accidental-hits", True) else "kept"))
        extra = int(options.get("extra-negatives") or 0)
        if extra:
            parts.append(f"{extra} extra uniform negatives per batch")
        return ", ".join(parts) + ")"
    if loss in ("bpr", "bce") and hard > 0:
        n = int(options.get("negatives") or 0)
        base = "popularity-sampled" if options.get("sampler") == "popularity" else "uniform"
        return (f"hard negatives: {hard:g} of the {n} negatives per positive drawn from each user's top "
                f"{options.get('hard-candidates')} unseen items, re-mined before every epoch by scoring every "
                f"item (its time is in the epoch's seconds); the rest {base}")
    return None


def _long_tail_figure(cov: Coverage) -> Any:
    subplots = require("plotly.subplots", feature="ncf report")
    go = require("plotly.graph_objects", feature="ncf report")
    order = np.argsort(-cov.train_counts, kind="stable")
    rank = np.arange(1, order.size + 1)
    fig = subplots.make_subplots(rows=1, cols=2, column_widths=[0.6, 0.4], subplot_titles=[
        "items by training popularity (log scale)", "share per popularity decile (1 = most popular)"])
    fig.add_trace(go.Scatter(x=rank, y=cov.train_counts[order], mode="lines", name="training interactions",
                             line={"color": "#1f77b4"}), row=1, col=1)
    rec = cov.recommended_counts[order]
    shown = rec > 0
    fig.add_trace(go.Scatter(x=rank[shown], y=rec[shown], mode="markers", name=f"times in a top-{cov.k}",
                             marker={"color": "#d62728", "size": 4, "opacity": 0.7}), row=1, col=1)
    dec = cov.deciles()
    labels = [str(d) for d in range(1, 11)]
    for name, colour in (("train", "#1f77b4"), ("test", "#2ca02c"), ("recommended", "#d62728")):
        fig.add_trace(go.Bar(x=labels, y=dec[name], name=f"{name} share", marker_color=colour, showlegend=True),
                      row=1, col=2)
    fig.update_yaxes(type="log", row=1, col=1, title_text="count")
    fig.update_xaxes(title_text="popularity rank", row=1, col=1)
    fig.update_xaxes(title_text="decile", row=1, col=2)
    fig.update_yaxes(tickformat=".0%", row=1, col=2)
    fig.update_layout(height=380, template="plotly_white", barmode="group",
                      margin={"l": 50, "r": 20, "t": 40, "b": 40})
    return fig


def render_html(report: Report) -> str:
    """The report as one HTML page with plotly.js inlined (no network needed to open it)."""
    offline = require("plotly.offline", feature="ncf report")
    from ncf.viz.plot import map_figure

    r = report
    sections: list[tuple[str, str, str]] = []

    sections.append(("data", "Data and split", _table([(k, v) for k, v in r.stats.items()])))

    opts = _table([(k, v) for k, v in r.changed_options.items()], ("option", "value"))
    everything = _table([(k, v) for k, v in sorted(r.options.items())], ("option", "value"))
    train_time = f"<p class='sub'>training took {r.train_seconds:.1f} s</p>" if r.train_seconds is not None else ""
    sections.append(("config", "Configuration",
                     f"<p class='sub'>Options set apart from the defaults (from run.json):</p>{opts}{train_time}"
                     f"<details><summary>all {len(r.options)} options</summary>{everything}</details>"))

    if r.epochs:
        h = r.history or {}
        extra = ""
        if h.get("best_metric") is not None:
            stopped = ", stopped early" if h.get("stopped_early") else ""
            extra = (f"<p class='sub'>best validation {_esc(h.get('metric'))} {h['best_metric']:.4f} at epoch "
                     f"{h.get('best_epoch')} of {h.get('epochs')}{stopped} (the saved weights)</p>")
        note = negatives_note(r.options)
        if note is not None:
            extra += f"<p class='sub'>Negatives: {_esc(note)}.</p>"
        body = _div(_curves_figure(r.epochs), "plot-curves") + extra
    else:
        body = "<p class='note'>No per-epoch log (a closed-form model, or a run trained before logs were kept).</p>"
    sections.append(("training", "Training curves", body))

    parts = []
    for protocol, by_model in r.metrics.items():
        names = list(by_model)
        metrics = sorted({m for vals in by_model.values() for m in vals}, key=_metric_key)
        rows = [(m, *[by_model[n].get(m, float("nan")) for n in names]) for m in metrics]
        desc = ("each test item ranked against its sampled negatives (the NeuMF protocol)"
                if protocol == "sampled" else "every item not seen in train/validation is a candidate")
        parts.append(f"<h3>{'sampled' if protocol == 'sampled' else 'full ranking'}</h3><p class='sub'>{_esc(desc)}; {r.eval_seconds[protocol]:.2f} s</p>"
                     + _table(rows, ("metric", *names)))
    sections.append(("metrics", "Test metrics", "".join(parts)))

    if r.map is not None:
        m = r.map
        purity = ""
        if m.purity is not None and m.shuffled_purity is not None:
            purity = (f"<p class='sub'>{m.k}-NN label purity on the map: {m.purity:.3f} "
                      f"(shuffled labels: {m.shuffled_purity:.3f}).</p>")
        sampled = f" (a stratified sample of {len(m):,} of {m.total:,})" if m.sampled else ""
        body = (f"<p class='sub'>Item vectors projected by {_esc(m.method)}{_esc(sampled)}, "
                f"coloured by {_esc(m.color_by)}; hover for titles.</p>{purity}" + _div(map_figure(m), "plot-map"))
    else:
        body = f"<p class='note'>No map: {_esc(r.map_note)}</p>"
    sections.append(("map", "Embedding map", body))

    cards = []
    for ex in r.examples:
        hist = "".join(f"<li>{_esc(t)}</li>" for t in ex.history) or "<li class='note'>(none)</li>"
        recs = "".join(f"<li class='{'hit' if hit else ''}'>{_esc(t)}</li>"
                       for t, hit in zip(ex.recommended, ex.hits, strict=True))
        held = ", ".join(ex.held_out)
        cards.append(f"<div class='card'><h3>user {_esc(ex.user)}</h3><div class='cols'>"
                     f"<div><b>latest {len(ex.history)} of {ex.history_total} known items</b><ol>{hist}</ol></div>"
                     f"<div><b>top-{r.k}</b><ol>{recs}</ol></div></div>"
                     f"<p class='note'>held out (test): {_esc(held)}</p></div>")
    sections.append(("users", "Users: history and recommendations",
                     "<p class='sub'>Highlighted: a recommended item the user really interacted with in the "
                     "test split.</p><div class='grid'>" + "".join(cards) + "</div>"))

    if r.coverage is not None:
        c = r.coverage
        rows = [
            (f"users with a top-{c.k} list", c.users),
            ("catalogue coverage (items in any list)", f"{c.catalogue_coverage:.1%}"),
            ("recommendations from the top 20% items", f"{c.head_share(c.recommended_counts):.1%}"),
            ("training interactions on the top 20% items", f"{c.head_share(c.train_counts):.1%}"),
            ("test interactions on the top 20% items", f"{c.head_share(c.test_counts):.1%}"),
            ("mean training popularity of a recommended item", c.mean_recommended_popularity),
            ("Gini of recommendation counts", c.gini),
        ]
        body = _table(rows) + _div(_long_tail_figure(c), "plot-longtail")
        sections.append(("coverage", "Popularity and coverage", body))

    nav = "".join(f"<a href='#{sid}'>{_esc(title)}</a>" for sid, title, _ in sections)
    content = "".join(f"<section id='{sid}'><h2>{_esc(title)}</h2>{body}</section>" for sid, title, body in sections)
    notes = "".join(f"<p class='note'>{_esc(n)}</p>" for n in r.notes)
    plotly_js = offline.get_plotlyjs()
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        "<meta name='viewport' content='width=device-width, initial-scale=1'>"
        f"<title>ncf report: {_esc(r.model)} — {_esc(Path(r.run_path).name)}</title>"
        f"<style>{_CSS}</style><script type='text/javascript'>{plotly_js}</script></head><body><main>"
        f"<h1>{_esc(r.model)} run report</h1><p class='sub'>{_esc(r.run_path)} · generated {_esc(r.created)}</p>"
        f"<nav>{nav}</nav>{notes}{content}</main></body></html>"
    )


def write_report(run: Run | PathLike, out: PathLike, **options: Any) -> Report:
    """Build the report of ``run`` and write it to ``out`` (atomically); returns the :class:`Report`."""
    target = Path(out)
    if target.suffix.lower() not in (".html", ".htm"):
        raise ConfigError(f"--out must end in .html, got {str(out)!r}")
    report = build_report(run, **options)
    page = render_html(report)
    with atomic_write(target, "w", encoding="utf-8") as fh:
        fh.write(page)
    return report
