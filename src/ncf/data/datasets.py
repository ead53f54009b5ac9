"""Dataset registry and downloads: checksums, an atomic cache, and a clear offline message.

Each registry entry lists its remote files. GroupLens publishes MD5 sums for the MovieLens
zips and those are checked. The LightGCN and NeuMF repositories publish no checksums: their
files are stored with ``sha256=None``, verified *by format only* (the downloaded directory
must load with its reader before it is committed to the cache), and the SHA-256 of every
downloaded file is logged and written to ``.ncf-download.json`` in the dataset directory so
that users can pin it.

Cache location: ``$NCF_DATA_DIR`` or ``platformdirs.user_cache_dir("ncf")/data``; each dataset
lives in ``<cache>/<name>``. ``$NCF_DATASETS_BASE_URL`` (or ``base_url=``) replaces every
entry's server, e.g. a mirror or a local test server serving ``<base>/<remote path>``.

Offline use: pass a local copy (``ncf ... --path DIR``) or place the files under
``$NCF_DATA_DIR/<name>`` (directly, or in the one folder a zip extracts to, e.g.
``ml-100k/ml-100k/u.data``; ``NCF_DATA_DIR`` may also be the dataset's own folder, named as
the dataset); a directory that already holds the expected files is used without any network
access.
"""

from __future__ import annotations

import hashlib
import json
import logging
import os
import shutil
import stat
import urllib.error
import urllib.request
import zipfile
from dataclasses import dataclass
from pathlib import Path, PurePosixPath

from ncf._io import atomic_directory
from ncf._types import PathLike
from ncf.data.formats.readers import DIRECTORY_READERS
from ncf.errors import ConfigError, DataError, DownloadError, did_you_mean

logger = logging.getLogger(__name__)

__all__ = [
    "DATASETS",
    "DatasetInfo",
    "RemoteFile",
    "data_dir",
    "dataset_path",
    "download",
]

_GROUPLENS = "https://files.grouplens.org/datasets/movielens/"
_LIGHTGCN = "https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data/"
_NEUMF = "https://raw.githubusercontent.com/hexiangnan/neural_collaborative_filtering/master/Data/"
_MARKER = ".ncf-download.json"
_CHUNK = 1 << 20
_TIMEOUT_S = 60.0


@dataclass(frozen=True)
class RemoteFile:
    """One file to fetch.

    Parameters
    ----------
    base : str
        Server prefix (replaced by ``base_url`` / ``$NCF_DATASETS_BASE_URL``).
    remote_path : str
        Path under ``base``; the URL is ``base + remote_path``.
    name : str
        File name inside the dataset directory (for an archive: its download name).
    sha256, md5 : str or None
        Published checksum (hex). SHA-256 wins when both are given; with neither the file is
        verified by format only.
    archive : bool
        A zip to extract (safely) into the dataset directory, then delete.
    """

    base: str
    remote_path: str
    name: str
    sha256: str | None = None
    md5: str | None = None
    archive: bool = False

    def url(self, base_url: str | None = None) -> str:
        """The URL to fetch, under ``base_url`` when given."""
        base = self.base if base_url is None else base_url.rstrip("/") + "/"
        return base + self.remote_path


@dataclass(frozen=True)
class DatasetInfo:
    """A registry entry: where a dataset comes from and what a complete copy holds.

    Parameters
    ----------
    name : str
        Registry key and cache directory name.
    format : str
        Reader format (``"movielens"``, ``"lightgcn"``, ``"neumf"``).
    files : tuple of RemoteFile
    required : tuple of str
        Files whose presence marks a complete local copy (after extraction).
    description : str
    """

    name: str
    format: str
    files: tuple[RemoteFile, ...]
    required: tuple[str, ...]
    description: str

    @property
    def verified(self) -> bool:
        """Whether every file has a published checksum."""
        return all(f.sha256 is not None or f.md5 is not None for f in self.files)


def _grouplens(name: str, md5: str, required: tuple[str, ...], description: str) -> DatasetInfo:
    zip_file = RemoteFile(_GROUPLENS, f"{name}.zip", f"{name}.zip", md5=md5, archive=True)
    return DatasetInfo(name, "movielens", (zip_file,), required, description)


