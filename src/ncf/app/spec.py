"""``RunSpec``: everything a training run needs, typed and frozen, merged from defaults, a TOML
file and the command line in one place.

A run is four sections: :class:`DataSpec` (what to read), :class:`SplitSpec` (how to hold out
test and validation data), :class:`~ncf.app.model_spec.ModelSpec` and
:class:`~ncf.config.TrainConfig`. Every settable field carries its option metadata
(:func:`ncf.config.option`); :data:`OPTIONS` is derived from the fields, and the ``ncf train``
flags, the TOML keys and ``run.json``'s ``options`` all come from it, so an option is written
once. Precedence: defaults < the model's defaults < config file < command line.

A model's defaults are package data, ``ncf/app/defaults/<registry name>.toml``: option keys at
the top level apply to every run of that model, and a table named after a loss (``[softmax]``)
applies when that loss is in use (given, or the model's default ``loss``). They were chosen on
validation splits (docs/benchmarks.md, "Per-model defaults") and never count as set by the user:
``explicit`` and ``--resume`` see only the config file and the command line.
"""

from __future__ import annotations

import dataclasses
import functools
import math
import sys
import types
import typing
from collections.abc import Mapping
from dataclasses import dataclass
from importlib import resources
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from ncf.app.model_spec import ModelSpec, buildable_models
from ncf.config import (
    MAX_COUNT,
    OPTION,
    OptionInfo,
    TrainConfig,
    check_choice,
    check_device_name,
    check_whole,
    option,
)
from ncf.data.formats import FORMATS
from ncf.errors import ConfigError, did_you_mean

if TYPE_CHECKING:
    from ncf.app.model_builders import BuildContext
    from ncf.data.interactions import Interactions

SPLIT_PROTOCOLS = ("loo", "temporal", "random")


@dataclass(frozen=True)
class DataSpec:
    """Where the interactions come from."""

    source: str | None = option(None, "Dataset: a registry name or a path (same as the positional argument).",
                                name="data")
    format: str | None = option(None, "Data format (auto-detected by default).", choices=FORMATS)
    path: str | None = option(None, "A local copy of a registry dataset (used instead of downloading).")
    titles: str | None = option(None, "Item titles to keep with the run (shown by recommend, similar and the "
                                      "server): MovieLens u.item, movies.dat or movies.csv, or a CSV/TSV with an "
                                      "item id column and a title column; every item must get one.")
    titles_offset: int = option(0, "How the data's item ids follow from the titles file's: data id = file id + "
                                   "offset (-1 for a 0-based split of MovieLens such as the NeuMF files).")

    def __post_init__(self) -> None:
        if self.format is not None:
            check_choice(self.format, FORMATS, "format")
        check_whole("titles-offset", self.titles_offset, lo=-MAX_COUNT, hi=MAX_COUNT)
        if self.titles_offset != 0 and self.titles is None:
            raise ConfigError("titles-offset needs titles: add --titles FILE (the file whose ids it shifts)")


@dataclass(frozen=True)
class SplitSpec:
    """How test and validation data are held out (a dataset's published split is used as is)."""

    protocol: str = option("loo", "Split of raw logs: leave-one-out (latest item), temporal or random.",
                           choices=SPLIT_PROTOCOLS)
    test_negatives: int = option(99, "Leave-one-out: sampled negatives per test user (the NeuMF protocol).")
    test_fraction: float = option(0.2, "Temporal/random split: share of interactions held out for test.")
    valid: bool | None = option(None, "Carve a validation split from train (default: when stopping early).")
    valid_fraction: float = option(0.1, "Full-ranking validation: share of each user's training items held out.")
    refit: bool = option(True, "After early stopping on the validation carve, train again on all training data "
                               "(train + carve) for the chosen epochs and save that model.")

    def __post_init__(self) -> None:
        check_choice(self.protocol, SPLIT_PROTOCOLS, "protocol")
        if isinstance(self.test_negatives, bool) or not isinstance(self.test_negatives, int) or self.test_negatives < 0:
            raise ConfigError(f"test_negatives must be a whole number >= 0, got {self.test_negatives!r}")
        if not isinstance(self.refit, bool):
            raise ConfigError(f"refit must be true or false, got {self.refit!r}")
        for key in ("test_fraction", "valid_fraction"):
            value = getattr(self, key)
            if not (isinstance(value, (int, float)) and math.isfinite(value) and 0.0 < value < 1.0):
                raise ConfigError(f"{key} must be strictly between 0 and 1, got {value!r}")


