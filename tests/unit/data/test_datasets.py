"""Dataset registry and downloads, against a local HTTP server (never the internet)."""

from __future__ import annotations

import functools
import hashlib
import http.server
import io
import json
import socket
import threading
import zipfile
from collections.abc import Iterator
from pathlib import Path

import pytest

from ncf.data import datasets, load_dataset
from ncf.data.datasets import DATASETS, DatasetInfo, RemoteFile, data_dir, dataset_path, download
from ncf.errors import ConfigError, DataError, DownloadError

ML_FILES = {
    "u.data": "1\t10\t5\t881250949\n2\t10\t3\t891717742\n1\t20\t4\t878887116\n",
    "u.user": "1|24|M|technician|85711\n2|53|F|other|94043\n",
    "u.genre": "unknown|0\nAction|1\n",
    "u.item": "10|Toy Story (1995)|01-Jan-1995||http://x|0|1\n20|Heat (1995)|01-Jan-1995||http://y|1|0\n",
}


class _QuietHandler(http.server.SimpleHTTPRequestHandler):
    def log_message(self, format: str, *args: object) -> None:  # noqa: A002 - the base signature
        pass


@pytest.fixture
def server(tmp_path: Path) -> Iterator[tuple[str, Path]]:
    """(base URL, served directory): a threaded http.server on 127.0.0.1."""
    root = tmp_path / "served"
    root.mkdir()
    handler = functools.partial(_QuietHandler, directory=str(root))
    httpd = http.server.ThreadingHTTPServer(("127.0.0.1", 0), handler)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.02}, daemon=True)
    thread.start()
    try:
        yield f"http://127.0.0.1:{httpd.server_address[1]}", root
    finally:
        httpd.shutdown()
        httpd.server_close()
        thread.join(5)


def zip_bytes(files: dict[str, str], top: str | None = "tiny-ml") -> bytes:
    buf = io.BytesIO()
    with zipfile.ZipFile(buf, "w") as zf:
        for name, text in files.items():
            zf.writestr(f"{top}/{name}" if top else name, text)
    return buf.getvalue()


def register(monkeypatch: pytest.MonkeyPatch, info: DatasetInfo) -> None:
    monkeypatch.setitem(DATASETS, info.name, info)


def ml_info(md5: str | None = None, sha256: str | None = None) -> DatasetInfo:
    zip_file = RemoteFile("https://example.invalid/", "tiny-ml.zip", "tiny-ml.zip", sha256=sha256, md5=md5, archive=True)
    return DatasetInfo("tiny-ml", "movielens", (zip_file,), ("u.data",), "test archive")


def lg_info() -> DatasetInfo:
    files = tuple(RemoteFile("https://example.invalid/", f"tiny-lg/{f}", f) for f in ("train.txt", "test.txt"))
    return DatasetInfo("tiny-lg", "lightgcn", files, ("train.txt", "test.txt"), "test split")


def leftovers(root: Path) -> list[str]:
    return sorted(p.name for p in root.iterdir()) if root.exists() else []


def unused_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


