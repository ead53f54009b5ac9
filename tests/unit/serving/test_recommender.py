"""Recommender: every model kind answers in raw ids, exactly as a brute-force ranking would."""

from __future__ import annotations

import numpy as np
import pytest
import torch

import ncf
from ncf.app import RunSpec, train
from ncf.errors import ConfigError, UnknownIdError
from ncf.serving import Recommender

MODELS = {
    "mf": {"model": "mf", "loss": "bpr"},
    "cosine-mf": {"model": "mf", "cosine": True, "loss": "softmax", "temperature": 0.1},
    "two-tower": {"model": "two-tower", "loss": "softmax", "layers": "32,16"},
    "spectral": {"model": "spectral", "spectral-rank": 16},
    "blend": {"model": "mf", "cosine": True, "loss": "softmax", "spectral-weight": 0.5, "spectral-rank": 16},
    "fpmc": {"model": "fpmc", "loss": "bpr"},
    "neumf": {"model": "neumf", "loss": "bce", "layers": "16,8"},
    "mlp": {"model": "mlp", "loss": "bce", "layers": "16,8"},
    "popularity": {"model": "popularity"},
}


@pytest.fixture(scope="module", params=sorted(MODELS))
def served(request, neumf_dir, tmp_path_factory):
    out = tmp_path_factory.mktemp("runs") / request.param
    options = {"data": str(neumf_dir), "seed": 1, **MODELS[request.param]}
    if request.param not in ("spectral", "popularity"):
        options.update({"epochs": 1, "batch-size": 512})
    if request.param not in ("spectral", "popularity", "mlp"):
        options["dim"] = 8
    train(RunSpec.from_options(("test", options)), out, show_progress=False)
    return request.param, Recommender.load(out), ncf.Run.load(out)


def _brute_force(run, users, k, drop):
    """Scores of every item from ``model.score``, dropped items removed, best k."""
    model = run.model
    with torch.no_grad():
        scores = model.score(torch.as_tensor(users)[:, None], torch.arange(model.num_items)[None, :]).numpy()
    for r, items in enumerate(drop):
        scores[r, items] = -np.inf
    return np.argsort(-scores, axis=1, kind="stable")[:, :k], np.sort(scores, axis=1)[:, ::-1][:, :k]


def test_recommend_equals_brute_force_and_skips_seen_items(served):
    kind, rec, run = served
    users = np.arange(6)
    raw = run.decode_users(users)
    got = rec.recommend(raw, k=7)
    run.set_context(run.known())
    seen = [run.seen[u].indices for u in users]
    _, want_scores = _brute_force(run, users, 7, seen)
    for r, res in enumerate(got):
        assert res.source == "model" and res.query == raw[r] and len(res) == 7
        assert not set(run.encode_items(list(res.items)).tolist()) & set(seen[r].tolist())
        np.testing.assert_allclose(res.scores, want_scores[r], rtol=1e-4, atol=1e-5)  # ties may reorder ids
        assert res.titles is None or len(res.titles) == 7


def test_allow_and_deny_lists(served):
    kind, rec, run = served
    user = run.decode_users(np.arange(1))[0]
    unseen = np.setdiff1d(np.arange(run.model.num_items), run.seen[0].indices)
    allow = run.decode_items(unseen[:5])
    res = rec.recommend([user], k=10, items=allow)[0]
    assert set(res.items) == set(allow)  # fewer allowed than k: all of them, nothing else
    deny = list(rec.recommend([user], k=3)[0].items)
    res = rec.recommend([user], k=3, exclude=deny)[0]
    assert not set(res.items) & set(deny) and len(res) == 3


def test_unknown_users_and_items(served):
    _, rec, _ = served
    with pytest.raises(UnknownIdError, match="unknown user 'nobody'"):
        rec.recommend(["nobody"], k=3)
    res = rec.recommend(["nobody"], k=3, fallback=True)[0]
    assert res.source == "popularity" and "unknown user" in res.reason and len(res) == 3
    with pytest.raises(UnknownIdError, match="unknown item 'nope'"):
        rec.similar_items(["nope"])
    with pytest.raises(ConfigError):
        rec.recommend(["nobody"], k=0)


