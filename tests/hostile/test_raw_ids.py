"""Hostile raw ids: one rule (:func:`ncf.data.idmap.parse_raw_id`) for the command line, the
library, the server and the readers. An id that is not what it looks like is refused with the
reason, never read as another user ("1_0" as 10, "٣" as 3), never an overflow, never a new user."""

from __future__ import annotations

import json
from pathlib import Path

import numpy as np
import pytest
from click.testing import CliRunner
from tests_hostile_tally import record

from ncf.cli import main
from ncf.errors import ConfigError, DataError, InvalidIdError

#: (typed id, what the refusal must say) for a run whose ids are integers.
MALFORMED = [
    ("1_0", "'1_0' is not a whole number"),  # Python's int() would read 10
    ("\u0663", "is not a whole number"),  # ARABIC-INDIC DIGIT THREE: int() would read 3
    ("1e1", "'1e1' is not a whole number"),
    ("10.0", "'10.0' is not a whole number"),
    ("123456789012345678901234567890", "beyond the 64-bit integer range"),
    ("-9223372036854775809", "beyond the 64-bit integer range"),
    ("1\x000", "control character U+0000"),
]


@pytest.fixture(scope="module")
def int_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A trained run over a CSV whose raw ids are integers 1..40 (users) and 1..60 (items)."""
    root = tmp_path_factory.mktemp("ids")
    rng = np.random.default_rng(0)
    rows = [f"{u},{i},{t}" for u in range(1, 41) for t, i in enumerate(rng.choice(np.arange(1, 61), 8, replace=False))]
    (root / "log.csv").write_text("user,item,timestamp\n" + "\n".join(rows) + "\n")
    res = CliRunner().invoke(main, ["train", str(root / "log.csv"), "--model", "mf", "--epochs", "1", "--dim", "8",
                                    "--test-negatives", "20", "--spectral-weight", "0", "-q", "--out",
                                    str(root / "run")])
    assert res.exit_code == 0, res.output
    return root / "run"


@pytest.mark.parametrize(("raw", "says"), MALFORMED, ids=[repr(m[0]) for m in MALFORMED])
def test_cli_refuses_a_malformed_user_id(int_run: Path, raw: str, says: str) -> None:
    res = CliRunner().invoke(main, ["recommend", str(int_run), "--user", raw, "--k", "3"])
    assert res.exit_code == 1, res.output
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: user id ") and says in lines[0], res.stderr
    record("clear error")


@pytest.mark.parametrize(("raw", "says"), MALFORMED, ids=[repr(m[0]) for m in MALFORMED])
def test_library_refuses_a_malformed_id(int_run: Path, raw: str, says: str) -> None:
    from ncf.app.artifact import Run
    from ncf.app.recommender import Recommender

    run = Run.load(int_run)
    for call in (lambda: run.encode_users([raw]), lambda: run.user_map.encode([raw]),  # type: ignore[union-attr]
                 lambda: Recommender.load(int_run).recommend([raw], k=3, fallback=True)):
        with pytest.raises(InvalidIdError) as err:
            call()
        assert says in str(err.value), str(err.value)
    record("clear error")


@pytest.mark.parametrize(("raw", "says"), MALFORMED, ids=[repr(m[0]) for m in MALFORMED])
def test_server_answers_422_for_a_malformed_id(int_run: Path, raw: str, says: str) -> None:
    from fastapi.testclient import TestClient

    from ncf.serving.app import create_app

    client = TestClient(create_app(int_run), raise_server_exceptions=False)
    answers = [client.get("/recommend", params={"user": raw}), client.get("/similar-items", params={"item": raw}),
               client.post("/recommend", json={"users": [raw]}), client.post("/recommend/history",
                                                                             json={"history": [raw]})]
    if "\x00" not in raw:
        answers.append(client.get(f"/items/{raw}"))
    for res in answers:
        assert res.status_code == 422, (res.request.url, res.status_code, res.text)
        assert says in res.json()["detail"], res.text
    record("clear error")


def test_server_answers_422_for_a_30_digit_json_number(int_run: Path) -> None:
    from fastapi.testclient import TestClient

    from ncf.serving.app import create_app

    client = TestClient(create_app(int_run), raise_server_exceptions=False)
    big = "123456789012345678901234567890"
    for path, body in (("/recommend", f'{{"users": [{big}]}}'), ("/recommend/history", f'{{"history": [{big}]}}')):
        res = client.post(path, content=body, headers={"content-type": "application/json"})
        assert res.status_code == 422 and "beyond the 64-bit integer range" in res.json()["detail"], res.text
    record("clear error")


@pytest.mark.parametrize("raw", [" 10", "+10", "10"])
def test_well_formed_spellings_of_an_integer_id_are_that_id(int_run: Path, raw: str) -> None:
    res = CliRunner().invoke(main, ["recommend", str(int_run), "--user", raw, "--k", "3", "--json"])
    assert res.exit_code == 0, res.output
    ref = CliRunner().invoke(main, ["recommend", str(int_run), "--user", "10", "--k", "3", "--json"])
    assert list(json.loads(res.stdout).values()) == list(json.loads(ref.stdout).values())
    record("correct result")


def test_a_history_given_as_one_string_is_not_read_as_its_characters(int_run: Path) -> None:
    from ncf.app.recommender import Recommender

    rec = Recommender.load(int_run)
    with pytest.raises(ConfigError, match="not the single string '123'"):
        rec.recommend_for_history("123")  # type: ignore[arg-type]
    assert rec.recommend_for_history(["1", "2", "3"], k=3).source == "history"  # the list form works
    record("clear error")


def test_a_bad_id_in_a_users_file_names_the_file_line_and_value(int_run: Path, tmp_path: Path) -> None:
    ids = tmp_path / "ids.txt"
    ids.write_text("1\n10\n\n1_0\n")
    res = CliRunner().invoke(main, ["recommend", str(int_run), "--users-file", str(ids)])
    assert res.exit_code == 1
    assert res.stderr.strip() == (f"error: {ids}:4: user id '1_0' is not a whole number (the ids here are integers: "
                                  "ASCII digits, no '_', '.' or exponent)"), res.stderr
    record("clear error")


def test_a_csv_id_of_nul_bytes_is_refused_not_a_new_user(tmp_path: Path) -> None:
    log = tmp_path / "log.csv"
    log.write_bytes(b"user,item\nu1,a\n" + b"\x00" * 16 + b",b\nu2,c\n")
    res = CliRunner().invoke(main, ["data", "stats", str(log)])
    assert res.exit_code == 1
    assert res.stderr.startswith(f"error: {log}:3, field 'user': the id ") and "control character U+0000" in \
        res.stderr, res.stderr
    with pytest.raises(DataError, match="control character U\\+0000"):
        from ncf.data import IdMap

        IdMap(["u1", "\x00" * 16])  # numpy would store it as "" (trailing NULs dropped)
    record("clear error")


@pytest.mark.parametrize("with_titles", [False, True], ids=["no u.item", "with u.item"])
def test_movielens_item_that_is_not_an_integer_names_its_line(tmp_path: Path, with_titles: bool) -> None:
    root = tmp_path / "ml"
    root.mkdir()
    (root / "u.data").write_text("1\t1\t5\t100\n2\tabc\t4\t200\n3\t2\t4\t300\n")
    if with_titles:
        genres = "|".join(["0"] * 19)
        (root / "u.item").write_text(f"1|A (1995)|01-Jan-1995||url|{genres}\n2|B (1995)|01-Jan-1995||url|{genres}\n")
    res = CliRunner().invoke(main, ["data", "stats", str(root)])
    assert res.exit_code == 1, res.output  # before: every item id became a string (or a KeyError)
    assert res.stderr.strip() == f"error: {root / 'u.data'}:2, field 'item (column 1)': 'abc' is not an integer id"
    record("clear error")
