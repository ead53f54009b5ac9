"""`ncf` command line: a thin layer over the library's typed functions.

Usage and config errors exit 2, runtime errors exit 1; either way one line on stderr.
"""

from __future__ import annotations

import json
import logging
import sys
import tempfile
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from ncf.errors import ConfigError, NCFError, did_you_mean

logger = logging.getLogger("ncf")

MODEL_NAMES = ("mf", "gmf", "mlp", "neumf", "two-tower", "fpmc", "spectral", "popularity")

# Train options: long option name -> (default, type). The TOML config uses the same keys.
TRAIN_OPTIONS: dict[str, tuple[Any, Callable[[Any], Any]]] = {
    "data": (None, str),
    "format": (None, str),
    "model": ("mf", str),
    "loss": ("bpr", str),
    "dim": (64, int),
    "layers": ("64,32,16", str),
    "dropout": (0.0, float),
    "epochs": (None, int),
    "max-epochs": (100, int),
    "batch-size": (2048, int),
    "lr": (1e-3, float),
    "lr-schedule": ("constant", str),
    "weight-decay": (0.0, float),
    "l2": (0.0, float),
    "optimizer": ("adam", str),
    "negatives": (4, int),
    "sampler": ("uniform", str),
    "hard-negatives": (0.0, float),
    "extra-negatives": (0, int),
    "temperature": (None, float),
    "logq": (True, bool),
    "logq-weight": (1.0, float),
    "patience": (3, int),
    "metric": (None, str),
    "eval-every": (1, int),
    "valid": (None, bool),
    "pretrain": (False, bool),
    "pretrain-epochs": (None, int),
    "features": (False, bool),
    "cosine": (False, bool),
    "spectral-rank": (1024, int),
    "spectral-weight": (0.0, float),
    "protocol": ("loo", str),
    "seed": (0, int),
    "device": ("auto", str),
    "checkpoint-every": (1, int),
    "softmax-bf16": (False, bool),
}


def _fail(exc: BaseException, code: int) -> None:
    msg = str(exc).strip().splitlines()[0] if str(exc).strip() else type(exc).__name__
    click.echo(f"error: {msg}", err=True)
    sys.exit(code)


