"""The jobs, called directly: train writes a run only once every option is known to be good."""

from __future__ import annotations

import dataclasses
import json

import numpy as np
import pytest
import torch

from ncf.app import Run, RunDir, RunInfo, RunSpec, evaluate_run, recommend_run, train
from ncf.errors import ConfigError, TrainingDivergedError


def _spec(data, **options):
    base = {"data": str(data), "model": "mf", "loss": "bpr", "dim": 8, "epochs": 2, "batch-size": 256, "lr": 0.01,
            "spectral-weight": 0.0}
    return RunSpec.from_options(("test", {**base, **options}))


def test_train_writes_the_layout_and_the_run_loads_once(neumf_dir, tmp_path):
    out = tmp_path / "run"
    result = train(_spec(neumf_dir), out, show_progress=False)
    assert result.run_dir == out and result.history is not None and len(result.history.epochs) == 2
    info = json.loads((out / "run.json").read_text())
    assert info["status"] == "done" and info["format_version"] == 2
    assert info["options"]["dim"] == 8 and info["options"]["layers"] == [64, 32, 16]
    for part in ("split/train", "split/test", "model/config.json", "checkpoint/checkpoint.pt", "log.jsonl"):
        assert (out / part).exists(), part
    run = Run.load(out)
    assert run.spec == result.spec
    assert run.seen is run.seen  # built once
    report = evaluate_run(run, k=[10], protocol="sampled")
    assert report.users == 300 and 0.0 < report.metrics["hr@10"] <= 1.0


def test_recommendations_exclude_everything_the_user_did(neumf_dir, tmp_path):
    out = tmp_path / "run"
    train(_spec(neumf_dir), out, show_progress=False)
    run = Run.load(out)
    users = run.decode_users(np.arange(5))
    recs = recommend_run(run, users, k=15)
    for r, user in enumerate(users):
        seen = set(run.seen[r].indices.tolist())
        items = run.encode_items([rec["item"] for rec in recs[user]])
        assert len(items) == 15 and not seen & set(items.tolist())
        scores = [rec["score"] for rec in recs[user]]
        assert scores == sorted(scores, reverse=True)


def test_an_option_error_found_after_reading_the_data_leaves_nothing(neumf_dir, tmp_path):
    out = tmp_path / "run"
    spec = _spec(neumf_dir, model="two-tower", loss="softmax", features=True)
    with pytest.raises(ConfigError, match="no side features"):
        train(spec, out, show_progress=False)
    assert not out.exists()
    keep = tmp_path / "mine"
    keep.mkdir()
    (keep / "notes.txt").write_text("x")
    with pytest.raises(ConfigError):
        train(spec, keep, show_progress=False)
    assert [p.name for p in keep.iterdir()] == ["notes.txt"]


def test_a_run_that_diverged_before_any_checkpoint_is_not_a_run(neumf_dir, tmp_path):
    out = tmp_path / "run"
    spec = _spec(neumf_dir, loss="bce", lr=1e30, optimizer="sgd", epochs=3)
    with pytest.raises(TrainingDivergedError) as err:
        train(spec, out, show_progress=False)
    assert "checkpoint" not in str(err.value) or (out / "checkpoint" / "checkpoint.pt").is_file()
    assert not out.exists()
    train(_spec(neumf_dir), out, show_progress=False)  # the same --out works at once


def test_a_directory_whose_training_never_started_is_reused(neumf_dir, tmp_path):
    out = tmp_path / "run"
    RunDir(out).write_info(RunInfo(options={"model": "mf"}))  # e.g. killed while reading data
    train(_spec(neumf_dir), out, show_progress=False)
    assert RunDir(out).read_info().status == "done"
    with pytest.raises(ConfigError, match="already holds a finished run; use --force"):
        train(_spec(neumf_dir), out, show_progress=False)


