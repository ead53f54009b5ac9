"""The public surface of ``ncf`` is pinned: adding or removing a name is a decision, not an accident."""

from __future__ import annotations

import importlib.metadata

import ncf

PUBLIC = {
    # data
    "Dataset", "FeatureTable", "IdMap", "Interactions", "Split", "data", "k_core", "leave_one_out",
    "load_dataset", "random_split", "synthetic", "temporal_split", "validation_split",
    # models and their capabilities
    "Blend", "ClosedForm", "DataInitialized", "FPMC", "Factorized", "GMF", "MLP", "MatrixFactorization", "ModelSpec", "NeuMF",
    "Popularity", "Model", "RowBlend", "SequenceAware", "SpectralMF", "TwoTower", "build_model", "GraphFilter",
    "HistoryScorer",
    # training
    "EpochLog", "HardNegativeSampler", "History", "NegativeSampler", "PopularitySampler", "TrainConfig",
    "Trainer", "UniformSampler", "losses",
    # evaluation, retrieval, persistence, runs
    "EvalReport", "Run", "RunSpec", "SavedModel", "TopK", "evaluate", "load_model", "recommend", "save_model",
    "topk", "index",
    # serving
    "Recommendations", "Recommender",
    # errors
    "ConfigError", "DataError", "DownloadError", "NCFError", "NotFittedError", "ParameterWarning",
    "TrainingDivergedError", "UnknownIdError",
    "__version__",
}


def test_all_is_sorted_and_pinned():
    assert ncf.__all__ == sorted(ncf.__all__)
    assert len(ncf.__all__) == len(set(ncf.__all__))
    assert set(ncf.__all__) == PUBLIC, (set(ncf.__all__) ^ PUBLIC)


def test_every_public_name_resolves_and_internals_stay_out():
    for name in ncf.__all__:
        assert getattr(ncf, name) is not None, name
    for internal in ("PositiveSet", "item_log_frequency", "is_factorized", "FactorizedRecommender", "MODELS"):
        assert internal not in ncf.__all__


def test_version_comes_from_the_package_metadata():
    assert ncf.__version__ == importlib.metadata.version("ncf")


def test_the_readme_example_needs_no_deep_imports():
    data = ncf.synthetic(num_users=40, num_items=80, seed=0).interactions
    split = ncf.leave_one_out(data, num_negatives=10, seed=0)
    model = ncf.MatrixFactorization(data.num_users, data.num_items, embedding_dim=8)
    ncf.Trainer(ncf.TrainConfig(loss="bpr", epochs=1, show_progress=False)).fit(model, split.train)
    report = ncf.evaluate(model, split.test, exclude=split.train, k=(5,), protocol="sampled",
                          negatives=split.test_negatives)
    assert set(report.metrics) >= {"hr@5", "ndcg@5"}
