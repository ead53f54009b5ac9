"""Embedding maps: a model's item (or user) vectors projected to 2-D and coloured by what is known.

What a map can show is what the vectors hold: items a model ranks alike sit together. The map
is judged, not only drawn: :func:`knn_purity` is the share of each point's nearest neighbours
*on the map* that share its label (genre, cluster, feature), and :attr:`MapResult.shuffled_purity`
is the same with the labels shuffled, the level a map with no structure reaches.

Vectors. :class:`~ncf.models.Factorized` models give ``item_vectors()`` / ``user_vectors()``
(the vectors their scores are dot products of); columns that never vary (the constant ``1`` of
MF and GMF's bias trick) are dropped. Other models (NeuMF, MLP) have no such vectors; their item
(user) embedding tables, the modules named ``*item_embedding`` (``*user_embedding``), are
L2-normalised and concatenated, so GMF's and the MLP's halves of NeuMF weigh the same. A model
with neither (or fewer than two varying columns, such as popularity) is refused.

Projection: ``pca`` (exact, seconds even for 10^5 points), ``umap`` (umap-learn; keeps local
neighbourhoods, the most readable map) or ``tsne`` (scikit-learn). With ``metric="cosine"`` the
vectors are L2-normalised first (for unit vectors Euclidean distance is a monotone function of
the cosine), so every method sees directions, which is what a dot-product ranking mostly uses.

Large catalogues are sampled first (``sample``, default 20,000): UMAP and t-SNE grow faster
than linearly, and a plot of more points shows no more. The sample is stratified by the colour
labels when they are categories (each label keeps its share and at least one point), else uniform,
and seeded. ``benchmarks/viz_cost.py`` measures the cost on Gowalla's 41k items.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

import numpy as np
import numpy.typing as npt

from ncf.app.artifact import Run
from ncf.data.features import FeatureTable
from ncf.errors import ConfigError, DataError, did_you_mean
from ncf.models.base import Factorized, Model
from ncf.viz._deps import require
from ncf.viz.constants import DEFAULT_SAMPLE, METHODS
from ncf.viz.progress import Steps

if TYPE_CHECKING:
    from ncf.data.interactions import Interactions

logger = logging.getLogger(__name__)

__all__ = [
    "DEFAULT_SAMPLE",
    "METHODS",
    "MapResult",
    "embedding_map",
    "entity_vectors",
    "feature_colors",
    "knn_purity",
    "label_purity",
    "project",
    "sample_rows",
    "shuffled_purity",
]

SIDES = ("items", "users")
METRICS = ("cosine", "euclidean")
#: Neighbours of :func:`knn_purity`.
DEFAULT_K = 10
#: Label of a row that has none of a feature's categories.
NO_LABEL = "(none)"

FloatArray = npt.NDArray[np.float32]
IntArray = npt.NDArray[np.int64]
StrArray = npt.NDArray[np.str_]


@dataclass(frozen=True, eq=False)
class MapResult:
    """A 2-D map of items (or users): coordinates plus what each point is and how it is coloured.

    Attributes
    ----------
    coords : (n, 2) float32
        Map coordinates of the drawn points.
    rows : (n,) int64
        Their item (user) indices in the model's universe.
    what : {"items", "users"}
    method : {"umap", "tsne", "pca"}
    color_by : str
        ``"genre"``, ``"popularity"``, ``"cluster"``, a feature name, or ``"labels"``.
    labels : (n,) str or None
        Category of each point (categorical colourings).
    values : (n,) float64 or None
        Value of each point (continuous colourings: popularity as ``log10(1 + count)``, dense
        features).
    raw_ids : tuple of str
        Raw ids of the points.
    titles : tuple of str or None
        Item titles, when the run has them.
    counts : (n,) int64
        Training interactions of each point (item popularity, or user activity).
    total : int
        Items (users) before sampling.
    seconds : float
        Time of the projection alone.
    purity, shuffled_purity : float or None
        :func:`knn_purity` of ``labels`` on the map, and its mean over label shuffles.
    k : int
        Neighbours used for the purities.
    """

    coords: FloatArray
    rows: IntArray
    what: str
    method: str
    color_by: str
    labels: StrArray | None
    values: npt.NDArray[np.float64] | None
    raw_ids: tuple[str, ...]
    titles: tuple[str, ...] | None
    counts: IntArray
    total: int
    seconds: float
    purity: float | None = None
    shuffled_purity: float | None = None
    k: int = DEFAULT_K

    def __len__(self) -> int:
        return int(self.rows.shape[0])

    def __repr__(self) -> str:
        return f"MapResult({len(self)} {self.what} of {self.total}, {self.method}, color_by={self.color_by!r})"

    @property
    def sampled(self) -> bool:
        return len(self) < self.total

    def summary(self) -> str:
        """One line: what was mapped, how, and the purity against shuffled labels."""
        shown = f"{len(self):,} of {self.total:,}" if self.sampled else f"{len(self):,}"
        line = f"{shown} {self.what} by {self.method} in {self.seconds:.1f}s, colour: {self.color_by}"
        if self.purity is not None and self.shuffled_purity is not None:
            line += (f"; {self.k}-NN label purity {self.purity:.3f} on the map "
                     f"vs {self.shuffled_purity:.3f} with shuffled labels")
        return line

    def to_dict(self) -> dict[str, Any]:
        """The map's description (not its points), JSON-ready."""
        return {"what": self.what, "method": self.method, "color_by": self.color_by, "points": len(self),
                "total": self.total, "seconds": self.seconds, "k": self.k, "purity": self.purity,
                "shuffled_purity": self.shuffled_purity}