def test_history_for_a_new_user(served):
    kind, rec, run = served
    history = run.decode_items(run.seen[3].indices[:5])
    res = rec.recommend_for_history(history, k=8)
    assert len(res) == 8 and not set(res.items) & set(history)
    assert res.source == "history"  # fold-in, or item co-occurrence for NeuMF/MLP
    assert (res.reason is not None) == (kind in ("neumf", "mlp"))
    assert rec.recommend_for_history([], k=4).source == "popularity"


def test_similar_items_leave_the_item_out(served):
    _, rec, run = served
    item = run.decode_items(np.arange(1))[0]
    res = rec.similar_items([item], k=5)[0]
    assert res.source == "similar" and len(res) == 5 and item not in res.items
    assert list(res.scores) == sorted(res.scores, reverse=True)


def test_a_model_directory_alone_serves_known_users(neumf_dir, tmp_path):
    out = tmp_path / "run"
    train(RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "mf", "dim": 8, "epochs": 1})), out,
          show_progress=False)
    rec = Recommender.load(out / "model")
    assert not rec.has_seen_items
    res = rec.recommend(["u1"], k=4)[0]
    assert len(res) == 4
    with pytest.raises(UnknownIdError, match="popularity"):
        rec.recommend(["nobody"], k=3, fallback=True)  # a bare model knows no popularity


def test_a_new_user_described_by_features_gets_their_segment_s_items():
    from ncf.app.recommender import _Catalogue

    syn = ncf.synthetic(num_users=400, num_items=200, num_clusters=4, seed=5)
    data = syn.interactions
    torch.manual_seed(0)
    model = ncf.TwoTower(data.num_users, data.num_items, embedding_dim=16, layers=(32, 16), temperature=0.1,
                         user_features=syn.user_features, item_features=syn.item_features, id_dropout=0.5)
    ncf.Trainer(ncf.TrainConfig(loss="softmax", epochs=8, lr=0.01, batch_size=256, show_progress=False)).fit(model, data)
    counts = np.bincount(data.items, minlength=data.num_items).astype(np.float64)
    rec = Recommender(model, _Catalogue(data.user_map, data.item_map, data.to_csr(), None, counts,
                                        syn.user_features, syn.item_features), version="test")
    table = syn.user_features
    mean, sd = table.dense_stats["age"]
    hits = []
    for cluster in range(4):
        # a new user who states their segment and an age typical of it (age depends on the cluster)
        members = syn.user_clusters == cluster
        age = float(table.values[members, table.names.index("age")].mean()) * sd + mean
        res = rec.recommend_for_features({"segment": f"s{cluster}", "age": age}, k=10)
        assert res.source == "features" and len(res) == 10
        items = rec._encode_items(list(res.items))
        hits.append(np.mean(syn.item_clusters[items] == cluster))
    # random items would hit the segment's genre 1/4 of the time
    assert np.mean(hits) > 0.6, hits
    with pytest.raises(ncf.DataError, match="unknown feature 'segment=s99'"):
        rec.recommend_for_features({"segment": "s99"})


def test_serving_needs_no_training_code(neumf_dir, tmp_path):
    import subprocess
    import sys

    out = tmp_path / "run"
    train(RunSpec.from_options(("t", {"data": str(neumf_dir), "model": "mf", "dim": 8, "epochs": 1})), out,
          show_progress=False)
    code = ("import sys\nfrom ncf.serving import Recommender\n"
            f"print(len(Recommender.load({str(out)!r}).recommend(['u1'], k=3)[0]))\n"
            "print(sorted(m for m in sys.modules if m.startswith(('ncf.training', 'ncf.losses', 'ncf.sampling'))))")
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, check=True)
    assert proc.stdout.split("\n")[:2] == ["3", "[]"], proc.stdout
