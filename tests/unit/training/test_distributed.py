"""Distributed training, the parts one process can check: torchrun's environment, devices and
backends (the CUDA/NCCL choices as pure functions), sharding, per-rank seeds, the refusal of
sparse embeddings under NCCL, and the trainer's DDP path in a process group of one (gloo).

Two real processes are in ``tests/integration/test_ddp.py``.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import numpy as np
import pytest
import torch
import torch.distributed as dist

from ncf import MatrixFactorization, TrainConfig, Trainer
from ncf.data.interactions import Interactions
from ncf.data.splits import leave_one_out
from ncf.data.synthetic import synthetic
from ncf.errors import ConfigError, NCFError
from ncf.sampling import PositiveSet, UniformSampler
from ncf.training.batches import EpochBatches, shard_positions
from ncf.training.callbacks import Callback, FitStart, JsonlLogger, LoggingCallback
from ncf.training.checkpoint import CHECKPOINT_FILE, load_checkpoint
from ncf.training.distributed import (
    DEFAULT_TIMEOUT_S,
    DistributedContext,
    World,
    _object_device,
    backend_for,
    check_distributable,
    ddp_device_ids,
    fingerprint,
    init_distributed,
    rank_device,
    rank_seed,
    timeout_from_environment,
    world_from_environment,
)
from ncf.training.history import History
from ncf.training.strategy import SingleProcess

CPU = torch.device("cpu")
TORCHRUN = {"RANK": "1", "WORLD_SIZE": "4", "LOCAL_RANK": "1", "LOCAL_WORLD_SIZE": "2",
            "MASTER_ADDR": "10.0.0.1", "MASTER_PORT": "29500"}


# ---------------------------------------------------------------------- environment
def test_no_torchrun_variables_means_one_process() -> None:
    assert world_from_environment({}) is None
    assert world_from_environment({"PATH": "/bin"}) is None
    assert world_from_environment({"RANK": "0", "WORLD_SIZE": "1", "LOCAL_RANK": "0"}) is None  # nproc 1
    assert init_distributed("cpu", environ={}) is None
    assert not dist.is_initialized()


def test_torchrun_variables_give_the_world() -> None:
    world = world_from_environment(TORCHRUN)
    assert world == World(rank=1, world_size=4, local_rank=1, local_world_size=2)
    assert not world.is_main
    assert world_from_environment({**TORCHRUN, "RANK": "0", "LOCAL_RANK": "0"}).is_main  # type: ignore[union-attr]


@pytest.mark.parametrize(
    ("change", "words"),
    [
        ({"RANK": "one"}, "RANK='one'"),
        ({"RANK": "4"}, "inconsistent"),
        ({"LOCAL_RANK": "2"}, "inconsistent"),
        ({"MASTER_ADDR": ""}, "MASTER_ADDR"),
        ({"MASTER_PORT": ""}, "MASTER_PORT"),
    ],
)
def test_a_broken_launch_environment_is_refused(change: dict[str, str], words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        world_from_environment({**TORCHRUN, **change})


def test_timeout_from_the_environment() -> None:
    assert timeout_from_environment({}) == timedelta(seconds=DEFAULT_TIMEOUT_S)
    assert timeout_from_environment({"NCF_DIST_TIMEOUT": "45"}) == timedelta(seconds=45)
    for bad in ("0", "-3", "soon", "inf", "nan"):
        with pytest.raises(ConfigError, match="NCF_DIST_TIMEOUT"):
            timeout_from_environment({"NCF_DIST_TIMEOUT": bad})


# ---------------------------------------------------------------------- devices and backends (CUDA logic on CPU)
WORLD = World(rank=3, world_size=4, local_rank=1, local_world_size=2)


def test_each_rank_takes_its_own_gpu_or_the_cpu() -> None:
    assert rank_device("cpu", WORLD, cuda_count=8) == CPU
    assert rank_device("auto", WORLD, cuda_count=0) == CPU
    assert rank_device("auto", WORLD, cuda_count=2) == torch.device("cuda", 1)
    assert rank_device("cuda", WORLD, cuda_count=8) == torch.device("cuda", 1)
    one_per_node = World(rank=1, world_size=2, local_rank=0, local_world_size=1)
    assert rank_device("cuda:1", one_per_node, cuda_count=2) == torch.device("cuda", 1)


@pytest.mark.parametrize(
    ("name", "count", "words"),
    [
        ("cuda", 0, "no CUDA GPU"),
        ("cuda:1", 2, "each of the 2 processes"),
        ("cuda", 1, "2 processes on this node but 1 CUDA GPU"),
        ("mps", 0, "cpu, cuda or auto"),
    ],
)
def test_impossible_device_choices_are_refused(name: str, count: int, words: str) -> None:
    with pytest.raises(ConfigError, match=words):
        rank_device(name, WORLD, cuda_count=count)
    with pytest.raises(ConfigError, match="not available"):
        rank_device("cuda:3", World(1, 2, 0, 1), cuda_count=2)


def test_backend_and_ddp_placement_follow_the_device() -> None:
    gpu = torch.device("cuda", 3)
    assert (backend_for(gpu), ddp_device_ids(gpu), _object_device(gpu)) == ("nccl", [3], gpu)
    assert (backend_for(CPU), ddp_device_ids(CPU), _object_device(CPU)) == ("gloo", None, None)


def test_sparse_embeddings_are_refused_under_nccl_only() -> None:
    sparse = MatrixFactorization(10, 8, embedding_dim=4, sparse=True)
    with pytest.raises(ConfigError, match="--optimizer adam") as info:
        check_distributable(sparse, "nccl")
    assert len(str(info.value).splitlines()) == 1
    check_distributable(sparse, "gloo")  # gloo all-reduces sparse gradients
    check_distributable(MatrixFactorization(10, 8, embedding_dim=4), "nccl")


def test_the_trainer_refuses_sparse_nccl_before_training() -> None:
    ctx = DistributedContext(World(0, 2, 0, 2), CPU, "nccl", timedelta(seconds=5))  # no process group needed
    data = synthetic(num_users=30, num_items=20, seed=0).interactions
    model = MatrixFactorization(30, 20, embedding_dim=4, sparse=True)
    with pytest.raises(ConfigError, match="NCCL has no sparse all-reduce"):
        Trainer(TrainConfig(epochs=1, show_progress=False), distributed=ctx).fit(model, data)


# ---------------------------------------------------------------------- seeds and shards
def test_rank_seeds_differ_by_seed_epoch_and_rank() -> None:
    seeds = {rank_seed(s, e, r) for s in range(3) for e in range(4) for r in range(8)}
    assert len(seeds) == 3 * 4 * 8
    assert rank_seed(1, 2, 3) == rank_seed(1, 2, 3)
    assert all(0 <= x < 2**63 - 1 for x in seeds)


@pytest.mark.parametrize(("n", "world"), [(10, 2), (11, 2), (11, 4), (3, 4), (1000, 3), (7, 1)])
def test_shards_are_contiguous_equal_and_cover_the_epoch(n: int, world: int) -> None:
    shards = [shard_positions(n, rank=r, world_size=world) for r in range(world)]
    per_rank = -(-n // world)
    assert all(len(s) == per_rank for s in shards)  # every rank takes the same number of steps
    together = np.concatenate(shards)
    assert set(together.tolist()) == set(range(n))  # the union is the epoch
    assert len(together) - n < world  # fewer than world_size rows twice
    np.testing.assert_array_equal(together, np.arange(len(together)) % n)  # contiguous, wrapping at the end
    if world == 1:
        np.testing.assert_array_equal(shards[0], np.arange(n))


def test_a_rank_outside_the_world_is_an_error() -> None:
    with pytest.raises(ValueError, match="rank"):
        shard_positions(10, rank=2, world_size=2)


@pytest.fixture(scope="module")
def train() -> Interactions:
    return synthetic(num_users=80, num_items=60, seed=3).interactions


def _rows(plan: EpochBatches, seed: int, rank_rng: np.random.Generator | None) -> list[dict[str, np.ndarray]]:
    batches = plan.epoch(np.random.default_rng(seed), rank_rng=rank_rng)
    return [{k: v.numpy() for k, v in vars(b).items() if v is not None} for b in batches]


def test_ranks_share_the_permutation_and_draw_their_own_negatives(train: Interactions) -> None:
    world, positives = 3, PositiveSet(train)
    plans = [EpochBatches(train, batch_size=32, device=CPU, sampler=UniformSampler(train, 4), extra_negatives=0,
                          rank=r, world_size=world) for r in range(world)]
    assert len({p.num_batches for p in plans}) == 1 and plans[0].num_rows == -(-len(train) // world)
    got = [_rows(p, seed=5, rank_rng=np.random.default_rng(rank_seed(0, 5, r))) for r, p in enumerate(plans)]
    perm = np.random.default_rng(5).permutation(len(train))
    seen = []
    for r, batches in enumerate(got):
        users = np.concatenate([b["users"] for b in batches])
        items = np.concatenate([b["items"] for b in batches])
        rows = perm[shard_positions(len(train), rank=r, world_size=world)]
        np.testing.assert_array_equal(users, train.users[rows])  # this rank's shard of the shared permutation
        np.testing.assert_array_equal(items, train.items[rows])
        negs = np.concatenate([b["negatives"] for b in batches])
        assert not positives.contains(users[:, None], negs).any()
        seen.append(rows)
    assert set(np.concatenate(seen).tolist()) == set(range(len(train)))
    again = _rows(plans[1], seed=5, rank_rng=np.random.default_rng(rank_seed(0, 5, 1)))
    np.testing.assert_array_equal(again[0]["negatives"], got[1][0]["negatives"])  # (seed, epoch, rank) decides
    other = _rows(plans[1], seed=5, rank_rng=np.random.default_rng(rank_seed(0, 5, 2)))
    assert not np.array_equal(other[0]["negatives"], got[1][0]["negatives"])


def test_one_process_ignores_the_rank_generator_and_several_need_it(train: Interactions) -> None:
    single = EpochBatches(train, batch_size=50, device=CPU, sampler=UniformSampler(train, 2))
    a = _rows(single, seed=1, rank_rng=None)
    b = _rows(single, seed=1, rank_rng=np.random.default_rng(99))
    assert all(np.array_equal(x["negatives"], y["negatives"]) for x, y in zip(a, b, strict=True))
    with pytest.raises(ValueError, match="rank_rng"):
        _rows(EpochBatches(train, batch_size=50, device=CPU, rank=0, world_size=2), seed=1, rank_rng=None)


def test_fingerprint_sees_every_value() -> None:
    a = np.arange(5)
    assert fingerprint(a, 3, None) == fingerprint(np.arange(5), 3, None)
    assert fingerprint(a, 3, None) != fingerprint(a, 4, None)
    assert fingerprint(a) != fingerprint(a.astype(np.int32))
    assert fingerprint(None) != fingerprint(np.zeros(0))


# ---------------------------------------------------------------------- the DDP path in a world of one
@pytest.fixture(scope="module")
def world_of_one() -> Iterator[DistributedContext]:
    dist.init_process_group("gloo", store=dist.HashStore(), rank=0, world_size=1)
    try:
        yield DistributedContext(World(0, 1, 0, 1), CPU, "gloo", timedelta(seconds=30))
    finally:
        dist.destroy_process_group()


@pytest.fixture(scope="module")
def split():
    return leave_one_out(synthetic(num_users=300, num_items=200, seed=11).interactions, num_negatives=99, seed=0)


def test_collectives_in_a_world_of_one(world_of_one: DistributedContext) -> None:
    assert world_of_one.broadcast({"a": 1}) == {"a": 1}
    assert world_of_one.all_gather("x") == ["x"]
    t = torch.tensor(2.5, dtype=torch.float64)
    assert float(world_of_one.all_sum(t)) == 2.5 and t is not world_of_one.all_sum(t)


def test_single_process_collectives_return_their_argument() -> None:
    one = SingleProcess()
    assert (one.rank, one.world_size, one.is_main, one.syncs_gradients) == (0, 1, True, False)
    box = {"a": 1}
    assert one.broadcast(box) is box and one.all_gather("x") == ["x"] and one.from_main(lambda: 7) == 7
    t = torch.tensor(2.5, dtype=torch.float64)
    assert one.all_sum(t) is t
    with one.guard():
        pass
    assert one.rank_draws(0, 1, shared=42) == (42, None)  # the shared generator draws the negatives
    one.check_deadline(1.0)
    one.check_model(MatrixFactorization(10, 8, embedding_dim=4, sparse=True))
    assert one.device_for("cpu") == CPU


def test_lost_peers_become_one_clear_error(world_of_one: DistributedContext) -> None:
    gloo = RuntimeError("[/src/gloo/transport/tcp/pair.cc:537] Read error [127.0.0.1]:5008: Connection reset by "
                        "peer. This is typically caused by a remote worker hanging.")
    with pytest.raises(NCFError, match=r"^rank 0: lost contact .*\(Read error \[127.0.0.1\]:5008: Connection reset "
                                       r"by peer\).*--resume$"), world_of_one.guard():
        raise gloo
    with pytest.raises(ZeroDivisionError), world_of_one.guard():  # other errors pass through
        raise ZeroDivisionError
    with pytest.raises(RuntimeError, match="shape"), world_of_one.guard():
        raise RuntimeError("shape mismatch")


class _Starts(Callback):
    def __init__(self) -> None:
        self.starts: list[FitStart] = []

    def on_fit_start(self, start: FitStart) -> None:
        self.starts.append(start)


@pytest.mark.parametrize("sparse", [False, True], ids=["adam", "sparse-adagrad"])
def test_ddp_checkpoint_resumes_in_one_process_and_back(world_of_one, split, tmp_path, sparse: bool) -> None:
    """The DDP path (a DDP-wrapped loss, broadcast checkpoint, rank 0's writes) in a world of one:
    its checkpoint holds the plain model's weights and resumes without DDP, and the other way."""
    cfg = TrainConfig(epochs=4, batch_size=256, lr=0.02, seed=0, show_progress=False,
                      optimizer="adagrad" if sparse else "adam")

    def model() -> MatrixFactorization:
        torch.manual_seed(0)
        return MatrixFactorization(split.num_users, split.num_items, embedding_dim=8, sparse=sparse)

    class StopAfter(Callback):
        def __init__(self, epoch: int) -> None:
            self.epoch = epoch

        def on_epoch_end(self, end) -> None:  # type: ignore[no-untyped-def]
            if end.log.epoch == self.epoch:
                raise KeyboardInterrupt

    starts = _Starts()
    ddp_dir = tmp_path / "ddp"
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, callbacks=[StopAfter(2), starts], distributed=world_of_one).fit(
            model(), split.train, checkpoint_dir=ddp_dir, log_path=tmp_path / "log.jsonl")
    assert (starts.starts[0].rank, starts.starts[0].world_size, starts.starts[0].is_main) == (0, 1, True)
    saved = load_checkpoint(ddp_dir / CHECKPOINT_FILE)
    assert saved["epoch"] == 1 and not saved["finished"]
    assert set(saved["model"]) == set(model().state_dict())  # no "module." / "model." prefixes
    resumed = model()
    history = Trainer(cfg).fit(resumed, split.train, checkpoint_dir=ddp_dir, resume=True)
    assert [e.epoch for e in history.epochs] == [1, 2, 3, 4]

    single_dir = tmp_path / "single"
    with pytest.raises(KeyboardInterrupt):
        Trainer(cfg, callbacks=[StopAfter(2)]).fit(model(), split.train, checkpoint_dir=single_dir)
    back = model()
    history = Trainer(cfg, distributed=world_of_one).fit(back, split.train, checkpoint_dir=single_dir, resume=True)
    assert [e.epoch for e in history.epochs] == [1, 2, 3, 4] and history.epochs[-1].loss < history.epochs[0].loss