SECTIONS: dict[str, type[Any]] = {"data": DataSpec, "split": SplitSpec, "model": ModelSpec, "train": TrainConfig}
#: Former global defaults that run.json files of earlier versions store for every run: such a
#: value counts as "not set" when checking which options apply to the model.
_LEGACY_DEFAULTS: dict[str, Any] = {"spectral-rank": 1024, "spectral-weight": 0.0}


#: Options whose None means "chosen by ncf": ``auto`` in a file or on the command line sets None
#: (``--epochs auto``: early stopping; ``--spectral-rank auto``, ``--spectral-weight auto``,
#: ``--filter-weight auto``: chosen on the validation carve), also over a config file or a model's defaults.
AUTO_OPTIONS = frozenset({"epochs", "spectral-rank", "spectral-weight", "filter-weight", "filter-flatness",
                          "degree-power", "ideal-rank", "ideal-weight"})
_NO_OVERRIDE: Any = object()
#: The training options a closed-form model (popularity, spectral) reads: its fit has no loss,
#: epochs, batches or optimiser; the seed, the device and the validation carve's metric apply.
CLOSED_FORM_TRAIN_OPTIONS = frozenset({"seed", "device", "metric"})
#: The split options that only apply to raw logs (a dataset's published split is used as is).
RAW_LOG_SPLIT_OPTIONS = ("protocol", "test-fraction", "test-negatives")


@dataclass(frozen=True)
class Option:
    """One ``ncf train`` option: its key (flag and TOML name), where it lands, type and default."""

    key: str
    section: str
    field: str
    hint: Any
    default: Any
    info: OptionInfo

    @property
    def is_flag(self) -> bool:
        return _base_type(self.hint) is bool

    def parse(self, value: Any, *, source: str = "") -> Any:
        """``value`` (from TOML, JSON or a command-line string) as this option's type; ``"auto"``
        is None for the options where None means "chosen by ncf" (:data:`AUTO_OPTIONS`)."""
        if self.key in AUTO_OPTIONS and isinstance(value, str) and value.strip().lower() == "auto":
            return None
        return _coerce(value, self.hint, self.key, source)

    def help_text(self, *, default: Any = _NO_OVERRIDE) -> str:
        """The option's help line; ``default`` replaces the global default shown (a model's own)."""
        allowed = self.info.allowed()
        extra = f" One of: {', '.join(allowed)}." if allowed else ""
        value = self.default if default is _NO_OVERRIDE else default
        shown = "auto" if value is None and self.key in AUTO_OPTIONS else _show(value)
        return f"{self.info.help}{extra}" + (f" [default: {shown}]" if shown is not None else "")


def _build_options() -> dict[str, Option]:
    out: dict[str, Option] = {}
    for section, cls in SECTIONS.items():
        hints = typing.get_type_hints(cls)
        for f in dataclasses.fields(cls):
            info = f.metadata.get(OPTION)
            if not isinstance(info, OptionInfo) or not info.cli:
                continue
            key = info.name or f.name.replace("_", "-")
            if key in out:
                raise RuntimeError(f"option {key!r} is defined twice")  # a programming error
            out[key] = Option(key, section, f.name, hints[f.name], f.default, info)
    return out


#: Every ``ncf train`` option by key, in section order.
OPTIONS: dict[str, Option] = _build_options()