def test_resume_refusals(neumf_dir, tmp_path):
    spec = _spec(neumf_dir)
    with pytest.raises(ConfigError, match="nothing to resume"):
        train(spec, tmp_path / "none", resume=True)
    done = tmp_path / "done"
    train(spec, done, show_progress=False)
    with pytest.raises(ConfigError, match="already finished"):
        train(spec, done, resume=True)
    started = tmp_path / "started"
    RunDir(started).write_info(RunInfo(options=spec.to_options()))
    with pytest.raises(ConfigError, match="no checkpoint"):
        train(spec, started, resume=True)
    (started / "checkpoint").mkdir()
    (started / "checkpoint" / "checkpoint.pt").write_bytes(b"")
    RunDir(started).save_split(Run.load(done).split)
    with pytest.raises(ConfigError, match="different options: lr"):
        train(_spec(neumf_dir, lr=0.5), started, resume=True)


def test_evaluate_on_the_validation_part_and_bad_requests(neumf_dir, tmp_path):
    out = tmp_path / "run"
    train(_spec(neumf_dir, epochs=None, refit=False, **{"max-epochs": 2}), out, show_progress=False)
    run = Run.load(out)
    assert run.split.valid is not None
    valid = evaluate_run(run, k=[5], part="valid")
    assert valid.protocol == "sampled" and valid.users == len(run.split.valid)
    with pytest.raises(ConfigError, match="protocol"):
        evaluate_run(run, protocol="sideways")
    with pytest.raises(ConfigError, match="k must be positive"):
        recommend_run(run, run.decode_users(np.arange(1)), k=0)


def test_early_stopping_refits_on_train_plus_carve_for_the_chosen_epochs(neumf_dir, tmp_path):
    out = tmp_path / "run"
    result = train(_spec(neumf_dir, epochs=None, patience=1, **{"max-epochs": 4}), out, show_progress=False)
    h = result.history
    assert h is not None and h.best_epoch is not None
    info = json.loads((out / "run.json").read_text())
    refit = info["history"]["refit"]
    run = Run.load(out)
    assert run.split.valid is not None
    full = len(run.split.train) + len(run.split.valid)
    from ncf.app.refit import refit_epochs

    epochs = refit_epochs(h.best_epoch, len(run.split.train), full, "scaled")
    assert refit == {"done": True, "epochs": epochs, "chosen_epoch": h.best_epoch, "rule": "scaled",
                     "rows": full, "carved_rows": len(run.split.train), "seconds": refit["seconds"]}
    assert info["history"]["best_epoch"] == h.best_epoch
    assert info["split"]["carve"]["method"] == "loo" and info["split"]["carve"]["valid_rows"] == len(run.split.valid)
    # the saved model is the refit: the same seed and epochs on train + carve, reproduced by hand
    from ncf.app.fitting import build_model
    from ncf.training import Trainer

    spec = result.spec
    twin = build_model(spec, run.split, (None, None))
    cfg = spec.trainer_config(show_progress=False).for_validation(sampled=True)
    Trainer(dataclasses.replace(cfg, epochs=epochs)).fit(twin, run.split.train.concat(run.split.valid))
    users = np.arange(20)
    items = np.arange(20)
    import torch

    with torch.no_grad():
        assert torch.allclose(run.model.score(torch.as_tensor(users), torch.as_tensor(items)),
                              twin.score(torch.as_tensor(users), torch.as_tensor(items)), atol=1e-5)
    with pytest.raises(ConfigError, match="refit"):
        evaluate_run(run, part="valid")


def test_no_refit_keeps_the_carved_model_and_says_so(neumf_dir, tmp_path):
    out = tmp_path / "run"
    result = train(_spec(neumf_dir, epochs=None, refit=False, **{"max-epochs": 2}), out, show_progress=False)
    info = json.loads((out / "run.json").read_text())
    assert info["history"]["refit"]["done"] is False and "--no-refit" in info["history"]["refit"]["reason"]
    assert "no refit" in result.summary()
    # a fixed epoch count chooses nothing on a carve: no refit entry at all
    out2 = tmp_path / "fixed"
    train(_spec(neumf_dir), out2, show_progress=False)
    assert "refit" not in json.loads((out2 / "run.json").read_text())["history"]


