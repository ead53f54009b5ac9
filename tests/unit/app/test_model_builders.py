"""The builder table (``ncf.app.model_builders``): run options -> a model's typed constructor."""

from __future__ import annotations

import dataclasses
import logging

import pytest

from ncf.app.model_builders import MODEL_BUILDERS, BuildContext, build_spectral, model_builder
from ncf.app.model_spec import ModelSpec
from ncf.errors import ConfigError
from ncf.models.spectral import rank_candidates


def test_every_row_reads_model_spec_fields_and_builds_its_class():
    fields = {f.name for f in dataclasses.fields(ModelSpec)} - {"name"}
    for name, row in MODEL_BUILDERS.items():
        assert row.options <= fields, name
        model = ModelSpec(name=name, dim=4, layers=(8, 4), spectral_rank=3, ideal_rank=3).build(6, 9, seed=1)
        assert type(model) is row.model_class and model.name == name
        assert (model.num_users, model.num_items) == (6, 9)


def test_options_map_onto_the_constructor_arguments():
    ctx = BuildContext(6, 9, seed=5, sparse=True)
    assert MODEL_BUILDERS["mf"].build(ModelSpec(dim=4, cosine=True, init="projection"), ctx).get_config() == {
        "num_users": 6, "num_items": 9, "embedding_dim": 4, "use_bias": False, "init_std": 0.1, "sparse": True,
        "normalize": True, "init": "projection"}
    neumf = MODEL_BUILDERS["neumf"].build(ModelSpec(name="neumf", dim=3, layers=(10, 4), dropout=0.25), ctx)
    assert {k: neumf.get_config()[k] for k in ("gmf_dim", "mlp_dim", "layers", "dropout")} == {
        "gmf_dim": 3, "mlp_dim": 5, "layers": [10, 4], "dropout": 0.25}
    tower = ModelSpec(name="two-tower", temperature=0.5).build(6, 9)
    assert tower.get_config()["temperature"] == 0.5
    assert ModelSpec(name="two-tower").build(6, 9).get_config()["temperature"] == 0.05  # the class's default


def test_a_rank_beyond_the_universe_is_clipped_with_a_warning(caplog):
    with caplog.at_level(logging.WARNING):
        model = build_spectral(ModelSpec(name="spectral", spectral_rank=50), BuildContext(6, 9, seed=2))
    assert model.rank == 6 and "exceeds min(users, items)" in caplog.text
    # no rank: the largest candidate (the run picks a smaller one on the carve by truncation)
    assert build_spectral(ModelSpec(name="spectral"), BuildContext(6, 9)).rank == max(rank_candidates(6, 9))


def test_two_tower_features_need_side_features():
    with pytest.raises(ConfigError, match="no side features"):
        ModelSpec(name="two-tower", features=True).build(6, 9)


def test_a_name_outside_the_table_is_a_config_error():
    with pytest.raises(ConfigError, match="cannot be built from run options"):
        model_builder("blend")