@dataclass(frozen=True)
class RunSpec:
    """A training run: data, split, model and training settings, each validated.

    ``explicit`` holds the option keys the user set (by file or flag), which decide what a
    ``--resume`` may not change and which model options must apply to the chosen model.
    """

    data: DataSpec = dataclasses.field(default_factory=DataSpec)
    split: SplitSpec = dataclasses.field(default_factory=SplitSpec)
    model: ModelSpec = dataclasses.field(default_factory=ModelSpec)
    train: TrainConfig = dataclasses.field(default_factory=TrainConfig)
    explicit: frozenset[str] = dataclasses.field(default=frozenset(), compare=False)

    def __post_init__(self) -> None:
        non_default = {OPTIONS[k].field for k in self.explicit
                       if OPTIONS[k].section == "model" and self.value(k) != OPTIONS[k].default
                       and self.value(k) != _LEGACY_DEFAULTS.get(k, OPTIONS[k].default)}
        self.model.check_applies(non_default)

    # ------------------------------------------------------------------ building
    @classmethod
    def from_options(cls, *sources: tuple[str, Mapping[str, Any]]) -> RunSpec:
        """Merge ``(source name, {key: value})`` pairs, later ones winning, over the defaults.

        Keys are option keys (``batch-size``; ``batch_size`` is accepted too); unknown keys and
        values of the wrong type are ConfigErrors that name the source and the key.
        """
        values: dict[str, Any] = {}
        for source, mapping in sources:
            for raw_key, raw in mapping.items():
                key = str(raw_key).replace("_", "-")
                if key not in OPTIONS:
                    where = f"{source}: " if source else ""
                    raise ConfigError(f"{where}unknown option {raw_key!r}{did_you_mean(key, OPTIONS)}")
                if raw is None:
                    continue
                values[key] = OPTIONS[key].parse(raw, source=source)
        model_name = values.get("model", OPTIONS["model"].default)
        resolved = {**model_defaults(model_name, values.get("loss")), **values}
        sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for key, value in resolved.items():
            opt = OPTIONS[key]
            sections[opt.section][opt.field] = value
        return cls(
            data=DataSpec(**sections["data"]),
            split=SplitSpec(**sections["split"]),
            model=ModelSpec(**sections["model"]),
            train=TrainConfig(**sections["train"]),
            explicit=frozenset(values),
        )

    @classmethod
    def from_sources(cls, *, config_file: str | Path | None = None, cli: Mapping[str, Any] | None = None) -> RunSpec:
        """defaults < ``config_file`` (TOML) < ``cli`` (option key -> value, None = not given)."""
        sources: list[tuple[str, Mapping[str, Any]]] = []
        if config_file is not None:
            sources.append((str(config_file), read_toml(config_file)))
        if cli:
            sources.append(("", cli))
        return cls.from_options(*sources)

    def check_given_options(self) -> None:
        """ConfigError for an option the user gave (file or flag) that this run would ignore:
        a training option of a closed-form model (``--model popularity --loss bpr``); model
        options are checked the same way on construction. ``ncf train`` checks it; run files
        (``run.json``) record every option, and ``ncf tune --model auto`` shares the fixed options
        among families, so neither is checked."""
        if not self.closed_form:
            return
        ignored = sorted(k for k in self.explicit if OPTIONS[k].section == "train" and k not in
                         CLOSED_FORM_TRAIN_OPTIONS)
        if ignored:
            raise ConfigError(f"--{ignored[0]} does not apply to model {self.model.name!r}: it is fitted in closed "
                              "form, with no loss, epochs, batches or optimiser (it uses --seed, --device and "
                              "--metric)")

    def check_split_options(self, published: bool, source: str | None = None) -> None:
        """ConfigError when the data ships its own train/test split (LightGCN, NeuMF) and the
        user gave an option that splits raw logs: it would be silently ignored."""
        given = [k for k in RAW_LOG_SPLIT_OPTIONS if k in self.explicit]
        if published and given:
            where = f"{source} ships" if source else "the data ships"
            raise ConfigError(f"--{given[0]} does not apply: {where} its own train/test split, which is used as "
                              "is (--protocol, --test-fraction and --test-negatives split raw logs)")

    def value(self, key: str) -> Any:
        opt = OPTIONS[key]
        return getattr(getattr(self, opt.section), opt.field)

    def to_options(self) -> dict[str, Any]:
        """Every option key -> its value, JSON-ready (what ``run.json`` stores)."""
        return {key: _jsonable(self.value(key)) for key in OPTIONS}

    def to_json(self) -> dict[str, Any]:
        """This resolved spec as a JSON object: every option's value and the keys the user set.
        :meth:`from_json` gives back an equal spec with the same ``explicit`` (what ``ncf train
        --nproc`` hands its processes)."""
        return {"options": self.to_options(), "explicit": sorted(self.explicit)}

    @classmethod
    def from_json(cls, obj: Any, *, source: str = "spec JSON") -> RunSpec:
        """The spec :meth:`to_json` wrote: every value as it was resolved (no defaults merged
        again), each parsed and checked like a config file's; ConfigError naming ``source`` for
        a missing or unknown key or a bad value."""
        if not isinstance(obj, dict) or set(obj) != {"options", "explicit"}:
            raise ConfigError(f"{source}: expected an object with 'options' and 'explicit'")
        options, explicit = obj["options"], obj["explicit"]
        if not isinstance(options, dict) or not isinstance(explicit, list):
            raise ConfigError(f"{source}: 'options' must be an object and 'explicit' a list")
        unknown = sorted(set(options) - set(OPTIONS)) + sorted(str(k) for k in explicit if k not in OPTIONS)
        if unknown:
            raise ConfigError(f"{source}: unknown option {unknown[0]!r}{did_you_mean(unknown[0], OPTIONS)}")
        missing = [k for k in OPTIONS if k not in options]
        if missing:
            raise ConfigError(f"{source}: option {missing[0]!r} is missing (a resolved spec holds every option)")
        sections: dict[str, dict[str, Any]] = {name: {} for name in SECTIONS}
        for key, opt in OPTIONS.items():
            raw = options[key]
            sections[opt.section][opt.field] = None if raw is None else opt.parse(raw, source=source)
        return cls(
            data=DataSpec(**sections["data"]),
            split=SplitSpec(**sections["split"]),
            model=ModelSpec(**sections["model"]),
            train=TrainConfig(**sections["train"]),
            explicit=frozenset(explicit),
        )

    def replace(self, **changes: Any) -> RunSpec:
        """A copy with option keys changed (``spec.replace(epochs=3)``), validated again."""
        merged = {k: v for k, v in self.to_options().items() if k in self.explicit}
        merged.update({k.replace("_", "-"): v for k, v in changes.items()})
        return RunSpec.from_options(("", merged))

    # ------------------------------------------------------------------ derived settings
    def build_context(self, train: Interactions) -> BuildContext:
        """What a closed-form model fitted on ``train`` needs besides its options: the universe and the seed."""
        from ncf.app.model_builders import BuildContext

        return BuildContext(train.num_users, train.num_items, seed=self.train.seed)

    @property
    def closed_form(self) -> bool:
        from ncf.models.base import ClosedForm

        return issubclass(self.model.model_class, ClosedForm)

    def wants_validation(self) -> bool:
        """Carve a validation split: as asked, else when stopping early a trained model or choosing
        a spectral rank, blend share or graph filter shape."""
        if self.split.valid is not None:
            return self.split.valid
        if self.closed_form:
            return self.model.chooses_spectral_rank or self.model.chooses_filter_shape  # chosen on the carve
        return (self.train.epochs is None or self.model.chooses_spectral_rank or self.model.chooses_spectral_weight
                or self.model.chooses_filter_weight)

    def trainer_config(self, *, show_progress: bool = True) -> TrainConfig:
        """The trainer's config: the temperature goes to the trainer unless the model owns it."""
        temperature = 1.0 if self.model.owns_temperature() else (self.model.temperature or 1.0)
        return dataclasses.replace(self.train, temperature=temperature, show_progress=show_progress)

    def check_runtime(self) -> None:
        """Checks that depend on this machine (the device), before anything is read or written."""
        device = self.train.device
        if device == "auto":
            return
        check_device_name(device)
        import torch

        if device.startswith("cuda"):
            if not torch.cuda.is_available():
                raise ConfigError(f"device {device!r}: this machine has no CUDA device (use --device cpu or auto)")
            index = int(device.partition(":")[2] or 0)
            if index >= torch.cuda.device_count():
                raise ConfigError(f"device {device!r}: only {torch.cuda.device_count()} CUDA device(s) here")
        if device == "mps" and not torch.backends.mps.is_available():
            raise ConfigError("device 'mps': not available on this machine (use --device cpu or auto)")