# ---------------------------------------------------------------------- vectors
def _side(what: str) -> str:
    if what not in SIDES:
        raise ConfigError(f"what must be one of {', '.join(SIDES)}, got {what!r}{did_you_mean(what, SIDES)}")
    return what[:-1]


def entity_vectors(model: Model, what: str = "items") -> FloatArray:
    """The vectors a map of ``what`` ("items" or "users") is drawn from, ``(n, d)`` float32.

    Factorized models: ``item_vectors()`` / ``user_vectors()`` without constant columns. Other
    models: their ``*item_embedding`` (``*user_embedding``) tables, each L2-normalised,
    side by side.

    Raises
    ------
    ConfigError
        When the model has neither, or fewer than two columns that vary.
    """
    import torch

    side = _side(what)
    n = model.num_items if side == "item" else model.num_users
    was_training = model.training
    model.eval()
    try:
        with torch.inference_mode():
            if isinstance(model, Factorized):
                tensor = model.item_vectors() if side == "item" else model.user_vectors()
                vectors = tensor.detach().float().cpu().numpy()
                source = f"{side}_vectors()"
            else:
                tables = [m for name, m in model.named_modules()
                          if isinstance(m, torch.nn.Embedding) and name.rsplit(".", 1)[-1].endswith(f"{side}_embedding")
                          and m.num_embeddings >= n]
                if not tables:
                    raise ConfigError(f"model {model.name!r} has no {side} vectors and no {side} embedding table "
                                      f"to map; train a factorized model (mf, gmf, two-tower, ...) for a map")
                vectors = np.concatenate([_unit(t.weight[:n].detach().float().cpu().numpy()) for t in tables], axis=1)
                source = f"{len(tables)} {side} embedding table(s)"
    finally:
        model.train(was_training)
    vectors = np.ascontiguousarray(vectors, dtype=np.float32)
    if vectors.ndim != 2 or vectors.shape[0] != n:
        raise DataError(f"model {model.name!r} gave {side} vectors of shape {vectors.shape}, expected ({n}, d)")
    varying = vectors.std(axis=0) > 0
    if int(varying.sum()) < 2:
        raise ConfigError(f"model {model.name!r}: its {side} vectors have {int(varying.sum())} varying "
                          f"column(s), too few for a 2-D map (a popularity model has one number per {side})")
    logger.info("%s %s vectors from %s: %d of %d columns vary", n, side, source, int(varying.sum()), vectors.shape[1])
    return np.ascontiguousarray(vectors[:, varying])


def _unit(x: npt.NDArray[Any]) -> FloatArray:
    norms = np.linalg.norm(x, axis=1, keepdims=True)
    return np.asarray(x / np.where(norms > 0, norms, 1.0), dtype=np.float32)


