"""The on-disk format of a saved index: a directory holding ``index.json`` and the backend's file.

``index.json`` records ``format`` (:data:`FORMAT`), ``format_version``, the ``kind``, ``metric``,
settings (``params``), ``size`` and ``dim``, the backend ``file`` with its ``bytes`` and
``sha256``, and the ``backend`` library's version. :func:`write_index_dir` writes the directory
atomically; :func:`read_metadata` checks ``index.json``; :func:`backend_path` and
:func:`saved_params` check what it names before a kind reads its file
(:meth:`Index.load <ncf.index.base.Index.load>`).
"""

from __future__ import annotations

import json
from collections.abc import Callable
from pathlib import Path
from typing import Any, cast

from ncf._io import atomic_directory, read_json, sha256_file, write_json
from ncf._types import PathLike
from ncf.errors import DataError

__all__ = ["FORMAT", "FORMAT_VERSION", "METADATA_FILE", "backend_path", "read_metadata", "saved_params",
           "write_index_dir"]

FORMAT = "ncf-index"
FORMAT_VERSION = 1
METADATA_FILE = "index.json"


def read_metadata(path: PathLike) -> dict[str, Any]:
    """The checked ``index.json`` of a saved index directory.

    Raises
    ------
    DataError
        No such directory or ``index.json``, malformed JSON, another format, a newer format
        version, or missing fields.
    """
    root = Path(path)
    meta_path = root / METADATA_FILE
    if not root.is_dir():
        raise DataError("no index directory here", path=root)
    if not meta_path.is_file():
        raise DataError(f"not an ncf index directory (no {METADATA_FILE})", path=root)
    try:
        meta = read_json(meta_path)
    except (json.JSONDecodeError, UnicodeDecodeError) as exc:
        raise DataError(f"{METADATA_FILE} is not valid JSON ({exc})", path=meta_path) from exc
    if not isinstance(meta, dict) or meta.get("format") != FORMAT:
        raise DataError(f"{METADATA_FILE} does not describe an ncf index (format {FORMAT!r})", path=meta_path)
    version = meta.get("format_version")
    if not isinstance(version, int) or version > FORMAT_VERSION or version < 1:
        raise DataError(
            f"index format version {version!r} is not supported (this ncf reads up to "
            f"{FORMAT_VERSION}); upgrade ncf or rebuild the index",
            path=meta_path,
        )
    fields = {"kind": str, "metric": str, "size": int, "dim": int, "params": dict, "file": str, "sha256": str}
    for name, typ in fields.items():
        if not isinstance(meta.get(name), typ):
            raise DataError(f"{METADATA_FILE} lacks a valid {name!r}", path=meta_path, field=name)
    if meta["size"] < 1 or meta["dim"] < 1:
        raise DataError(f"{METADATA_FILE} has an impossible size or dim", path=meta_path)
    if Path(meta["file"]).name != meta["file"]:
        raise DataError(f"{METADATA_FILE} names a backend file outside the directory", path=meta_path, field="file")
    return cast(dict[str, Any], meta)


def write_index_dir(
    path: PathLike,
    *,
    kind: str,
    metric: str,
    size: int,
    dim: int,
    params: dict[str, Any],
    backend_file: str,
    write_backend: Callable[[Path], None],
    backend_version: Callable[[], str],
) -> Path:
    """Write a saved index to directory ``path`` atomically: ``write_backend(file)`` writes the
    backend's ``backend_file``, then ``index.json`` describes it (with its SHA-256). An existing
    directory at ``path`` is replaced only once the new one is complete."""
    target = Path(path)
    with atomic_directory(target) as tmp:
        backend = tmp / backend_file
        write_backend(backend)
        meta = {
            "format": FORMAT,
            "format_version": FORMAT_VERSION,
            "kind": kind,
            "metric": metric,
            "size": size,
            "dim": dim,
            "params": params,
            "file": backend_file,
            "bytes": backend.stat().st_size,
            "sha256": sha256_file(backend),
            "backend": backend_version(),
        }
        write_json(tmp / METADATA_FILE, meta)
    return target


def backend_path(path: Path, meta: dict[str, Any], backend_file: str) -> Path:
    """The backend file of the saved index ``path``: the ``backend_file`` its kind writes, present
    and matching the checksum in ``index.json`` (``meta``), else a DataError."""
    backend = path / str(meta["file"])
    if meta["file"] != backend_file:
        raise DataError(f"index.json names backend file {meta['file']!r}, expected {backend_file!r}", path=path)
    if not backend.is_file():
        raise DataError(f"the backend file {backend.name} is missing", path=path)
    if sha256_file(backend) != meta["sha256"]:
        raise DataError(
            f"{backend.name} does not match the checksum in index.json: the file is corrupt or "
            "was replaced; rebuild and save the index again",
            path=backend,
        )
    return backend


def saved_params(path: Path, meta: dict[str, Any], kind: str, known: tuple[str, ...]) -> dict[str, Any]:
    """The settings in ``index.json`` (``meta``), or a DataError naming any that a ``kind`` index
    (constructor keywords ``known``) does not take."""
    params = meta["params"]
    if not isinstance(params, dict) or set(params) - set(known):
        raise DataError(f"index.json has settings this {kind!r} index does not know: {params!r}", path=path)
    return params
