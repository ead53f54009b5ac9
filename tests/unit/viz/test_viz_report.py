"""The run report: every section computed from the run directory, and one self-contained page."""

from __future__ import annotations

import json
from html.parser import HTMLParser

import numpy as np
import pytest

from ncf.app import Run
from ncf.errors import ConfigError, DataError
from ncf.viz import Coverage, build_report, render_html, write_report
from ncf.viz.report import read_log


@pytest.fixture(scope="module")
def report(mf_run):
    return build_report(mf_run, map_method="pca", num_examples=4, show_progress=False)


def test_statistics_options_and_curves_come_from_the_run(report, mf_run):
    assert report.model == "mf"
    assert report.stats["users"] == 300 and report.stats["items"] == 200
    assert report.stats["test interactions"] == 300 and report.stats["sampled negatives per test row"] == 99
    assert report.stats["item features"] == "genre, year"
    assert report.changed_options["dim"] == 16 and "layers" not in report.changed_options
    assert [e["epoch"] for e in report.epochs] == [1, 2, 3, 4, 5, 6]
    assert all("ndcg@10" in e["metrics"] for e in report.epochs)
    assert report.history is not None and report.history["epochs"] == 6


def test_metrics_under_both_protocols_beside_popularity(report):
    assert set(report.metrics) == {"sampled", "full"}
    for protocol, metric in (("sampled", "hr@10"), ("full", "recall@20")):
        ours, pop = report.metrics[protocol]["mf"], report.metrics[protocol]["popularity"]
        assert 0.0 <= pop[metric] < ours[metric] <= 1.0


def test_examples_never_recommend_what_the_user_already_had(report, mf_run):
    run = Run.load(mf_run)
    titles = run.titles
    assert titles is not None and len(report.examples) == 4
    known = {}
    for part in run.known("test"):
        for u, i in zip(run.decode_users(part.users), part.items, strict=True):
            known.setdefault(u, set()).add(titles[i])
    for ex in report.examples:
        assert len(ex.recommended) == report.k == len(ex.hits)
        assert not set(ex.recommended) & known[ex.user]
        assert set(ex.history) <= known[ex.user] and len(ex.history) == min(10, ex.history_total)
        assert all(hit == (title in ex.held_out) for title, hit in zip(ex.recommended, ex.hits, strict=True))


def test_history_is_newest_first(mf_run):
    run = Run.load(mf_run)
    rep = build_report(run, map_method=None, num_examples=1, show_progress=False)
    ex = rep.examples[0]
    user = run.encode_users([ex.user])[0]
    train = run.split.train
    rows = np.flatnonzero(train.users == user)
    valid = run.split.valid
    times = list(train.timestamps[rows])
    items = list(train.items[rows])
    if valid is not None:
        vrows = np.flatnonzero(valid.users == user)
        times += list(valid.timestamps[vrows])
        items += list(valid.items[vrows])
    newest = items[int(np.argmax(times))]
    assert ex.history[0] == run.titles[newest]
    assert rep.map is None and "left out" in (rep.map_note or "")


def test_coverage_counts_every_list_and_its_summaries_match_naive_ones(report):
    c = report.coverage
    assert c is not None and c.recommended_counts.sum() == c.users * c.k == 300 * 10
    assert c.catalogue_coverage == pytest.approx((c.recommended_counts > 0).mean())
    for shares in c.deciles().values():
        assert sum(shares) == pytest.approx(1.0)
    x = c.recommended_counts.astype(float)
    naive_gini = np.abs(x[:, None] - x[None, :]).sum() / (2 * x.size * x.sum())
    assert c.gini == pytest.approx(naive_gini)


def test_gini_of_even_and_concentrated_counts():
    def cov(rec):
        n = len(rec)
        return Coverage(1, 1, np.ones(n, np.int64), np.ones(n, np.int64), np.asarray(rec, np.int64))
    assert cov([5, 5, 5, 5]).gini == pytest.approx(0.0)
    assert cov([0, 0, 0, 8]).gini == pytest.approx(0.75)  # (n - 1) / n for one item