# ---------------------------------------------------------------------- per-model defaults
#: Option sections a model's defaults file may set (not the data, split or run-control options).
_MODEL_DEFAULT_SECTIONS = ("model", "train")
#: Options a model's defaults file may not set: they are about the run, not the model.
_NOT_MODEL_DEFAULTS = frozenset({"model", "seed", "device", "metric", "checkpoint-every"})


def model_defaults(name: str, loss: str | None = None) -> dict[str, Any]:
    """Option key -> value from ``ncf/app/defaults/<name>.toml`` for ``loss``.

    ``loss`` is the loss the run asked for (``None``: the file's own ``loss``, else the global
    default); the table named after it overrides the file's top-level keys. A model without a
    file has no defaults of its own (``{}``). The values are parsed and checked like a config
    file's; the returned dict is a fresh copy.
    """
    if name not in buildable_models():
        return {}  # ModelSpec names the unknown model
    common, by_loss = _read_model_defaults(name)
    chosen = loss if loss is not None else common.get("loss", OPTIONS["loss"].default)
    out = {**common, **by_loss.get(chosen, {})}
    if "loss" in out:
        out["loss"] = chosen
    return out


@functools.cache
def _read_model_defaults(name: str) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """(top-level options, {loss: options}) of a model's defaults file, parsed and checked."""
    source = resources.files("ncf.app") / "defaults" / f"{name}.toml"
    if not source.is_file():
        return {}, {}
    # package data: the check against the model class (which loads torch) is a test's job
    # (tests/unit/app/test_defaults.py), so ``ncf train --model X --help`` starts fast
    return parse_model_defaults(name, source.read_text(encoding="utf-8"), where=f"ncf/app/defaults/{name}.toml",
                                check_model=False)


