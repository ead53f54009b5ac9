"""Hostile input, third pass: a corpus written after issue 25's fixes, across its classes (ids,
numbers at the edges, output paths against input paths, the retry rule) and the newcomer items
(titles on a 0-based NeuMF split, k beyond the catalogue, out-of-memory messages). Every case
asserts what the refusal says or the exact result, through the CLI, the library or HTTP."""

from __future__ import annotations

import json
import os
from pathlib import Path
from typing import Any

import numpy as np
import pytest
from click.testing import CliRunner, Result
from tests_hostile_tally import record

from ncf.cli import main
from ncf.errors import ConfigError, DataError, InvalidIdError

USERS, ITEMS, PER_USER = 24, 30, 8
GENRES = 19


def _cli(*args: Any) -> Result:
    return CliRunner().invoke(main, [str(a) for a in args])


def _error_line(res: Result) -> str:
    """The one stderr line of a refusal (never a traceback)."""
    assert res.exception is None or isinstance(res.exception, SystemExit), repr(res.exception)
    lines = res.stderr.strip().splitlines()
    assert len(lines) == 1 and lines[0].startswith("error: "), res.stderr
    return lines[0]


def _rows(res: Result) -> list[str]:
    return [ln for ln in res.stdout.splitlines() if ln.startswith(" ") and ". " in ln]


