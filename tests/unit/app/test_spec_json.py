"""RunSpec.to_json / from_json: the resolved spec ``ncf train --nproc`` hands its processes comes
back equal, ``explicit`` included, for every option (None, tuples, bools, choices, numbers)."""

from __future__ import annotations

import json

import pytest

from ncf.app.spec import OPTIONS, RunSpec
from ncf.errors import ConfigError

#: A value other than the default for every option, with the options that make it apply.
NON_DEFAULT: dict[str, tuple[object, dict[str, object]]] = {
    "data": ("some/data.csv", {}),
    "format": ("csv", {}),
    "path": ("/copy/of/ml-100k", {"data": "ml-100k"}),
    "titles": ("titles.csv", {}),
    "titles-offset": (-1, {"titles": "titles.csv"}),
    "protocol": ("random", {}),
    "test-negatives": (50, {}),
    "test-fraction": (0.3, {}),
    "valid": (True, {}),
    "valid-fraction": (0.25, {}),
    "refit": (False, {}),
    "model": ("neumf", {}),
    "dim": (32, {}),
    "layers": ((32, 16, 8), {"model": "mlp"}),
    "dropout": (0.125, {"model": "mlp"}),
    "temperature": (0.5, {"model": "two-tower"}),
    "cosine": (True, {"model": "mf"}),
    "init": ("projection", {"model": "mf"}),
    "features": (True, {"model": "two-tower"}),
    "spectral-rank": (16, {"model": "spectral"}),
    "spectral-weight": (0.3, {"model": "mf"}),
    "filter-weight": (0.3, {"model": "mf"}),
    "filter": ("linear", {"model": "graph-filter"}),
    "filter-order": (4, {"model": "graph-filter"}),
    "filter-flatness": (0.5, {"model": "graph-filter"}),
    "degree-power": (0.4, {"model": "graph-filter"}),
    "degree-offset": (2.0, {"model": "graph-filter"}),
    "ideal-rank": (32, {"model": "graph-filter", "filter": "linear"}),
    "ideal-weight": (0.2, {"model": "graph-filter", "filter": "linear"}),
    "pretrain": (True, {"model": "neumf"}),
    "pretrain-epochs": (2, {"model": "neumf", "pretrain": True}),
    "loss": ("bce", {}),
    "epochs": (3, {}),
    "max-epochs": (10, {}),
    "batch-size": (512, {}),
    "lr": (0.01, {}),
    "scale-batch": (True, {}),
    "lr-schedule": ("cosine", {}),
    "weight-decay": (0.01, {"optimizer": "adamw"}),
    "l2": (0.001, {}),
    "optimizer": ("adamw", {}),
    "negatives": (8, {}),
    "sampler": ("popularity", {}),
    "popularity-alpha": (0.5, {"sampler": "popularity"}),
    "hard-negatives": (0.5, {}),
    "hard-candidates": (50, {}),
    "extra-negatives": (10, {"loss": "softmax"}),
    "logq": (False, {"loss": "softmax"}),
    "logq-weight": (0.5, {"loss": "softmax"}),
    "remove-accidental-hits": (False, {"loss": "softmax"}),
    "eval-every": (2, {}),
    "patience": (5, {}),
    "metric": ("ndcg@10", {}),
    "grad-clip": (1.0, {}),
    "checkpoint-every": (2, {}),
    "seed": (7, {}),
    "device": ("cpu", {}),
    "amp": (False, {}),
    "softmax-bf16": (True, {"loss": "softmax"}),
}


def _round_trip(spec: RunSpec) -> RunSpec:
    return RunSpec.from_json(json.loads(json.dumps(spec.to_json())))


def _assert_same(spec: RunSpec) -> None:
    back = _round_trip(spec)
    assert back == spec and back.explicit == spec.explicit
    for key in OPTIONS:
        a, b = spec.value(key), back.value(key)
        assert a == b and type(a) is type(b), (key, a, b)


def test_every_option_round_trips_at_a_value_other_than_its_default():
    assert set(NON_DEFAULT) == set(OPTIONS)  # a new option needs a case here
    for key, (value, context) in NON_DEFAULT.items():
        spec = RunSpec.from_options(("test", {**context, key: value}))
        assert spec.value(key) == value and spec.value(key) != OPTIONS[key].default, key
        assert key in spec.explicit
        _assert_same(spec)