def test_spectral_without_a_rank_chooses_it_on_the_carve_and_fits_all_of_train(neumf_dir, tmp_path):
    from ncf.models.spectral import rank_candidates

    out = tmp_path / "spec"
    result = train(RunSpec.from_options(("test", {"data": str(neumf_dir), "model": "spectral"})), out,
                   show_progress=False)
    info = json.loads((out / "run.json").read_text())
    chosen = info["history"]["refit"]["spectral_rank"]
    run = Run.load(out)
    assert run.split.valid is not None and info["split"]["carve"]["method"] == "loo"
    ranks = [int(r) for r in chosen["scores"]]
    assert ranks == rank_candidates(run.split.num_users, run.split.num_items)
    best = max(ranks, key=lambda r: (chosen["scores"][str(r)], -r))
    assert chosen["chosen"] == best and run.model.rank == best
    assert info["history"]["refit"]["rows"] == len(run.split.train) + len(run.split.valid)
    assert "spectral rank" in result.summary()
    # the saved model is the chosen rank fitted on train + carve
    from ncf.models import SpectralMF

    twin = SpectralMF(run.split.num_users, run.split.num_items, rank=best, seed=0).fit(
        run.split.train.concat(run.split.valid))
    assert torch.allclose(run.model.user_vectors() @ run.model.item_vectors()[:50].T,
                          twin.user_vectors() @ twin.item_vectors()[:50].T, atol=1e-5)
    # a rank given on the command line is used as is, with no carve
    fixed = tmp_path / "fixed"
    train(RunSpec.from_options(("test", {"data": str(neumf_dir), "model": "spectral", "spectral-rank": 8})), fixed,
          show_progress=False)
    assert Run.load(fixed).model.rank == 8 and Run.load(fixed).split.valid is None


def test_spectral_weight_auto_chooses_the_share_on_the_carved_model_then_blends_the_refit(neumf_dir, tmp_path):
    from ncf.models import Blend, score_spread

    out = tmp_path / "blend"
    result = train(_spec(neumf_dir, epochs=None, patience=1, **{"max-epochs": 3, "spectral-weight": "auto"}), out,
                   show_progress=False)
    info = json.loads((out / "run.json").read_text())
    blend = info["history"]["refit"]["blend"]
    shares = [float(k) for k in blend["scores"]]
    assert shares == [0.0, 0.1, 0.25, 0.5, 0.75, 0.9]
    best = max(shares, key=lambda x: (blend["scores"][str(x)], -x))
    assert blend["share"] == best and "spectral share" in result.summary()
    run = Run.load(out)
    if best == 0.0:
        assert not isinstance(run.model, Blend)
        return
    assert isinstance(run.model, Blend)
    mf, spectral = run.model.components()
    assert spectral.rank == blend["spectral_rank"]
    # each part weighted by its share over its own score spread (the refit MF, the spectral fit on train + carve)
    assert run.model.weights == pytest.approx([(1 - best) / score_spread(mf, seed=0), best / score_spread(spectral, seed=0)])


def test_fixed_epochs_with_an_auto_share_carve_choose_and_refit(neumf_dir, tmp_path):
    out = tmp_path / "fixed"
    train(_spec(neumf_dir, **{"spectral-weight": "auto", "spectral-rank": 8}), out, show_progress=False)
    refit = json.loads((out / "run.json").read_text())["history"]["refit"]
    assert refit["done"] and refit["epochs"] == 2 and refit["rule"] == "fixed" and "blend" in refit


def test_scale_batch_grows_the_batch_with_the_rows_unless_the_user_chose_it():
    from ncf.app.splitting import STEPS_PER_EPOCH, scaled_batch

    spec = RunSpec.from_options(("test", {"model": "mf", "loss": "bpr"}))  # mf's bpr defaults scale the batch
    assert spec.train.scale_batch and spec.train.batch_size == 1024
    same, note = scaled_batch(spec, 98_114)  # ML-100K's carve: already ~96 steps an epoch
    assert same is spec and note is None
    grown, note = scaled_batch(spec, 727_869)  # Gowalla's carve: the tuned gowalla-bpr batch
    assert grown.train.batch_size == 8192 and note is not None
    assert grown.train.lr == pytest.approx(spec.train.lr * 8 ** 0.5)
    assert 60 <= 727_869 / grown.train.batch_size <= 1.5 * STEPS_PER_EPOCH
    assert {"batch-size", "lr"} <= grown.explicit  # run.json stores what was used; a resume keeps it
    for given in ({"batch-size": 512}, {"lr": 0.01}):
        fixed = RunSpec.from_options(("test", {"model": "mf", "loss": "bpr", **given}))
        assert scaled_batch(fixed, 727_869) == (fixed, None)


