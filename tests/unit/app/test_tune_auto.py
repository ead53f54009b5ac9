"""ncf tune --model auto: the families that fit the data, one winner by validation, a best.toml that
ncf train takes (with its model), and chosen.json saying why."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner

from ncf.app import RunSpec
from ncf.app.tune import has_order, tune_auto
from ncf.cli import main
from ncf.data.interactions import Interactions
from ncf.data.synthetic import synthetic
from ncf.errors import ConfigError


def test_auto_on_the_cli_picks_among_the_families_and_writes_a_loadable_best_toml(neumf_dir, tmp_path):
    out = tmp_path / "auto"
    result = CliRunner().invoke(main, ["tune", str(neumf_dir), "--model", "auto", "--trials", "1", "--max-epochs",
                                       "2", "--out", str(out), "--json"], catch_exceptions=False)
    assert result.exit_code == 0, result.output
    report = json.loads(result.stdout)
    families = {f["model"]: f["best_value"] for f in report["families"]}
    assert set(families) == {"spectral", "mf", "neumf", "fpmc"}  # synthetic timestamps order each user's items
    assert all(v is not None for v in families.values()) and report["trials"] == 4
    assert report["chosen"] == report["model"] == max(families, key=lambda m: families[m])
    assert report["best_value"] == max(families.values())
    chosen = json.loads((out / "chosen.json").read_text())
    assert chosen["chosen"] == report["model"] and report["model"] in chosen["why"]
    spec = RunSpec.from_sources(config_file=out / "best.toml", cli={"data": str(neumf_dir)})
    assert spec.model.name == report["model"]  # ncf train --config best.toml trains the chosen model
    for key, value in report["best_options"].items():
        assert spec.value(key) == (tuple(int(x) for x in value.split(",")) if key == "layers" else value)
    assert spec.train.epochs == report["epochs"]  # None for spectral, the refit's count otherwise
    for family in families:
        assert (out / family / "study.db").is_file() and (out / family / "best.toml").is_file()
    # one line per trial on stderr (not a terminal), prefixed by the family
    assert sum(line.startswith(("spectral: trial 0", "mf: trial 0", "neumf: trial 0", "fpmc: trial 0"))
               for line in result.stderr.splitlines()) == 4


def test_auto_skips_families_the_fixed_options_refuse(neumf_dir, tmp_path):
    result = tune_auto({"data": str(neumf_dir), "layers": "32,16", "max-epochs": 1}, tmp_path / "auto", trials=1)
    notes = {f.model: f.note for f in result.families}
    assert result.model == "neumf" and notes["neumf"] == ""
    assert all("skipped" in notes[m] and "--layers" in notes[m] for m in ("spectral", "mf", "fpmc"))
    spec = RunSpec.from_sources(config_file=result.config_path)
    assert spec.model.name == "neumf" and spec.model.layers == (32, 16)  # fixed, not searched


def test_fpmc_only_when_the_timestamps_carry_order(tmp_path):
    data = synthetic(num_users=300, num_items=200, seed=3).interactions
    assert has_order(data)
    flat = Interactions.from_arrays(data.users, data.items, num_users=data.num_users, num_items=data.num_items,
                                    timestamps=np.zeros(len(data), dtype=np.int64))
    assert not has_order(flat)
    assert not has_order(Interactions.from_arrays(data.users, data.items, num_users=data.num_users,
                                                  num_items=data.num_items))
    table = tmp_path / "events.csv"  # no timestamp column
    table.write_text("user,item\n" + "".join(f"{u},{i}\n" for u, i in zip(data.users, data.items, strict=True)))
    result = tune_auto({"data": str(table), "max-epochs": 1}, tmp_path / "auto", trials=1)
    notes = {f.model: f.note for f in result.families}
    assert "order" in notes["fpmc"] and not (tmp_path / "auto" / "fpmc").exists()
    assert {f.model for f in result.families if f.best_value is not None} == {"spectral", "mf", "neumf"}


def test_auto_is_for_tune_only(neumf_dir, tmp_path):
    result = CliRunner().invoke(main, ["train", str(neumf_dir), "--model", "auto", "--out", str(tmp_path / "run")])
    assert result.exit_code == 2
    with pytest.raises(ConfigError, match="auto chooses the model"):
        tune_auto({"data": str(neumf_dir), "model": "mf"}, tmp_path / "auto", trials=1)


def test_auto_leaves_out_pair_scoring_models_when_full_ranking_validation_is_too_large(tmp_path, monkeypatch):
    import ncf.app.tune as tune_module

    data = synthetic(num_users=120, num_items=90, seed=5).interactions
    table = tmp_path / "events.csv"  # no timestamps and no sampled negatives: full-ranking validation
    table.write_text("user,item\n" + "".join(f"{u},{i}\n" for u, i in zip(data.users, data.items, strict=True)))
    monkeypatch.setattr(tune_module, "MAX_PAIR_SCORING", 1000)  # below this carve's users x 90 items
    result = tune_auto({"data": str(table), "max-epochs": 1, "protocol": "random"}, tmp_path / "auto", trials=1)
    notes = {f.model: f.note for f in result.families}
    assert "pair" in notes["neumf"] and "M pairs" in notes["neumf"] and not (tmp_path / "auto" / "neumf").exists()
    assert {f.model for f in result.families if f.best_value is not None} == {"spectral", "mf"}
