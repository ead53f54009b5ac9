"""``ncf`` command line: parse arguments, call the jobs of :mod:`ncf.app`, print results.

Usage and config errors exit 2, runtime errors exit 1; either way one line on stderr. The
``ncf train`` options are generated from :data:`ncf.app.spec.OPTIONS`, so the flags, the TOML
keys and ``run.json`` cannot disagree.
"""

from __future__ import annotations

import json
import logging
import os
import sys
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from ncf.app.console import common_options as _common_options
from ncf.app.console import epoch_lines, show_progress, stderr_is_terminal
from ncf.data.formats import FORMATS
from ncf.errors import ConfigError, DataError, NCFError, first_line

if TYPE_CHECKING:
    from ncf.app.spec import RunSpec

logger = logging.getLogger("ncf")

#: ``ncf train`` flags that are not run options.
_TRAIN_CONTROL = ("config_file", "out", "resume", "force", "as_json", "nproc", "spec_json")


def _fail(exc: BaseException, code: int) -> None:
    from ncf.errors import first_line

    click.echo(f"error: {first_line(exc)}", err=True)
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
        except BrokenPipeError:
            raise
        except MemoryError as exc:
            _fail(MemoryError(_out_of_memory(exc, ctx.invoked_subcommand)), 1)
        except (NCFError, OSError) as exc:
            _fail(exc, 1)
        except RuntimeError as exc:  # torch's allocator (CPU or CUDA) raises RuntimeError subclasses
            if not _is_allocation_failure(exc):
                raise
            _fail(MemoryError(_out_of_memory(exc, ctx.invoked_subcommand)), 1)
        except KeyboardInterrupt:
            click.echo("interrupted", err=True)
            sys.exit(130)
        return None

    def main(self, *args: Any, **kwargs: Any) -> Any:  # one line for usage errors too
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
        except ConfigError as exc:  # raised while parsing (an option callback: $NCF_NUM_THREADS)
            _fail(exc, 2)
        except NCFError as exc:
            _fail(exc, 1)
        except BrokenPipeError:  # `ncf ... | head`: the reader left; not an error of ours
            devnull = os.open(os.devnull, os.O_WRONLY)
            os.dup2(devnull, sys.stdout.fileno())
            sys.exit(0)


#: What to lower, per command, when an allocation fails.
_MEMORY_HINTS = {
    "train": "lower --batch-size, --negatives, --dim or --layers",
    "tune": "lower the search space's --batch-size, --negatives or --dim, or use a smaller dataset",
    "quickstart": "close other programs; quickstart needs well under 1 GiB",
    "evaluate": "lower --k, or evaluate with --protocol sampled",
    "recommend": "lower --k, or ask for fewer users at once (--user / --users-file instead of --all-users)",
    "similar": "lower --k, or name fewer items at once",
    "index": "lower the index settings given with --param (M, nlist, m, n_trees)",
    "data": "the data does not fit this machine's memory; filter it first, or use a machine with more",
    "viz": "lower --sample",
    "report": "lower --users, or use --map pca",
}


#: An array axis this long in an out-of-memory error is more likely a universe than a setting.
_HUGE_AXIS = 10**8


def _is_allocation_failure(exc: BaseException) -> bool:
    """torch's out-of-memory errors (``torch.OutOfMemoryError``, the CPU allocator's message)."""
    text = str(exc)
    return (type(exc).__name__ == "OutOfMemoryError" or "can't allocate memory" in text
            or "out of memory" in text.lower())


def _out_of_memory(exc: BaseException, command: str | None) -> str:
    """One line that says how much was asked for (when the error says) and what to lower."""
    import re

    text = str(exc).strip().splitlines()[0] if str(exc).strip() else ""
    asked = ""
    dims: list[int] = []
    m = re.search(r"Unable to allocate (\S+ \S+) for an array with shape (\([^)]*\))", text)  # numpy
    if m:
        asked = f" allocating {m.group(1)} (an array of shape {m.group(2)})"
        dims = [int(d) for d in re.findall(r"\d+", m.group(2))]
    else:
        m = re.search(r"allocate (\d+) bytes", text)  # torch's CPU allocator
        if m:
            asked = f" allocating {_bytes(int(m.group(1)))}"
        else:
            m = re.search(r"Tried to allocate ([\d.]+ \S+)", text)  # torch's CUDA allocator
            asked = f" allocating {m.group(1)}" if m else ""
    hint = _MEMORY_HINTS.get(command or "", "use a smaller setting (batch size, negatives, dimension, k)")
    if command in ("data", "train", "tune", "evaluate") and dims and max(dims) >= _HUGE_AXIS:
        hint = (f"is {max(dims):,} the number of users or items? In NeuMF and LightGCN files ids are indices "
                "(the largest id + 1 is the count): renumber them 0..n-1 or read the file as a CSV table; "
                "otherwise " + hint)
    where = f" in `ncf {command}`" if command else ""
    return f"out of memory{asked}{where}: {hint}"


def _bytes(n: int) -> str:
    size = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB", "PiB"):
        if size < 1024 or unit == "PiB":
            return f"{size:.0f} {unit}" if unit == "B" else f"{size:.1f} {unit}"
        size /= 1024
    return f"{n} B"  # pragma: no cover - the loop always returns


