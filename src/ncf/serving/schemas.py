"""The HTTP API's request bodies and the documented shapes of its answers (pydantic models)."""

from __future__ import annotations

from typing import Annotated

from pydantic import BaseModel, ConfigDict, Field, StrictInt, StringConstraints

RawId = Annotated[str, StringConstraints(min_length=1, max_length=256)] | StrictInt


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class RecommendRequest(_Body):
    users: list[RawId] = Field(min_length=1, description="Raw user ids.")
    k: int = Field(10, ge=1, description="Items per user.")
    exclude_seen: bool = True
    items: list[RawId] | None = Field(None, description="Allow-list: only these items may be recommended.")
    exclude: list[RawId] | None = Field(None, description="Deny-list: never recommend these items.")
    fallback: bool = Field(False, description="Unknown users get popular items instead of a 404.")


class HistoryRequest(_Body):
    history: list[RawId] = Field(description="Raw ids of the items the new user interacted with, oldest first.")
    k: int = Field(10, ge=1)
    exclude_seen: bool = Field(True, description="Leave the history items out.")
    items: list[RawId] | None = None
    exclude: list[RawId] | None = None


class FeaturesRequest(_Body):
    features: dict[str, float | str | list[str]] | list[float] = Field(
        description="Side features of a new user: {column: value} or the encoded row.")
    k: int = Field(10, ge=1)
    items: list[RawId] | None = None
    exclude: list[RawId] | None = None


class ReloadRequest(_Body):
    path: str | None = Field(None, description="Bundle to load (default: the current one again).")


# ---------------------------------------------------------------------- answers (documented shapes)
class RankedItem(BaseModel):
    item: str = Field(description="Raw item id.")
    score: float
    title: str | None = Field(None, description="Present when the run knows item titles.")


class RankedList(BaseModel):
    model_version: str
    items: list[RankedItem]
    source: str = Field(description="model, history, features, popularity or similar.")
    reason: str | None = Field(None, description="Why a fallback answered (absent otherwise).")


class UserRankedList(RankedList):
    user: str


class ItemRankedList(RankedList):
    item: str


class ManyRankedLists(BaseModel):
    model_version: str
    results: list[UserRankedList]


__all__ = ["FeaturesRequest", "HistoryRequest", "ItemRankedList", "ManyRankedLists", "RankedItem", "RankedList",
           "RawId", "RecommendRequest", "ReloadRequest", "UserRankedList"]
