"""``Recommender``: a trained model turned into recommendations for an application.

Load a run directory (or a bare model directory) once, then ask in raw ids: top-k for known
users, for a new user from the items they touched (fold-in), from side features (two-tower
cold start), similar items, and popularity when nothing is known — every answer saying which
of these produced it. Factorized models rank through an index of item vectors (exact, or an ANN
index built by ``ncf index build``); other models (NeuMF, MLP) are scored exactly in chunks.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np
import numpy.typing as npt
import scipy.sparse as sp
import torch

from ncf._types import PathLike
from ncf.data.features import FeatureTable
from ncf.data.idmap import IdMap, parse_raw_ids, raw_id_list
from ncf.errors import ConfigError, DataError, UnknownIdError
from ncf.models.base import Factorized, HistoryScorer, Model
from ncf.persistence import model_version
from ncf.retrieval.topk import TopK

logger = logging.getLogger(__name__)

SOURCES = ("model", "history", "features", "popularity", "similar")

RawIds = Sequence[str | int] | npt.NDArray[Any]


@dataclass(frozen=True)
class Recommendations:
    """One ranked list: raw item ids, scores, titles when known, and what produced it.

    ``source`` is ``"model"`` (a known user), ``"history"`` (fold-in from items), ``"features"``
    (side features), ``"popularity"`` (nothing personal was known) or ``"similar"`` (items like
    an item). ``reason`` says why a fallback was used.
    """

    items: tuple[str, ...]
    scores: tuple[float, ...]
    source: str
    query: str | None = None
    titles: tuple[str | None, ...] | None = None
    reason: str | None = None

    def __len__(self) -> int:
        return len(self.items)

    def to_dict(self) -> dict[str, Any]:
        rows = []
        for r, (item, score) in enumerate(zip(self.items, self.scores, strict=True)):
            row: dict[str, Any] = {"item": item, "score": score}
            if self.titles is not None and self.titles[r] is not None:
                row["title"] = self.titles[r]
            rows.append(row)
        out: dict[str, Any] = {"items": rows, "source": self.source}
        if self.reason:
            out["reason"] = self.reason
        return out


@dataclass
class _Catalogue:
    """What is known about the items and users beyond the model."""

    user_map: IdMap | None
    item_map: IdMap | None
    seen: sp.csr_matrix | None
    titles: list[str] | None
    popularity: npt.NDArray[np.float64] | None
    user_features: FeatureTable | None = None
    item_features: FeatureTable | None = None
    extra: dict[str, Any] = field(default_factory=dict)


class Recommender:
    """Recommendations from a trained model, in raw ids. Build with :meth:`load`.

    Parameters
    ----------
    model : Model
        A trained ncf model (eval mode).
    catalogue : id maps, seen items, titles and popularity (see :meth:`load`).
    version : str
        Identifies the model (a hash of its weights); every answer can name it.
    index : item-vector index (:mod:`ncf.index`) of a factorized model; default: the exact one.
    """

    def __init__(self, model: Model, catalogue: _Catalogue, *, version: str, path: Path | None = None,
                 index: Any = None) -> None:
        self.model = model.eval()
        self._cat = catalogue
        self.version = version
        self.path = path
        self.index = index
        self._item_vectors: torch.Tensor | None = None
        self._unit_items: torch.Tensor | None = None
        if isinstance(model, Factorized):
            with torch.inference_mode():
                self._item_vectors = model.item_vectors().detach().float().contiguous()
            if self.index is None:
                from ncf.index import ExactIndex

                self.index = ExactIndex(self._item_vectors.numpy())
        self._item_norm_cooc: sp.csr_matrix | None = None

    # ------------------------------------------------------------------ loading
    @classmethod
    def load(cls, path: PathLike, *, index: str | None = "auto", device: str = "cpu") -> Recommender:
        """Load a run directory (``run.json``) or a model directory (``config.json``) once.

        From a run directory the recommender also knows each user's seen items (train, valid
        and test), titles, popularity and side features; a model directory gives the model and
        its id maps only. ``index``: ``"auto"`` uses ``RUN_DIR/index`` when ``ncf index build``
        wrote one, ``None`` always ranks exactly, a path loads that index.
        """
        root = Path(path)
        if (root / "run.json").is_file():
            from ncf.app.artifact import Run

            return cls.from_run(Run.load(root, device=device), index=index)
        if (root / "config.json").is_file():
            from ncf.persistence import load_model

            saved = load_model(root, device=device)
            catalogue = _Catalogue(saved.user_map, saved.item_map, None, None, None)
            version = model_version(root)
            loaded_index = _load_index(root, index, version, saved.model)
            return cls(saved.model, catalogue, version=version, path=root, index=loaded_index)
        raise DataError("neither a run directory (run.json) nor a model directory (config.json)", path=root)

    @classmethod
    def from_run(cls, run: Any, *, index: str | None = "auto", titles: Sequence[str] | None = None) -> Recommender:
        """The recommender of a loaded :class:`ncf.app.Run`: the one way the CLI (``ncf recommend``,
        ``ncf similar``), the library and the server rank for a run, so they answer alike.

        ``index`` as in :meth:`load`; ``titles`` (one per item index) replace the run's own.
        """
        run.set_context(run.known())  # sequence models rank after each user's latest item
        split = run.split
        counts = np.bincount(np.concatenate([p.items for p in run.known()]), minlength=split.num_items)
        user_features, item_features = run.features
        names = list(titles) if titles is not None else run.titles
        if names is not None and len(names) != run.model.num_items:
            raise DataError(f"{len(names)} titles for {run.model.num_items} items")
        catalogue = _Catalogue(run.user_map, run.item_map, run.seen, names, counts.astype(np.float64),
                               user_features, item_features)
        root = Path(run.dir.path)
        version = model_version(run.dir.model_dir)
        loaded_index = _load_index(root, index, version, run.model)
        return cls(run.model, catalogue, version=version, path=root, index=loaded_index)

    # ------------------------------------------------------------------ facts
    def describe_ranking(self, index: str | None) -> str:
        """How this recommender ranks users, asked for with ``index`` as in :meth:`load` (which
        index, or the exact scan and why), for ``ncf serve``'s and ``ncf recommend``'s first line."""
        found = None if index is None or self.path is None else (
            self.path / "index" if index == "auto" else Path(index))
        if self.index is None:
            how = "rows scored from each user's history" if isinstance(self.model, HistoryScorer) else "pair scores"
            return f"each item scored by the model ({how}; not a factorized model: no index)"
        if found is not None and found.exists():
            return f"{self.index.kind} index {found} ({self.index.size:,} vectors, metric {self.index.metric})"
        if index is None:
            return "exact search over the item vectors (--index none)"
        return f"exact search over the item vectors (no {found}: ncf index build {self.path} makes one)"

    @property
    def num_users(self) -> int:
        return self.model.num_users

    @property
    def num_items(self) -> int:
        return self.model.num_items

    @property
    def has_seen_items(self) -> bool:
        return self._cat.seen is not None

    def knows_user(self, raw: str | int) -> bool:
        try:
            return bool(self._lookup(self._cat.user_map, [raw], self.num_users, "user").size)
        except UnknownIdError:  # not even a well-formed id
            return False

    def item_info(self, raw: str | int) -> dict[str, Any]:
        """Title, popularity (interactions) and index of one item; UnknownIdError if unknown."""
        idx = int(self._encode_items([raw])[0])
        info: dict[str, Any] = {"item": self._decode_items(np.array([idx]))[0], "index": idx}
        if self._cat.titles is not None:
            info["title"] = self._cat.titles[idx]
        if self._cat.popularity is not None:
            info["popularity"] = int(self._cat.popularity[idx])
        return info

    # ------------------------------------------------------------------ recommending
    def recommend(
        self,
        users: str | int | RawIds,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        items: RawIds | None = None,
        exclude: RawIds | None = None,
        fallback: bool = False,
    ) -> list[Recommendations]:
        """Top-``k`` items for each raw user id, best first (one list per user, in order).

        Parameters
        ----------
        exclude_seen : drop what each user already interacted with (run directories know it).
        items : allow-list of raw item ids (only these may be recommended).
        exclude : deny-list of raw item ids (never recommended).
        fallback : unknown users get the most popular items (``source="popularity"``) instead
            of an :class:`UnknownIdError`.
        """
        raw_users = [users] if isinstance(users, (str, int, np.integer)) else raw_id_list(users, what="users")
        k = self._k(k)
        allow = None if items is None else self._encode_items(items)
        deny = None if exclude is None else self._encode_items(exclude)
        known = self.user_indices(raw_users, fallback=fallback)
        return self.recommend_indices(known, k, exclude_seen=exclude_seen, deny=deny, allow=allow,
                                      queries=[str(u) for u in raw_users])

    def user_indices(self, users: Sequence[Any], *, fallback: bool = False) -> npt.NDArray[np.int64]:
        """The model's index of each raw user id; ``-1`` for an unknown one with ``fallback``.

        Raises :class:`UnknownIdError` for an unknown id without ``fallback``, and for a malformed
        id always (it is no user at all). The first half of :meth:`recommend`; the server resolves
        ids per request with it and ranks many requests together with :meth:`recommend_indices`.
        """
        return np.asarray(self._known_users(list(users), fallback), dtype=np.int64)

    def recommend_indices(self, users: npt.ArrayLike, k: int = 10, *, exclude_seen: bool = True,
                          deny: npt.NDArray[np.int64] | None = None, allow: npt.NDArray[np.int64] | None = None,
                          queries: Sequence[str] | None = None) -> list[Recommendations]:
        """Top-``k`` for users given by model index (from :meth:`user_indices`; ``-1``: unknown,
        answered with popular items), ranked in one pass; ``deny``/``allow`` are item indices.
        The second half of :meth:`recommend`."""
        known = np.asarray(users, dtype=np.int64).reshape(-1)
        k = self._k(k)
        names = [str(int(u)) for u in known] if queries is None else list(queries)
        out: list[Recommendations | None] = [None] * known.size
        rows = np.flatnonzero(known >= 0)
        if rows.size:
            idx = known[rows]
            seen = [self._seen_row(int(u)) if exclude_seen else None for u in idx]
            top = self._rank_users(idx, k, seen, deny, allow)
            for j, r in enumerate(rows):
                out[r] = self._result(top.ids[j], top.scores[j], "model", names[r])
        for r in np.flatnonzero(known < 0):
            out[r] = self._popular(k, deny, allow, query=names[r], reason="unknown user: the most popular items")
        return [o for o in out if o is not None]

    def recommend_for_history(
        self,
        history: RawIds,
        k: int = 10,
        *,
        exclude_seen: bool = True,
        items: RawIds | None = None,
        exclude: RawIds | None = None,
    ) -> Recommendations:
        """Top-``k`` for a user the model has never seen, from the raw ids of the items they
        interacted with (oldest first: sequence models take the last one as context).

        Factorized models fold the user in (:meth:`ncf.models.Factorized.fold_in`); other models
        rank by item co-occurrence with the history (when the run's interactions are known), or
        fall back to popularity. ``exclude_seen`` drops the history items themselves.
        """
        k = self._k(k)
        history = raw_id_list(history, what="history")
        hist = self._encode_items(history) if len(history) else np.zeros(0, dtype=np.int64)
        allow = None if items is None else self._encode_items(items)
        deny = None if exclude is None else self._encode_items(exclude)
        seen = hist if exclude_seen else None
        if hist.size == 0:
            return self._popular(k, _union(deny, seen), allow, reason="empty history: the most popular items")
        if isinstance(self.model, Factorized):
            with torch.inference_mode():
                vec = self.model.fold_in(torch.from_numpy(hist)).float()[None, :]
            top = self._rank_vectors(vec, k, [seen], deny, allow)
            return self._result(top.ids[0], top.scores[0], "history", None)
        if isinstance(self.model, HistoryScorer):  # the model scores a history directly
            row = torch.zeros((1, self.num_items))
            row[0, torch.from_numpy(hist)] = 1.0
            with torch.inference_mode():
                scores = self.model.score_histories(row).float()
            top = self._rank_scores(scores, k, [seen], deny, allow)
            return self._result(top.ids[0], top.scores[0], "history", None)
        if self._cat.seen is not None:
            scores = self._cooccurrence_scores(hist)
            top = self._rank_scores(scores[None, :], k, [seen], deny, allow)
            return self._result(top.ids[0], top.scores[0], "history", None,
                                reason="item co-occurrence with the history (the model has no user vectors)")
        return self._popular(k, _union(deny, seen), allow,
                             reason="this model cannot fold in a new user and the run's interactions are unknown")

    def recommend_for_features(
        self,
        features: Mapping[str, Any] | npt.ArrayLike,
        k: int = 10,
        *,
        items: RawIds | None = None,
        exclude: RawIds | None = None,
    ) -> Recommendations:
        """Top-``k`` for a new user described by side features (two-tower models with user features).

        ``features``: the encoded row (one value per column of the run's user feature table) or
        raw values by column, encoded like the training data (:meth:`FeatureTable.encode`):
        ``{"gender": "F", "occupation": "student", "age": 25}``.
        """
        k = self._k(k)
        allow = None if items is None else self._encode_items(items)
        deny = None if exclude is None else self._encode_items(exclude)
        embed = getattr(self.model, "embed_users", None)
        table = self._cat.user_features
        if embed is None or int(getattr(self.model, "user_features", torch.zeros(0, 0)).shape[-1]) == 0:
            return self._popular(k, deny, allow, reason="this model has no user-feature tower")
        width = int(self.model.user_features.shape[-1])  # type: ignore[index]
        row = _feature_row(features, table, width)
        with torch.inference_mode():
            vec = embed(torch.from_numpy(row)[None, :], None).float()
        top = self._rank_vectors(vec, k, [None], deny, allow)
        return self._result(top.ids[0], top.scores[0], "features", None)

    def similar_items(self, items: str | int | RawIds, k: int = 10) -> list[Recommendations]:
        """The ``k`` items most like each given item: cosine of item vectors (factorized models),
        the filter's response to the item alone (graph filters) or cosine of interaction columns
        (others), the item itself left out."""
        raw = [items] if isinstance(items, (str, int, np.integer)) else list(items)
        k = self._k(k)
        idx = self._encode_items(raw)
        if self._item_vectors is not None:
            if self._unit_items is None:
                self._unit_items = torch.nn.functional.normalize(self._item_vectors, dim=1)
            scores = self._unit_items[torch.from_numpy(idx)] @ self._unit_items.T
        elif isinstance(self.model, HistoryScorer):  # the filter's response to each item alone
            onehot = torch.zeros((idx.size, self.num_items))
            onehot[torch.arange(idx.size), torch.from_numpy(idx)] = 1.0
            with torch.inference_mode():
                scores = self.model.score_histories(onehot).float()
        elif self._cat.seen is not None:
            cooc = self._cooccurrence()
            scores = torch.from_numpy((cooc[idx] @ cooc.T).toarray().astype(np.float32))
        else:
            raise ConfigError("this model has no item vectors and the run's interactions are unknown")
        top = self._rank_scores(scores, k, [np.array([i]) for i in idx], None, None)
        return [self._result(top.ids[r], top.scores[r], "similar", str(raw[r])) for r in range(len(raw))]

    def popular(self, k: int = 10, *, items: RawIds | None = None, exclude: RawIds | None = None) -> Recommendations:
        """The most interacted-with items of the run."""
        k = self._k(k)
        allow = None if items is None else self._encode_items(items)
        deny = None if exclude is None else self._encode_items(exclude)
        return self._popular(k, deny, allow, reason=None)

    # ------------------------------------------------------------------ ranking internals
    def _k(self, k: int) -> int:
        """``k`` checked and clamped to the catalogue: a larger list does not exist."""
        return min(_check_k(k), max(1, self.num_items))

    def _rank_users(self, users: npt.NDArray[np.int64], k: int, seen: list[npt.NDArray[np.int64] | None],
                    deny: npt.NDArray[np.int64] | None, allow: npt.NDArray[np.int64] | None) -> TopK:
        if isinstance(self.model, Factorized):
            with torch.inference_mode():
                vecs = self.model.user_vectors(torch.from_numpy(users)).float()
            return self._rank_vectors(vecs, k, seen, deny, allow)
        if isinstance(self.model, HistoryScorer):  # whole rows from each user's history (graph filters)
            with torch.inference_mode():
                rows = self.model.score_rows(torch.from_numpy(users)).float()
            return self._rank_scores(rows, k, seen, deny, allow)
        candidates = np.arange(self.num_items) if allow is None else np.unique(allow)
        scores = np.empty((users.size, candidates.size), dtype=np.float32)
        block = max(1, (1 << 17) // max(1, users.size))
        with torch.inference_mode():
            u = torch.from_numpy(users)[:, None]
            for i0 in range(0, candidates.size, block):
                c = torch.from_numpy(candidates[i0:i0 + block])[None, :]
                scores[:, i0:i0 + block] = self.model.score(u, c).float().numpy()
        full = np.full((users.size, self.num_items), -np.inf, dtype=np.float32)
        full[:, candidates] = scores
        return self._rank_scores(torch.from_numpy(full), k, seen, deny, None)

    def _rank_vectors(self, vecs: torch.Tensor, k: int, seen: list[npt.NDArray[np.int64] | None],
                      deny: npt.NDArray[np.int64] | None, allow: npt.NDArray[np.int64] | None) -> TopK:
        assert self.index is not None
        exclude = [_union(deny, s) for s in seen]
        return self.index.search(vecs.numpy(), k, exclude=exclude, allow=allow)  # type: ignore[no-any-return]

    def _rank_scores(self, scores: torch.Tensor, k: int, exclude: list[npt.NDArray[np.int64] | None],
                     deny: npt.NDArray[np.int64] | None, allow: npt.NDArray[np.int64] | None) -> TopK:
        scores = scores.clone()
        if allow is not None:
            keep = torch.zeros(scores.shape[1], dtype=torch.bool)
            keep[torch.from_numpy(allow)] = True
            scores[:, ~keep] = -torch.inf
        for r, row in enumerate(exclude):
            drop = _union(deny, row)
            if drop is not None and drop.size:
                scores[r, torch.from_numpy(drop)] = -torch.inf
        kk = min(k, scores.shape[1])
        top_s, top_i = torch.topk(scores, kk, dim=1)
        ids = top_i.numpy().astype(np.int64)
        vals = top_s.numpy().astype(np.float32)
        ids[np.isneginf(vals)] = -1
        return TopK(ids, vals)

    def _popular(self, k: int, deny: npt.NDArray[np.int64] | None, allow: npt.NDArray[np.int64] | None, *,
                 query: str | None = None, reason: str | None) -> Recommendations:
        if self._cat.popularity is None:
            raise UnknownIdError(f"{reason or 'nothing is known'}; and a model directory has no popularity "
                                 "counts (load the run directory for a popularity fallback)")
        scores = torch.from_numpy(self._cat.popularity.astype(np.float32))[None, :]
        top = self._rank_scores(scores, k, [None], deny, allow)
        return self._result(top.ids[0], top.scores[0], "popularity", query, reason=reason)

    def _cooccurrence(self) -> sp.csr_matrix:
        """Item x user interactions with unit-norm rows (cosine between items)."""
        if self._item_norm_cooc is None:
            assert self._cat.seen is not None
            items = sp.csr_matrix(self._cat.seen.T, dtype=np.float32)
            norms = np.sqrt(np.asarray(items.multiply(items).sum(axis=1)).ravel())
            norms[norms == 0] = 1.0
            self._item_norm_cooc = sp.csr_matrix(sp.diags(1.0 / norms) @ items)
        return self._item_norm_cooc

    def _cooccurrence_scores(self, hist: npt.NDArray[np.int64]) -> torch.Tensor:
        cooc = self._cooccurrence()
        sims = (cooc[hist] @ cooc.T).toarray().sum(axis=0)
        return torch.from_numpy(np.asarray(sims, dtype=np.float32))

    def _result(self, ids: npt.NDArray[np.int64], scores: npt.NDArray[np.float32], source: str, query: str | None,
                reason: str | None = None) -> Recommendations:
        keep = ids >= 0
        idx = ids[keep]
        titles = None if self._cat.titles is None else tuple(self._cat.titles[i] for i in idx)
        return Recommendations(tuple(self._decode_items(idx)), tuple(float(s) for s in scores[keep]), source, query,
                               titles, reason)

    # ------------------------------------------------------------------ ids
    def _known_users(self, raw: list[Any], fallback: bool) -> list[int]:
        out: list[int] = []
        for r in raw:  # a malformed id is refused even with ``fallback`` (it is no user at all)
            found = self._lookup(self._cat.user_map, [r], self.num_users, "user")
            if found.size:
                out.append(int(found[0]))
            elif fallback:
                out.append(-1)
            else:
                raise UnknownIdError(f"unknown user {str(r)!r}")
        return out

    def _seen_row(self, user: int) -> npt.NDArray[np.int64] | None:
        if self._cat.seen is None:
            return None
        s = self._cat.seen
        return np.asarray(s.indices[s.indptr[user]:s.indptr[user + 1]], dtype=np.int64)

    def _encode_items(self, raw: RawIds) -> npt.NDArray[np.int64]:
        values = raw_id_list(raw, what="item ids")
        found = self._lookup(self._cat.item_map, values, self.num_items, "item")
        if found.size != len(values):
            known = {str(v) for v in self._decode_items(found)}
            missing = [str(v) for v in values if str(v) not in known]
            raise UnknownIdError(f"unknown item {missing[0]!r}" + (f" (and {len(missing) - 1} more)" if len(missing) > 1 else ""))
        return found

    def _decode_items(self, idx: npt.NDArray[np.int64]) -> list[str]:
        if self._cat.item_map is None:
            return [str(int(i)) for i in idx]
        return [str(v) for v in self._cat.item_map.decode(idx)]

    @staticmethod
    def _lookup(idmap: IdMap | None, raw: list[Any], size: int, what: str) -> npt.NDArray[np.int64]:
        """Indices of the known ids among ``raw`` (unknown ones are dropped); a malformed id
        (:func:`ncf.data.idmap.parse_raw_id`) is an UnknownIdError saying why."""
        if not raw:
            return np.zeros(0, dtype=np.int64)
        if idmap is None:  # a model directory without id maps: the raw id is the index
            arr = parse_raw_ids(raw, integer=True, what=f"{what} id")
            return arr[(arr >= 0) & (arr < size)]
        arr = parse_raw_ids(raw, integer=idmap.is_integer, what=f"{what} id")
        mask = idmap.contains(arr)
        return idmap.encode(arr[mask]) if mask.any() else np.zeros(0, dtype=np.int64)


# ---------------------------------------------------------------------- helpers
def _load_index(root: Path, index: str | None, version: str, model: Model) -> Any:
    """The run's ANN index (``ncf index build``) when asked for and present, else the exact one."""
    if not isinstance(model, Factorized):
        return None
    from ncf.index import ExactIndex, load_index

    with torch.inference_mode():
        items = model.item_vectors().detach().float().numpy()
    if index is None:
        return ExactIndex(items)
    path = root / "index" if index == "auto" else Path(index)
    if not path.exists():
        if index != "auto":
            raise DataError("no index here", path=path)
        return ExactIndex(items)
    from ncf.app.indexing import read_index_info

    info = read_index_info(root) if index == "auto" else None
    built_for = None if info is None else info.get("model_version")
    if built_for is not None and built_for != version:
        raise DataError(f"the index was built for model {built_for}, not {version}: rebuild it with ncf index build",
                        path=path)
    loaded = load_index(path)
    if (loaded.size, loaded.dim) != items.shape:
        raise DataError(f"the index holds {loaded.size} x {loaded.dim} vectors, the model {items.shape[0]} x "
                        f"{items.shape[1]}: rebuild it with ncf index build", path=path)
    return loaded


def _check_k(k: int) -> int:
    """A positive whole ``k``; callers clamp it to the catalogue (:meth:`Recommender._k`)."""
    if isinstance(k, bool) or not isinstance(k, (int, np.integer)) or int(k) <= 0:
        raise ConfigError(f"k must be a positive integer, got {k!r}")
    return int(k)


def _union(a: npt.NDArray[np.int64] | None, b: npt.NDArray[np.int64] | None) -> npt.NDArray[np.int64] | None:
    if a is None:
        return b
    if b is None:
        return a
    return np.union1d(a, b)


def _feature_row(features: Mapping[str, Any] | npt.ArrayLike, table: FeatureTable | None, width: int) -> npt.NDArray[np.float32]:
    if isinstance(features, Mapping):
        if table is None:
            raise ConfigError("named features need the run's feature table (load the run directory)")
        return table.encode(features)
    row = np.asarray(features, dtype=np.float32).reshape(-1)
    if row.size != width:
        raise ConfigError(f"the user feature row needs {width} values, got {row.size}")
    if not np.isfinite(row).all():
        raise ConfigError("feature values must be finite")
    return row