class _Tags(HTMLParser):
    """The page's HTML elements that would load something (the inlined JavaScript is not parsed)."""

    def __init__(self) -> None:
        super().__init__()
        self.external: list[tuple[str, str]] = []
        self.scripts = 0

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        self.scripts += tag == "script"
        for name, value in attrs:
            if name in ("src", "href") and value and not value.startswith(("#", "data:")):
                self.external.append((tag, value))


def test_the_page_is_self_contained(report):
    page = render_html(report)
    assert page.startswith("<!DOCTYPE html>")
    for section in ("data", "config", "training", "metrics", "map", "users", "coverage"):
        assert f"<section id='{section}'>" in page
    for div in ("plot-curves", "plot-map", "plot-longtail"):
        assert f'id="{div}"' in page
    tags = _Tags()
    tags.feed(page)
    assert tags.external == []  # nothing to fetch: no script src, stylesheet link or image
    assert tags.scripts >= 4  # plotly.js, then one per plot


def test_a_run_without_vectors_or_log_still_gets_a_report(popularity_run, tmp_path):
    rep = write_report(popularity_run, tmp_path / "pop.html", map_method="pca", num_examples=2, show_progress=False)
    assert rep.map is None and "too few for a 2-D map" in (rep.map_note or "")
    assert rep.epochs == []
    page = (tmp_path / "pop.html").read_text(encoding="utf-8")
    assert "No map:" in page and "No per-epoch log" in page


def test_bad_inputs(mf_run, tmp_path):
    with pytest.raises(ConfigError, match=r"\.html"):
        write_report(mf_run, tmp_path / "r.pdf", show_progress=False)
    with pytest.raises(ConfigError, match="map method"):
        build_report(mf_run, map_method="mds", show_progress=False)
    log = tmp_path / "log.jsonl"
    log.write_text(json.dumps({"epoch": 1, "loss": 0.5}) + "\n{oops\n")
    with pytest.raises(DataError) as err:
        read_log(log)
    assert err.value.line == 2


def test_a_wrong_map_colour_is_an_error_not_a_missing_map(mf_run):
    with pytest.raises(ConfigError, match="no feature 'mood'"):
        build_report(mf_run, map_method="pca", map_color="mood", show_progress=False)


def test_curves_show_validation_against_epoch_and_seconds(report):
    from ncf.viz.report import _curves_figure

    fig = _curves_figure(report.epochs)
    by_axis = {}
    for trace in fig.data:
        by_axis.setdefault(trace.xaxis, []).append(trace)
    assert set(by_axis) == {"x", "x2", "x3"}
    seconds = np.cumsum([e["seconds"] for e in report.epochs])
    (timed,) = [t for t in by_axis["x3"] if t.name == "ndcg@10"]
    assert np.allclose(timed.x, seconds) and list(timed.y) == [e["metrics"]["ndcg@10"] for e in report.epochs]


def test_the_negatives_are_named_next_to_the_curve_when_not_plain_sampled():
    from ncf.viz.report import negatives_note

    assert negatives_note({"loss": "bpr", "negatives": 4, "hard-negatives": 0.0, "sampler": "uniform"}) is None
    hard = negatives_note({"loss": "bpr", "negatives": 4, "hard-negatives": 0.5, "hard-candidates": 50,
                           "sampler": "uniform"})
    assert hard is not None and "hard negatives: 0.5 of the 4" in hard and "top 50" in hard
    soft = negatives_note({"loss": "softmax", "logq": False, "remove-accidental-hits": True})
    assert soft is not None and "in-batch" in soft and "logQ correction off" in soft and "removed" in soft


def test_the_page_says_so_for_an_in_batch_run():
    from ncf.viz.report import Report

    base = {"loss": "softmax", "logq": True, "remove-accidental-hits": True}
    r = Report(run_path="r", model="mf", created="now", stats={}, options=base, changed_options={},
               epochs=[{"epoch": 1, "loss": 1.0, "seconds": 0.5, "metrics": {"ndcg@10": 0.1}}], train_seconds=None,
               metrics={}, eval_seconds={}, map=None, map_note="left out", examples=[], coverage=None, k=10)
    html = render_html(r)
    assert "Negatives: in-batch negatives" in html and "validation against training seconds" in html
