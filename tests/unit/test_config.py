"""TrainConfig: validation, the validation-protocol defaults and the option metadata."""

from __future__ import annotations

import dataclasses
import math

import pytest

from ncf.config import OPTION, OptionInfo, TrainConfig, check_device_name, parse_metric
from ncf.errors import ConfigError


def test_unknown_keys_and_values_get_a_hint():
    with pytest.raises(ConfigError, match="did you mean 'bpr'"):
        TrainConfig(loss="bprr")
    with pytest.raises(ConfigError, match="did you mean 'batch_size'"):
        TrainConfig.from_dict({"batch_sise": 3})
    with pytest.raises(ConfigError, match="did you mean 'cosine'"):
        TrainConfig(lr_schedule="cosin")


@pytest.mark.parametrize(
    "kwargs",
    [
        {"lr": 0}, {"lr": math.nan}, {"lr": math.inf}, {"l2": -1.0}, {"epochs": 0}, {"epochs": 1.7},
        {"batch_size": 0}, {"num_negatives": 0, "loss": "bpr"}, {"hard_negatives": 1.5}, {"patience": 0},
        {"checkpoint_every": 0}, {"seed": -1}, {"grad_clip": 0.0}, {"device": "tpu"}, {"device": "cuda:x"},
        {"metric": "foo@10"}, {"metric": "ndcg"}, {"metric": "ndcg@0"}, {"logq_weight": -0.5},
    ],
)
def test_invalid_values_are_config_errors(kwargs):
    with pytest.raises(ConfigError):
        TrainConfig(**kwargs)


def test_validation_protocol_metric_and_cutoffs_follow_the_data():
    cfg = TrainConfig()
    assert cfg.metric is None and cfg.eval_protocol is None
    sampled = cfg.for_validation(sampled=True)
    assert (sampled.eval_protocol, sampled.metric, sampled.eval_k) == ("sampled", "ndcg@10", (10,))
    full = cfg.for_validation(sampled=False)
    assert (full.eval_protocol, full.metric, full.eval_k) == ("full", "recall@20", (20,))
    custom = TrainConfig(metric="hr@5", eval_k=(10,)).for_validation(sampled=True)
    assert custom.eval_k == (5, 10)
    with pytest.raises(ConfigError, match="sampled-protocol metric"):  # no precision under sampling
        TrainConfig(metric="precision@10").for_validation(sampled=True)


def test_round_trip_through_dict():
    cfg = TrainConfig(loss="softmax", metric="recall@20", eval_k=(10,), extra_negatives=8)
    assert TrainConfig.from_dict(cfg.to_dict()) == cfg


def test_every_field_has_option_metadata():
    for f in dataclasses.fields(TrainConfig):
        info = f.metadata.get(OPTION)
        assert isinstance(info, OptionInfo), f.name
        assert info.help or not info.cli, f.name


def test_metric_and_device_parsing():
    assert parse_metric("ndcg@10") == ("ndcg", 10)
    with pytest.raises(ConfigError, match="did you mean 'recall'"):
        parse_metric("recal@20")
    for ok in ("cpu", "cuda", "cuda:1", "mps"):
        check_device_name(ok)
    with pytest.raises(ConfigError, match="did you mean 'cuda'"):
        check_device_name("cude")
