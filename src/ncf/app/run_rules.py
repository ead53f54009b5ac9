"""What ``ncf train`` may do with a run directory: replace it (the retry rule), resume it, or
record that it failed; checked before any data is read."""

from __future__ import annotations

import logging

from ncf._types import PathLike
from ncf.app.rundir import STATUS_DONE, STATUS_FAILED, RunDir, RunInfo
from ncf.app.spec import RunSpec
from ncf.data.features import FeatureTable
from ncf.data.interactions import Split
from ncf.errors import ConfigError, DataError, NCFError, first_line

logger = logging.getLogger(__name__)


def check_train_target(out: PathLike, *, resume: bool, force: bool = False) -> None:
    """The run-directory checks of :func:`train` alone (no data read): ``ncf train --nproc``
    makes them before it starts the processes."""
    run = RunDir(out)
    if resume:
        resumable(run)
    else:
        check_fresh(run, force=force)


def train_device(spec: RunSpec, out: PathLike, *, resume: bool) -> str:
    """The device option :func:`train` will use: the saved run's when resuming (unless given)."""
    if resume and "device" not in spec.explicit:
        run = RunDir(out)
        if run.exists():
            return str(run.read_info().options.get("device") or spec.train.device)
    return spec.train.device


def check_fresh(run: RunDir, *, force: bool = False) -> None:
    """The retry rule: a new run may replace what is at ``run`` when nothing good would be lost
    (a failed run, one that never reached a checkpoint) or when ``force`` says so; a finished
    run or an interrupted one with a checkpoint to resume is refused otherwise."""
    if not run.exists():
        return
    try:
        info = run.read_info()
    except DataError:
        if not force:
            raise
        return
    if info.status == STATUS_FAILED:
        logger.warning("%s: replacing a run that failed (%s)", run.path, info.failure or "no reason recorded")
        return
    if force:
        logger.warning("%s: --force: replacing the run that was here", run.path)
        return
    if info.status == STATUS_DONE:
        raise ConfigError(f"{run.path} already holds a finished run; use --force to replace it or another --out")
    if run.has_checkpoint():
        raise ConfigError(f"{run.path} already holds a run that stopped at a checkpoint; use --resume to continue "
                          "it, --force to start over, or another --out")
    logger.info("%s: re-using a run directory whose training never started", run.path)


def mark_failed(run: RunDir, exc: BaseException) -> None:
    """Record in ``run.json`` that training failed and why (a plain re-run then replaces it)."""
    try:
        info = run.read_info()
        info.status = STATUS_FAILED
        info.failure = first_line(exc)
        run.write_info(info)
    except (NCFError, OSError) as err:  # the original error matters more
        logger.debug("could not record the failure in %s: %s", run.info_path, err)


def resumable(run: RunDir) -> RunInfo:
    if not run.exists():
        raise ConfigError(f"{run.path}: nothing to resume (no run.json); train it without --resume")
    info = run.read_info()
    if info.status == STATUS_DONE:
        raise ConfigError(f"{run.path}: this run already finished; nothing to resume")
    if info.status == STATUS_FAILED:
        raise ConfigError(f"{run.path}: this run failed ({info.failure or 'no reason recorded'}); train it again "
                          "without --resume, with new options: the failed run is replaced")
    if not run.has_checkpoint():
        raise ConfigError(f"{run.path}: no checkpoint was written before it stopped; train it again without --resume")
    return info


def resume_state(run: RunDir, spec: RunSpec) -> tuple[RunSpec, Split, tuple[FeatureTable | None, FeatureTable | None]]:
    info = resumable(run)
    saved = RunSpec.from_options((str(run.info_path), info.options))
    changed = sorted(k for k in spec.explicit if k != "data" and spec.value(k) != saved.value(k))
    if changed:
        raise ConfigError(f"--resume with different options: {', '.join(changed)}")
    return saved, run.load_split(), run.load_features()
