"""Hostile input through the Python API: each case raises one ncf error with a clear message,
never a bare IndexError/KeyError/TypeError from deep inside, and never returns a wrong result."""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from tests_hostile_tally import record

import ncf
from ncf.errors import NCFError

RNG = np.random.default_rng(0)
DATA = ncf.synthetic(num_users=30, num_items=40, seed=2).interactions
SPLIT = ncf.leave_one_out(DATA, num_negatives=10, seed=0)
MF = ncf.MatrixFactorization(30, 40, embedding_dim=4)


def _save_then(edit: Callable[[Path], None]) -> Callable[[Path], object]:
    def run(tmp: Path) -> object:
        out = ncf.save_model(MF, tmp / "m")
        edit(out)
        return ncf.load_model(out)

    return run


CASES: list[tuple[str, Callable[[Path], object], str]] = [
    ("float ids", lambda t: ncf.Interactions.from_arrays(np.array([0.5]), np.array([1])), "integer"),
    ("negative ids", lambda t: ncf.Interactions.from_arrays(np.array([-1]), np.array([1]), num_users=3, num_items=3),
     "out of range"),
    ("ids beyond the universe", lambda t: ncf.Interactions.from_arrays(np.array([5]), np.array([1]), num_users=3,
                                                                         num_items=3), "out of range"),
    ("ragged arrays", lambda t: ncf.Interactions.from_arrays(np.array([0, 1]), np.array([1])), "length"),
    ("NaN weights", lambda t: ncf.Interactions.from_arrays(np.array([0]), np.array([1]), weights=np.array([np.nan])),
     "weights"),
    ("string ids as indices", lambda t: ncf.Interactions.from_arrays(np.array(["a"]), np.array([1])), "integer"),
    ("duplicate raw ids in an IdMap", lambda t: ncf.IdMap(["a", "a"]), "twice"),
    ("unknown raw id", lambda t: DATA.user_map.encode(["nobody"]), "unknown id"),
    ("index beyond an IdMap", lambda t: DATA.user_map.decode([999]), "out of range"),
    ("more negatives than items", lambda t: ncf.leave_one_out(DATA, num_negatives=1000), "cannot sample"),
    ("negative count of negatives", lambda t: ncf.leave_one_out(DATA, num_negatives=-1), "num_negatives"),
    ("k-core of -1", lambda t: ncf.k_core(DATA, -1), "k"),
    ("bad test fraction", lambda t: ncf.random_split(DATA, test_fraction=1.5), "test_fraction"),
    ("unknown loss", lambda t: ncf.TrainConfig(loss="hinge"), "loss must be one of"),
    ("no epochs and no validation", lambda t: ncf.Trainer(ncf.TrainConfig(show_progress=False)).fit(MF, SPLIT.train),
     "epochs"),
    ("model smaller than the data", lambda t: ncf.Trainer(ncf.TrainConfig(epochs=1, show_progress=False)).fit(
        ncf.MatrixFactorization(3, 3), SPLIT.train), "universe"),
    ("mse without ratings", lambda t: ncf.Trainer(ncf.TrainConfig(loss="mse", epochs=1, show_progress=False)).fit(
        MF, SPLIT.train), "ratings"),
    ("evaluate k 0", lambda t: ncf.evaluate(MF, SPLIT.test, k=0), "k must be a positive"),
    ("sampled without negatives", lambda t: ncf.evaluate(MF, SPLIT.test, protocol="sampled"), "negatives"),
    ("misaligned negatives", lambda t: ncf.evaluate(MF, SPLIT.test, protocol="sampled",
                                                    negatives=SPLIT.test_negatives[:3]), "negatives"),
    ("exclude of another universe", lambda t: ncf.evaluate(MF, SPLIT.test, exclude=ncf.synthetic(
        num_users=5, num_items=6, seed=1).interactions), "universe"),
    ("recommend a user outside the model", lambda t: ncf.recommend(MF, [99], k=3), "out of the model's range"),
    ("topk k 0", lambda t: ncf.topk(MF, [0], k=0), "k must be a positive"),
    ("unknown model name", lambda t: ncf.build_model("svd"), "unknown model"),
    ("unknown model option", lambda t: ncf.build_model("mf", num_users=2, num_items=2, embeding_dim=3), "did you mean"),
    ("save into a file", lambda t: (t / "f.txt").write_text("x") and ncf.save_model(MF, t / "f.txt"), "not a directory"),
    ("load a missing model", lambda t: ncf.load_model(t / "none"), "does not exist"),
    ("load with flipped bits", _save_then(lambda p: p.joinpath("weights.safetensors").write_bytes(
        p.joinpath("weights.safetensors").read_bytes()[:-1] + b"\x00")), "checksum"),
    ("load with a foreign config", _save_then(lambda p: p.joinpath("config.json").write_text("[]")), "ncf model"),
    ("run spec unknown option", lambda t: ncf.RunSpec.from_options(("", {"epoch": 3})), "did you mean 'epochs'"),
    ("run spec bad type", lambda t: ncf.RunSpec.from_options(("", {"epochs": "many"})), "whole number"),
    ("load a run that is not one", lambda t: ncf.Run.load(t), "run.json missing"),
    ("spectral before fit", lambda t: ncf.SpectralMF(30, 40, rank=4).user_vectors(torch.tensor([0])), "not fitted"),
    ("blend of a sequence model", lambda t: ncf.Blend.of([ncf.FPMC(30, 40)], [1.0]), "sequence"),
    ("blend weights NaN", lambda t: ncf.Blend.of([MF], [float("nan")]), "finite"),
    ("dataset name typo", lambda t: ncf.load_dataset("gowala"), "did you mean 'gowalla'"),
]


@pytest.mark.parametrize(("name", "call", "says"), CASES, ids=[c[0] for c in CASES])
def test_api_case(name: str, call: Callable[[Path], object], says: str, tmp_path: Path) -> None:
    with pytest.raises(NCFError) as err:
        call(tmp_path)
    message = str(err.value)
    assert says.lower() in message.lower(), message
    assert "\n" not in message.strip() and "np.int64" not in message and "array(" not in message, message
    record("clear error")
