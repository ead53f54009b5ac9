"""IdMap on hostile input: messages show plain values, damaged JSON is a DataError."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from ncf.data import IdMap
from ncf.errors import DataError, UnknownIdError


def test_messages_show_plain_python_values() -> None:
    with pytest.raises(UnknownIdError) as err:
        IdMap(np.array([1, 2])).encode([99999])
    assert str(err.value) == "unknown id 99999"
    with pytest.raises(UnknownIdError) as err:
        IdMap(np.array(["bob"])).encode(["alice"])
    assert str(err.value) == "unknown id 'alice'"
    with pytest.raises(UnknownIdError) as err:
        IdMap(np.array([1])).encode(["alice"])
    assert str(err.value) == ("id 'alice' is not a whole number (the ids here are integers: ASCII digits, "
                              "no '_', '.' or exponent)")
    with pytest.raises(UnknownIdError) as err:
        IdMap(np.zeros(0, np.int64)).encode([5])
    assert str(err.value) == "unknown id 5: the id map is empty"
    with pytest.raises(DataError) as derr:
        IdMap(np.array([7, 7]))
    assert str(derr.value) == "raw id 7 occurs twice in the id map"
    for text in (str(err.value), str(derr.value)):
        assert "np." not in text and "array(" not in text


@pytest.mark.parametrize(
    ("content", "match"),
    [
        (b"[1, 2, 3]", "must be an object"),
        (b'{"kind": "int", "ids": ["a"]}', "holds 'a', which is not a valid int id"),
        (b'{"kind": "int", "ids": [1.5]}', "holds 1.5"),
        (b'{"kind": "str", "ids": [1]}', "holds 1, which is not a valid str id"),
        (b'{"kind": "int", "ids": [99999999999999999999]}', "not a valid int id"),
        (b'{"kind": "int", "ids": [1, 1]}', "occurs twice"),
        (b'{"kind": "int", "ids": [1,', "not valid JSON"),
        (b'{"kind": "str", "ids": ["caf\xe9"]}', "not UTF-8 text"),
    ],
)
def test_damaged_id_map_files(tmp_path: Path, content: bytes, match: str) -> None:
    p = tmp_path / "m.json"
    p.write_bytes(content)
    with pytest.raises(DataError, match=match) as err:
        IdMap.load(p)
    assert err.value.path == str(p)


def test_directory_instead_of_an_id_map(tmp_path: Path) -> None:
    with pytest.raises(DataError, match="is a directory"):
        IdMap.load(tmp_path)
