"""MicroBatcher: requests ranked together get the answers they would get one at a time."""

from __future__ import annotations

import asyncio

import numpy as np
import pytest
from fastapi.testclient import TestClient

import ncf
from ncf.app import RunSpec, train
from ncf.errors import ConfigError
from ncf.serving import Recommender
from ncf.serving.app import ServeConfig, create_app
from ncf.serving.batching import MicroBatcher


@pytest.fixture(scope="module")
def run_dir(neumf_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / "mf"
    options = {"data": str(neumf_dir), "seed": 1, "model": "mf", "loss": "bpr", "epochs": 1, "batch-size": 512,
               "dim": 8}
    train(RunSpec.from_options(("test", options)), out, show_progress=False)
    return out


@pytest.fixture(scope="module")
def rec(run_dir):
    return Recommender.load(run_dir, index=None)


def _gather(batcher: MicroBatcher, rec: Recommender, queries: list[tuple[str, int, bool]]) -> list:
    async def main() -> list:
        calls = [batcher.recommend(rec, int(rec.user_indices([u])[0]), u, k, exclude_seen=seen)
                 for u, k, seen in queries]
        return await asyncio.gather(*calls)

    return asyncio.run(main())


def test_batched_answers_equal_one_at_a_time_answers(rec, run_dir):
    users = ncf.Run.load(run_dir).decode_users(np.arange(24))
    queries = [(str(u), (5, 10)[i % 2], i % 3 != 0) for i, u in enumerate(users)]
    sizes: list[int] = []
    got = _gather(MicroBatcher(on_batch=sizes.append), rec, queries)
    assert sizes == [24]  # all were waiting together: one batch (ranked in 4 groups by k and exclude_seen)
    for (user, k, seen), res in zip(queries, got, strict=True):
        want = rec.recommend([user], k, exclude_seen=seen)[0]
        assert res.query == user and res.source == "model" and len(res) == k
        assert res.items == want.items
        np.testing.assert_allclose(res.scores, want.scores, rtol=1e-5, atol=1e-6)


def test_max_batch_splits_the_waiting_requests(rec, run_dir):
    users = ncf.Run.load(run_dir).decode_users(np.arange(20))
    sizes: list[int] = []
    _gather(MicroBatcher(max_batch=8, on_batch=sizes.append), rec, [(str(u), 10, True) for u in users])
    assert sizes == [8, 8, 4]


def test_max_wait_gathers_requests_that_arrive_later(rec, run_dir):
    a, b = ncf.Run.load(run_dir).decode_users(np.arange(2))

    async def main(wait: float) -> list[int]:
        sizes: list[int] = []
        batcher = MicroBatcher(max_wait=wait, on_batch=sizes.append)

        async def late() -> object:
            await asyncio.sleep(0.01)
            return await batcher.recommend(rec, int(rec.user_indices([b])[0]), str(b), 10)

        await asyncio.gather(batcher.recommend(rec, int(rec.user_indices([a])[0]), str(a), 10), late())
        return sizes

    assert asyncio.run(main(0.2)) == [2]  # the second arrived 10 ms later, within the 200 ms wait
    assert asyncio.run(main(0.0)) == [1, 1]  # no wait: each is ranked with whatever was waiting


def test_unknown_users_with_fallback_get_popular_items_in_the_same_batch(rec, run_dir):
    known = str(ncf.Run.load(run_dir).decode_users(np.arange(1))[0])
    index = rec.user_indices(["no-such-user", known], fallback=True)
    assert index[0] == -1 and index[1] >= 0

    async def main() -> list:
        batcher = MicroBatcher()
        return await asyncio.gather(batcher.recommend(rec, -1, "no-such-user", 5),
                                    batcher.recommend(rec, int(index[1]), known, 5))

    popular, model = asyncio.run(main())
    assert popular.source == "popularity" and popular.items == rec.popular(5).items
    assert model.items == rec.recommend([known], 5)[0].items


def test_an_error_reaches_every_request_of_its_group_and_no_other(rec, run_dir):
    users = [str(u) for u in ncf.Run.load(run_dir).decode_users(np.arange(3))]

    class Broken:
        def recommend_indices(self, *args, **kwargs):
            raise RuntimeError("scan failed")

    async def main() -> list:
        batcher = MicroBatcher()
        calls = [batcher.recommend(Broken(), 0, "x", 5), batcher.recommend(Broken(), 1, "y", 5),  # type: ignore[arg-type]
                 batcher.recommend(rec, int(rec.user_indices([users[2]])[0]), users[2], 5)]
        return await asyncio.gather(*calls, return_exceptions=True)

    first, second, good = asyncio.run(main())
    assert isinstance(first, RuntimeError) and isinstance(second, RuntimeError)
    assert good.items == rec.recommend([users[2]], 5)[0].items


@pytest.mark.parametrize("kwargs", [{"max_wait": -0.001}, {"max_wait": float("nan")}, {"max_wait": 2.0},
                                    {"max_batch": 0}, {"max_batch": True}, {"max_batch": 2.5}])
def test_bad_settings_are_refused(kwargs):
    with pytest.raises(ConfigError):
        MicroBatcher(**kwargs)


def test_http_get_and_post_rank_the_same_way_and_batches_are_counted(run_dir):
    users = [str(u) for u in ncf.Run.load(run_dir).decode_users(np.arange(5))]
    with TestClient(create_app(run_dir, ServeConfig(index=None))) as client:
        many = client.post("/recommend", json={"users": users, "k": 7}).json()["results"]
        for user, want in zip(users, many, strict=True):
            got = client.get("/recommend", params={"user": user, "k": 7})
            assert got.status_code == 200 and got.headers["content-type"] == "application/json"
            body = got.json()
            assert body["user"] == user and [r["item"] for r in body["items"]] == [r["item"] for r in want["items"]]
        assert client.get("/recommend", params={"user": "no-such-user"}).status_code == 404
        metrics = client.get("/metrics").text
        assert 'ncf_batch_requests_count 5.0' in metrics  # the 404 was refused before batching
        schema = client.get("/openapi.json").json()
        answer = schema["paths"]["/recommend"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
        assert answer["$ref"].endswith("/UserRankedList")


def test_serve_config_refuses_bad_micro_batch_settings():
    with pytest.raises(ConfigError):
        ServeConfig(micro_batch=0)
    with pytest.raises(ConfigError):
        ServeConfig(micro_batch_wait=1.5)