def parse_model_defaults(name: str, text: str, *, where: str,
                         check_model: bool = True) -> tuple[dict[str, Any], dict[str, dict[str, Any]]]:
    """A defaults file's text -> (top-level options, {loss: options}); ConfigError naming ``where``
    for an unknown or misplaced key, a bad value, a table that is not a loss, or (unless
    ``check_model`` is false) options that model ``name`` would ignore."""
    from ncf.config import LOSSES

    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    try:
        raw = tomllib.loads(text)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{where}: {exc}") from None

    def parse(table: Mapping[str, Any], context: str) -> dict[str, Any]:
        out: dict[str, Any] = {}
        for key, value in table.items():
            opt = OPTIONS.get(key)
            if opt is None or opt.section not in _MODEL_DEFAULT_SECTIONS or key in _NOT_MODEL_DEFAULTS:
                raise ConfigError(f"{where}{context}: {key!r} is not a model or training option a model's "
                                  f"defaults may set{did_you_mean(key, OPTIONS)}")
            out[key] = opt.parse(value, source=where)
        return out

    common = parse({k: v for k, v in raw.items() if not isinstance(v, dict)}, "")
    by_loss: dict[str, dict[str, Any]] = {}
    for loss, table in raw.items():
        if not isinstance(table, dict):
            continue
        if loss not in LOSSES:
            raise ConfigError(f"{where}: table [{loss}] is not a loss{did_you_mean(loss, LOSSES)}")
        if "loss" in table:
            raise ConfigError(f"{where}: [{loss}] may not set the loss")
        by_loss[loss] = parse(table, f" [{loss}]")
    for loss in {None, *by_loss}:  # every combination must make a valid spec for this model
        options = {**common, "model": name}
        if loss is not None:
            options.update(by_loss[loss], loss=loss)
        fields = {OPTIONS[k].field for k in options if OPTIONS[k].section == "model"} - {"name"}
        sections: dict[str, dict[str, Any]] = {s: {} for s in _MODEL_DEFAULT_SECTIONS}
        for key, value in options.items():
            sections[OPTIONS[key].section][OPTIONS[key].field] = value
        try:
            model = ModelSpec(**sections["model"])
            if check_model:
                model.check_applies(fields)
            TrainConfig(**sections["train"])
        except ConfigError as exc:
            raise ConfigError(f"{where}: {exc}") from None
    return common, by_loss