def test_ddp_path_validates_and_stops_early(world_of_one, split) -> None:
    cfg = TrainConfig(epochs=None, max_epochs=40, patience=1, batch_size=128, lr=0.05, seed=0, show_progress=False)
    torch.manual_seed(0)
    model = MatrixFactorization(split.num_users, split.num_items, embedding_dim=8)
    history = Trainer(cfg, distributed=world_of_one).fit(model, split.train, valid=split.test,
                                                         valid_negatives=split.test_negatives)
    assert history.stopped_early and len(history.epochs) < 40
    assert history.best_metric == max(e.metrics["ndcg@10"] for e in history.epochs)
    assert history.best_metric is not None and history.best_metric > 0.3


@pytest.mark.parametrize("optimizer", ["adam", "adagrad"])
def test_one_process_and_a_ddp_world_of_one_train_the_same_weights(world_of_one, split, optimizer: str) -> None:
    """The two strategies of one fit (validation and early stopping included) give the same
    weights, losses and metrics, bit for bit. In-batch softmax on MF draws nothing but the
    permutation, which every rank takes from the epoch's shared seed (a rank's own negatives
    would differ from a single process's by design); the fused step is not DDP's, so it is off."""
    sparse = optimizer == "adagrad"
    cfg = TrainConfig(loss="softmax", epochs=None, max_epochs=6, patience=2, batch_size=128, lr=0.05, seed=3,
                      optimizer=optimizer, show_progress=False)

    def fit(distributed: DistributedContext | None) -> tuple[MatrixFactorization, History]:
        torch.manual_seed(0)
        model = MatrixFactorization(split.num_users, split.num_items, embedding_dim=8, sparse=sparse)
        history = Trainer(cfg, distributed=distributed, fused=False).fit(
            model, split.train, valid=split.test, valid_negatives=split.test_negatives)
        return model, history

    one, one_history = fit(None)
    ddp, ddp_history = fit(world_of_one)
    assert [(e.loss, e.metrics) for e in one_history.epochs] == [(e.loss, e.metrics) for e in ddp_history.epochs]
    assert (one_history.best_epoch, one_history.stopped_early) == (ddp_history.best_epoch, ddp_history.stopped_early)
    ddp_weights = ddp.state_dict()
    for name, value in one.state_dict().items():
        assert torch.equal(value, ddp_weights[name]), name


def test_only_rank_zero_logs_and_writes(tmp_path) -> None:
    """Ranks other than 0 get the user's callbacks only (no logging, log file or progress)."""
    cfg = TrainConfig(epochs=1, show_progress=True)
    mine = _Starts()
    follower = DistributedContext(World(1, 2, 1, 2), CPU, "gloo", timedelta(seconds=5))
    leader = DistributedContext(World(0, 2, 0, 2), CPU, "gloo", timedelta(seconds=5))
    got = Trainer(cfg, callbacks=[mine], distributed=follower)._callback_list(tmp_path / "log.jsonl").callbacks
    assert got == [mine]
    kinds = {type(c) for c in Trainer(cfg, callbacks=[mine], distributed=leader)._callback_list(
        tmp_path / "log.jsonl").callbacks}
    assert {LoggingCallback, JsonlLogger, _Starts} <= kinds