def test_train_applies_scale_batch_and_records_it(neumf_dir, tmp_path, monkeypatch):
    import ncf.app.splitting as splitting

    monkeypatch.setattr(splitting, "STEPS_PER_EPOCH", 4)  # the tiny fixture then asks for a bigger batch
    out = tmp_path / "run"
    spec = RunSpec.from_options(("test", {"data": str(neumf_dir), "model": "mf", "loss": "bpr", "epochs": 1,
                                          "spectral-weight": 0, "scale-batch": True, "dim": 8}))
    result = train(spec, out, show_progress=False)
    options = json.loads((out / "run.json").read_text())["options"]
    assert options["batch-size"] > spec.train.batch_size == 1024 and result.spec.train.batch_size == options["batch-size"]
    assert options["lr"] == pytest.approx(spec.train.lr * (options["batch-size"] / 1024) ** 0.5)


def test_the_progress_display_says_which_carve_training_stops_on(neumf_dir, tmp_path, capsys):
    train(_spec(neumf_dir, epochs=None, **{"max-epochs": 1}), tmp_path / "run", show_progress=True)
    err = capsys.readouterr().err
    assert "validation carve: one held-out item per user, latest (timestamps order each user's items" in err


def test_the_jobs_module_still_exports_every_job_from_its_new_home():
    """``ncf.app.jobs`` is a facade over the job modules: the old imports give the same objects."""
    from ncf.app import (
        blend,
        datasets,
        evaluate_job,
        fitting,
        jobs,
        quickstart_job,
        recommend_job,
        run_rules,
        train_job,
    )

    homes = (blend, datasets, evaluate_job, fitting, quickstart_job, recommend_job, run_rules, train_job)
    for name in jobs.__all__:
        assert any(getattr(home, name, None) is getattr(jobs, name) for home in homes), name
    import ncf.app

    assert ncf.app.train is train_job.train and ncf.app.evaluate_run is evaluate_job.evaluate_run


def test_split_dataset_returns_a_typed_result_that_is_the_json_of_ncf_data_split(small_data, tmp_path):
    from click.testing import CliRunner

    from ncf.app.datasets import SplitResult, split_dataset
    from ncf.cli import main

    x = small_data.interactions
    table = tmp_path / "log.csv"
    table.write_text("user,item,timestamp\n" + "".join(
        f"{u},{i},{t}\n" for u, i, t in zip(x.users, x.items, x.timestamps, strict=True)))
    result = split_dataset(str(table), tmp_path / "a", protocol="loo", negatives=20, seed=1)
    assert isinstance(result, SplitResult) and dataclasses.is_dataclass(result)
    with pytest.raises(dataclasses.FrozenInstanceError):
        result.train = 0  # type: ignore[misc]
    assert (result.train, result.test, result.negatives_per_row) == (len(x) - x.num_users, x.num_users, 20)
    assert (result.users, result.items, result.protocol) == (x.num_users, x.num_items, "loo")
    cli = CliRunner().invoke(main, ["data", "split", str(table), "--protocol", "loo", "--negatives", "20",
                                    "--seed", "1", "--out", str(tmp_path / "b"), "--json"])
    assert cli.exit_code == 0, cli.output
    line = cli.stdout.strip()
    assert list(json.loads(line)) == ["out", "protocol", "train", "test", "negatives_per_row", "users", "items"]
    assert line == json.dumps(dataclasses.replace(result, out=str(tmp_path / "b")).to_dict())
