"""detect_format and load_dataset: auto-detection, registry names and local copies."""

from __future__ import annotations

from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from ncf.data import detect_format, load_dataset
from ncf.errors import ConfigError, DataError

from ._files import make_lightgcn, make_ml100k, make_neumf, write

SHARED = Path("/work/shared/data")


def test_load_dataset_autodetects_directories(tmp_path: Path) -> None:
    assert load_dataset(make_ml100k(tmp_path / "a")).format == "movielens"
    assert load_dataset(make_lightgcn(tmp_path / "b")).format == "lightgcn"
    assert load_dataset(make_neumf(tmp_path / "c")).format == "neumf"
    assert detect_format(tmp_path / "b") == "lightgcn"
    assert load_dataset(tmp_path / "b", format="lightgcn").split is not None


def test_load_dataset_table_files(tmp_path: Path) -> None:
    p = write(tmp_path / "events.csv", "userId,movieId,rating,timestamp\n1,2,3,4\n5,6,7,8\n")
    ds = load_dataset(p)
    assert ds.format == "csv" and ds.name == "events" and ds.interactions.weights is not None
    assert ds.interactions.timestamps is not None
    p = write(tmp_path / "plain.tsv", "1\t2\t5\n3\t4\t1\n")
    ds = load_dataset(p)
    assert ds.format == "tsv" and ds.interactions.weights is not None and ds.interactions.timestamps is None
    p = write(tmp_path / "two.txt", "a b\nc d\n")
    ds = load_dataset(p)  # space separated, a header of unknown names: positional columns
    assert ds.interactions.shape == (1, 1)
    pq.write_table(pa.table({"user_id": ["a", "b"], "item_id": [1, 2]}), tmp_path / "t.parquet")
    assert load_dataset(tmp_path / "t.parquet").interactions.shape == (2, 2)


def test_load_dataset_errors(tmp_path: Path) -> None:
    (tmp_path / "junk").mkdir()
    write(tmp_path / "junk" / "notes.md", "hello")
    with pytest.raises(DataError, match="train.txt") as err:
        load_dataset(tmp_path / "junk")
    assert "u.data" in str(err.value) and ".train.rating" in str(err.value)
    with pytest.raises(DataError, match="not a registered dataset"):
        load_dataset(tmp_path / "missing")
    with pytest.raises(ConfigError, match="unknown format"):
        load_dataset(tmp_path, format="excel")
    with pytest.raises(DataError, match="needs a file, got a directory"):
        load_dataset(tmp_path / "junk", format="csv")


def test_load_dataset_registry_name_uses_the_cache(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    make_ml100k(tmp_path / "cache" / "ml-100k")
    monkeypatch.setenv("NCF_DATA_DIR", str(tmp_path / "cache"))
    monkeypatch.chdir(tmp_path)
    ds = load_dataset("ml-100k")
    assert ds.name == "ml-100k" and ds.interactions.shape == (3, 3)


# ====================================================================== a local copy of a registry name
def test_local_copy_of_a_registry_name(tmp_path: Path) -> None:
    lg = make_lightgcn(tmp_path / "my-gowalla")
    ds = load_dataset("gowalla", path=lg)
    assert ds.name == "gowalla" and ds.format == "lightgcn"
    nested = make_ml100k(tmp_path / "download" / "ml-100k")  # an extracted zip: one subdirectory
    assert load_dataset("ml-100k", path=nested.parent).interactions.shape == (3, 3)
    neumf = make_neumf(tmp_path / "nm", "pinterest-20")
    assert load_dataset("pinterest-20", path=neumf / "pinterest-20").name == "pinterest-20"


def test_local_copy_of_another_dataset_is_refused(tmp_path: Path) -> None:
    """``ncf data stats gowalla --path <ml-100k dir>`` must not load ml-100k as gowalla."""
    ml = make_ml100k(tmp_path / "ml-100k")
    with pytest.raises(DataError, match="not a local copy of gowalla: lightgcn data needs train.txt, test.txt") as err:
        load_dataset("gowalla", path=ml)
    assert err.value.path == str(ml) and "u.data" in str(err.value)
    lg = make_lightgcn(tmp_path / "lg")
    with pytest.raises(DataError, match="not a local copy of ml-100k"):
        load_dataset("ml-100k", path=lg)
    with pytest.raises(DataError, match="not found"):
        load_dataset("gowalla", path=tmp_path / "absent")
    with pytest.raises(ConfigError, match="did you mean 'gowalla'"):
        load_dataset("gowala", path=lg)


# ====================================================================== the real files, when present
@pytest.mark.skipif(not (SHARED / "ml-100k" / "u.data").is_file(), reason="shared ml-100k not present")
def test_real_ml100k() -> None:
    stats = load_dataset(SHARED / "ml-100k").stats()
    assert (stats["users"], stats["items"], stats["interactions"]) == (943, 1682, 100000)


@pytest.mark.skipif(not (SHARED / "gowalla" / "train.txt").is_file(), reason="shared gowalla not present")
def test_real_gowalla() -> None:
    stats = load_dataset(SHARED / "gowalla").stats()
    assert (stats["users"], stats["items"], stats["train"], stats["test"]) == (29858, 40981, 810128, 217242)
    with pytest.raises(DataError, match="not a local copy of ml-100k"):
        load_dataset("ml-100k", path=SHARED / "gowalla")


@pytest.mark.skipif(not (SHARED / "ml-100k-loo").is_dir(), reason="shared ml-100k-loo not present")
def test_real_ml100k_loo() -> None:
    stats = load_dataset(SHARED / "ml-100k-loo").stats()
    assert (stats["test_users"], stats["negatives_per_user"], stats["train"]) == (943, 99, 99057)