def _lightgcn(name: str, description: str) -> DatasetInfo:
    files = tuple(RemoteFile(_LIGHTGCN, f"{name}/{f}", f) for f in ("train.txt", "test.txt"))
    return DatasetInfo(name, "lightgcn", files, ("train.txt", "test.txt"), description)


def _neumf(name: str, description: str) -> DatasetInfo:
    names = tuple(f"{name}{s}" for s in (".train.rating", ".test.rating", ".test.negative"))
    return DatasetInfo(name, "neumf", tuple(RemoteFile(_NEUMF, n, n) for n in names), names, description)


# md5 values are those GroupLens publishes beside each zip (<name>.zip.md5).
DATASETS: dict[str, DatasetInfo] = {
    info.name: info
    for info in (
        _grouplens("ml-100k", "0e33842e24a9c977be4e0107933c0723", ("u.data",),
                   "MovieLens 100K: 100,000 ratings, 943 users, 1,682 movies, user and movie features"),
        _grouplens("ml-1m", "c4d9eecfca2ab87c1945afe126590906", ("ratings.dat",),
                   "MovieLens 1M: 1,000,209 ratings, 6,040 users, 3,706 rated movies"),
        _grouplens("ml-20m", "cd245b17a1ae2cc31bb14903e1204af3", ("ratings.csv",),
                   "MovieLens 20M: 20,000,263 ratings, 138,493 users, 26,744 rated movies"),
        _lightgcn("gowalla", "Gowalla check-ins, LightGCN/NGCF split (train.txt, test.txt)"),
        _lightgcn("yelp2018", "Yelp 2018, LightGCN/NGCF split (train.txt, test.txt)"),
        _lightgcn("amazon-book", "Amazon-Book, LightGCN/NGCF split (train.txt, test.txt)"),
        _neumf("pinterest-20", "Pinterest (20-core), NeuMF paper split with 99 test negatives"),
    )
}


def data_dir() -> Path:
    """The dataset cache: ``$NCF_DATA_DIR`` or ``platformdirs.user_cache_dir("ncf")/data``."""
    env = os.environ.get("NCF_DATA_DIR")
    if env:
        return Path(env).expanduser()
    import platformdirs

    return Path(platformdirs.user_cache_dir("ncf")) / "data"


def _cache_root(explicit: PathLike | None) -> Path:
    return Path(explicit).expanduser() if explicit is not None else data_dir()


def _info(name: str) -> DatasetInfo:
    try:
        return DATASETS[name]
    except KeyError:
        raise ConfigError(
            f"unknown dataset {name!r}{did_you_mean(name, DATASETS)} (known: {', '.join(sorted(DATASETS))})"
        ) from None


def _is_complete(root: Path, info: DatasetInfo) -> bool:
    return root.is_dir() and all((root / r).exists() for r in info.required)


def _local_copy(local: Path, info: DatasetInfo) -> Path:
    """The directory of a user's copy that holds ``info.required``; DataError when none does."""
    candidates = [local] if local.is_dir() else []
    if info.format == "neumf" and not local.is_dir():  # a prefix path DIR/<name>, or one file
        candidates.append(local.parent)
    if local.is_dir():
        subdirs = [d for d in local.iterdir() if d.is_dir() and not d.name.startswith((".", "__"))]
        candidates += subdirs if len(subdirs) == 1 else []
    for root in candidates:
        if _is_complete(root, info):
            return root
    if not local.exists():
        raise DataError("local copy not found", path=local)
    listing = sorted(e.name for e in local.iterdir())[:6] if local.is_dir() else [local.name]
    raise DataError(
        f"not a local copy of {info.name}: {info.format} data needs {', '.join(info.required)}, "
        f"which this path lacks (it holds {', '.join(listing) or 'nothing'}); pass the "
        f"directory of {info.name} or use the matching dataset name", path=local,
    )


def _offline_hint(name: str, root: Path) -> str:
    return (
        f"to use a local copy instead, pass it with `ncf ... --path DIR` (dataset_path({name!r}, "
        f"path=DIR)) or put the files under $NCF_DATA_DIR/{name} (now {root / name})"
    )


