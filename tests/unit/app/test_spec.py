"""RunSpec: one definition per option; TOML, flags and run.json agree by construction."""

from __future__ import annotations

import dataclasses
from pathlib import Path

import pytest
from click.testing import CliRunner

from ncf.app.model_spec import ModelSpec
from ncf.app.spec import OPTIONS, SECTIONS, RunSpec, read_toml
from ncf.cli import main
from ncf.config import OPTION, TrainConfig
from ncf.errors import ConfigError

CONFIGS = Path(__file__).resolve().parents[3] / "benchmarks" / "configs"


def _train_flags() -> dict[str, bool]:
    """Long flag name -> is a boolean flag, as ``ncf train`` defines them."""
    out = {}
    for param in main.commands["train"].params:
        for opt in getattr(param, "opts", []):
            if opt.startswith("--"):
                out[opt[2:]] = bool(getattr(param, "secondary_opts", None))
    return out


def test_train_flags_are_the_options_plus_run_control():
    flags = _train_flags()
    run_control = {"config", "out", "resume", "force", "json", "verbose", "quiet", "threads", "nproc", "spec-json"}
    assert set(flags) == set(OPTIONS) | run_control
    for key, opt in OPTIONS.items():
        assert flags[key] == opt.is_flag, key


def test_every_settings_field_is_an_option_exactly_once():
    fields = {(section, f.name) for section, cls in SECTIONS.items() for f in dataclasses.fields(cls)
              if f.metadata[OPTION].cli}
    assert fields == {(o.section, o.field) for o in OPTIONS.values()}
    for opt in OPTIONS.values():
        default = next(f.default for f in dataclasses.fields(SECTIONS[opt.section]) if f.name == opt.field)
        assert opt.default == default


def test_a_toml_of_every_option_at_its_default_is_the_default_spec(tmp_path):
    lines = []
    for key, opt in OPTIONS.items():
        v = opt.default
        if v is None:
            continue
        if isinstance(v, bool):
            lines.append(f"{key} = {'true' if v else 'false'}")
        elif isinstance(v, str):
            lines.append(f'{key} = "{v}"')
        elif isinstance(v, tuple):
            lines.append(f"{key} = [{', '.join(map(str, v))}]")
        else:
            lines.append(f"{key} = {v}")
    path = tmp_path / "all.toml"
    path.write_text("\n".join(lines) + "\n")
    assert RunSpec.from_sources(config_file=path) == RunSpec()


def test_options_round_trip_through_run_json_form():
    spec = RunSpec.from_options(("", {"model": "two-tower", "layers": "128,64", "temperature": 0.1, "loss": "softmax",
                                      "epochs": 3, "protocol": "random", "data": "x"}))
    again = RunSpec.from_options(("run.json", spec.to_options()))
    assert again == spec
    assert again.model.layers == (128, 64) and again.train.epochs == 3


