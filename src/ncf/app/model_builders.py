"""The builder table: how a run's model options (:class:`~ncf.app.model_spec.ModelSpec`) become a model.

For each name ``ncf train --model`` accepts, :data:`MODEL_BUILDERS` holds the model class, the
``ModelSpec`` fields the model reads (setting any other one for it is an error, not silently
ignored) and a function ``(spec, context) -> model`` that calls the class's typed constructor.
The models themselves know nothing of the options: a new model is a class in ``ncf.models``,
its entry in the registry (``ncf.models.registry.MODELS``, which rebuilds saved models) and one
row here (plus its name in :data:`~ncf.app.model_spec.BUILDABLE_MODELS`, which a test checks).
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from ncf.data.features import FeatureTable
from ncf.errors import ConfigError, did_you_mean
from ncf.models.base import Model
from ncf.models.fpmc import FPMC
from ncf.models.gmf import GMF
from ncf.models.graph_filter import GraphFilter, default_shape
from ncf.models.mf import MatrixFactorization
from ncf.models.mlp import MLP
from ncf.models.neumf import NeuMF
from ncf.models.popularity import Popularity
from ncf.models.spectral import SpectralMF, rank_candidates
from ncf.models.two_tower import TwoTower

if TYPE_CHECKING:
    from ncf.app.model_spec import ModelSpec

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class BuildContext:
    """What a model built from run options needs besides the options: the universe and data.

    ``sparse`` asks for row-sparse embedding gradients (the optimizer wants them); models
    without embeddings to make sparse ignore it. ``seed`` seeds closed-form fits.
    """

    num_users: int
    num_items: int
    seed: int = 0
    sparse: bool = False
    user_features: FeatureTable | None = None
    item_features: FeatureTable | None = None


@dataclass(frozen=True)
class ModelBuilder:
    """One row of the table: the class, the ``ModelSpec`` fields it reads, and its builder."""

    model_class: type[Model]
    options: frozenset[str]
    build: Callable[[ModelSpec, BuildContext], Model]


def clipped_rank(rank: int, num_users: int, num_items: int) -> int:
    """``rank`` clipped to the universe, with a warning (a tiny dataset has few components)."""
    clipped = max(1, min(int(rank), num_users, num_items))
    if clipped < rank:
        logger.warning("spectral-rank %d exceeds min(users, items); using %d (all components: no low-pass "
                       "filtering, choose a smaller rank)", rank, clipped)
    return clipped


def build_mf(spec: ModelSpec, context: BuildContext) -> MatrixFactorization:
    return MatrixFactorization(context.num_users, context.num_items, embedding_dim=spec.dim, use_bias=not spec.cosine,
                               normalize=spec.cosine, sparse=context.sparse, init=spec.init)


def build_gmf(spec: ModelSpec, context: BuildContext) -> GMF:
    return GMF(context.num_users, context.num_items, embedding_dim=spec.dim)


def build_mlp(spec: ModelSpec, context: BuildContext) -> MLP:
    return MLP(context.num_users, context.num_items, embedding_dim=max(spec.layers[0] // 2, 1), layers=spec.layers,
               dropout=spec.dropout)


def build_neumf(spec: ModelSpec, context: BuildContext) -> NeuMF:
    """NeuMF of the options (``pretrain``/``pretrain_epochs`` are read by the fit, not here)."""
    return NeuMF(context.num_users, context.num_items, gmf_dim=spec.dim, mlp_dim=max(spec.layers[0] // 2, 1),
                 layers=spec.layers, dropout=spec.dropout)


def build_two_tower(spec: ModelSpec, context: BuildContext) -> TwoTower:
    """The two-tower model; ``features`` feeds it the dataset's side features (an error without any)."""
    user_features = item_features = None
    if spec.features:
        if context.user_features is None and context.item_features is None:
            raise ConfigError("--features: this dataset has no side features")
        user_features, item_features = context.user_features, context.item_features
    own: dict[str, Any] = {} if spec.temperature is None else {"temperature": spec.temperature}  # else its default
    return TwoTower(context.num_users, context.num_items, embedding_dim=spec.dim, layers=spec.layers,
                    dropout=spec.dropout, user_features=user_features, item_features=item_features, **own)