# ---------------------------------------------------------------------- sampling and projection
def sample_rows(num: int, sample: int | None, *, seed: int = 0, strata: npt.ArrayLike | None = None) -> IntArray:
    """Sorted row indices: all ``num`` rows, or ``sample`` of them drawn without replacement.

    With ``strata`` (one label per row) each stratum keeps its share of the sample (largest
    remainders; at least one row per stratum), so rare labels stay on the map; a sample smaller
    than the number of strata is drawn uniformly.
    """
    if sample is not None and (isinstance(sample, bool) or int(sample) < 1):
        raise ConfigError(f"sample must be a positive number of points, got {sample!r}")
    if sample is None or num <= int(sample):
        return np.arange(num, dtype=np.int64)
    size = int(sample)
    rng = np.random.default_rng(seed)
    if strata is None:
        return np.sort(rng.choice(num, size=size, replace=False)).astype(np.int64)
    labels = np.asarray(strata)
    if labels.shape != (num,):
        raise DataError(f"strata must have one label per row ({num}), got shape {labels.shape}")
    _, inverse = np.unique(labels, return_inverse=True)
    inverse = inverse.reshape(-1)
    sizes = np.bincount(inverse)
    if size < sizes.size:  # fewer points than strata: one each is impossible, draw uniformly
        return np.sort(rng.choice(num, size=size, replace=False)).astype(np.int64)
    alloc = _allocate(sizes, size)
    order = np.lexsort((rng.random(num), inverse))  # rows grouped by stratum, random within
    starts = np.concatenate([[0], np.cumsum(sizes)[:-1]])
    rank = np.empty(num, dtype=np.int64)
    rank[order] = np.arange(num) - starts[inverse[order]]
    return np.flatnonzero(rank < alloc[inverse]).astype(np.int64)


def _allocate(sizes: npt.NDArray[np.int64], total: int) -> npt.NDArray[np.int64]:
    """Proportional allocation of ``total`` over strata of ``sizes``: >= 1 each, <= size, sum ``total``."""
    quota = sizes * (total / sizes.sum())
    alloc = np.minimum(np.maximum(np.floor(quota).astype(np.int64), 1), sizes)
    diff = total - int(alloc.sum())
    if diff > 0:  # hand out the rest by the largest remainders
        room = sizes - alloc
        order = np.argsort(-(quota - np.floor(quota)), kind="stable")
        for s in order:
            if diff == 0:
                break
            add = min(int(room[s]), diff)
            alloc[s] += add
            diff -= add
    elif diff < 0:  # the at-least-one rule overshot: take from the biggest allocations
        for s in np.argsort(-alloc, kind="stable"):
            if diff == 0:
                break
            take = min(int(alloc[s]) - 1, -diff)
            alloc[s] -= take
            diff += take
    return np.asarray(alloc, dtype=np.int64)


def project(vectors: npt.ArrayLike, *, method: str = "umap", metric: str = "cosine", seed: int = 0,
            n_neighbors: int = 15) -> FloatArray:
    """``(n, d)`` vectors -> ``(n, 2)`` map coordinates by ``method`` (pca, umap or tsne).

    Parameters
    ----------
    vectors : (n, d) float
    method : {"umap", "tsne", "pca"}
    metric : {"cosine", "euclidean"}
        ``"cosine"`` L2-normalises the rows first.
    seed : int
        Seeds UMAP / t-SNE (a seeded UMAP runs on one thread).
    n_neighbors : int
        UMAP's neighbourhood size (t-SNE's perplexity is set to match, within its limits).
    """
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}{did_you_mean(method, METHODS)}")
    if metric not in METRICS:
        raise ConfigError(f"metric must be one of {', '.join(METRICS)}, got {metric!r}")
    x = np.asarray(vectors, dtype=np.float32)
    if x.ndim != 2 or x.shape[1] < 2:
        raise DataError(f"vectors must be (n, d) with d >= 2, got shape {x.shape}")
    if not bool(np.isfinite(x).all()):
        raise DataError("vectors contain NaN or infinite values (did training diverge?)")
    n = x.shape[0]
    minimum = 2 if method == "pca" else 5
    if n < minimum:
        raise ConfigError(f"{method} needs at least {minimum} points, got {n}")
    if metric == "cosine":
        x = _unit(x)
    if method == "pca":
        return _pca(x)
    if method == "tsne":
        manifold = require("sklearn.manifold", feature="t-SNE maps")
        perplexity = float(min(max(5, n_neighbors * 2), (n - 1) / 3))
        tsne = manifold.TSNE(n_components=2, perplexity=perplexity, init="pca", learning_rate="auto",
                             random_state=seed)
        return np.asarray(tsne.fit_transform(x), dtype=np.float32)
    umap = require("umap", feature="UMAP maps")
    reducer = umap.UMAP(n_components=2, n_neighbors=min(n_neighbors, n - 1), min_dist=0.1, metric="euclidean",
                        random_state=seed, n_jobs=1, low_memory=True)
    return np.asarray(reducer.fit_transform(x), dtype=np.float32)