def _fetch(url: str, dest: Path, name: str, root: Path) -> tuple[str, str]:
    """Stream ``url`` to ``dest``; return (sha256, md5) hex digests of the bytes written."""
    sha256 = hashlib.sha256()
    md5 = hashlib.md5(usedforsecurity=False)
    logger.info("downloading %s", url)
    try:
        with urllib.request.urlopen(url, timeout=_TIMEOUT_S) as response, open(dest, "wb") as out:
            while True:
                chunk = response.read(_CHUNK)
                if not chunk:
                    break
                sha256.update(chunk)
                md5.update(chunk)
                out.write(chunk)
    except urllib.error.HTTPError as exc:
        raise DownloadError(f"{name}: {url} answered HTTP {exc.code} {exc.reason}; {_offline_hint(name, root)}") from exc
    except OSError as exc:  # URLError, timeouts, refused connections, resets
        reason = getattr(exc, "reason", exc)
        raise DownloadError(f"{name}: could not download {url} ({reason}); {_offline_hint(name, root)}") from exc
    return sha256.hexdigest(), md5.hexdigest()


def _verify(file: RemoteFile, url: str, sha256: str, md5: str, name: str) -> bool:
    """Check a published checksum; return False when there is none to check."""
    for algo, expected, actual in (("sha256", file.sha256, sha256), ("md5", file.md5, md5)):
        if expected is None:
            continue
        if expected.lower() != actual:
            raise DownloadError(
                f"{name}: {algo} of {url} is {actual}, expected {expected.lower()}; the download "
                "was discarded (a corrupted or changed file). Retry, or use a local copy with --path"
            )
        return True
    return False


def _safe_members(archive: zipfile.ZipFile, where: str) -> list[tuple[zipfile.ZipInfo, PurePosixPath]]:
    """Members with safe relative paths; DownloadError for traversal, absolute paths or links."""
    out = []
    for member in archive.infolist():
        raw = member.filename.replace("\\", "/")
        path = PurePosixPath(raw)
        mode = member.external_attr >> 16
        if raw.startswith("/") or path.is_absolute() or ".." in path.parts or (path.parts and ":" in path.parts[0]):
            raise DownloadError(f"{where}: unsafe path {member.filename!r} in the archive; refusing to extract")
        if stat.S_ISLNK(mode):
            raise DownloadError(f"{where}: symbolic link {member.filename!r} in the archive; refusing to extract")
        out.append((member, path))
    return out


def _extract_zip(archive_path: Path, dest: Path, where: str) -> None:
    """Extract safely into ``dest``; a single top-level directory is flattened into ``dest``."""
    staging = dest / ".extract"
    staging.mkdir()
    try:
        with zipfile.ZipFile(archive_path) as archive:
            for member, rel in _safe_members(archive, where):
                if not rel.parts:
                    continue
                target = staging.joinpath(*rel.parts)
                if member.is_dir():
                    target.mkdir(parents=True, exist_ok=True)
                    continue
                target.parent.mkdir(parents=True, exist_ok=True)
                with archive.open(member) as src, open(target, "wb") as out:
                    shutil.copyfileobj(src, out, _CHUNK)
    except zipfile.BadZipFile as exc:
        raise DownloadError(f"{where}: not a valid zip archive ({exc})") from exc
    entries = [e for e in staging.iterdir() if e.name != "__MACOSX"]
    top = entries[0] if len(entries) == 1 and entries[0].is_dir() else staging
    for entry in list(top.iterdir()):
        if entry.name != "__MACOSX":
            os.replace(entry, dest / entry.name)
    shutil.rmtree(staging)


