"""Save and load models as directories: config JSON, safetensors weights and id maps, no pickle.

A saved model directory holds::

    config.json          {"format": "ncf-model", "version": 2, "model": <registry name>,
                          "config": model.get_config(), "metadata": {...},
                          "checksums": {file name: sha256, ...}}
    weights.safetensors  the state dict (parameters and buffers)
    user_map.json        optional IdMap (raw user id <-> index)
    item_map.json        optional IdMap

The directory is written atomically (built under a temporary name, then renamed into place)
and rebuilt through the explicit registry :data:`ncf.models.MODELS`. Every file it lists is
checked against its SHA-256 on load, so flipped bits or a lost id map are errors, not silently
different recommendations. Version-1 directories (no checksums) still load.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any, NamedTuple

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from ncf._io import atomic_directory, sha256_file, write_json
from ncf._types import PathLike
from ncf.data.idmap import IdMap
from ncf.errors import ConfigError, DataError
from ncf.models.base import Model
from ncf.models.registry import MODELS, build_model

FORMAT = "ncf-model"
VERSION = 2
CONFIG_FILE = "config.json"
WEIGHTS_FILE = "weights.safetensors"
USER_MAP_FILE = "user_map.json"
ITEM_MAP_FILE = "item_map.json"
#: Everything :func:`save_model` writes; an existing directory holding anything else is not replaced.
MODEL_FILES = frozenset({CONFIG_FILE, WEIGHTS_FILE, USER_MAP_FILE, ITEM_MAP_FILE})

__all__ = ["SavedModel", "load_model", "model_version", "save_model"]


class SavedModel(NamedTuple):
    """What :func:`load_model` returns; unpacks as ``model, user_map, item_map, metadata``."""

    model: Model
    user_map: IdMap | None
    item_map: IdMap | None
    metadata: dict[str, Any]


def save_model(
    model: Model,
    path: PathLike,
    *,
    user_map: IdMap | None = None,
    item_map: IdMap | None = None,
    metadata: dict[str, Any] | None = None,
    overwrite: bool = False,
) -> Path:
    """Write ``model`` (and its id maps) to the directory ``path``, atomically.

    Parameters
    ----------
    model : Model
        A model whose class is registered in :data:`ncf.models.MODELS`.
    path : str or PathLike
        Target directory. It may exist if it is empty; an existing saved model is replaced only
        with ``overwrite=True``; a file, or a directory holding files ncf did not write, is
        never replaced.
    user_map, item_map : IdMap, optional
        Raw id maps; their sizes must match ``num_users`` / ``num_items``.
    metadata : dict, optional
        JSON-serialisable extras (training config, metrics, data fingerprint, ...).
    overwrite : bool
        Replace an existing saved model at ``path``.

    Returns
    -------
    Path
        The directory written.

    Raises
    ------
    ConfigError
        When the model class is not registered or ``metadata`` is not JSON-serialisable.
    DataError
        When an id map's size does not match the model's universe, or ``path`` exists and may
        not be replaced (see ``path``).

    Examples
    --------
    >>> save_model(model, "runs/mf", item_map=data.item_map)  # doctest: +SKIP
    >>> model, user_map, item_map, metadata = load_model("runs/mf")  # doctest: +SKIP
    """
    name = type(model).name
    if MODELS.get(name) is not type(model):
        raise ConfigError(
            f"cannot save a {type(model).__name__}: its class is not registered in "
            "ncf.models.MODELS (add it there so it can be rebuilt on load)"
        )
    for label, idmap, size in (("user_map", user_map, model.num_users), ("item_map", item_map, model.num_items)):
        if idmap is not None and len(idmap) != size:
            raise DataError(f"{label} has {len(idmap)} ids but the model has {size}")
    header = {
        "format": FORMAT,
        "version": VERSION,
        "model": name,
        "config": model.get_config(),
        "metadata": dict(metadata) if metadata is not None else {},
    }
    try:
        json.dumps(header, allow_nan=False)
    except (TypeError, ValueError) as exc:
        raise ConfigError(f"model config and metadata must be JSON-serialisable: {exc}") from exc
    tensors = {k: v.detach().to("cpu").contiguous() for k, v in model.state_dict().items()}
    target = Path(path)
    _check_replaceable(target, overwrite)
    with atomic_directory(target) as tmp:
        save_file(tensors, str(tmp / WEIGHTS_FILE), metadata={"format": FORMAT, "model": name})
        if user_map is not None:
            user_map.save(tmp / USER_MAP_FILE)
        if item_map is not None:
            item_map.save(tmp / ITEM_MAP_FILE)
        header["checksums"] = {p.name: sha256_file(p) for p in sorted(tmp.iterdir())}
        write_json(tmp / CONFIG_FILE, header)
    return target


def _check_replaceable(target: Path, overwrite: bool) -> None:
    if not target.exists():
        return
    if not target.is_dir():
        raise DataError("exists and is not a directory; save the model elsewhere", path=target)
    names = {p.name for p in target.iterdir()}
    if not names:
        return
    foreign = sorted(names - MODEL_FILES)
    if foreign:
        raise DataError(f"holds files ncf did not write ({', '.join(foreign[:3])}); save the model elsewhere",
                        path=target)
    if not overwrite:
        raise DataError("already holds a saved model; pass overwrite=True to replace it", path=target)


def _verify_checksums(root: Path, header: dict[str, Any]) -> None:
    """Every file the header lists is present and has its recorded SHA-256 (version 2 and later)."""
    sums = header.get("checksums")
    if header["version"] < 2:
        return
    if not isinstance(sums, dict) or WEIGHTS_FILE not in sums:
        raise DataError("the model config lists no file checksums", path=root / CONFIG_FILE, field="checksums")
    for name, expected in sorted(sums.items()):
        if name not in MODEL_FILES or not isinstance(expected, str):
            raise DataError(f"unexpected checksum entry {name!r}", path=root / CONFIG_FILE, field="checksums")
        file = root / name
        if not file.is_file():
            raise DataError(f"{name} is missing (the model was saved with it)", path=root)
        if sha256_file(file) != expected:
            raise DataError("checksum mismatch: the file is corrupt or was changed after saving", path=file)


def _read_header(root: Path) -> dict[str, Any]:
    config_path = root / CONFIG_FILE
    if not root.is_dir():
        raise DataError("no saved model here: the directory does not exist", path=root)
    if not config_path.is_file():
        raise DataError(f"not a saved ncf model directory ({CONFIG_FILE} missing)", path=root)
    try:
        with open(config_path, encoding="utf-8") as fh:
            header = json.load(fh)
    except json.JSONDecodeError as exc:
        raise DataError(f"not valid JSON: {exc.msg}", path=config_path, line=exc.lineno) from exc
    if not isinstance(header, dict) or header.get("format") != FORMAT:
        raise DataError(f"not an ncf model config (expected \"format\": \"{FORMAT}\")", path=config_path)
    version = header.get("version")
    if not isinstance(version, int) or isinstance(version, bool):
        raise DataError("missing or invalid format version", path=config_path, field="version")
    if version > VERSION:
        raise DataError(
            f"saved with model format version {version}; this ncf reads up to {VERSION}: upgrade ncf",
            path=config_path,
            field="version",
        )
    if not isinstance(header.get("model"), str) or not isinstance(header.get("config"), dict):
        raise DataError("config needs a string \"model\" and an object \"config\"", path=config_path)
    metadata = header.get("metadata", {})
    if metadata is None:
        header["metadata"] = {}
    elif not isinstance(metadata, dict):
        raise DataError("\"metadata\" must be an object", path=config_path, field="metadata")
    return header


def load_model(path: PathLike, *, device: str | torch.device = "cpu") -> SavedModel:
    """Rebuild a model saved by :func:`save_model`, through the registry (never unpickled).

    Parameters
    ----------
    path : str or PathLike
        The saved model directory.
    device : str or torch.device
        Where the model's parameters go.

    Returns
    -------
    SavedModel
        ``(model, user_map, item_map, metadata)``; the model is in eval mode.

    Raises
    ------
    DataError
        When the directory or a file is missing, a file fails its checksum, the config is
        invalid, or the weights do not match the model the config describes.
    """
    root = Path(path)
    header = _read_header(root)
    _verify_checksums(root, header)
    config_path = root / CONFIG_FILE
    try:
        model = build_model(header["model"], **header["config"])
    except ConfigError as exc:
        raise DataError(f"cannot rebuild the model: {exc}", path=config_path) from exc
    weights_path = root / WEIGHTS_FILE
    if not weights_path.is_file():
        raise DataError(f"{WEIGHTS_FILE} missing", path=root)
    try:
        state = load_file(str(weights_path), device="cpu")
    except (SafetensorError, OSError, ValueError) as exc:
        raise DataError(f"cannot read weights: {exc}", path=weights_path) from exc
    try:
        model.load_state_dict(state, strict=True)
    except RuntimeError as exc:
        raise DataError(
            f"weights do not match the {header['model']!r} model described by {CONFIG_FILE}: {exc}",
            path=weights_path,
        ) from exc
    model.to(device)
    model.eval()
    listed = header.get("checksums") if header["version"] >= 2 else None

    def read_map(name: str) -> IdMap | None:  # version 2: exactly the maps saved with the model
        present = name in listed if isinstance(listed, dict) else (root / name).is_file()
        return IdMap.load(root / name) if present else None

    user_map, item_map = read_map(USER_MAP_FILE), read_map(ITEM_MAP_FILE)
    for label, idmap, size in (("user_map", user_map, model.num_users), ("item_map", item_map, model.num_items)):
        if idmap is not None and len(idmap) != size:
            raise DataError(f"{label} has {len(idmap)} ids but the model has {size}", path=root)
    return SavedModel(model, user_map, item_map, dict(header["metadata"]))


def model_version(model_dir: PathLike) -> str:
    """A short identifier of the saved weights (from the recorded checksum, else the file)."""
    model_dir = Path(model_dir)
    try:
        header = json.loads((model_dir / CONFIG_FILE).read_text(encoding="utf-8"))
        digest = (header.get("checksums") or {}).get("weights.safetensors")
    except (OSError, ValueError):
        digest = None
    if not isinstance(digest, str):
        digest = sha256_file(model_dir / WEIGHTS_FILE)
    return digest[:12]