# ---------------------------------------------------------------------- TOML and values
def read_toml(path: str | Path) -> dict[str, Any]:
    """A TOML config as a flat ``{key: value}``; ``[data]``/``[split]``/``[model]``/``[train]`` tables are
    flattened (their keys are option keys too)."""
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {p} does not exist")
    try:
        raw = tomllib.loads(p.read_bytes().decode("utf-8"))
    except UnicodeDecodeError as exc:
        raise ConfigError(f"{p}: not UTF-8 text (byte {exc.start})") from None
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{p}: {exc}") from None
    flat: dict[str, Any] = {}
    for key, value in raw.items():
        if isinstance(value, dict):
            if key not in SECTIONS:
                raise ConfigError(f"{p}: unknown table [{key}]{did_you_mean(key, SECTIONS)}; "
                                  f"tables are {', '.join(SECTIONS)}")
            for sub, subvalue in value.items():
                flat[sub] = subvalue
        else:
            flat[key] = value
    return flat


def _base_type(hint: Any) -> Any:
    """``int | None`` -> ``int``; other hints unchanged."""
    origin = typing.get_origin(hint)
    if origin in (Union, types.UnionType):
        args = [a for a in typing.get_args(hint) if a is not type(None)]
        return args[0] if len(args) == 1 else hint
    return hint


def _coerce(value: Any, hint: Any, key: str, source: str) -> Any:
    where = f"{source}: " if source else ""
    base = _base_type(hint)
    allows_none = base is not hint
    if value is None:
        if allows_none:
            return None
        raise ConfigError(f"{where}option {key!r} needs a value")

    def bad(kind: str) -> ConfigError:
        return ConfigError(f"{where}option {key!r} must be {kind}, got {value!r}")

    if base is bool:
        if isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise bad("true or false")
    if base is int:
        if isinstance(value, bool):
            raise bad("a whole number")
        if isinstance(value, int):
            return value
        if isinstance(value, str):
            try:
                return int(value.strip().replace("_", ""))
            except ValueError:
                raise bad("a whole number") from None
        raise bad("a whole number")
    if base is float:
        if isinstance(value, bool):
            raise bad("a number")
        if isinstance(value, (int, float)):
            return float(value)
        if isinstance(value, str):
            try:
                return float(value.strip())
            except ValueError:
                raise bad("a number") from None
        raise bad("a number")
    if base is str:
        if isinstance(value, str):
            return value
        raise bad("a string")
    if typing.get_origin(base) is tuple:  # tuple[int, ...]
        if isinstance(value, str):
            parts = [p for p in value.replace(" ", "").split(",") if p]
            try:
                return tuple(int(p) for p in parts)
            except ValueError:
                raise bad("comma-separated whole numbers") from None
        if isinstance(value, (list, tuple)) and all(isinstance(v, int) and not isinstance(v, bool) for v in value):
            return tuple(value)
        raise bad("a list of whole numbers")
    raise TypeError(f"option {key!r}: unsupported type {hint!r}")  # a programming error


def _jsonable(value: Any) -> Any:
    return list(value) if isinstance(value, tuple) else value


def _show(value: Any) -> str | None:
    if value is None:
        return None
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, tuple):
        return ",".join(map(str, value))
    return str(value)
