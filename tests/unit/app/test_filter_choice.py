"""``--model graph-filter``: the shape chosen on the carve through the standard evaluation, the
chosen filter refitted on train + carve, fixed options kept, and one ranking path."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from ncf.app import Run, RunSpec, recommend_run, train
from ncf.app.filter_choice import FilterBases, carve_metric, carve_sample, search_space, start_shape
from ncf.errors import ConfigError
from ncf.evaluation import evaluate
from ncf.models import GraphFilter
from ncf.models.graph_filter import FilterShape


def _spec(data, **options):
    return RunSpec.from_options(("test", {"data": str(data), "model": "graph-filter", **options}))


def test_the_shape_is_chosen_on_the_carve_then_fitted_on_train_plus_carve(neumf_dir, tmp_path):
    out = tmp_path / "gf"
    result = train(_spec(neumf_dir, **{"ideal-rank": 8}), out, show_progress=False)
    info = json.loads((out / "run.json").read_text())
    refit = info["history"]["refit"]
    shape = refit["filter_shape"]
    run = Run.load(out)
    assert run.split.valid is not None and refit["done"]
    assert refit["rows"] == len(run.split.train) + len(run.split.valid)
    assert shape["value"] == max(t["value"] for t in shape["top"])
    assert shape["chosen"]["ideal_rank"] == 8  # a given option stays fixed
    assert "graph filter shape chosen" in result.summary()
    model = run.model
    assert isinstance(model, GraphFilter)
    assert dataclasses.asdict(model.shape()) == shape["chosen"]
    twin = GraphFilter(run.split.num_users, run.split.num_items, **{k: v for k, v in shape["chosen"].items()
                                                                   if k != "flatness"},
                       flatness=shape["chosen"]["flatness"]).fit(run.split.train.concat(run.split.valid))
    users = torch.arange(min(20, run.split.num_users))
    torch.testing.assert_close(model.score_rows(users), twin.score_rows(users), rtol=1e-4, atol=1e-5)


def test_every_option_given_means_no_carve(neumf_dir, tmp_path):
    out = tmp_path / "fixed"
    train(_spec(neumf_dir, **{"filter-flatness": 2.0, "degree-power": 0.3, "ideal-rank": 4, "ideal-weight": 0.1}),
          out, show_progress=False)
    run = Run.load(out)
    assert run.split.valid is None
    assert run.model.shape() == FilterShape(2.0, 0.3, 0.1, 4)


def test_search_space_holds_the_given_options_and_the_linear_filter_has_no_flatness():
    spec = RunSpec.from_options(("test", {"model": "graph-filter", "degree-power": 0.3}))
    space = search_space(spec, 500, 400)
    assert "degree_power" not in space and set(space) == {"flatness", "ideal_weight", "ideal_rank"}
    assert start_shape(spec, 500, 400).degree_power == 0.3
    assert max(space["ideal_rank"]) <= 200  # at most half the smaller side
    linear = RunSpec.from_options(("test", {"model": "graph-filter", "filter": "linear"}))
    assert "flatness" not in search_space(linear, 500, 400)


def test_the_carve_metric_is_the_standard_evaluation_of_the_shaped_filter(neumf_dir, tmp_path):
    out = tmp_path / "gf"
    train(_spec(neumf_dir, **{"ideal-rank": 8}), out, show_progress=False)
    split = Run.load(out).split
    base = GraphFilter(split.num_users, split.num_items, ideal_rank=8, ideal_weight=1.0).fit(split.train)
    sample = carve_sample(base, split, users=40)
    assert sample.users.size == 40
    for shape in (FilterShape(1.0, 0.0, 0.0, 8), FilterShape(3.0, 0.4, 0.5, 4)):
        got = carve_metric(base, sample, FilterBases(base, sample.histories, shape.degree_power).scores(shape),
                           "ndcg@10")
        want = evaluate(base.with_shape(shape), sample.valid, exclude=split.train, k=(10,), protocol="sampled",
                        negatives=sample.negatives).metrics["ndcg@10"]
        assert got == pytest.approx(want, abs=1e-9)
    with pytest.raises(ConfigError, match="degree power"):
        FilterBases(base, sample.histories, 0.0).scores(FilterShape(1.0, 0.5, 0.0, 8))


def test_options_of_other_models_are_refused_both_ways(neumf_dir):
    with pytest.raises(ConfigError, match="--filter-order"):
        RunSpec.from_options(("test", {"data": str(neumf_dir), "model": "mf"})).model.check_applies({"filter_order"})
    with pytest.raises(ConfigError, match="--dim"):
        _spec(neumf_dir).model.check_applies({"dim"})
    with pytest.raises(ConfigError, match="filter"):
        _spec(neumf_dir, filter="cubic")
    with pytest.raises(ConfigError, match="degree_power"):
        _spec(neumf_dir, **{"degree-power": -0.5})


def test_the_cli_path_and_the_server_path_rank_alike(neumf_dir, tmp_path):
    from ncf.app.recommender import Recommender

    out = tmp_path / "gf"
    train(_spec(neumf_dir, **{"filter-flatness": 1.5, "degree-power": 0.4, "ideal-rank": 4, "ideal-weight": 0.2}),
          out, show_progress=False)
    run = Run.load(out)
    raw = [str(u) for u in run.decode_users(np.arange(min(6, run.split.num_users)))]
    cli = recommend_run(run, raw, k=5)
    served = Recommender.load(out)
    for user in raw:
        got = served.recommend(user, k=5)[0]
        assert [str(r["item"]) for r in cli[user]] == [str(i) for i in got.items], user
