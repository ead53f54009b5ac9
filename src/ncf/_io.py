"""Atomic file writes: data goes to a temporary file in the same directory, then is renamed."""

from __future__ import annotations

import contextlib
import hashlib
import json
import os
import shutil
import tempfile
from collections.abc import Iterable, Iterator
from pathlib import Path
from typing import IO, Any


def _umask() -> int:
    """The process umask (mkstemp/mkdtemp create private files; ours follow the umask)."""
    mask = os.umask(0)
    os.umask(mask)
    return mask


@contextlib.contextmanager
def atomic_write(path: str | os.PathLike[str], mode: str = "w", **kwargs: Any) -> Iterator[IO[Any]]:
    """Open a temp file beside ``path``; on success fsync and rename it over ``path``.

    On any exception the temp file is removed and ``path`` is left untouched.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent)
    try:
        os.chmod(tmp, 0o666 & ~_umask())
        with os.fdopen(fd, mode, **kwargs) as fh:
            yield fh
            fh.flush()
            os.fsync(fh.fileno())
        os.replace(tmp, target)
    except BaseException:
        with contextlib.suppress(FileNotFoundError):
            os.unlink(tmp)
        raise


def write_json(path: str | os.PathLike[str], obj: Any) -> None:
    """Write ``obj`` as pretty JSON, atomically."""
    with atomic_write(path, "w", encoding="utf-8") as fh:
        json.dump(obj, fh, indent=2, sort_keys=True)
        fh.write("\n")


def read_json(path: str | os.PathLike[str]) -> Any:
    with open(path, encoding="utf-8") as fh:
        return json.load(fh)


@contextlib.contextmanager
def atomic_directory(path: str | os.PathLike[str]) -> Iterator[Path]:
    """Build a directory under a temp name, then move it into place (replacing an old one).

    Readers never see a half-written directory; on error nothing is left behind.
    """
    target = Path(path)
    target.parent.mkdir(parents=True, exist_ok=True)
    tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", suffix=".tmp", dir=target.parent))
    try:
        os.chmod(tmp, 0o777 & ~_umask())
        yield tmp
        if target.exists():
            old = target.with_name(f".{target.name}.old-{os.getpid()}")
            os.replace(target, old)
            os.replace(tmp, target)
            shutil.rmtree(old, ignore_errors=True)
        else:
            os.replace(tmp, target)
    except BaseException:
        shutil.rmtree(tmp, ignore_errors=True)
        raise


def sha256_file(path: str | os.PathLike[str]) -> str:
    """Hex SHA-256 of a file's bytes, read in 4 MiB blocks (for the checksums of saved models and indexes)."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 22), b""):
            digest.update(block)
    return digest.hexdigest()


def check_output(
    out: str | os.PathLike[str],
    reads: Iterable[str | os.PathLike[str]],
    *,
    what: str = "--out",
    replaces_dir_with: str | None = None,
) -> Path:
    """The one rule for output paths: ``out`` may not be, be inside, or contain any path in
    ``reads`` (what the command reads: a run's model, split and run.json, a data file), so no
    command overwrites or deletes its own input; and when the command replaces a directory
    (``replaces_dir_with``: the file every directory it writes holds, e.g. ``index.json``), an
    existing non-empty directory must be one it made. Raises ConfigError naming both paths
    before anything is written; returns ``out`` as a Path.
    """
    from ncf.errors import ConfigError

    target = Path(out)
    resolved = target.resolve()
    for read in reads:
        source = Path(read).resolve()
        if resolved == source:
            relation = "is"
        elif source in resolved.parents:
            relation = "is inside"
        elif resolved in source.parents:
            relation = "contains"
        else:
            continue
        raise ConfigError(f"{what} {target} {relation} {read}, which this command reads; write somewhere else")
    if replaces_dir_with is not None and target.exists():
        if not target.is_dir():
            raise ConfigError(f"{what} {target} is a file; give a directory")
        if any(target.iterdir()) and not (target / replaces_dir_with).is_file():
            raise ConfigError(f"{what} {target} is a directory ncf did not write (no {replaces_dir_with}); "
                              "it would be replaced: give a new or empty directory")
    return target