class NCFGroup(click.Group):
    """Maps library errors to one stderr line and exit codes (usage/config 2, runtime 1)."""

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except (click.exceptions.Exit, click.exceptions.Abort, click.ClickException):
            raise
        except ConfigError as exc:
            _fail(exc, 2)
        except (NCFError, OSError) as exc:
            _fail(exc, 1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        return None

    def main(self, *args: Any, **kwargs: Any) -> Any:  # one line for usage errors too
        kwargs.setdefault("standalone_mode", True)
        try:
            rest = {k: v for k, v in kwargs.items() if k != "standalone_mode"}
            return super().main(*args, standalone_mode=False, **rest)  # type: ignore[call-overload]
        except getattr(click.exceptions, "NoArgsIsHelpError", ()) as exc:  # click >= 8.2
            click.echo(exc.ctx.get_help() if exc.ctx else str(exc))
            sys.exit(0)
        except click.UsageError as exc:
            hint = f" (see '{exc.ctx.command_path} --help')" if exc.ctx else ""
            click.echo(f"error: {exc.format_message()}{hint}", err=True)
            sys.exit(2)
        except click.exceptions.Exit as exc:
            sys.exit(exc.exit_code)
        except click.Abort:
            click.echo("aborted", err=True)
            sys.exit(1)
        except click.ClickException as exc:
            click.echo(f"error: {exc.format_message()}", err=True)
            sys.exit(exc.exit_code)


def _setup_logging(verbose: int) -> None:
    level = logging.WARNING if verbose == 0 else logging.INFO if verbose == 1 else logging.DEBUG
    logging.basicConfig(level=level, format="%(levelname)s %(name)s: %(message)s", stream=sys.stderr)


@click.group(cls=NCFGroup)
@click.option("-v", "--verbose", count=True, help="More log output on stderr (-v info, -vv debug).")
@click.version_option(package_name="ncf")
def main(verbose: int) -> None:
    """ncf: neural collaborative filtering on implicit feedback."""
    _setup_logging(verbose)


# ---------------------------------------------------------------------- data
@main.group()
def data() -> None:
    """Inspect datasets and write splits."""


def _load(source: str, fmt: str | None, path: str | None = None) -> Any:
    from ncf.data.readers import load_dataset

    return load_dataset(path or source, format=fmt)


@data.command("stats")
@click.argument("source")
@click.option("--format", "fmt", default=None, help="movielens|lightgcn|neumf|csv|tsv|parquet (auto by default).")
@click.option("--path", default=None, help="A local copy of a registry dataset.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
def data_stats(source: str, fmt: str | None, path: str | None, as_json: bool) -> None:
    """Counts of users, items and interactions (and of a ready-made split)."""
    ds = _load(source, fmt, path)
    stats = ds.stats()
    if as_json:
        click.echo(json.dumps(stats))
        return
    width = max(len(k) for k in stats)
    for key, value in stats.items():
        click.echo(f"{key:<{width}}  {value}")


@data.command("split")
@click.argument("source")
@click.option("--format", "fmt", default=None)
@click.option("--path", default=None, help="A local copy of a registry dataset.")
@click.option("--protocol", type=click.Choice(["loo", "temporal", "random"]), default="loo", show_default=True)
@click.option("--negatives", type=click.IntRange(min=0), default=99, show_default=True)
@click.option("--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2, show_default=True)
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output directory (NeuMF format).")
@click.option("--prefix", default="data", show_default=True)
def data_split(source: str, fmt: str | None, path: str | None, protocol: str, negatives: int,
               test_fraction: float, seed: int, out: str, prefix: str) -> None:
    """Split a dataset and write it in the NeuMF file format (re-readable by every command)."""
    from ncf.data.writers import write_neumf

    ds = _load(source, fmt, path)
    from ncf.workflow import make_split

    split = make_split(ds.interactions, protocol, negatives=negatives, seed=seed, test_fraction=test_fraction)
    write_neumf(split, out, prefix=prefix)
    click.echo(f"wrote {out}: train {len(split.train)}, test {len(split.test)}"
               + (f", {split.test_negatives.shape[1]} negatives per test row" if split.test_negatives is not None else ""))


# ---------------------------------------------------------------------- train
def read_config_file(path: str | None) -> dict[str, Any]:
    """Read a TOML file whose keys are train option names (unknown keys are errors)."""
    if path is None:
        return {}
    if sys.version_info >= (3, 11):
        import tomllib
    else:  # pragma: no cover
        import tomli as tomllib
    p = Path(path)
    if not p.is_file():
        raise ConfigError(f"config file {path} does not exist")
    try:
        with open(p, "rb") as fh:
            raw = tomllib.load(fh)
    except tomllib.TOMLDecodeError as exc:
        raise ConfigError(f"{path}: {exc}") from exc
    out: dict[str, Any] = {}
    for key, value in raw.items():
        name = key.replace("_", "-")
        if name not in TRAIN_OPTIONS:
            raise ConfigError(f"{path}: unknown key {key!r}{did_you_mean(name, TRAIN_OPTIONS)}")
        if isinstance(value, list):
            value = ",".join(str(v) for v in value)
        out[name] = value
    return out


def resolve_train_options(cli: dict[str, Any], config_file: str | None) -> dict[str, Any]:
    """defaults < config file < command line, with types checked."""
    merged = {k: d for k, (d, _) in TRAIN_OPTIONS.items()}
    for source in (read_config_file(config_file), {k: v for k, v in cli.items() if v is not None}):
        for key, value in source.items():
            _, typ = TRAIN_OPTIONS[key]
            if typ is bool and not isinstance(value, bool):
                raise ConfigError(f"option {key!r} must be true or false, got {value!r}")
            try:
                merged[key] = typ(value) if value is not None else None
            except (TypeError, ValueError) as exc:
                raise ConfigError(f"option {key!r}: cannot read {value!r} as {typ.__name__}") from exc
    if merged["model"] not in MODEL_NAMES:
        raise ConfigError(f"unknown model {merged['model']!r}{did_you_mean(merged['model'], MODEL_NAMES)}")
    return merged


def _option(name: str, typ: Any = None, help: str = "", **kw: Any) -> Callable[[Any], Any]:
    return click.option(f"--{name}", name.replace("-", "_"), type=typ, default=None, help=help, **kw)


@main.command("train")
@click.argument("source", required=False)
@_option("data", str, "Dataset name or path (same as the positional argument).")
@_option("format", str, "Data format (auto by default).")
@_option("model", str, "mf|gmf|mlp|neumf|two-tower|fpmc|spectral|popularity")
@_option("loss", str, "bpr|bce|mse|softmax")
@_option("dim", int, "Embedding size (GMF/NeuMF predictive factors).")
@_option("layers", str, "MLP/tower widths, e.g. 64,32,16.")
@_option("dropout", float, "Dropout in MLP towers.")
@_option("epochs", int, "Fixed epochs (no early stopping). Default: early stopping on validation.")
@_option("max-epochs", int, "Upper bound with early stopping.")
@_option("batch-size", int)
@_option("lr", float, "Learning rate.")
@_option("lr-schedule", str, "constant|linear|cosine decay towards 0 over the epochs.")
@_option("weight-decay", float)
@_option("l2", float, "L2 penalty on the batch's embeddings.")
@_option("optimizer", str, "adam|adamw|sparse_adam|adagrad|sgd")
@_option("negatives", int, "Sampled negatives per positive (bpr/bce).")
@_option("sampler", str, "uniform|popularity")
@_option("hard-negatives", float, "Share of negatives mined from the model's top items each epoch.")
@_option("extra-negatives", int, "Softmax: uniform negatives shared by each batch.")
@_option("temperature", float, "Softmax temperature (two-tower: the model's temperature).")
@click.option("--logq/--no-logq", "logq", default=None, help="Softmax: logQ correction.")
@_option("logq-weight", float, "Softmax: scale of the logQ correction (1 = full).")
@_option("patience", int)
@_option("metric", str, "Validation metric, e.g. ndcg@10.")
@_option("eval-every", int)
@click.option("--valid/--no-valid", "valid", default=None, help="Carve a validation split from train.")
@click.option("--pretrain/--no-pretrain", "pretrain", default=None, help="NeuMF: pre-train GMF and MLP first.")
@_option("pretrain-epochs", int)
@click.option("--features/--no-features", "features", default=None, help="Two-tower: use side features.")
@click.option("--cosine/--no-cosine", "cosine", default=None, help="MF: L2-normalised vectors (cosine score, no biases).")
@_option("spectral-rank", int, "Spectral model: singular components (default 1024).")
@_option("spectral-weight", float, "Blend the trained model with w x a spectral model fitted on train (0 = off).")
@_option("protocol", str, "Split for raw logs: loo|temporal|random.")
@_option("seed", int)
@_option("device", str, "auto|cpu|cuda")
@_option("checkpoint-every", int, "Write the resumable checkpoint every N epochs (default 1).")
@click.option(
    "--softmax-bf16/--no-softmax-bf16",
    "softmax_bf16",
    default=None,
    help="Softmax: bfloat16 logits for factorized models (about 2x faster on AVX512-BF16 CPUs).",
)
@click.option("--config", "config_file", default=None, help="TOML file with these options.")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue a killed run from its last checkpoint.")
@click.option("--quiet", is_flag=True, help="No progress bar.")
def train_cmd(source: str | None, config_file: str | None, out: str, resume: bool, quiet: bool, **cli: Any) -> None:
    """Train a model and write a run directory."""
    from ncf.workflow import train_run

    opts = resolve_train_options({k.replace("_", "-"): v for k, v in cli.items()}, config_file)
    if source is not None:
        if cli.get("data") is not None and cli["data"] != source:
            raise click.UsageError("give the data either as an argument or with --data, not both")
        opts["data"] = source
    if opts["data"] is None and not (resume and (Path(out) / "run.json").is_file()):
        raise click.UsageError("missing data: ncf train <dataset|path> --out RUN_DIR")
    summary = train_run(opts, out, resume=resume, show_progress=not quiet)
    click.echo(summary)


# ---------------------------------------------------------------------- evaluate
@main.command("evaluate")
@click.argument("run_dir", type=click.Path())
@click.argument("more_k", nargs=-1, type=int)
@click.option("--data", default=None, help="Evaluate on another copy of the data (must match the id maps).")
@click.option("--format", "fmt", default=None)
@click.option("--protocol", type=click.Choice(["sampled", "full"]), default=None,
              help="Default: sampled when the split has negatives, else full.")
@click.option("--k", "k", multiple=True, help="Cut-offs: --k 10 20 or --k 10,20.")
@click.option("--split", "part", type=click.Choice(["test", "valid"]), default="test", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--save-rankings", type=click.Path(dir_okay=False), default=None, help="TSV of each user's top-K.")
def evaluate_cmd(run_dir: str, more_k: tuple[int, ...], data: str | None, fmt: str | None, protocol: str | None,
                 k: tuple[str, ...], part: str, as_json: bool, save_rankings: str | None) -> None:
    """Evaluate a trained run on its test (or validation) split."""
    from ncf.workflow import evaluate_run

    ks: list[int] = []
    for item in k:
        for piece in str(item).split(","):
            if piece.strip():
                try:
                    ks.append(int(piece))
                except ValueError as exc:
                    raise click.BadParameter(f"--k must be integers, got {piece!r}") from exc
    ks.extend(more_k)
    if not ks:
        ks = [10]
    if any(x <= 0 for x in ks):
        raise click.BadParameter("--k must be positive")
    report = evaluate_run(run_dir, k=sorted(set(ks)), protocol=protocol, data=data, fmt=fmt, part=part,
                          save_rankings=save_rankings)
    if as_json:
        click.echo(json.dumps(report.to_dict()))
    else:
        click.echo(report.format_table())


# ---------------------------------------------------------------------- recommend
@main.command("recommend")
@click.argument("run_dir", type=click.Path())
@click.option("--user", "users", multiple=True, required=True, help="Raw user id (repeatable).")
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True)
def recommend_cmd(run_dir: str, users: tuple[str, ...], k: int, as_json: bool) -> None:
    """Top-K items for users, excluding what they already interacted with."""
    from ncf.workflow import recommend_run

    result = recommend_run(run_dir, list(users), k=k)
    if as_json:
        click.echo(json.dumps(result))
        return
    for user, recs in result.items():
        click.echo(f"user {user}:")
        for rank, rec in enumerate(recs, 1):
            title = f"  {rec['title']}" if rec.get("title") else ""
            click.echo(f"  {rank:>2}. {rec['item']}{title}  ({rec['score']:.4f})")


# ---------------------------------------------------------------------- quickstart
@main.command("quickstart")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Run directory (default: a temp dir).")
@click.option("--seed", type=int, default=0, show_default=True)
@click.option("--quiet", is_flag=True, help="No progress bar.")
def quickstart_cmd(out: str | None, seed: int, quiet: bool) -> None:
    """Train and evaluate on built-in synthetic data, then show recommendations (no network)."""
    from ncf.workflow import quickstart

    run_dir = out or tempfile.mkdtemp(prefix="ncf-quickstart-")
    t0 = time.perf_counter()
    for line in quickstart(run_dir, seed=seed, show_progress=not quiet):
        click.echo(line)
    click.echo(f"done in {time.perf_counter() - t0:.1f}s; run directory: {run_dir}")


def run(argv: Sequence[str] | None = None) -> None:
    """Entry point for tests: run the CLI with ``argv``."""
    main.main(args=list(argv) if argv is not None else None, prog_name="ncf")


if __name__ == "__main__":  # pragma: no cover
    main()