def _show_progress() -> bool:
    return show_progress()


@click.group(cls=NCFGroup)
@_common_options
@click.version_option(package_name="ncf")
def main() -> None:
    """ncf: neural collaborative filtering on implicit feedback."""


# ---------------------------------------------------------------------- data
@main.group()
def data() -> None:
    """Inspect datasets and write splits."""


@data.command("stats")
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Data format (auto by default).")
@click.option("--path", default=None, help="A local copy of a registry dataset.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@_common_options
def data_stats(source: str, fmt: str | None, path: str | None, as_json: bool) -> None:
    """Counts of users, items and interactions (and of a ready-made split)."""
    from ncf.app.datasets import load_data

    stats = load_data(source, format=fmt, path=path).stats()
    if as_json:
        click.echo(json.dumps(stats))
        return
    width = max(len(k) for k in stats)
    for key, value in stats.items():
        click.echo(f"{key:<{width}}  {_fmt_number(value)}")


@data.command("split")
@click.argument("source")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Data format (auto by default).")
@click.option("--path", default=None, help="A local copy of a registry dataset.")
@click.option("--protocol", type=click.Choice(["loo", "temporal", "random"]), default="loo", show_default=True)
@click.option("--negatives", type=click.IntRange(min=0), default=99, show_default=True)
@click.option("--test-fraction", type=click.FloatRange(0, 1, min_open=True, max_open=True), default=0.2,
              show_default=True)
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Output directory (NeuMF format).")
@click.option("--prefix", default="data", show_default=True)
@click.option("--force", is_flag=True, help="Replace an existing split in --out.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@_common_options
def data_split(source: str, fmt: str | None, path: str | None, protocol: str, negatives: int,
               test_fraction: float, seed: int, out: str, prefix: str, force: bool, as_json: bool) -> None:
    """Split a dataset and write it in the NeuMF file format (re-readable by every command)."""
    from ncf.app.datasets import split_dataset

    result = split_dataset(source, out, format=fmt, path=path, protocol=protocol, negatives=negatives,
                           test_fraction=test_fraction, seed=seed, prefix=prefix, force=force)
    if as_json:
        click.echo(json.dumps(result.to_dict()))
        return
    negs = f", {result.negatives_per_row} negatives per test row" if result.negatives_per_row else ""
    click.echo(f"wrote {out}: train {result.train:,}, test {result.test:,}{negs}")


# ---------------------------------------------------------------------- train
class _SectionedCommand(click.Command):
    """``--help`` lists the run options by section (data, split, model, training); after
    ``--model X [--loss L]`` it shows that model's own defaults (``ncf/app/defaults/X.toml``)."""

    def parse_args(self, ctx: click.Context, args: list[str]) -> list[str]:
        ctx.meta["ncf.raw_args"] = list(args)  # --help is eager: read --model/--loss from the raw words
        return super().parse_args(ctx, args)

    @staticmethod
    def _raw_option(ctx: click.Context, name: str) -> str | None:
        words: list[str] = ctx.meta.get("ncf.raw_args", [])
        for i, word in enumerate(words):
            if word == f"--{name}" and i + 1 < len(words):
                return words[i + 1]
            if word.startswith(f"--{name}="):
                return word.split("=", 1)[1]
        return None

    def format_options(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        from ncf.app.model_spec import buildable_models
        from ncf.app.spec import OPTIONS, model_defaults

        model, loss = self._raw_option(ctx, "model"), self._raw_option(ctx, "loss")
        own: dict[str, Any] = {}
        if model is not None and model in buildable_models():
            own = model_defaults(model, loss)
            with formatter.section("Defaults"):
                chosen = own.get("loss", loss)
                formatter.write_text(f"shown for --model {model}" + (f" --loss {chosen}" if chosen else "")
                                     + f": the model's own defaults (ncf/app/defaults/{model}.toml) where it has them")
        section_of = {o.key: o.section for o in OPTIONS.values()}
        titles = {"data": "Data", "split": "Split", "model": "Model", "train": "Training", "": "Run"}
        rows: dict[str, list[tuple[str, str]]] = {t: [] for t in titles}
        for param in self.get_params(ctx):
            record = param.get_help_record(ctx)
            if record is None:
                continue
            key = param.opts[0].lstrip("-").split("/")[0] if param.opts else ""
            if key in own and key in OPTIONS:
                record = (record[0], OPTIONS[key].help_text(default=own[key]))
            rows[section_of.get(key, "")].append(record)
        for section, title in titles.items():
            if rows[section]:
                with formatter.section(f"{title} options"):
                    formatter.write_dl(rows[section])


def _run_options(f: Callable[..., Any]) -> Callable[..., Any]:
    """One click option per :data:`ncf.app.spec.OPTIONS` entry (default None: not given)."""
    from ncf.app.spec import OPTIONS

    for opt in reversed(list(OPTIONS.values())):
        name = opt.key.replace("-", "_")
        if opt.is_flag:
            f = click.option(f"--{opt.key}/--no-{opt.key}", name, default=None, help=opt.help_text())(f)
            continue
        allowed = opt.info.allowed()
        metavar = f"[{'|'.join(allowed)}]" if allowed else _metavar(opt.hint)
        f = click.option(f"--{opt.key}", name, type=str, default=None, metavar=metavar, help=opt.help_text())(f)
    return f


def _metavar(hint: Any) -> str:
    text = str(hint)
    if "tuple" in text:
        return "N,N,..."
    if "int" in text:
        return "INTEGER"
    if "float" in text:
        return "FLOAT"
    return "TEXT"


_LOSS_HELP = (
    "Losses by model: mf, gmf, fpmc: bpr, bce, softmax, mse; mlp, neumf: bce, bpr, mse; "
    "two-tower: softmax (or bpr/bce); popularity and spectral are fitted in closed form (no loss). "
    "Options in a --config TOML file use the same names; the command line overrides the file."
)


@main.command("train", cls=_SectionedCommand, epilog=_LOSS_HELP)
@click.argument("source", required=False)
@_run_options
@click.option("--config", "config_file", default=None, type=click.Path(dir_okay=False),
              help="TOML file with these options (keys as the long option names).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False), help="Run directory.")
@click.option("--resume", is_flag=True, help="Continue a killed run from its last checkpoint.")
@click.option("--force", is_flag=True, help="Replace a finished or interrupted run in --out (a failed run, or one "
                                            "that never reached a checkpoint, is replaced without it).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@click.option("--nproc", type=click.IntRange(min=1), default=None,
              help="Train in N processes on this machine (DistributedDataParallel: gloo on CPU, NCCL on GPUs; "
                   "--batch-size is per process); starts them with torchrun. See docs/scale.md.")
@click.option("--spec-json", "spec_json", default=None, hidden=True, type=click.Path(dir_okay=False),
              help="The launch file of ncf train --nproc (how it starts its processes).")
@_common_options
def train_cmd(source: str | None, config_file: str | None, out: str, resume: bool, force: bool, as_json: bool,
              nproc: int | None, spec_json: str | None, **cli: Any) -> None:
    """Train a model and write a run directory."""
    from ncf.app.spec import RunSpec

    values = {k.replace("_", "-"): v for k, v in cli.items()}
    if spec_json is not None:  # one process of `ncf train --nproc`: the launcher's resolved spec
        if (source, config_file, nproc) != (None, None, None) or resume or force or as_json or any(
                v is not None for v in values.values()):
            raise click.UsageError("--spec-json is how ncf train --nproc starts its processes: it takes only --out")
        spec, resume, force, as_json = _read_launch(spec_json)
    else:
        if source is not None:
            if values.get("data") is not None and values["data"] != source:
                raise click.UsageError("give the data either as an argument or with --data, not both")
            values["data"] = source
        spec = RunSpec.from_sources(config_file=config_file, cli=values)
    spec.check_given_options()
    if spec.data.source is None and not resume:
        raise click.UsageError("missing data: ncf train <dataset|path> --out RUN_DIR")
    if nproc is not None and "RANK" in os.environ:
        raise click.UsageError("--nproc starts its own processes: under torchrun leave it out (--nproc-per-node "
                               "sets the number)")
    if resume and force:
        raise click.UsageError("--resume continues a run and --force replaces it: give one of them")
    # after the checks above: a usage error answers without loading torch
    from ncf.app import run_rules, train_job
    from ncf.training.distributed import distributed_from_environment

    if nproc is not None and nproc > 1:
        run_rules.check_train_target(out, resume=resume, force=force)
        created = not os.path.exists(out)
        launch = _write_launch(spec, out, resume=resume, force=force, as_json=as_json)
        try:
            _train_in_processes(nproc, out, ["train", "--spec-json", str(launch), "--out", out, *_console_args()])
        finally:
            launch.unlink(missing_ok=True)
            if created and not any(launch.parent.iterdir()):  # nothing trained: no directory left behind
                launch.parent.rmdir()
        return
    with distributed_from_environment(run_rules.train_device(spec, out, resume=resume)) as distributed:
        if distributed is not None:
            _share_threads(distributed.world.local_world_size)
        show = _show_progress() and not as_json
        with epoch_lines(show and not stderr_is_terminal()):  # no bar off a terminal: a line per epoch
            result = train_job.train(spec, out, resume=resume, force=force, show_progress=show, distributed=distributed)
    if distributed is not None and not distributed.is_main:
        return  # rank 0 reports
    if as_json:
        h = result.history
        click.echo(json.dumps({"run_dir": str(result.run_dir), "model": result.spec.model.name,
                               "train_seconds": result.seconds, "metric": result.metric,
                               "best_metric": None if h is None else h.best_metric,
                               "best_epoch": None if h is None else h.best_epoch,
                               "epochs": None if h is None else len(h.epochs), "refit": result.refit}))
    else:
        click.echo(result.summary())


def _threads_given() -> bool:
    """Whether ``--threads`` was on the command line (``ncf --threads`` or ``ncf train --threads``)."""
    ctx: click.Context | None = click.get_current_context()
    while ctx is not None:
        if ctx.get_parameter_source("threads") not in (None, click.core.ParameterSource.DEFAULT):
            return True
        ctx = ctx.parent
    return False


def _share_threads(processes: int) -> None:
    """Under torchrun: each of the ``processes`` on this machine gets its share of the CPUs,
    unless ``--threads`` or ``$NCF_NUM_THREADS`` says otherwise."""
    from ncf._threads import ENV, apply_threads, available_cpus

    if processes > 1 and not os.environ.get(ENV) and not _threads_given():
        apply_threads(max(1, available_cpus() // processes))


#: The launch file's layout: ``{"version", "spec": RunSpec.to_json(), "resume", "force", "json"}``.
LAUNCH_VERSION = 1


def _write_launch(spec: RunSpec, out: str, *, resume: bool, force: bool, as_json: bool) -> Path:
    """``ncf train --nproc``: the resolved spec and the run flags, written atomically into the run
    directory as ``launch.json`` for its processes to read (``--spec-json``): nothing is turned
    back into command-line words."""
    from ncf._io import check_output, write_json
    from ncf.app.datasets import local_paths
    from ncf.app.rundir import RunDir

    check_output(out, local_paths(spec.data.source, spec.data.path, spec.data.titles))
    path = RunDir(out).launch_path
    write_json(path, {"version": LAUNCH_VERSION, "spec": spec.to_json(), "resume": resume, "force": force,
                      "json": as_json})
    return path


def _read_launch(path: str) -> tuple[RunSpec, bool, bool, bool]:
    """(spec, resume, force, as_json) from a file :func:`_write_launch` wrote."""
    from ncf._io import read_json
    from ncf.app.spec import RunSpec

    try:
        obj = read_json(path)
    except (OSError, ValueError) as exc:
        raise DataError(f"cannot read the launch file: {first_line(exc)}", path=Path(path)) from None
    flags = ("resume", "force", "json")
    if (not isinstance(obj, dict) or obj.get("version") != LAUNCH_VERSION or "spec" not in obj
            or not all(isinstance(obj.get(k), bool) for k in flags)):
        raise DataError(f"not an ncf launch file (version {LAUNCH_VERSION})", path=Path(path))
    return RunSpec.from_json(obj["spec"], source=path), obj["resume"], obj["force"], obj["json"]


def _console_args() -> list[str]:
    """This process's console settings (``-q``, ``-v``, ``--threads``) for the processes of ``--nproc``."""
    state = click.get_current_context().ensure_object(dict)
    args = ["--quiet"] * bool(state.get("quiet")) + ["-v"] * int(state.get("verbose", 0))
    if _threads_given():
        args += ["--threads", str(state["threads"])]
    return args


def _train_in_processes(nproc: int, out: str, args: list[str]) -> None:
    """``ncf train --nproc N``: run ``python -m ncf <args>`` in N processes under torchrun
    (standalone rendezvous on this machine); a failed process stops them all, in one line."""
    from torch.distributed.elastic.multiprocessing.api import SignalException
    from torch.distributed.elastic.multiprocessing.errors import ChildFailedError
    from torch.distributed.run import get_args_parser
    from torch.distributed.run import run as torchrun

    from ncf._threads import ENV, available_cpus
    from ncf.app.rundir import RunDir

    if not os.environ.get(ENV) and not _threads_given():  # each process its share of the CPUs
        os.environ[ENV] = str(max(1, available_cpus() // nproc))
    os.environ.setdefault("OMP_NUM_THREADS", os.environ.get(ENV) or "1")
    if not click.get_current_context().ensure_object(dict).get("verbose"):  # our one line says it (-v: theirs too)
        logging.getLogger("torch.distributed.elastic").setLevel(logging.CRITICAL)
    launch = get_args_parser().parse_args(["--standalone", "--nproc-per-node", str(nproc), "--module", "ncf", *args])
    try:
        torchrun(launch)  # type: ignore[no-untyped-call]
    except ChildFailedError as exc:
        rank, failure = exc.get_first_failure()
        code = int(failure.exitcode)
        why = f"was stopped by {failure.signal_name()}" if code < 0 else f"exited with code {code}"
        hint = ""
        if RunDir(out).has_checkpoint():
            hint = f"; continue it from its last checkpoint: ncf train --resume --out {out} --nproc {nproc}"
        msg = f"training in {nproc} processes failed: rank {rank} {why}, the others were stopped{hint}"
        raise (ConfigError(msg) if code == 2 else NCFError(msg)) from None
    except SignalException:
        raise KeyboardInterrupt from None


# ---------------------------------------------------------------------- tune
@main.command("tune", cls=_SectionedCommand, epilog=(
    "--model auto tries the model families that fit the data within one budget (spectral, mf, neumf, and "
    "fpmc when timestamps order each user's items): DIR/<model>/ holds each family's study, DIR/best.toml the "
    "winner's config (with its model) and DIR/chosen.json why it won. Without --time-budget every family runs "
    "--trials trials."))
@click.argument("source", required=False)
@_run_options
@click.option("--config", "config_file", default=None, type=click.Path(dir_okay=False),
              help="TOML file with the fixed options (the search varies the others).")
@click.option("--out", "out", required=True, type=click.Path(file_okay=False),
              help="Study directory (study.db, best.toml, trials.tsv, trials.png); an existing study resumes.")
@click.option("--trials", type=click.IntRange(min=1), default=None,
              help="Trials in all (default 20 without --time-budget); per model family with --model auto.")
@click.option("--time-budget", default=None,
              help="End the study after this long (90s, 10m, 2h): the trial running then stops at its next batch "
                   "and counts with its best epoch so far.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object on stdout.")
@_common_options
def tune_cmd(source: str | None, config_file: str | None, out: str, trials: int | None, time_budget: str | None,
             as_json: bool, **cli: Any) -> None:
    """Search a model's hyper-parameters on a validation split carved from train (Optuna).

    Options given here or in --config stay fixed; the model's defaults are the first trial. On a
    terminal a progress bar shows the study, elsewhere one line per finished or pruned trial.
    """
    from ncf.app.spec import RunSpec, read_toml
    from ncf.app.tune import AUTO, parse_duration, tune, tune_auto

    values = {k.replace("_", "-"): v for k, v in cli.items()}
    if source is not None:
        values["data"] = source
    budget = parse_duration(time_budget)
    count = trials if trials is not None or budget is not None else 20
    shown = _show_progress() and not as_json
    lines = _show_progress() and not sys.stderr.isatty()  # off a terminal: a plain line per trial

    def on_trial(line: str) -> None:
        click.echo(line, err=True)

    model = values.get("model")
    if model is None and config_file is not None:
        model = read_toml(config_file).get("model")
    if model == AUTO:  # not a model RunSpec knows: each family gets its own spec
        result = tune_auto(values, out, config_file=config_file, trials=count, time_budget=budget,
                           show_progress=shown, on_trial=on_trial if lines else None)
    else:
        spec = RunSpec.from_sources(config_file=config_file, cli=values)
        result = tune(spec, out, trials=count, time_budget=budget, show_progress=shown,
                      on_trial=on_trial if lines else None)
    if as_json:
        click.echo(json.dumps(result.to_json()))
    else:
        click.echo(result.summary())


# ---------------------------------------------------------------------- evaluate
def _cutoffs(k: tuple[str, ...], more_k: tuple[int, ...]) -> list[int]:
    ks: list[int] = []
    for item in k:
        for piece in str(item).split(","):
            if piece.strip():
                try:
                    ks.append(int(piece))
                except ValueError as exc:
                    raise click.BadParameter(f"--k must be integers, got {piece!r}") from exc
    ks.extend(more_k)
    if any(x <= 0 for x in ks):
        raise click.BadParameter("--k must be positive")
    return sorted(set(ks)) or [10]


@main.command("evaluate")
@click.argument("run_dir", type=click.Path())
@click.argument("more_k", nargs=-1, type=int)
@click.option("--data", default=None, help="Evaluate on another copy of the data (must match the id maps).")
@click.option("--format", "fmt", type=click.Choice(FORMATS), default=None, help="Data format of --data (auto by default).")
@click.option("--protocol", type=click.Choice(["sampled", "full"]), default=None,
              help="Default: sampled when the split has negatives, else full.")
@click.option("--k", "k", multiple=True, help="Cut-offs: --k 10 20 or --k 10,20.")
@click.option("--split", "part", type=click.Choice(["test", "valid"]), default="test", show_default=True)
@click.option("--json", "as_json", is_flag=True)
@click.option("--save-rankings", type=click.Path(dir_okay=False), default=None,
              help="TSV of each user's top-K: user, rank, item, score.")
@_common_options
def evaluate_cmd(run_dir: str, more_k: tuple[int, ...], data: str | None, fmt: str | None, protocol: str | None,
                 k: tuple[str, ...], part: str, as_json: bool, save_rankings: str | None) -> None:
    """Evaluate a trained run on its test (or validation) split."""
    from ncf.app.evaluate_job import evaluate_run

    report = evaluate_run(run_dir, k=_cutoffs(k, more_k), protocol=protocol, data=data, format=fmt, part=part,
                          save_rankings=save_rankings)
    click.echo(json.dumps(report.to_dict()) if as_json else report.format_table())


def _id_lines(path: str, what: str) -> list[tuple[int, str]]:
    """(line number, id) of a file of raw ids, one a line (UTF-8, a BOM and CRLF line ends allowed)."""
    from ncf.errors import DataError

    with open(path, "rb") as fh:
        raw = fh.read()
    out = []
    for n, line in enumerate(raw.splitlines(), 1):
        try:
            text = line.decode("utf-8-sig" if n == 1 else "utf-8")
        except UnicodeDecodeError as exc:
            raise DataError(f"not UTF-8 text (byte {line[exc.start]:#04x} at column {exc.start + 1})",
                            path=path, line=n) from None
        if text.strip():
            out.append((n, text.strip()))
    if not out:
        raise DataError(f"holds no {what} ids (one raw id a line)", path=path)
    return out


def _titles_options(fn: Callable[..., Any]) -> Callable[..., Any]:
    """``--titles FILE`` and ``--titles-offset N`` of ``ncf recommend`` and ``ncf similar``."""
    fn = click.option("--titles-offset", type=int, default=0, show_default=True,
                      help="Data id = the titles file's id + offset (-1 for a 0-based split of MovieLens, "
                           "such as the NeuMF files).")(fn)
    return click.option("--titles", type=click.Path(dir_okay=False), default=None,
                        help="Show titles from this file (MovieLens u.item, movies.dat or movies.csv, or a "
                             "CSV/TSV with an item id and a title column) for a run trained without them; "
                             "`ncf train --titles` keeps them with the run for the server too.")(fn)


def _titles_of(run: Any, titles: str | None, offset: int) -> list[str] | None:
    """Titles from ``--titles`` (None without it); a NeuMF-format run without titles says how to add them."""
    if titles is None:
        if offset:
            raise ConfigError("--titles-offset needs --titles FILE (the file whose ids it shifts)")
        if run.info.data.get("format") == "neumf" and not run.dir.titles_path.is_file():
            logger.warning("this run has no item titles (NeuMF files hold only numbers): --titles FILE shows them "
                           "(MovieLens u.item, movies.dat or movies.csv, or a CSV with item and title columns; "
                           "--titles-offset -1 when the split numbers items from 0, as ml-100k-loo does)")
        return None
    return list(run.titles_from(titles, offset=offset))


# ---------------------------------------------------------------------- recommend
@main.command("recommend")
@click.argument("run_dir", type=click.Path())
@click.option("--user", "users", multiple=True, help="Raw user id (repeatable).")
@click.option("--users-file", type=click.Path(dir_okay=False, exists=True), default=None,
              help="A file of raw user ids, one per line.")
@click.option("--all-users", is_flag=True, help="Every user of the run.")
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--out", "out", type=click.Path(dir_okay=False), default=None,
              help="Write TSV (user, rank, item, score, title) here instead of printing.")
@click.option("--json", "as_json", is_flag=True)
@click.option("--index", "index", default="auto", show_default=True,
              help="auto (RUN_DIR/index when built), none (exact ranking) or an index directory; as ncf serve.")
@click.option("--exact", is_flag=True, help="Rank by the exact scan even when the run has an index (--index none).")
@_titles_options
@_common_options
def recommend_cmd(run_dir: str, users: tuple[str, ...], users_file: str | None, all_users: bool, k: int,
                  out: str | None, as_json: bool, index: str, exact: bool, titles: str | None,
                  titles_offset: int) -> None:
    """Top-K items for users, excluding what they already interacted with (the server's ranking)."""
    from ncf._io import check_output
    from ncf.app import recommend_job
    from ncf.app.artifact import Run
    from ncf.errors import DataError, UnknownIdError

    run = Run.load(run_dir)
    if out is not None:
        check_output(out, [*run.dir.owned_paths(), *([users_file] if users_file else []), *([titles] if titles else [])])
    names = _titles_of(run, titles, titles_offset)
    wanted = list(users)
    if users_file is not None:
        lines = _id_lines(users_file, "user")
        try:
            run.encode_users([raw for _, raw in lines])
        except UnknownIdError:  # say which line: one id at a time, on the error path only
            for n, raw in lines:
                try:
                    run.encode_users([raw])
                except UnknownIdError as exc:
                    raise DataError(str(exc), path=users_file, line=n) from None
        wanted.extend(raw for _, raw in lines)
    if all_users:
        import numpy as np

        wanted.extend(run.decode_users(np.arange(run.model.num_users)))
    if not wanted:
        raise click.UsageError("name users with --user, --users-file or --all-users")
    quiet = bool(click.get_current_context().ensure_object(dict).get("quiet"))
    if exact and index not in ("auto", "none"):
        raise click.UsageError("--exact ranks without an index: leave out --index")
    result = recommend_job.recommend_run(run, wanted, k=k, titles=names,
                                         index=None if exact or index == "none" else index,
                                         announce=None if quiet or as_json else lambda line: click.echo(line, err=True))
    if out is not None:
        recommend_job.write_recommendations(out, result)
        click.echo(f"wrote top-{k} for {len(result):,} users to {out}")
    elif as_json:
        click.echo(json.dumps(result))
    else:
        for user, recs in result.items():
            click.echo(f"user {user}:")
            for rank, rec in enumerate(recs, 1):
                title = f"  {rec['title']}" if rec.get("title") else ""
                click.echo(f"  {rank:>2}. {rec['item']}{title}  ({rec['score']:.4f})")


# ---------------------------------------------------------------------- similar
@main.command("similar")
@click.argument("run_dir", type=click.Path())
@click.argument("items", nargs=-1, required=True)
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--json", "as_json", is_flag=True,
              help="A JSON list: per item the server's /similar-items answer (item, model_version, items, source).")
@_titles_options
@_common_options
def similar_cmd(run_dir: str, items: tuple[str, ...], k: int, as_json: bool, titles: str | None,
                titles_offset: int) -> None:
    """The K items most like each ITEM (raw ids), as the server's /similar-items ranks them."""
    from ncf.app.artifact import Run
    from ncf.serving import Recommender

    rec = Recommender.load(run_dir, index=None)  # similar_items ranks by cosine, not through the index
    names = _titles_of(Run.load(run_dir), titles, titles_offset)
    results = rec.similar_items(list(items), k)

    def title_of(raw: Any, answer: Any) -> Any:
        return names[int(rec.item_info(raw)["index"])] if names is not None else answer

    answers = []
    for item, res in zip(items, results, strict=True):
        rows = res.to_dict()
        for row in rows["items"]:
            shown = title_of(row["item"], row.get("title"))
            if shown is not None:
                row["title"] = shown
        answers.append({"item": item, "model_version": rec.version, **rows})
    if as_json:
        click.echo(json.dumps(answers))
        return
    for item, answer in zip(items, answers, strict=True):
        title = title_of(item, rec.item_info(item).get("title"))
        click.echo(f"like {item}{f'  {title}' if title else ''}:")
        for rank, row in enumerate(answer["items"], 1):
            shown = f"  {row['title']}" if row.get("title") else ""
            click.echo(f"  {rank:>2}. {row['item']}{shown}  ({row['score']:.4f})")


# ---------------------------------------------------------------------- index
@main.group("index")
def index_group() -> None:
    """Approximate nearest-neighbour indexes of a run's item vectors."""


def _params(pairs: tuple[str, ...]) -> dict[str, Any]:
    out: dict[str, Any] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            raise click.BadParameter(f"--param must look like KEY=VALUE, got {pair!r}")
        out[key.replace("-", "_")] = _param_value(key, raw)
    return out


def _param_value(key: str, raw: str) -> Any:
    """An index setting's text as a number when it is one, by the rule for numbers at the edges:
    ASCII digits are a whole number of at most 2**31 - 1 (what the index libraries' C ints
    hold), a float must be finite; anything else stays text for the index to judge."""
    import math
    import re

    from ncf.config import MAX_COUNT, check_whole

    text = raw.strip()
    if re.fullmatch(r"[+-]?[0-9]+", text, re.ASCII):
        return check_whole(f"--param {key}", int(text), lo=-MAX_COUNT)
    try:
        number = float(text)
    except ValueError:
        return raw
    if not math.isfinite(number):
        raise ConfigError(f"--param {key} must be a finite number, got {raw!r}")
    return number


@index_group.command("build")
@click.argument("run_dir", type=click.Path())
@click.option("--kind", type=click.Choice(["exact", "flat", "hnsw", "ivf", "ivfpq", "hnswlib", "scann", "annoy"]),
              default="hnsw", show_default=True)
@click.option("--metric", type=click.Choice(["dot", "cosine"]), default="dot", show_default=True,
              help="dot ranks like the model; cosine ignores vector norms.")
@click.option("--param", "params", multiple=True, help="Index setting KEY=VALUE (e.g. M=32, ef_search=64, nlist=1024, rerank=8).")
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--queries", type=click.IntRange(min=1), default=1000, show_default=True,
              help="Held-back (test) users used to measure recall and latency.")
@click.option("--out", type=click.Path(file_okay=False), default=None, help="Write here instead of RUN_DIR/index.")
@click.option("--json", "as_json", is_flag=True)
@_common_options
def index_build_cmd(run_dir: str, kind: str, metric: str, params: tuple[str, ...], k: int, queries: int,
                    out: str | None, as_json: bool) -> None:
    """Build an index of RUN_DIR's item vectors; print its recall@k against exact search and latency."""
    from ncf.app.indexing import build_index

    info = build_index(run_dir, kind, metric=metric, params=_params(params), k=k, queries=queries, out=out)
    if as_json:
        click.echo(json.dumps(info.to_dict()))
        return
    click.echo(f"{info.kind} index of {info.items:,} items x {info.dim} -> {info.path} "
               f"(built in {info.build_seconds:.1f}s)")
    click.echo(f"recall@{info.k} {info.recall:.4f} against exact search over {info.queries:,} held-back users; "
               f"single query p50 {info.p50_ms:.3f} ms, p99 {info.p99_ms:.3f} ms; batch {info.qps:,.0f} q/s")


@index_group.command("bench")
@click.argument("run_dir", type=click.Path())
@click.option("--kinds", default=None, help="Comma-separated kinds (default: all installed).")
@click.option("--metric", type=click.Choice(["dot", "cosine"]), default="dot", show_default=True)
@click.option("--k", type=click.IntRange(min=1), default=10, show_default=True)
@click.option("--queries", type=click.IntRange(min=1), default=1000, show_default=True)
@click.option("--json", "as_json", is_flag=True)
@_common_options
def index_bench_cmd(run_dir: str, kinds: str | None, metric: str, k: int, queries: int, as_json: bool) -> None:
    """Every index kind at each query-time setting: recall@k against exact search, latency, throughput."""
    from ncf.app.indexing import bench_indexes

    rows = bench_indexes(run_dir, [x.strip() for x in kinds.split(",")] if kinds else None, k=k, queries=queries,
                         metric=metric)
    if as_json:
        click.echo(json.dumps(rows))
        return
    k = int(rows[0]["k"]) if rows else k  # clamped to the catalogue
    click.echo(f"{'kind':8} {'setting':>14} {f'recall@{k}':>9} {'p50 ms':>8} {'p99 ms':>8} {'q/s':>9} {'build s':>8}")
    for row in rows:
        setting = ", ".join(f"{key}={row[key]}" for key in ("ef_search", "nprobe") if key in row) or "-"
        click.echo(f"{row['kind']:8} {setting:>14} {row[f'recall@{k}']:>9.4f} {row['p50_ms']:>8.3f} "
                   f"{row['p99_ms']:>8.3f} {row['qps']:>9,.0f} {row['build_seconds']:>8.2f}")


# ---------------------------------------------------------------------- serve
@main.command("serve")
@click.argument("run_dir", type=click.Path(exists=True, file_okay=False))
@click.option("--host", default="127.0.0.1", show_default=True, help="Interface to bind (loopback by default).")
@click.option("--port", type=click.IntRange(0, 65535), default=8000, show_default=True)
@click.option("--workers", type=click.IntRange(min=1), default=1, show_default=True)
@click.option("--api-key-file", type=click.Path(exists=True, dir_okay=False), default=None,
              help="File holding the API key clients send as X-API-Key (also enables /admin/reload).")
@click.option("--max-k", type=click.IntRange(min=1), default=100, show_default=True)
@click.option("--max-batch", type=click.IntRange(min=1), default=256, show_default=True,
              help="Most users in one POST /recommend.")
@click.option("--max-body-bytes", type=click.IntRange(min=1), default=1 << 20, show_default=True)
@click.option("--cors-origin", "cors", multiple=True, help="Allow browser requests from this origin (off by default).")
@click.option("--index", "index", default="auto", show_default=True,
              help="auto (RUN_DIR/index when built), none (exact ranking) or an index directory.")
@click.option("--micro-batch", type=click.IntRange(min=1), default=64, show_default=True,
              help="Most GET /recommend requests ranked together in one scan (1: one at a time).")
@click.option("--micro-batch-wait-ms", type=click.FloatRange(0.0, 1000.0), default=0.0, show_default=True,
              help="Milliseconds a batch waits for more requests (0: only those already waiting).")
@_common_options
def serve_cmd(run_dir: str, host: str, port: int, workers: int, api_key_file: str | None, max_k: int,
              max_batch: int, max_body_bytes: int, cors: tuple[str, ...], index: str, micro_batch: int,
              micro_batch_wait_ms: float) -> None:
    """Serve recommendations over HTTP (FastAPI + uvicorn; OpenAPI docs at /docs)."""
    from ncf.serving.ports import check_port

    check_port(host, port)  # a port in use: one line, before the model and torch load
    try:
        from ncf.serving.app import ServeConfig
        from ncf.serving.server import serve
    except ImportError as exc:
        raise ConfigError(f"ncf serve needs the serve extra: pip install 'ncf[serve]' ({exc.name} missing)") from None
    key = None
    if api_key_file is not None:
        with open(api_key_file, encoding="utf-8") as fh:
            key = fh.read().strip()
        if not key:
            raise ConfigError(f"{api_key_file}: the API key file is empty")
    config = ServeConfig(max_k=max_k, max_batch=max_batch, max_body_bytes=max_body_bytes, api_key=key,
                         cors_origins=cors, index=None if index == "none" else index, micro_batch=micro_batch,
                         micro_batch_wait=micro_batch_wait_ms / 1000.0)
    state = click.get_current_context().ensure_object(dict)
    quiet = bool(state.get("quiet"))
    serve(run_dir, host=host, port=port, workers=workers, config=config, log_level="error" if quiet else "info",
          announce=None if quiet else lambda line: click.echo(line, err=True))


# ---------------------------------------------------------------------- quickstart
@main.command("quickstart")
@click.option("--out", type=click.Path(file_okay=False), default=None,
              help="Keep the run directories here (default: a temporary directory, removed at the end).")
@click.option("--seed", type=click.IntRange(min=0), default=0, show_default=True)
@_common_options
def quickstart_cmd(out: str | None, seed: int) -> None:
    """Train and evaluate on built-in synthetic data, then show recommendations (no network)."""
    from ncf.app.quickstart_job import quickstart

    t0 = time.perf_counter()
    for line in quickstart(out, seed=seed, show_progress=_show_progress()):
        click.echo(line)
    click.echo(f"done in {time.perf_counter() - t0:.1f}s")


def _fmt_number(value: Any) -> str:
    return f"{value:,}" if isinstance(value, int) and not isinstance(value, bool) else str(value)


def _add_front_ends() -> None:
    """The commands other front ends define (they share ``-v``/``-q``/``--threads``)."""
    from ncf.viz.commands import report, viz

    main.add_command(viz)
    main.add_command(report)


_add_front_ends()


def run(argv: Sequence[str] | None = None) -> None:
    """Entry point for tests: run the CLI with ``argv``."""
    main.main(args=list(argv) if argv is not None else None, prog_name="ncf")


if __name__ == "__main__":  # pragma: no cover
    main()