def _pca(x: FloatArray) -> FloatArray:
    """The first two principal components (float64 SVD), signs fixed so the result is deterministic."""
    centred = x.astype(np.float64) - x.mean(axis=0, dtype=np.float64)
    _, _, vt = np.linalg.svd(centred, full_matrices=False)
    axes = vt[:2]
    signs = np.sign(axes[np.arange(2), np.abs(axes).argmax(axis=1)])
    axes = axes * np.where(signs == 0, 1.0, signs)[:, None]
    coords = centred @ axes.T
    if coords.shape[1] < 2:  # one sample direction only
        coords = np.pad(coords, ((0, 0), (0, 2 - coords.shape[1])))
    return np.asarray(coords, dtype=np.float32)


# ---------------------------------------------------------------------- map quality
def _neighbours(coords: npt.ArrayLike, k: int) -> IntArray:
    """Each point's ``k`` nearest other points on the map, ``(n, k)`` (ties to itself handled)."""
    from scipy.spatial import cKDTree

    xy = np.asarray(coords, dtype=np.float64)
    n = xy.shape[0]
    if k < 1 or n <= k:
        raise ConfigError(f"k must be between 1 and the number of points - 1 ({n - 1}), got {k}")
    _, idx = cKDTree(xy).query(xy, k=k + 1)
    idx = np.asarray(idx, dtype=np.int64)
    others = idx != np.arange(n)[:, None]  # drop the point itself wherever it landed
    first = np.argsort(~others, axis=1, kind="stable")[:, :k]
    return np.take_along_axis(idx, first, axis=1)


def _purity(nb: IntArray, labels: npt.NDArray[Any]) -> float:
    return float((labels[nb] == labels[:, None]).mean())


def knn_purity(coords: npt.ArrayLike, labels: npt.ArrayLike, *, k: int = DEFAULT_K) -> float:
    """Mean share of each point's ``k`` nearest neighbours on the map that carry its label.

    With ``C`` labels of shares ``p_c`` a map with no structure scores about ``sum p_c^2``
    (what shuffled labels give); a map that separates the labels scores near 1.
    """
    lab = np.asarray(labels)
    if lab.shape[0] != np.asarray(coords).shape[0]:
        raise DataError("one label per point expected")
    return _purity(_neighbours(coords, k), lab)


def shuffled_purity(coords: npt.ArrayLike, labels: npt.ArrayLike, *, k: int = DEFAULT_K, seed: int = 0,
                    repeats: int = 5) -> float:
    """:func:`knn_purity` with the labels randomly permuted, averaged over ``repeats`` shuffles."""
    lab = np.asarray(labels)
    nb = _neighbours(coords, k)
    rng = np.random.default_rng(seed)
    return float(np.mean([_purity(nb, lab[rng.permutation(lab.shape[0])]) for _ in range(repeats)]))


def label_purity(coords: npt.ArrayLike, membership: npt.ArrayLike, *, k: int = DEFAULT_K) -> npt.NDArray[np.float64]:
    """Per label (multi-label data such as genres): among the points with label ``l``, the mean
    share of their ``k`` map neighbours that also have ``l``; NaN for a label no point has.

    Parameters
    ----------
    coords : (n, 2)
    membership : (n, L) bool or 0/1
    """
    m = np.asarray(membership).astype(bool)
    nb = _neighbours(coords, k)
    share = m[nb].mean(axis=1)  # (n, L): neighbours having each label
    counts = m.sum(axis=0)
    return np.where(counts > 0, (share * m).sum(axis=0) / np.maximum(counts, 1), np.nan)


# ---------------------------------------------------------------------- colours
@dataclass(frozen=True)
class _Colors:
    name: str
    labels: StrArray | None = None
    values: npt.NDArray[np.float64] | None = None


