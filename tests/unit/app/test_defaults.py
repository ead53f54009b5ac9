"""Per-model defaults: package data merged as defaults < model defaults < config file < command line."""

from __future__ import annotations

from importlib import resources

import pytest
from click.testing import CliRunner

from ncf.app.model_spec import ModelSpec, buildable_models
from ncf.app.spec import OPTIONS, RunSpec, model_defaults, parse_model_defaults
from ncf.cli import main
from ncf.config import LOSSES, TrainConfig
from ncf.errors import ConfigError

DEFAULTS = resources.files("ncf.app") / "defaults"


def test_every_defaults_file_is_a_model_and_loads_for_every_loss():
    files = sorted(p.name.removesuffix(".toml") for p in DEFAULTS.iterdir() if p.name.endswith(".toml"))
    assert files, "no defaults files packaged"
    assert set(files) <= set(buildable_models())
    for name in buildable_models():
        for loss in (None, *LOSSES):
            got = model_defaults(name, loss)  # parsed, checked against the model: raises when wrong
            spec = RunSpec.from_options(("", {"model": name, **({"loss": loss} if loss else {})}))
            for key, value in got.items():
                assert spec.value(key) == value, (name, loss, key)


def test_every_defaults_file_sets_only_options_its_model_reads():
    # model_defaults() skips this check at run time (it needs the model classes, and torch)
    for path in DEFAULTS.iterdir():
        if path.name.endswith(".toml"):
            name = path.name.removesuffix(".toml")
            parse_model_defaults(name, path.read_text(encoding="utf-8"), where=path.name)


def test_model_defaults_sit_between_the_defaults_and_the_config_file(tmp_path):
    bare = RunSpec.from_options(("", {"model": "gmf"}))
    assert bare.train.batch_size == model_defaults("gmf")["batch-size"] != OPTIONS["batch-size"].default
    assert bare.train.loss == "bce" and bare.model.dim == model_defaults("gmf")["dim"]
    cfg = tmp_path / "c.toml"
    cfg.write_text('model = "gmf"\nbatch-size = 512\n')
    from_file = RunSpec.from_sources(config_file=cfg)
    assert from_file.train.batch_size == 512  # the file wins over the model's defaults
    assert from_file.model.dim == model_defaults("gmf")["dim"]  # what the file leaves alone stays
    flags = RunSpec.from_sources(config_file=cfg, cli={"batch-size": "1024"})
    assert flags.train.batch_size == 1024  # the command line wins over both


def test_model_defaults_are_not_explicit():
    spec = RunSpec.from_options(("", {"model": "two-tower"}))
    assert spec.explicit == {"model"}
    assert spec.model.temperature == model_defaults("two-tower")["temperature"]
    # an explicit option equal to a global default still overrides the model's default
    spec = RunSpec.from_options(("", {"model": "gmf", "batch-size": OPTIONS["batch-size"].default}))
    assert spec.train.batch_size == OPTIONS["batch-size"].default and "batch-size" in spec.explicit


def test_the_loss_picks_its_table_and_other_losses_get_the_global_defaults():
    bpr = RunSpec.from_options(("", {"model": "mf"}))
    softmax = RunSpec.from_options(("", {"model": "mf", "loss": "softmax"}))
    assert bpr.train.loss == "bpr" and not bpr.model.cosine
    assert softmax.model.cosine and softmax.model.temperature == model_defaults("mf", "softmax")["temperature"]
    bce = RunSpec.from_options(("", {"model": "mf", "loss": "bce"}))  # no [bce] table in mf.toml
    assert bce.train == TrainConfig(loss="bce")
    assert bce.model == ModelSpec(name="mf", spectral_weight=None)  # the file's top level applies to every loss


def test_run_json_records_the_resolved_options_and_reads_back_the_same():
    spec = RunSpec.from_options(("", {"model": "neumf", "data": "x"}))
    options = spec.to_options()
    assert options["batch-size"] == spec.train.batch_size == model_defaults("neumf")["batch-size"]
    again = RunSpec.from_options(("run.json", options))
    assert again == spec
    # run.json sets every option that has a value: a later change of the defaults cannot move it
    assert again.explicit == {k for k, v in options.items() if v is not None}


def test_unknown_model_still_gets_a_did_you_mean():
    assert model_defaults("nuemf") == {}
    with pytest.raises(ConfigError, match="did you mean 'neumf'"):
        RunSpec.from_options(("", {"model": "nuemf"}))


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("dimm = 3\n", "did you mean 'dim'"),
        ("protocol = 'loo'\n", "'protocol' is not a model or training option"),
        ("seed = 3\n", "'seed' is not a model or training option"),
        ("[sofmax]\nlr = 0.1\n", r"table \[sofmax\] is not a loss \(did you mean 'softmax'"),
        ("[bpr]\nloss = 'bce'\n", r"\[bpr\] may not set the loss"),
        ("[bpr]\nlr = 'fast'\n", "'lr' must be a number"),
        ("[bpr]\ncosine = true\n", "--cosine does not apply to model 'gmf'"),
        ("batch-size = 0\n", "batch_size must be a whole number from 1"),
        ("dim = [\n", "defaults/gmf.toml"),
    ],
)
def test_a_bad_defaults_file_names_itself_and_the_key(text, match):
    with pytest.raises(ConfigError, match=match):
        parse_model_defaults("gmf", text, where="ncf/app/defaults/gmf.toml")


def test_ncf_train_without_config_uses_and_records_the_model_defaults(tmp_path, neumf_dir):
    out = tmp_path / "run"
    res = CliRunner().invoke(main, ["train", str(neumf_dir), "--model", "gmf", "--epochs", "1", "--out", str(out),
                                    "--quiet"])
    assert res.exit_code == 0, res.output
    import json

    options = json.loads((out / "run.json").read_text())["options"]
    assert options["loss"] == "bce"
    assert options["batch-size"] == model_defaults("gmf")["batch-size"]
    assert options["epochs"] == 1  # the command line