# ---------------------------------------------------------------------- fixtures
@pytest.fixture(scope="module")
def data(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """A NeuMF-format split with 0-based ids (users 0..23, items 0..29), as ml-100k-loo, and a
    MovieLens u.item beside it whose ids are 1-based (item i of the split is movie i + 1)."""
    root = tmp_path_factory.mktemp("third")
    rng = np.random.default_rng(7)
    train, test, neg = [], [], []
    for u in range(USERS):
        items = rng.choice(ITEMS, PER_USER, replace=False)
        for t, i in enumerate(items[:-1]):
            train.append(f"{u}\t{i}\t4\t{1000 + t}")
        test.append(f"{u}\t{items[-1]}\t5\t{2000}")
        others = [i for i in range(ITEMS) if i not in set(items.tolist())][:5]
        neg.append(f"({u},{items[-1]})\t" + "\t".join(map(str, others)))
    split = root / "split"
    split.mkdir()
    (split / "tiny.train.rating").write_text("\n".join(train) + "\n")
    (split / "tiny.test.rating").write_text("\n".join(test) + "\n")
    (split / "tiny.test.negative").write_text("\n".join(neg) + "\n")
    movies = root / "movies"
    movies.mkdir()
    (movies / "u.item").write_text("".join(
        f"{m}|Movie number {m} (199{m % 10})|01-Jan-1995||http://x/{m}|" + "|".join(["0"] * GENRES) + "\n"
        for m in range(1, ITEMS + 1)), encoding="latin-1")
    return root


@pytest.fixture(scope="module")
def run(data: Path) -> Path:
    """Trained with the split's titles (u.item, offset -1)."""
    out = data / "run"
    res = _cli("train", data / "split", "--model", "mf", "--epochs", "1", "--dim", "8", "--spectral-weight", "0",
               "--titles", data / "movies" / "u.item", "--titles-offset", "-1", "-q", "--out", out)
    assert res.exit_code == 0, res.output
    return out


@pytest.fixture(scope="module")
def bare_run(data: Path) -> Path:
    """Trained without titles: internal numbers only, until --titles is given."""
    out = data / "bare"
    res = _cli("train", data / "split", "--model", "mf", "--epochs", "1", "--dim", "8", "--spectral-weight", "0",
               "-q", "--out", out)
    assert res.exit_code == 0, res.output
    return out


def _seen(data: Path, user: int) -> set[int]:
    seen = set()
    for name in ("tiny.train.rating", "tiny.test.rating"):
        for line in (data / "split" / name).read_text().splitlines():
            u, i = line.split("\t")[:2]
            if int(u) == user:
                seen.add(int(i))
    return seen


# ---------------------------------------------------------------------- titles (newcomer item 6)
def test_titles_of_a_0_based_split_are_the_movies_they_stand_for(run: Path) -> None:
    res = _cli("recommend", run, "--user", "0", "--k", "3")
    assert res.exit_code == 0, res.output
    for row in _rows(res):  # "   1. 12  Movie number 13 (1993)  (0.1234)": item i is movie i + 1
        item, title = row.split(". ", 1)[1].split("  ")[:2]
        assert title.startswith(f"Movie number {int(item) + 1} ("), row
    record("correct result")


def test_training_with_titles_off_by_one_is_refused_and_writes_nothing(data: Path) -> None:
    out = data / "off-by-one"
    res = _cli("train", data / "split", "--model", "mf", "--epochs", "1", "--spectral-weight", "0",
               "--titles", data / "movies" / "u.item", "-q", "--out", out)
    assert res.exit_code == 1
    line = _error_line(res)
    assert "no title for 1 of the data's 30 items" in line and "add --titles-offset -1" in line, line
    assert not out.exists()
    record("clear error")


def test_the_retry_after_a_titles_refusal_needs_no_force(data: Path) -> None:
    out = data / "retry"
    bad = _cli("train", data / "split", "--model", "mf", "--epochs", "1", "--spectral-weight", "0",
               "--titles", data / "movies" / "u.item", "--titles-offset", "1", "-q", "--out", out)
    assert bad.exit_code == 1 and "add --titles-offset -1" in _error_line(bad)
    good = _cli("train", data / "split", "--model", "mf", "--epochs", "1", "--spectral-weight", "0",
                "--titles", data / "movies" / "u.item", "--titles-offset", "-1", "-q", "--out", out)
    assert good.exit_code == 0, good.output
    assert json.loads((out / "item_titles.json").read_text())[0] == "Movie number 1 (1991)"
    record("correct result")


def test_recommend_titles_for_a_run_trained_without_them(bare_run: Path, data: Path) -> None:
    plain = _cli("recommend", bare_run, "--user", "3", "--k", "4")
    named = _cli("recommend", bare_run, "--user", "3", "--k", "4", "--titles", data / "movies" / "u.item",
                 "--titles-offset", "-1")
    assert plain.exit_code == named.exit_code == 0, named.output
    assert "Movie number" not in plain.stdout
    for bare, row in zip(_rows(plain), _rows(named), strict=True):
        item = bare.split(". ", 1)[1].split()[0]
        assert row.split(". ", 1)[1].startswith(f"{item}  Movie number {int(item) + 1} ("), (bare, row)
    record("correct result")


def test_similar_json_carries_the_titles_given_by_option(bare_run: Path, data: Path) -> None:
    res = _cli("similar", bare_run, "4", "--k", "2", "--json", "--titles", data / "movies" / "u.item",
               "--titles-offset", "-1")
    assert res.exit_code == 0, res.output
    (answer,) = json.loads(res.stdout)
    assert [r["title"].split(" (")[0] for r in answer["items"]] == [f"Movie number {int(r['item']) + 1}"
                                                                   for r in answer["items"]]
    record("correct result")


def test_titles_offset_without_titles_is_a_usage_error(bare_run: Path, data: Path) -> None:
    for args in (("recommend", bare_run, "--user", "1", "--titles-offset", "5"),
                 ("train", data / "split", "--model", "mf", "--titles-offset", "-1", "--out", data / "x")):
        res = _cli(*args)
        assert res.exit_code == 2
        assert "titles-offset needs" in _error_line(res) and "--titles" in _error_line(res)
    assert not (data / "x").exists()
    record("clear error")


@pytest.mark.parametrize("offset", ["99999999999", "-2147483648", "1.5", "1_0x"])
def test_titles_offset_at_the_edges(bare_run: Path, data: Path, offset: str) -> None:
    res = _cli("recommend", bare_run, "--user", "1", "--titles", data / "movies" / "u.item", "--titles-offset", offset)
    assert res.exit_code == 2
    line = _error_line(res)
    assert ("titles-offset must be a whole number from -2,147,483,647 to 2,147,483,647" in line
            or ("--titles-offset" in line and "is not a valid integer" in line)), line
    record("clear error")


def test_a_titles_csv_with_a_malformed_id_names_file_line_and_value(bare_run: Path, tmp_path: Path) -> None:
    titles = tmp_path / "titles.csv"
    titles.write_text("item_id,title\n" + "".join(f"{i},T{i}\n" for i in range(5)) + "1_0,Ten\n")
    res = _cli("recommend", bare_run, "--user", "1", "--titles", titles)
    line = _error_line(res)
    assert res.exit_code == 1 and f"{titles}:7" in line and "'1_0' is not a whole number" in line, line
    record("clear error")


def test_a_titles_file_with_a_repeated_id_is_refused(bare_run: Path, tmp_path: Path) -> None:
    titles = tmp_path / "titles.tsv"
    titles.write_text("id\ttitle\n" + "".join(f"{i}\tT{i}\n" for i in range(ITEMS)) + "07\tAgain\n")
    res = _cli("recommend", bare_run, "--user", "1", "--titles", titles)
    line = _error_line(res)
    assert res.exit_code == 1 and f"{titles}:{ITEMS + 2}" in line and "has a title already" in line, line
    record("clear error")


def test_a_titles_file_without_the_columns_says_what_it_needs(bare_run: Path, tmp_path: Path) -> None:
    titles = tmp_path / "movies.txt"
    titles.write_text("1|Toy Story\n2|Heat\n")
    line = _error_line(_cli("recommend", bare_run, "--user", "1", "--titles", titles))
    assert "needs a header with an item id column" in line and "u.item" in line, line
    record("clear error")


def test_a_full_csv_of_titles_without_offset_matches_0_based_ids(bare_run: Path, tmp_path: Path) -> None:
    titles = tmp_path / "titles.csv"
    titles.write_text("item,title\n" + "".join(f"{i},\"Title, {i}\"\n" for i in range(ITEMS)))
    res = _cli("recommend", bare_run, "--user", "2", "--k", "3", "--titles", titles)
    assert res.exit_code == 0, res.output
    for row in _rows(res):
        item = row.split(". ", 1)[1].split()[0]
        assert f"{item}  Title, {item}  (" in row, row
    record("correct result")


def test_library_and_server_show_the_run_titles(run: Path) -> None:
    from fastapi.testclient import TestClient

    from ncf.serving import Recommender
    from ncf.serving.app import create_app

    top = Recommender.load(run).recommend("5", k=3)[0]
    assert top.titles is not None
    assert [t.split(" (")[0] for t in top.titles] == [f"Movie number {int(i) + 1}" for i in top.items]
    client = TestClient(create_app(run), raise_server_exceptions=False)
    item = client.get("/items/0").json()
    assert item["title"] == "Movie number 1 (1991)", item
    rows = client.get("/recommend", params={"user": "5", "k": 3}).json()["items"]
    assert [r["title"] for r in rows] == list(top.titles)
    record("correct result")


def test_titles_offset_on_string_ids_is_refused(tmp_path: Path) -> None:
    from ncf.data.titles import titles_for_items

    (tmp_path / "t.csv").write_text("item,title\na,A\n")
    with pytest.raises(ConfigError, match="titles-offset applies to integer item ids"):
        titles_for_items(tmp_path / "t.csv", np.array(["a"]), offset=1)
    assert titles_for_items(tmp_path / "t.csv", np.array(["a"])) == ["A"]
    with pytest.raises(ConfigError, match="titles-offset must be a whole number"):
        titles_for_items(tmp_path / "t.csv", np.array(["a"]), offset=True)  # type: ignore[arg-type]
    record("clear error")


# ---------------------------------------------------------------------- ids
@pytest.mark.parametrize(("typed", "same_as"), [(" 7", "7"), ("+7", "7"), ("007", "7")])
def test_cli_ids_that_are_the_same_number_give_the_same_answer(run: Path, typed: str, same_as: str) -> None:
    a, b = _cli("recommend", run, "--user", typed, "--k", "3"), _cli("recommend", run, "--user", same_as, "--k", "3")
    assert a.exit_code == b.exit_code == 0, a.output
    assert _rows(a) == _rows(b) and len(_rows(a)) == 3
    record("correct result")


@pytest.mark.parametrize(("typed", "says"), [
    ("\uff17", "is not a whole number"),  # FULLWIDTH DIGIT SEVEN
    ("7\t", "control character U+0009"),
    ("0x7", "'0x7' is not a whole number"),
    ("-0", "unknown id 0"),  # the number 0: a user id, but not this run's... unless it is
    ("9223372036854775808", "beyond the 64-bit integer range"),
    ("", "is empty"),
])
def test_cli_refuses_an_id_with_the_reason(run: Path, typed: str, says: str) -> None:
    res = _cli("recommend", run, "--user", typed, "--k", "3")
    if typed == "-0":  # 0 is a user of this split: the same answer as "0"
        assert res.exit_code == 0 and _rows(res) == _rows(_cli("recommend", run, "--user", "0", "--k", "3"))
        record("correct result")
        return
    assert res.exit_code == 1
    assert says in _error_line(res), res.stderr
    record("clear error")


def test_similar_refuses_an_item_beyond_int64_and_an_empty_one(run: Path) -> None:
    for typed, says in (("9223372036854775808", "beyond the 64-bit integer range"), ("", "is empty"),
                        ("1000000000000", "unknown item")):
        res = _cli("similar", run, typed, "--k", "2")
        assert res.exit_code == 1 and says in _error_line(res), (typed, res.stderr)
    record("clear error")


def test_users_file_with_bom_and_crlf_is_read_as_the_ids_it_shows(run: Path, tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_bytes(b"\xef\xbb\xbf3\r\n4\r\n")
    res = _cli("recommend", run, "--users-file", users, "--k", "2", "--json")
    assert res.exit_code == 0, res.output
    assert list(json.loads(res.stdout)) == ["3", "4"]
    record("correct result")


def test_users_file_that_is_not_utf8_names_file_and_line(run: Path, tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_bytes(b"3\n\xff\xfe4\n")
    res = _cli("recommend", run, "--users-file", users)
    line = _error_line(res)
    assert res.exit_code == 1 and f"{users}:2" in line and "not UTF-8" in line, line
    record("clear error")


def test_an_empty_users_file_says_it_holds_no_ids(run: Path, tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("\n  \n")
    res = _cli("recommend", run, "--users-file", users)
    line = _error_line(res)
    assert res.exit_code == 1 and f"{users}" in line and "holds no user ids" in line, line
    record("clear error")


@pytest.mark.parametrize(("value", "error", "says"), [
    (7.0, InvalidIdError, "is a float, not an id"),
    (True, InvalidIdError, "is a bool, not an id"),
    (2**63, InvalidIdError, "beyond the 64-bit integer range"),
    ("7", None, ""),
    (np.int64(7), None, ""),
])
def test_library_recommend_takes_whole_numbers_only(run: Path, value: Any, error: Any, says: str) -> None:
    from ncf.serving import Recommender

    rec = Recommender.load(run)
    if error is None:
        assert rec.recommend(value, k=3)[0].items == rec.recommend("7", k=3)[0].items
        record("correct result")
        return
    with pytest.raises(error) as err:
        rec.recommend(value, k=3)
    assert says in str(err.value)
    record("clear error")


def test_library_history_as_one_string_is_refused(run: Path) -> None:
    from ncf.serving import Recommender

    with pytest.raises(ConfigError, match="not the single string '12'"):
        Recommender.load(run).recommend_for_history("12", k=3)  # type: ignore[arg-type]
    record("clear error")


@pytest.mark.parametrize(("method", "path", "body", "says"), [
    ("post", "/recommend", {"users": [7.5]}, ""),
    ("post", "/recommend", {"users": [True]}, ""),
    ("post", "/recommend", {"users": [{"id": 7}]}, ""),
    ("post", "/recommend/history", {"history": "123"}, ""),
    ("get", "/items/99999999999999999999", None, "beyond the 64-bit integer range"),
    ("get", "/recommend?user=1_0", None, "'1_0' is not a whole number"),
    ("get", "/similar-items?item=%EF%BC%97", None, "is not a whole number"),
])
def test_server_refuses_with_422(run: Path, method: str, path: str, body: Any, says: str) -> None:
    from fastapi.testclient import TestClient

    from ncf.serving.app import create_app

    client = TestClient(create_app(run), raise_server_exceptions=False)
    res = client.post(path, json=body) if method == "post" else client.get(path)
    assert res.status_code == 422, (path, res.status_code, res.text)
    assert says in res.text, res.text
    record("clear error")


def test_server_plus_sign_is_the_same_user(run: Path) -> None:
    from fastapi.testclient import TestClient

    from ncf.serving.app import create_app

    client = TestClient(create_app(run), raise_server_exceptions=False)
    a = client.get("/recommend", params={"user": "+7", "k": 3})
    b = client.get("/recommend", params={"user": "7", "k": 3})
    assert a.status_code == b.status_code == 200
    assert [r["item"] for r in a.json()["items"]] == [r["item"] for r in b.json()["items"]]
    record("correct result")


# ---------------------------------------------------------------------- numbers at the edges
@pytest.mark.parametrize("k", ["1000000000000000", "99999999999999999999999"])
def test_cli_recommend_k_beyond_the_catalogue_lists_every_unseen_item(run: Path, data: Path, k: str) -> None:
    res = _cli("recommend", run, "--user", "6", "--k", k)
    assert res.exit_code == 0, res.output
    assert len(_rows(res)) == ITEMS - len(_seen(data, 6))
    record("correct result")


def test_cli_similar_k_beyond_the_catalogue_lists_every_other_item(run: Path) -> None:
    res = _cli("similar", run, "3", "--k", str(10**30), "--json")
    assert res.exit_code == 0, res.output
    items = [r["item"] for r in json.loads(res.stdout)[0]["items"]]
    assert len(items) == ITEMS - 1 and "3" not in items and len(set(items)) == ITEMS - 1
    record("correct result")


@pytest.mark.parametrize("k", ["0", "-1", "1.5", "ten"])
def test_cli_k_that_is_not_a_positive_whole_number(run: Path, k: str) -> None:
    res = _cli("recommend", run, "--user", "1", "--k", k)
    assert res.exit_code == 2 and "--k" in _error_line(res), res.stderr
    record("clear error")


def test_library_k_edges(run: Path, data: Path) -> None:
    from ncf.serving import Recommender

    rec = Recommender.load(run)
    assert len(rec.recommend("6", k=10**18)[0].items) == ITEMS - len(_seen(data, 6))
    for bad in (0, -3, 2.5, True, "5"):
        with pytest.raises(ConfigError, match="k must be a positive integer"):
            rec.recommend("6", k=bad)  # type: ignore[arg-type]
    record("clear error")


def test_server_k_edges(run: Path) -> None:
    from fastapi.testclient import TestClient

    from ncf.serving.app import create_app

    client = TestClient(create_app(run), raise_server_exceptions=False)
    for k in ("0", "1e3", "99999999999999999999999", "NaN"):
        res = client.get("/recommend", params={"user": "6", "k": k})
        assert res.status_code == 422, (k, res.status_code, res.text)
    res = client.post("/recommend", content=b'{"users": ["6"], "k": Infinity}',
                      headers={"content-type": "application/json"})
    assert res.status_code in (400, 422), res.text
    record("clear error")


def test_exact_path_and_index_clamp_k_the_same_way(run: Path) -> None:
    import torch

    from ncf.app.artifact import Run
    from ncf.index import ExactIndex
    from ncf.retrieval import topk

    r = Run.load(run)
    users = np.arange(4)
    exact = topk(r.model, users, k=10**15, scan="float32")
    with torch.no_grad():
        found = ExactIndex(r.model.item_vectors().numpy()).search(r.model.user_vectors(torch.arange(4)).numpy(), 10**15)
    assert exact.ids.shape == found.ids.shape == (4, ITEMS)
    np.testing.assert_array_equal(exact.ids, found.ids)
    record("correct result")


def test_out_of_memory_names_the_size_and_what_to_lower(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ncf.app import recommend_job

    def numpy_oom(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("Unable to allocate 7.00 PiB for an array with shape (1000000000000000, 1000) and data "
                          "type float64")

    monkeypatch.setattr(recommend_job, "recommend_run", numpy_oom)
    line = _error_line(_cli("recommend", run, "--user", "1"))
    assert line == ("error: out of memory allocating 7.00 PiB (an array of shape (1000000000000000, 1000)) in "
                    "`ncf recommend`: lower --k, or ask for fewer users at once (--user / --users-file instead "
                    "of --all-users)"), line

    def torch_oom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("[enforce fail at alloc_cpu.cpp:117] data. DefaultCPUAllocator: can't allocate memory: "
                           "you tried to allocate 8589934592 bytes. Error code 12 (Cannot allocate memory)")

    monkeypatch.setattr(recommend_job, "recommend_run", torch_oom)
    res = _cli("recommend", run, "--user", "1")
    assert res.exit_code == 1
    assert _error_line(res).startswith("error: out of memory allocating 8.0 GiB in `ncf recommend`: lower --k")
    record("clear error")


def test_a_plain_runtime_error_is_not_called_out_of_memory(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    from ncf.app import recommend_job

    def boom(*args: Any, **kwargs: Any) -> Any:
        raise RuntimeError("something else")

    monkeypatch.setattr(recommend_job, "recommend_run", boom)
    res = _cli("recommend", run, "--user", "1")
    assert isinstance(res.exception, RuntimeError) and "out of memory" not in res.output
    record("correct result")


# ---------------------------------------------------------------------- output paths against input paths
def test_recommend_out_onto_its_own_users_file_is_refused(run: Path, tmp_path: Path) -> None:
    users = tmp_path / "users.txt"
    users.write_text("1\n2\n")
    res = _cli("recommend", run, "--users-file", users, "--out", users)
    assert res.exit_code == 2 and f"--out {users} is {users}, which this command reads" in _error_line(res)
    assert users.read_text() == "1\n2\n"
    record("clear error")


def test_recommend_out_onto_the_titles_file_or_the_run_titles_is_refused(bare_run: Path, run: Path,
                                                                           data: Path, tmp_path: Path) -> None:
    titles = tmp_path / "t.csv"
    titles.write_text("item,title\n" + "".join(f"{i},T{i}\n" for i in range(ITEMS)))
    before = titles.read_text()
    res = _cli("recommend", bare_run, "--user", "1", "--titles", titles, "--out", titles)
    assert res.exit_code == 2 and "which this command reads" in _error_line(res)
    assert titles.read_text() == before
    res = _cli("recommend", run, "--user", "1", "--out", run / "item_titles.json")
    assert res.exit_code == 2 and "item_titles.json" in _error_line(res)
    assert json.loads((run / "item_titles.json").read_text())[0].startswith("Movie number 1")
    record("clear error")


def test_an_out_path_through_dotdot_or_a_symlink_is_seen_for_what_it_is(run: Path, tmp_path: Path) -> None:
    before = (run / "run.json").read_bytes()
    res = _cli("evaluate", run, "--save-rankings", run / "model" / ".." / "run.json")
    assert res.exit_code == 2 and "which this command reads" in _error_line(res)
    link = tmp_path / "innocent.tsv"
    os.symlink(run / "run.json", link)
    res = _cli("recommend", run, "--user", "1", "--out", link)
    assert res.exit_code == 2 and "which this command reads" in _error_line(res)
    assert (run / "run.json").read_bytes() == before
    record("clear error")


def test_train_out_onto_the_titles_file_is_refused(data: Path, tmp_path: Path) -> None:
    titles = tmp_path / "titles"
    titles.mkdir()
    (titles / "u.item").write_text((data / "movies" / "u.item").read_text(encoding="latin-1"), encoding="latin-1")
    res = _cli("train", data / "split", "--model", "mf", "--epochs", "1", "--titles", titles / "u.item",
               "--titles-offset", "-1", "-q", "--out", titles)
    assert res.exit_code == 2 and f"--out {titles} contains" in _error_line(res), res.stderr
    assert (titles / "u.item").is_file()
    record("clear error")


def test_index_out_into_a_foreign_directory_keeps_its_files(run: Path, tmp_path: Path) -> None:
    mine = tmp_path / "notes"
    mine.mkdir()
    (mine / "todo.txt").write_text("keep me")
    res = _cli("index", "build", run, "--kind", "exact", "--out", mine)
    assert res.exit_code == 2 and "is a directory ncf did not write" in _error_line(res)
    assert (mine / "todo.txt").read_text() == "keep me"
    record("clear error")


def test_index_info_records_an_absolute_path(run: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(run.parent)
    res = _cli("index", "build", run.name, "--kind", "exact", "-q")
    assert res.exit_code == 0, res.output
    info = json.loads((run / "index-info.json").read_text())
    assert Path(info["path"]).is_absolute() and Path(info["path"]) == (run / "index").resolve()
    record("correct result")


# ---------------------------------------------------------------------- the data a newcomer points at
def test_u_item_with_an_underscored_id_is_refused_not_read_as_another_movie(tmp_path: Path) -> None:
    ml = tmp_path / "ml"
    ml.mkdir()
    (ml / "u.data").write_text("1\t1\t5\t10\n1\t2\t4\t11\n2\t1\t3\t12\n")
    (ml / "u.item").write_text("1|A (1990)|01-Jan-1990||u|" + "|".join(["0"] * GENRES) + "\n"
                               "2_0|B (1991)|01-Jan-1991||u|" + "|".join(["0"] * GENRES) + "\n")
    res = _cli("data", "stats", ml)
    line = _error_line(res)
    assert res.exit_code == 1 and "u.item:2" in line and "'2_0' is not a whole number" in line, line
    record("clear error")


def test_u_item_with_a_genre_flag_that_is_not_0_or_1(tmp_path: Path) -> None:
    ml = tmp_path / "ml"
    ml.mkdir()
    (ml / "u.data").write_text("1\t1\t5\t10\n")
    (ml / "u.item").write_text("1|A (1990)|01-Jan-1990||u|" + "|".join(["0"] * (GENRES - 1) + ["yes"]) + "\n")
    line = _error_line(_cli("data", "stats", ml))
    assert "u.item:1" in line and "genre flag 'yes' is not 0 or 1" in line, line
    record("clear error")


def test_ncf_data_dir_pointing_at_the_dataset_folder_itself(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    folder = tmp_path / "ml-100k"
    folder.mkdir()
    (folder / "u.data").write_text("1\t1\t5\t10\n1\t2\t4\t11\n2\t1\t3\t12\n")
    monkeypatch.setenv("NCF_DATA_DIR", str(folder))
    monkeypatch.setenv("NCF_DATASETS_BASE_URL", "http://127.0.0.1:9")  # never the network
    res = _cli("data", "stats", "ml-100k", "--json")
    assert res.exit_code == 0, res.output
    assert json.loads(res.stdout)["interactions"] == 3
    record("correct result")


def test_titles_reader_rejects_a_missing_file_with_its_path(bare_run: Path, tmp_path: Path) -> None:
    res = _cli("recommend", bare_run, "--user", "1", "--titles", tmp_path / "nope.csv")
    line = _error_line(res)
    assert res.exit_code == 1 and "nope.csv" in line, line
    with pytest.raises(DataError):
        from ncf.data.titles import read_titles

        read_titles(tmp_path / "nope.csv")
    record("clear error")


def test_out_of_memory_on_a_huge_universe_asks_whether_ids_are_indices(monkeypatch: pytest.MonkeyPatch,
                                                                      tmp_path: Path) -> None:
    """A LightGCN/NeuMF id of 2e9 is a universe of 2e9 items: say so, not "lower --batch-size"."""
    from ncf.app import datasets

    def oom(*args: Any, **kwargs: Any) -> Any:
        raise MemoryError("Unable to allocate 14.9 GiB for an array with shape (2000000001,) and data type int64")

    monkeypatch.setattr(datasets, "load_data", oom)
    line = _error_line(_cli("data", "stats", tmp_path))
    assert line.startswith("error: out of memory allocating 14.9 GiB (an array of shape (2000000001,)) in `ncf data`: "
                           "is 2,000,000,001 the number of users or items?"), line
    assert "renumber them 0..n-1" in line
    record("clear error")


@pytest.mark.parametrize(("users", "says"), [
    (10**20, "user index 100,000,000,000,000,000,000 is out of the model's range [0, 24)"),
    (-1, "user index -1 is out of the model's range [0, 24)"),
    ([3, 24], "user index 24 is out of the model's range [0, 24)"),
    (["3"], "users must be integer indices"),
])
def test_library_retrieval_names_the_bad_user_index(run: Path, users: Any, says: str) -> None:
    from ncf.app.artifact import Run
    from ncf.retrieval import recommend

    with pytest.raises(DataError) as err:
        recommend(Run.load(run).model, users, k=3)
    assert says in str(err.value), str(err.value)
    record("clear error")


def test_a_neumf_run_without_titles_says_how_to_add_them(bare_run: Path, run: Path,
                                                         caplog: pytest.LogCaptureFixture) -> None:
    def hint(*args: Any) -> str:
        caplog.clear()
        res = _cli(*args)
        assert res.exit_code == 0 and len(_rows(res)) == 2, res.output
        return " ".join(r.getMessage() for r in caplog.records)

    said = hint("recommend", bare_run, "--user", "1", "--k", "2")
    assert "this run has no item titles" in said and "--titles-offset -1" in said, said
    assert "no item titles" not in hint("recommend", run, "--user", "1", "--k", "2")  # it has them
    assert "no item titles" not in hint("recommend", bare_run, "--user", "1", "--k", "2", "-q")
    record("correct result")


def test_index_build_k_beyond_the_catalogue_is_clamped_and_labelled(run: Path, tmp_path: Path) -> None:
    res = _cli("index", "build", run, "--kind", "exact", "--k", "1000000000000000", "--out", tmp_path / "idx",
               "--queries", "5")
    assert res.exit_code == 0, res.output
    assert f"recall@{ITEMS} 1.0000 against exact search over 5 held-back users" in res.stdout, res.stdout
    info = json.loads((run / "index-info.json").read_text()) if (run / "index-info.json").is_file() else None
    assert info is None or "recall@1000000000000000" not in info
    record("correct result")
