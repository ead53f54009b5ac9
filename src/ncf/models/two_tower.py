"""Two-tower retrieval model: ID embeddings plus side features, cosine similarity / temperature."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any, Union

import numpy as np
import numpy.typing as npt
import torch
import torch.nn.functional as F
from torch import Tensor, nn

from ncf._checks import positive_int
from ncf.data.features import FeatureTable
from ncf.errors import ConfigError, DataError
from ncf.models._common import layer_widths, probability
from ncf.models.base import Factorized
from ncf.nn.blocks import FeedForward, init_embedding_

FeatureInput = Union[FeatureTable, Tensor, "npt.NDArray[Any]", None]

#: Standard deviation of the two-tower ID embedding initialiser (the towers use LayerNorm).
TWO_TOWER_INIT_STD = 0.1


def _feature_tensor(
    features: FeatureInput, num_rows: int, dim: int | None, side: str
) -> Tensor:
    """Validate a side's feature table; a zero ``(num_rows, dim)`` table when none is given."""
    if features is None:
        return torch.zeros(num_rows, 0 if dim is None else _feature_dim(dim, side))
    if isinstance(features, FeatureTable):
        table = torch.from_numpy(np.array(features.values, dtype=np.float32, copy=True))
    elif isinstance(features, Tensor):
        table = features.detach().to(device="cpu", dtype=torch.float32).clone()
    else:
        table = torch.from_numpy(np.array(features, dtype=np.float32, copy=True))
    if table.ndim != 2 or table.shape[0] != num_rows:
        raise DataError(
            f"{side} features must have shape (num_{side}s={num_rows}, F), got {tuple(table.shape)}"
        )
    if not bool(torch.isfinite(table).all()):
        raise DataError(f"{side} features contain NaN or infinite values")
    if dim is not None and int(dim) != table.shape[1]:
        raise ConfigError(
            f"{side}_feature_dim={dim} does not match the {side} feature table width {table.shape[1]}"
        )
    return table.contiguous()


def _feature_dim(dim: int, side: str) -> int:
    if isinstance(dim, bool) or int(dim) != dim or int(dim) < 0:
        raise ConfigError(f"{side}_feature_dim must be a non-negative integer, got {dim!r}")
    return int(dim)


class _Tower(nn.Module):
    """``[ID embedding ; features] -> FeedForward -> L2 normalise``.

    The ID table has one extra last row, the "unknown" ID, which starts at zero.
    """

    def __init__(
        self,
        num_ids: int,
        embedding_dim: int,
        feature_dim: int,
        layers: tuple[int, ...],
        *,
        dropout: float,
        layer_norm: bool,
        use_ids: bool,
        id_dropout: float,
    ) -> None:
        super().__init__()
        self.num_ids = num_ids
        self.unknown = num_ids
        self.use_ids = use_ids
        self.id_dropout = id_dropout
        self.feature_dim = feature_dim
        self.embedding: nn.Embedding | None = None
        in_dim = feature_dim
        if use_ids:
            self.embedding = init_embedding_(nn.Embedding(num_ids + 1, embedding_dim), TWO_TOWER_INIT_STD)
            with torch.no_grad():
                self.embedding.weight[self.unknown].zero_()
            in_dim += embedding_dim
        self.mlp = FeedForward(
            in_dim, layers, dropout=dropout, layer_norm=layer_norm, final_activation=False
        )

    def forward(self, ids: Tensor | None, features: Tensor | None, batch: int) -> Tensor:
        parts: list[Tensor] = []
        if self.embedding is not None:
            if ids is None:
                ids = torch.full((batch,), self.unknown, dtype=torch.long, device=self.embedding.weight.device)
            if self.training and self.id_dropout > 0:
                drop = torch.rand(ids.shape, device=ids.device) < self.id_dropout
                ids = ids.masked_fill(drop, self.unknown)
            parts.append(self.embedding(ids))
        if self.feature_dim > 0:
            if features is None:
                raise ValueError("this tower was built with side features; pass them")
            parts.append(features.to(parts[0].dtype) if parts else features)
        x = parts[0] if len(parts) == 1 else torch.cat(parts, dim=-1)
        return F.normalize(self.mlp(x), p=2.0, dim=-1)