# ---------------------------------------------------------------------- downloads
def test_good_archive_downloads_extracts_and_loads(server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, served = server
    payload = zip_bytes(ML_FILES)
    (served / "tiny-ml.zip").write_bytes(payload)
    register(monkeypatch, ml_info(md5=hashlib.md5(payload).hexdigest()))
    cache = tmp_path / "cache"
    out = download("tiny-ml", data_dir=cache, base_url=url)
    assert out == cache / "tiny-ml"
    assert sorted(p.name for p in out.iterdir()) == [".ncf-download.json", "u.data", "u.genre", "u.item", "u.user"]
    record = json.loads((out / ".ncf-download.json").read_text())
    assert record["files"][0]["sha256"] == hashlib.sha256(payload).hexdigest()
    assert leftovers(cache) == ["tiny-ml"]
    ds = load_dataset(out)
    assert ds.interactions.shape == (2, 2) and ds.item_titles is not None
    # a complete copy is reused without the network (the server is gone for this call)
    assert download("tiny-ml", data_dir=cache, base_url=f"http://127.0.0.1:{unused_port()}") == out


def test_sha256_is_checked_too(server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, served = server
    payload = zip_bytes(ML_FILES, top=None)  # no top-level directory
    (served / "tiny-ml.zip").write_bytes(payload)
    register(monkeypatch, ml_info(sha256=hashlib.sha256(payload).hexdigest()))
    out = download("tiny-ml", data_dir=tmp_path / "c", base_url=url)
    assert (out / "u.data").is_file()


def test_corrupted_archive_is_rejected_and_leaves_nothing(server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, served = server
    good = zip_bytes(ML_FILES)
    (served / "tiny-ml.zip").write_bytes(good[:-10] + b"corrupted!")
    register(monkeypatch, ml_info(md5=hashlib.md5(good).hexdigest()))
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="md5") as err:
        download("tiny-ml", data_dir=cache, base_url=url)
    assert "--path" in str(err.value)
    assert leftovers(cache) == []


def test_unsafe_archive_member_is_refused(server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, served = server
    payload = zip_bytes({**ML_FILES, "../../escape.txt": "gotcha"}, top=None)
    (served / "tiny-ml.zip").write_bytes(payload)
    register(monkeypatch, ml_info(md5=hashlib.md5(payload).hexdigest()))
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError, match="unsafe path"):
        download("tiny-ml", data_dir=cache, base_url=url)
    assert leftovers(cache) == []
    assert not (tmp_path / "escape.txt").exists() and not list(tmp_path.rglob("escape.txt"))


def test_offline_gives_download_error_with_local_copy_hint(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, ml_info(md5="0" * 32))
    cache = tmp_path / "cache"
    with pytest.raises(DownloadError) as err:
        download("tiny-ml", data_dir=cache, base_url=f"http://127.0.0.1:{unused_port()}")
    message = str(err.value)
    assert "--path" in message and "NCF_DATA_DIR" in message and "tiny-ml" in message
    assert leftovers(cache) == []


def test_missing_remote_file_is_a_download_error(server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    url, _ = server
    register(monkeypatch, lg_info())
    with pytest.raises(DownloadError, match="HTTP 404"):
        download("tiny-lg", data_dir=tmp_path / "c", base_url=url)
    assert leftovers(tmp_path / "c") == []


def test_unverified_files_are_checked_by_format(server: tuple[str, Path], tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture) -> None:
    url, served = server
    (served / "tiny-lg").mkdir()
    (served / "tiny-lg" / "train.txt").write_text("0 0 1\n1 1 2\n")
    (served / "tiny-lg" / "test.txt").write_text("0 2\n1 0\n")
    register(monkeypatch, lg_info())
    monkeypatch.setenv("NCF_DATASETS_BASE_URL", url)  # the environment override
    with caplog.at_level("WARNING", logger="ncf.data.datasets"):
        out = download("tiny-lg", data_dir=tmp_path / "c")
    assert "no published checksum" in caplog.text and "sha256" in caplog.text
    assert load_dataset(out).split is not None
    # a file that is not in the format is rejected, and nothing is kept
    (served / "tiny-lg" / "test.txt").write_text("<html>not found</html>\n")
    with pytest.raises(DownloadError, match="not valid lightgcn"):
        download("tiny-lg", data_dir=tmp_path / "d")
    assert leftovers(tmp_path / "d") == []


def test_incomplete_user_directory_is_not_overwritten(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    register(monkeypatch, lg_info())
    mine = tmp_path / "c" / "tiny-lg"
    mine.mkdir(parents=True)
    (mine / "train.txt").write_text("0 1\n")
    with pytest.raises(DownloadError, match="test.txt"):
        download("tiny-lg", data_dir=tmp_path / "c", base_url=f"http://127.0.0.1:{unused_port()}")
    assert (mine / "train.txt").read_text() == "0 1\n"


# ---------------------------------------------------------------------- paths and registry
def test_data_dir_from_environment(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("NCF_DATA_DIR", str(tmp_path / "d"))
    assert data_dir() == tmp_path / "d"
    monkeypatch.delenv("NCF_DATA_DIR")
    assert data_dir().name == "data" and "ncf" in str(data_dir())


def test_dataset_path_prefers_local_copy_then_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    local = tmp_path / "mine"
    local.mkdir()
    (local / "train.txt").write_text("0 0\n")
    (local / "test.txt").write_text("0 1\n")
    assert dataset_path("gowalla", path=local) == local
    with pytest.raises(DataError, match="not found"):
        dataset_path("gowalla", path=tmp_path / "absent")
    monkeypatch.setenv("NCF_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.setenv("NCF_DATASETS_BASE_URL", f"http://127.0.0.1:{unused_port()}")
    cached = tmp_path / "cache" / "gowalla"
    cached.mkdir(parents=True)
    (cached / "train.txt").write_text("0 0\n")
    (cached / "test.txt").write_text("0 1\n")
    assert dataset_path("gowalla") == cached  # complete: no network needed
    with pytest.raises(DownloadError, match="--path"):
        dataset_path("yelp2018")
    with pytest.raises(ConfigError, match="did you mean 'ml-100k'"):
        dataset_path("ml-100")


def test_registry_entries() -> None:
    assert {"ml-100k", "ml-1m", "ml-20m", "gowalla", "yelp2018", "amazon-book", "pinterest-20"} <= set(DATASETS)
    for name, info in DATASETS.items():
        assert info.name == name and info.format in ("movielens", "lightgcn", "neumf")
        for f in info.files:
            assert f.url().startswith("https://")
            assert f.sha256 is None or len(f.sha256) == 64
            assert f.md5 is None or len(f.md5) == 32
    assert DATASETS["ml-100k"].files[0].md5 == "0e33842e24a9c977be4e0107933c0723"
    assert DATASETS["ml-100k"].verified and not DATASETS["gowalla"].verified
    assert DATASETS["gowalla"].files[0].url() == "https://raw.githubusercontent.com/kuandeng/LightGCN/master/Data/gowalla/train.txt"
    assert DATASETS["pinterest-20"].files[2].url().endswith("/Data/pinterest-20.test.negative")
    assert DATASETS["ml-1m"].files[0].url("http://mirror/x/") == "http://mirror/x/ml-1m.zip"
    assert datasets.__doc__ is not None and "format only" in datasets.__doc__


@pytest.mark.parametrize("layout", ["flat", "nested", "itself"])
def test_ncf_data_dir_finds_the_dataset_in_every_usual_layout(tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
                                                             layout: str) -> None:
    """``$NCF_DATA_DIR/ml-100k/u.data``, a zip extracted into its own folder
    (``$NCF_DATA_DIR/ml-100k/ml-100k/u.data``), or ``NCF_DATA_DIR`` set to the ml-100k folder."""
    folder = {"flat": tmp_path / "d" / "ml-100k", "nested": tmp_path / "d" / "ml-100k" / "ml-100k",
              "itself": tmp_path / "d" / "ml-100k"}[layout]
    folder.mkdir(parents=True)
    for name, text in ML_FILES.items():
        (folder / name).write_text(text)
    monkeypatch.setenv("NCF_DATA_DIR", str(folder if layout == "itself" else tmp_path / "d"))
    monkeypatch.setenv("NCF_DATASETS_BASE_URL", f"http://127.0.0.1:{unused_port()}")  # no network
    assert dataset_path("ml-100k") == folder
    assert load_dataset("ml-100k").interactions.num_users == 2
    if layout == "itself":  # a folder of another name is not taken for the dataset
        with pytest.raises(DownloadError, match="--path"):
            dataset_path("ml-1m")