def feature_colors(table: FeatureTable, name: str) -> tuple[StrArray | None, npt.NDArray[np.float64] | None]:
    """Labels (categorical) or values (continuous) of one feature for every row of ``table``.

    ``name`` is a column (``"year"``, ``"genre=Comedy"``) or a group of one-hot / multi-hot
    columns (``"occupation"``, ``"genre"``: the columns ``name=...``). A one-hot group gives each
    row its category; a multi-hot group (genres) the rarest of the row's categories, the one that
    says most about it (MovieLens lists genres alphabetically, so "the first" would mostly be
    Action); rows with none get ``"(none)"``. A binary column gives ``"yes"``/``"no"``, a dense
    column its (standardised) values.
    """
    names = list(table.names)
    if name in names:
        col = table.values[:, names.index(name)].astype(np.float64)
        if "=" in name:
            return np.where(col > 0, "yes", "no").astype(np.str_), None
        return None, col
    group = [c for c, n in enumerate(names) if n.startswith(f"{name}=")]
    if not group:
        choices = sorted({n.split("=", 1)[0] for n in names} | set(names))
        raise ConfigError(f"no feature {name!r} in this table{did_you_mean(name, choices)}; "
                          f"features: {', '.join(sorted({n.split('=', 1)[0] for n in names}))}")
    block = table.values[:, group] > 0
    labels = np.asarray([names[c].split("=", 1)[1] for c in group], dtype=np.str_)
    # rarest category first: a row's label is its present category of the smallest catalogue count
    order = np.argsort(block.sum(axis=0), kind="stable")
    ranked = block[:, order]
    has = ranked.any(axis=1)
    pick = labels[order][ranked.argmax(axis=1)]
    return np.where(has, pick, NO_LABEL).astype(np.str_), None


def _colors(color_by: str, *, side: str, vectors: FloatArray, counts: IntArray, features: FeatureTable | None,
            labels: npt.ArrayLike | None, clusters: int, seed: int) -> _Colors:
    """Colours of the rows of ``vectors`` (already sampled rows for cluster)."""
    if color_by == "labels":
        lab = np.asarray(labels).astype(str)
        return _Colors("labels", labels=lab)
    if color_by == "popularity":
        return _Colors("popularity", values=np.log10(1.0 + counts.astype(np.float64)))
    if color_by == "cluster":
        if isinstance(clusters, bool) or not 2 <= int(clusters) <= 50:
            raise ConfigError(f"clusters must be between 2 and 50, got {clusters!r}")
        cluster = require("sklearn.cluster", feature="cluster colours")
        k = min(int(clusters), vectors.shape[0])
        fitted = cluster.KMeans(n_clusters=k, n_init=4, random_state=seed).fit(_unit(vectors))
        return _Colors("cluster", labels=np.char.add("cluster ", np.asarray(fitted.labels_).astype(str)))
    if features is None:
        raise ConfigError(f"colour by {color_by!r}: there are no {side} features "
                          f"(colour by popularity or cluster)")
    lab_arr, values = feature_colors(features, color_by)
    return _Colors(color_by, labels=lab_arr, values=values)


def default_color(what: str, features: FeatureTable | None, labels: npt.ArrayLike | None) -> str:
    """``labels`` when given, else genre for items that have genres, else popularity."""
    if labels is not None:
        return "labels"
    if what == "items" and features is not None and any(n.startswith("genre=") for n in features.names):
        return "genre"
    return "popularity"