def build_fpmc(spec: ModelSpec, context: BuildContext) -> FPMC:
    return FPMC(context.num_users, context.num_items, embedding_dim=spec.dim)


def build_popularity(spec: ModelSpec, context: BuildContext) -> Popularity:
    return Popularity(context.num_users, context.num_items)


def build_spectral(spec: ModelSpec, context: BuildContext) -> SpectralMF:
    """The (unfitted) spectral model; without a rank, the largest candidate (the run chooses a
    smaller one on the validation carve by truncation)."""
    rank = spec.spectral_rank
    if rank is None:
        rank = max(rank_candidates(context.num_users, context.num_items))
    return SpectralMF(context.num_users, context.num_items, clipped_rank(rank, context.num_users, context.num_items),
                      seed=context.seed)


def build_graph_filter(spec: ModelSpec, context: BuildContext) -> GraphFilter:
    """The (unfitted) graph filter; a shape option left unset takes the default for this universe."""
    shape = default_shape(context.num_users, context.num_items)
    rank = spec.ideal_rank if spec.ideal_rank is not None else shape.ideal_rank
    return GraphFilter(
        context.num_users,
        context.num_items,
        filter=spec.filter,
        order=spec.filter_order,
        flatness=spec.filter_flatness if spec.filter_flatness is not None else shape.flatness,
        degree_power=spec.degree_power if spec.degree_power is not None else shape.degree_power,
        ideal_rank=clipped_rank(rank, context.num_users, context.num_items),
        ideal_weight=spec.ideal_weight if spec.ideal_weight is not None else shape.ideal_weight,
        degree_offset=spec.degree_offset,
        seed=context.seed,
    )


#: The graph filter's shape options: a graph-filter model reads them, and so does the filter part of
#: a ``filter_weight`` blend.
FILTER_OPTIONS = frozenset({"filter", "filter_order", "filter_flatness", "degree_power", "degree_offset",
                            "ideal_rank", "ideal_weight"})

#: Model name (the registry key) -> its builder. Composites (``blend``) are not built from options.
MODEL_BUILDERS: Mapping[str, ModelBuilder] = {
    "mf": ModelBuilder(MatrixFactorization, frozenset({"dim", "cosine", "init"}), build_mf),
    "gmf": ModelBuilder(GMF, frozenset({"dim"}), build_gmf),
    "mlp": ModelBuilder(MLP, frozenset({"layers", "dropout"}), build_mlp),
    "neumf": ModelBuilder(NeuMF, frozenset({"dim", "layers", "dropout", "pretrain", "pretrain_epochs"}), build_neumf),
    "two-tower": ModelBuilder(TwoTower, frozenset({"dim", "layers", "dropout", "temperature", "features"}),
                              build_two_tower),
    "fpmc": ModelBuilder(FPMC, frozenset({"dim"}), build_fpmc),
    "popularity": ModelBuilder(Popularity, frozenset(), build_popularity),
    "spectral": ModelBuilder(SpectralMF, frozenset({"spectral_rank"}), build_spectral),
    "graph-filter": ModelBuilder(GraphFilter, FILTER_OPTIONS, build_graph_filter),
}


def model_builder(name: str) -> ModelBuilder:
    """The table's row for ``name``, or ConfigError (with a "did you mean") for a name not in it."""
    try:
        return MODEL_BUILDERS[name]
    except KeyError:
        known = sorted(MODEL_BUILDERS)
        raise ConfigError(f"model {name!r} cannot be built from run options{did_you_mean(name, known)} "
                          f"(models: {', '.join(known)})") from None