@pytest.mark.parametrize("model", OPTIONS["model"].info.allowed() or ())
def test_each_models_resolved_defaults_round_trip(model):
    spec = RunSpec.from_options(("test", {"data": "d", "model": model}))
    assert any(spec.value(k) is None for k in OPTIONS)  # None values survive too
    _assert_same(spec)


def test_the_json_is_every_option_and_the_explicit_keys():
    spec = RunSpec.from_options(("test", {"model": "mlp", "layers": "32,16", "valid": False, "epochs": None}))
    obj = spec.to_json()
    assert list(obj["options"]) == list(OPTIONS) and obj["explicit"] == ["layers", "model", "valid"]
    assert obj["options"]["layers"] == [32, 16] and obj["options"]["valid"] is False
    assert obj["options"]["epochs"] is None
    back = _round_trip(spec)
    assert back.value("layers") == (32, 16) and back.split.valid is False


def test_a_damaged_spec_json_is_a_config_error():
    obj = RunSpec.from_options(("test", {})).to_json()
    with pytest.raises(ConfigError, match="unknown option 'dimm'"):
        RunSpec.from_json({**obj, "options": {**obj["options"], "dimm": 3}})
    with pytest.raises(ConfigError, match="'lr' is missing"):
        RunSpec.from_json({**obj, "options": {k: v for k, v in obj["options"].items() if k != "lr"}})
    with pytest.raises(ConfigError, match="epochs"):
        RunSpec.from_json({**obj, "options": {**obj["options"], "epochs": 1.5}})
    with pytest.raises(ConfigError, match="expected an object"):
        RunSpec.from_json([obj])


# ---------------------------------------------------------------------- the launch file of ncf train --nproc
def test_a_process_started_with_the_launch_file_trains_the_launchers_spec(neumf_dir, tmp_path):
    """``--spec-json``, run in one process (no torchrun): the run it writes records the spec the
    launcher resolved, flags and file merged, and --json answers as the launcher was asked."""
    import click
    from click.testing import CliRunner

    from ncf.cli import _read_launch, _write_launch, main

    config = tmp_path / "c.toml"
    config.write_text('loss = "bce"\nlayers = [16, 8]\n')
    spec = RunSpec.from_sources(config_file=config, cli={"data": str(neumf_dir), "model": "mlp", "epochs": 1,
                                                         "valid": False, "batch-size": 512})
    out = tmp_path / "run"
    with click.Context(main, obj={}):
        path = _write_launch(spec, str(out), resume=False, force=False, as_json=True)
    assert path == out / "launch.json" and [p.name for p in out.iterdir()] == ["launch.json"]  # no temp file left
    assert _read_launch(str(path)) == (spec, False, False, True)
    assert _read_launch(str(path))[0].explicit == spec.explicit
    run = CliRunner().invoke(main, ["train", "--spec-json", str(path), "--out", str(out)], catch_exceptions=False)
    assert run.exit_code == 0, run.output
    report = json.loads(run.stdout.strip().splitlines()[-1])
    assert report["model"] == "mlp" and report["epochs"] == 1
    saved = json.loads((out / "run.json").read_text())["options"]
    assert saved == spec.to_options() and saved["layers"] == [16, 8] and saved["loss"] == "bce"
    assert not path.exists()  # a run directory keeps no launch file once training has started


def test_the_launch_file_takes_no_other_options(tmp_path):
    from click.testing import CliRunner

    from ncf.cli import main

    path = tmp_path / "launch.json"
    path.write_text(json.dumps({"version": 1, "spec": RunSpec.from_options(("t", {})).to_json(), "resume": False,
                                "force": False, "json": False}))
    res = CliRunner().invoke(main, ["train", "--spec-json", str(path), "--out", str(tmp_path / "r"), "--epochs", "2"])
    assert res.exit_code == 2 and "--spec-json" in res.output
    path.write_text("{}")
    res = CliRunner().invoke(main, ["train", "--spec-json", str(path), "--out", str(tmp_path / "r")])
    assert res.exit_code == 1 and "not an ncf launch file" in res.output