class TwoTower(Factorized):
    """Two-tower model: ``score(u, i) = cos(f(u), g(i)) / temperature``.

    Each tower maps ``[ID embedding ; encoded side features]`` through a feed-forward network
    (LayerNorm, ReLU, dropout) and L2-normalises the output. Trained with an in-batch sampled
    softmax with logQ correction (:func:`ncf.losses.in_batch_softmax_loss`) as in Yi et al.
    (2019), "Sampling-Bias-Corrected Neural Modeling for Large Corpus Item Recommendations",
    RecSys; see also Covington et al. (2016), "Deep Neural Networks for YouTube
    Recommendations", RecSys.

    ``user_vectors`` are the normalised user outputs divided by ``temperature`` and
    ``item_vectors`` the normalised item outputs, so an ANN index over the item vectors with
    inner product ranks by cosine.

    Feature tables are kept as non-trainable buffers (``user_features``, ``item_features``) so
    they are saved with the weights; :meth:`get_config` records only their widths.

    Cold start. :meth:`embed_items` / :meth:`embed_users` embed entities from a feature row
    alone. An ID that is missing (``ids=None``) or outside ``[0, num_items)`` (e.g. ``-1``)
    uses the tower's extra "unknown" ID row. That row starts at zero, so without
    ``id_dropout`` a new entity is embedded from its features with a zero ID part; with
    ``id_dropout > 0`` training replaces each ID by the unknown row with that probability
    (as in DropoutNet, Volkovs et al., 2017, NeurIPS), so the row is learned and the tower
    learns to rely on features alone.

    Parameters
    ----------
    num_users, num_items : int
    embedding_dim : int
        Width of the ID embeddings.
    layers : sequence of int
        Widths of each tower; the last is the output dimension ``d``.
    dropout : float
        Dropout after each hidden layer.
    layer_norm : bool
        LayerNorm after each hidden linear layer.
    temperature : float
        Positive; scores are cosines divided by it.
    user_features, item_features : FeatureTable or (n, F) array/tensor, optional
        Encoded side features, row ``r`` for index ``r``.
    use_ids : bool
        Learn ID embeddings; when False each tower sees features only (that side then needs
        features).
    id_dropout : float
        Training-time probability of replacing an ID by the unknown ID.
    user_feature_dim, item_feature_dim : int, optional
        Widths of the feature tables when the tables themselves are not given (used when a
        saved model is rebuilt: zero buffers are created, then the weights fill them).
    """

    name = "two-tower"
    user_features: Tensor
    item_features: Tensor

    def __init__(
        self,
        num_users: int,
        num_items: int,
        embedding_dim: int = 64,
        *,
        layers: Sequence[int] = (128, 64),
        dropout: float = 0.0,
        layer_norm: bool = True,
        temperature: float = 0.05,
        user_features: FeatureInput = None,
        item_features: FeatureInput = None,
        use_ids: bool = True,
        id_dropout: float = 0.0,
        user_feature_dim: int | None = None,
        item_feature_dim: int | None = None,
    ) -> None:
        super().__init__(num_users, num_items)
        self.embedding_dim = positive_int("embedding_dim", embedding_dim)
        self.layers = layer_widths(layers)
        self.dropout = probability(dropout)
        self.layer_norm = bool(layer_norm)
        self.temperature = float(temperature)
        if not self.temperature > 0 or not np.isfinite(self.temperature):
            raise ConfigError(f"temperature must be positive, got {temperature!r}")
        self.use_ids = bool(use_ids)
        self.id_dropout = probability(id_dropout, "id_dropout")
        self.register_buffer(
            "user_features", _feature_tensor(user_features, self.num_users, user_feature_dim, "user")
        )
        self.register_buffer(
            "item_features", _feature_tensor(item_features, self.num_items, item_feature_dim, "item")
        )
        for side, width in (("user", self.user_feature_dim), ("item", self.item_feature_dim)):
            if not self.use_ids and width == 0:
                raise ConfigError(f"use_ids=False needs {side} features: the {side} tower has no input")
        common: dict[str, Any] = {
            "dropout": self.dropout,
            "layer_norm": self.layer_norm,
            "use_ids": self.use_ids,
            "id_dropout": self.id_dropout,
        }
        self.user_tower = _Tower(self.num_users, self.embedding_dim, self.user_feature_dim, self.layers, **common)
        self.item_tower = _Tower(self.num_items, self.embedding_dim, self.item_feature_dim, self.layers, **common)

    @property
    def user_feature_dim(self) -> int:
        return int(self.user_features.shape[1])

    @property
    def item_feature_dim(self) -> int:
        return int(self.item_features.shape[1])

    @property
    def output_dim(self) -> int:
        """Width ``d`` of the user and item vectors."""
        return self.layers[-1]

    # ------------------------------------------------------------------ known entities
    def user_vectors(self, users: Tensor | None = None) -> Tensor:
        """``(B, d)`` normalised user tower outputs divided by ``temperature``."""
        return self._known(self.user_tower, self.user_features, users) / self.temperature

    def item_vectors(self, items: Tensor | None = None) -> Tensor:
        """``(N, d)`` normalised (unit-norm) item tower outputs."""
        return self._known(self.item_tower, self.item_features, items)

    def _known(self, tower: _Tower, table: Tensor, index: Tensor | None) -> Tensor:
        if index is None:
            n = int(table.shape[0])
            ids = torch.arange(n, device=table.device) if self.use_ids else None
            out: Tensor = tower(ids, table, n)
        else:
            out = tower(index, table[index], int(index.shape[0]) if index.ndim else 1)
        return out

    # ------------------------------------------------------------------ cold start
    def _cold(self, tower: _Tower, features: Tensor | None, ids: Tensor | None, side: str) -> Tensor:
        if features is None:
            if tower.feature_dim > 0:
                raise ValueError(f"this model uses {side} features: pass a (B, {tower.feature_dim}) tensor")
            if ids is None:
                raise ValueError(f"pass {side} features or ids")
            batch = int(ids.shape[0])
        else:
            if features.ndim != 2 or features.shape[1] != tower.feature_dim:
                raise ValueError(
                    f"{side} features must have shape (B, {tower.feature_dim}), got {tuple(features.shape)}"
                )
            batch = int(features.shape[0])
            features = features.to(device=self.user_features.device, dtype=self.user_features.dtype)
        if ids is not None:
            ids = ids.to(device=self.user_features.device, dtype=torch.long).reshape(-1)
            if ids.shape[0] != batch:
                raise ValueError(f"{side} ids ({ids.shape[0]}) and features ({batch}) differ in length")
            ids = torch.where((ids >= 0) & (ids < tower.num_ids), ids, torch.full_like(ids, tower.unknown))
        out: Tensor = tower(ids, features, batch)
        return out

    def embed_users(self, features: Tensor | None, ids: Tensor | None = None) -> Tensor:
        """User vectors from feature rows, for users that may be unseen in training.

        Parameters
        ----------
        features : (B, F_user) float tensor, or None when the model has no user features
        ids : (B,) int64, optional
            Known user indices; ``-1`` (or any index outside the universe) and ``None`` mean
            "unknown" and use the unknown-ID row.

        Returns
        -------
        (B, d) tensor, on the same scale as :meth:`user_vectors` (divided by temperature).
        """
        return self._cold(self.user_tower, features, ids, "user") / self.temperature

    def embed_items(self, features: Tensor | None, ids: Tensor | None = None) -> Tensor:
        """Item vectors from feature rows, so a new item can be scored and indexed.

        Parameters
        ----------
        features : (B, F_item) float tensor, or None when the model has no item features
        ids : (B,) int64, optional
            Known item indices; ``-1`` (or any index outside the universe) and ``None`` mean
            "unknown".

        Returns
        -------
        (B, d) unit-norm tensor, on the scale of :meth:`item_vectors`; score a user against
        it with ``(model.user_vectors(users) @ vecs.T)``.
        """
        return self._cold(self.item_tower, features, ids, "item")

    def get_config(self) -> dict[str, Any]:
        return {
            "num_users": self.num_users,
            "num_items": self.num_items,
            "embedding_dim": self.embedding_dim,
            "layers": list(self.layers),
            "dropout": self.dropout,
            "layer_norm": self.layer_norm,
            "temperature": self.temperature,
            "use_ids": self.use_ids,
            "id_dropout": self.id_dropout,
            "user_feature_dim": self.user_feature_dim,
            "item_feature_dim": self.item_feature_dim,
        }
