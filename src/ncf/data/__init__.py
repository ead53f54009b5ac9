"""Data layer: interactions, id maps, readers, splits, synthetic data and datasets."""

from ncf.data.idmap import IdMap
from ncf.data.interactions import Interactions, Split

__all__ = ["IdMap", "Interactions", "Split"]