# ---------------------------------------------------------------------- the map
def embedding_map(
    source: Run | Model,
    *,
    what: str = "items",
    method: str = "umap",
    color_by: str | None = None,
    labels: npt.ArrayLike | None = None,
    features: FeatureTable | None = None,
    titles: Sequence[str] | None = None,
    raw_ids: Sequence[str] | None = None,
    train: Interactions | None = None,
    sample: int | None = DEFAULT_SAMPLE,
    seed: int = 0,
    clusters: int = 10,
    metric: str = "cosine",
    k: int = DEFAULT_K,
    show_progress: bool = True,
) -> MapResult:
    """Project a model's item (or user) vectors to 2-D and colour them.

    Parameters
    ----------
    source : Run or Model
        A loaded run (:meth:`ncf.app.Run.load`: its titles, features, raw ids and training
        counts are used) or a bare model (pass what you have of those).
    what : {"items", "users"}
    method : {"umap", "tsne", "pca"}
    color_by : str, optional
        ``"genre"``, ``"popularity"`` (training counts), ``"cluster"`` (k-means on the vectors,
        ``clusters`` of them), a feature name or column (see :func:`feature_colors`), or
        ``"labels"`` (the ``labels`` argument). Default: ``labels`` when given, else genre when
        the items have genres, else popularity.
    labels : (num_items,) or (num_users,) array, optional
        Your own category per item (user), e.g. planted clusters.
    features, titles, raw_ids, train : optional
        Override (or, for a bare model, supply) the run's feature table of this side, item
        titles, raw ids and training interactions (for the counts).
    sample : int or None
        Most points drawn (None: all), stratified by categorical colours, seeded by ``seed``.
    seed : int
        Seeds the sample, the projection, k-means and the label shuffles.
    metric : {"cosine", "euclidean"}
    k : int
        Neighbours for the label purity.
    show_progress : bool
        A step bar on stderr when it is a terminal.

    Returns
    -------
    MapResult

    Examples
    --------
    >>> run = Run.load("runs/mf")                                          # doctest: +SKIP
    >>> result = embedding_map(run, method="pca", color_by="genre")        # doctest: +SKIP
    >>> print(result.summary())                                            # doctest: +SKIP
    """
    side = _side(what)
    if method not in METHODS:
        raise ConfigError(f"method must be one of {', '.join(METHODS)}, got {method!r}{did_you_mean(method, METHODS)}")
    with Steps(4, show=show_progress, desc=f"map of {what}") as steps:
        steps.next("vectors")
        if isinstance(source, Run):
            model = source.model
            run_features = source.features[0 if side == "user" else 1]
            features = run_features if features is None else features
            if titles is None and side == "item":
                titles = source.titles
            if raw_ids is None:
                all_rows = np.arange(model.num_items if side == "item" else model.num_users)
                raw_ids = source.decode_items(all_rows) if side == "item" else source.decode_users(all_rows)
            train = source.split.train if train is None else train
        else:
            model = source
        num = model.num_items if side == "item" else model.num_users
        vectors = entity_vectors(model, what)
        counts = _counts(train, side, num)
        _check_lengths(num, side, labels=labels, titles=titles, raw_ids=raw_ids, features=features)
        color_by = color_by or default_color(what, features, labels)
        if color_by == "labels" and labels is None:
            raise ConfigError("color_by='labels' needs the labels argument")
        if color_by == "genre" and side == "user":
            raise ConfigError("genre colours items; colour users by a feature (e.g. gender, occupation), "
                              "popularity or cluster")

        steps.next("colours")
        strata: npt.NDArray[Any] | None = None
        pre: _Colors | None = None
        if color_by != "cluster":  # cluster labels are fitted on the sampled vectors
            pre = _colors(color_by, side=side, vectors=vectors, counts=counts, features=features, labels=labels,
                          clusters=clusters, seed=seed)
            strata = pre.labels
        rows = sample_rows(num, sample, seed=seed, strata=strata)
        sub = vectors[rows]
        if pre is None:
            colors = _colors("cluster", side=side, vectors=sub, counts=counts[rows], features=None, labels=None,
                             clusters=clusters, seed=seed)
        else:
            colors = _Colors(pre.name, None if pre.labels is None else pre.labels[rows],
                             None if pre.values is None else pre.values[rows])

        steps.next(f"{method} of {len(rows):,} points")
        t0 = time.perf_counter()
        coords = project(sub, method=method, metric=metric, seed=seed)
        seconds = time.perf_counter() - t0

        steps.next("purity")
        purity = shuffled = None
        if colors.labels is not None and len(rows) > k and np.unique(colors.labels).size > 1:
            purity = knn_purity(coords, colors.labels, k=k)
            shuffled = shuffled_purity(coords, colors.labels, k=k, seed=seed)
    ids = tuple(str(r) for r in (np.asarray(raw_ids)[rows] if raw_ids is not None else rows))
    shown_titles = tuple(str(t) for t in np.asarray(titles)[rows]) if titles is not None and side == "item" else None
    return MapResult(coords, rows, what, method, colors.name, colors.labels, colors.values, ids, shown_titles,
                     counts[rows], num, seconds, purity, shuffled, k)


def _counts(train: Interactions | None, side: str, num: int) -> IntArray:
    if train is None:
        return np.zeros(num, dtype=np.int64)
    index = train.items if side == "item" else train.users
    return np.bincount(np.asarray(index, dtype=np.int64), minlength=num).astype(np.int64)


def _check_lengths(num: int, side: str, **given: Any) -> None:
    for name, value in given.items():
        if value is None:
            continue
        size = value.num_rows if isinstance(value, FeatureTable) else len(value)
        if size != num:
            raise DataError(f"{name} has {size} rows for {num} {side}s")