def download(
    name: str, *, data_dir: PathLike | None = None, force: bool = False, base_url: str | None = None
) -> Path:
    """Download a registry dataset into the cache, verify it, and return its directory.

    Files are streamed into a temporary directory beside the target, checked against their
    published checksum (MD5 for the GroupLens zips), zips are extracted safely (no absolute
    paths, ``..`` or links), and the directory is renamed into place only when everything
    succeeded: a failure leaves no partial file or directory. Files without a published
    checksum are verified by loading them with their reader; their SHA-256 is logged and
    recorded in ``.ncf-download.json`` so that it can be pinned.

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    data_dir : path-like, optional
        Cache root (default :func:`data_dir`).
    force : bool
        Download again even when a complete copy exists.
    base_url : str, optional
        Replace each file's server (default ``$NCF_DATASETS_BASE_URL`` when set).

    Returns
    -------
    Path
        ``<cache>/<name>``.

    Raises
    ------
    ConfigError
        Unknown name.
    DownloadError
        Network failure (the message says how to use a local copy), checksum mismatch, a bad
        archive, or files that do not load in the expected format.
    """
    info = _info(name)
    root = _cache_root(data_dir)
    target = root / name
    found = None if force else _cached_copy(root, info)
    if found is not None:
        logger.info("%s: using the cached copy at %s", name, found)
        return found
    if not force and target.is_dir() and any(target.iterdir()) and not (target / _MARKER).exists():
        missing = [r for r in info.required if not (target / r).exists()]
        raise DownloadError(
            f"{name}: {target} holds files but lacks {missing}; complete it, remove it, or pass "
            "force=True to replace it with a fresh download"
        )
    base = base_url if base_url is not None else os.environ.get("NCF_DATASETS_BASE_URL") or None
    record: list[dict[str, str | None]] = []
    with atomic_directory(target) as tmp:
        unverified = False
        for file in info.files:
            url = file.url(base)
            dest = tmp / (f".{file.name}.part" if file.archive else file.name)
            sha256, md5 = _fetch(url, dest, name, root)
            if not _verify(file, url, sha256, md5, name):
                unverified = True
                logger.warning(
                    "%s: %s has no published checksum; verified by format only. Its sha256 is %s "
                    "(recorded in %s)", name, file.name, sha256, _MARKER,
                )
            record.append({"file": file.name, "url": url, "sha256": sha256, "md5": md5})
            if file.archive:
                _extract_zip(dest, tmp, f"{name}: {url}")
                dest.unlink()
        missing = [r for r in info.required if not (tmp / r).exists()]
        if missing:
            raise DownloadError(f"{name}: the download lacks {missing}; the server's layout may have changed")
        if unverified:
            _check_format(tmp, info)
        with open(tmp / _MARKER, "w", encoding="utf-8") as fh:
            json.dump({"name": name, "files": record}, fh, indent=2)
    logger.info("%s: downloaded to %s", name, target)
    return target


def _check_format(root: Path, info: DatasetInfo) -> None:
    try:
        DIRECTORY_READERS[info.format](root)
    except DataError as exc:
        raise DownloadError(f"{info.name}: the downloaded files are not valid {info.format} data: {exc}") from exc


def dataset_path(name: str, *, path: PathLike | None = None) -> Path:
    """The local directory of a dataset: ``path`` when given, else the cache (downloading if needed).

    Parameters
    ----------
    name : str
        A key of :data:`DATASETS`.
    path : path-like, optional
        A local copy (the CLI's ``--path``); it wins over the cache and needs no network. It
        must hold the dataset's files (``info.required``), directly or in its one
        subdirectory (an extracted zip); for a NeuMF dataset it may also be the prefix path
        ``DIR/<name>``.

    Returns
    -------
    Path
        The directory that holds the files.

    Raises
    ------
    ConfigError
        Unknown name.
    DataError
        ``path`` does not exist, or lacks the dataset's files (e.g. a MovieLens directory
        given for ``gowalla``).
    DownloadError
        The cache is incomplete and the download failed.
    """
    info = _info(name)
    if path is not None:
        return _local_copy(Path(path).expanduser(), info)
    found = _cached_copy(data_dir(), info)
    return found if found is not None else download(name)


def _cached_copy(root: Path, info: DatasetInfo) -> Path | None:
    """The directory under the cache ``root`` that holds ``info``'s files, in any usual layout.

    ``root/<name>`` (what a download makes), ``root/<name>/<one folder>`` (a zip extracted into a
    folder of its own, e.g. ``ml-100k/ml-100k/u.data``), or ``root`` itself when it is the
    dataset's folder (``NCF_DATA_DIR=/data/ml-100k``). None when none of them is complete.
    """
    cached = root / info.name
    candidates = [cached]
    if cached.is_dir():
        subdirs = [d for d in cached.iterdir() if d.is_dir() and not d.name.startswith((".", "__"))]
        candidates += subdirs if len(subdirs) == 1 else []
    if root.name == info.name:
        candidates.append(root)
    return next((c for c in candidates if _is_complete(c, info)), None)