def test_precedence_defaults_file_command_line(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('model = "gmf"\ndim = 8\nepochs = 2\n')
    spec = RunSpec.from_sources(config_file=cfg, cli={"epochs": "5", "lr": None})
    assert spec.model.name == "gmf" and spec.model.dim == 8  # from the file
    assert spec.train.epochs == 5  # the command line wins
    assert spec.train.lr == TrainConfig().lr  # None means "not given"
    assert spec.explicit == {"model", "dim", "epochs"}


def test_sectioned_toml_tables_are_flattened(tmp_path):
    cfg = tmp_path / "c.toml"
    cfg.write_text('[model]\nmodel = "mf"\ndim = 16\n[train]\nlr = 0.01\n')
    spec = RunSpec.from_sources(config_file=cfg)
    assert (spec.model.dim, spec.train.lr) == (16, 0.01)
    cfg.write_text("[modle]\ndim = 3\n")
    with pytest.raises(ConfigError, match="did you mean 'model'"):
        read_toml(cfg)


@pytest.mark.parametrize(
    ("text", "match"),
    [
        ("epoch = 3\n", "did you mean 'epochs'"),
        ("epochs = 1.7\n", "'epochs' must be a whole number"),
        ("lr = 'fast'\n", "'lr' must be a number"),
        ("cosine = 1\n", "'cosine' must be true or false"),
        ("layers = [64, 'a']\n", "'layers' must be a list of whole numbers"),
        ("model = 'mff'\n", "did you mean 'mf'"),
        ("lr = nan\n", "lr must be a finite number"),
        ("spectral-rank = 0\n", "spectral_rank must be a positive whole number"),
        ("dim = 0\n", "dim must be a positive"),
        ("model = [\n", "c.toml"),
    ],
)
def test_bad_config_values_name_the_file_and_key(tmp_path, text, match):
    cfg = tmp_path / "c.toml"
    cfg.write_text(text)
    with pytest.raises(ConfigError, match=match):
        RunSpec.from_sources(config_file=cfg)


def test_non_utf8_and_missing_config_files(tmp_path):
    cfg = tmp_path / "latin1.toml"
    cfg.write_bytes('model = "mf" # caf\xe9\n'.encode("latin-1"))
    with pytest.raises(ConfigError, match="not UTF-8"):
        read_toml(cfg)
    with pytest.raises(ConfigError, match="does not exist"):
        read_toml(tmp_path / "nope.toml")


def test_model_options_that_a_model_would_ignore_are_refused():
    with pytest.raises(ConfigError, match="--features does not apply to model 'mf'"):
        RunSpec.from_options(("", {"model": "mf", "features": True}))
    with pytest.raises(ConfigError, match="--cosine does not apply to model 'neumf'"):
        RunSpec.from_options(("", {"model": "neumf", "cosine": True}))
    with pytest.raises(ConfigError, match="--init does not apply to model 'two-tower'"):
        RunSpec.from_options(("", {"model": "two-tower", "init": "projection"}))
    assert RunSpec.from_options(("", {"model": "mf", "init": "projection"})).model.init == "projection"
    with pytest.raises(ConfigError, match="spectral-weight needs a trained factorized model"):
        RunSpec.from_options(("", {"model": "fpmc", "spectral-weight": 0.5}))
    with pytest.raises(ConfigError, match="--spectral-rank does not apply"):
        RunSpec.from_options(("", {"model": "mf", "spectral-weight": 0, "spectral-rank": 64}))  # no blend asked
    with pytest.raises(ConfigError, match="--spectral-rank does not apply"):
        RunSpec.from_options(("", {"model": "gmf", "spectral-rank": 64}))  # gmf's defaults do not blend
    assert RunSpec.from_options(("", {"model": "mf", "spectral-rank": 64})).model.spectral_weight is None  # auto
    # set to the default value, as an old run.json stores every option: accepted
    RunSpec.from_options(("run.json", {"model": "mf", "features": False, "spectral-rank": 1024, "layers": "64,32,16"}))
    RunSpec.from_options(("", {"model": "mf", "spectral-weight": 0.25, "spectral-rank": 64}))


def test_temperature_goes_to_the_model_that_owns_it():
    tower = RunSpec.from_options(("", {"model": "two-tower", "temperature": 0.2}))
    assert tower.model.owns_temperature() and tower.trainer_config().temperature == 1.0
    mf = RunSpec.from_options(("", {"model": "mf", "temperature": 0.2}))
    assert not mf.model.owns_temperature() and mf.trainer_config().temperature == 0.2
    assert RunSpec().trainer_config().temperature == 1.0


def test_validation_default_follows_epochs_and_closed_form():
    assert RunSpec().wants_validation()
    assert not RunSpec.from_options(("", {"epochs": 3, "spectral-weight": 0})).wants_validation()
    assert RunSpec.from_options(("", {"epochs": 3})).wants_validation()  # mf's defaults choose a blend share there
    assert not RunSpec.from_options(("", {"model": "gmf", "epochs": 3})).wants_validation()
    assert RunSpec.from_options(("", {"model": "spectral"})).wants_validation()  # it chooses its rank there
    assert not RunSpec.from_options(("", {"model": "spectral", "spectral-rank": 64})).wants_validation()
    assert not RunSpec.from_options(("", {"model": "popularity"})).wants_validation()
    assert RunSpec.from_options(("", {"epochs": 3, "valid": True})).wants_validation()


def test_every_committed_benchmark_config_parses():
    configs = sorted(CONFIGS.glob("*.toml"))
    assert len(configs) >= 10
    for path in configs:
        spec = RunSpec.from_sources(config_file=path)
        assert isinstance(spec.model, ModelSpec), path


def test_help_shows_defaults_choices_and_sections():
    res = CliRunner().invoke(main, ["train", "--help"])
    assert res.exit_code == 0
    for title in ("Data options", "Split options", "Model options", "Training options", "Run options"):
        assert title in res.output
    assert "[default: 2048]" in res.output  # batch-size
    assert "[bpr|bce|mse|softmax]" in res.output  # loss choices
    assert "two-tower" in res.output and "Losses by model" in res.output


def test_runtime_device_check_before_any_work():
    spec = RunSpec.from_options(("", {"device": "cuda:7"}))
    import torch

    if torch.cuda.device_count() > 7:  # pragma: no cover
        pytest.skip("this machine has 8 CUDA devices")
    with pytest.raises(ConfigError, match="cuda"):
        spec.check_runtime()
