"""Exception hierarchy of ncf.

::

    NCFError
    ├── DataError (ValueError)        bad input data: carries path, line and field
    ├── ConfigError (ValueError)      bad settings, unknown config keys
    ├── UnknownIdError (KeyError)     a raw id or index outside an IdMap / universe
    │   └── InvalidIdError            a raw id that cannot be an id at all ("1_0", 10**30, NULs)
    ├── NotFittedError                a model or run used before training
    ├── TrainingDivergedError         the loss became NaN or infinite
    └── DownloadError                 a dataset could not be fetched or verified

    ParameterWarning (UserWarning)    a lossless fix was applied to an argument
"""

from __future__ import annotations

import difflib
import os
from collections.abc import Iterable


class NCFError(Exception):
    """Base class of every error raised by ncf."""


class DataError(NCFError, ValueError):
    """Input data is malformed; names the file, line (1-based) and field when known."""

    def __init__(
        self,
        message: str,
        *,
        path: str | os.PathLike[str] | None = None,
        line: int | None = None,
        field: str | None = None,
    ) -> None:
        self.path = None if path is None else str(path)
        self.line = line
        self.field = field
        self.message = message
        super().__init__(self._format())

    def _format(self) -> str:
        where = []
        if self.path is not None:
            where.append(self.path if self.line is None else f"{self.path}:{self.line}")
        elif self.line is not None:
            where.append(f"line {self.line}")
        if self.field is not None:
            where.append(f"field {self.field!r}")
        return f"{', '.join(where)}: {self.message}" if where else self.message


class ConfigError(NCFError, ValueError):
    """A setting is invalid or unknown."""


class UnknownIdError(NCFError, KeyError):
    """A raw id or an index is not part of the known universe."""

    def __str__(self) -> str:  # KeyError quotes its argument; keep the message readable
        return str(self.args[0]) if self.args else ""


class InvalidIdError(UnknownIdError):
    """A raw id that no id map could hold: not a whole number where ids are integers (``"1_0"``,
    ``"1e1"``), beyond int64, empty or holding control characters (:func:`ncf.data.idmap.parse_raw_id`)."""


class NotFittedError(NCFError):
    """A model, run directory or index was used before it was trained or built."""


class TrainingDivergedError(NCFError):
    """The training loss became NaN or infinite; the last good checkpoint is kept."""


class DownloadError(NCFError):
    """A dataset could not be downloaded or failed verification; says how to use a local copy."""


class ParameterWarning(UserWarning):
    """An argument was adjusted losslessly (e.g. a dtype conversion)."""


def first_line(exc: BaseException, limit: int | None = None) -> str:
    """The first line of ``exc``'s message (its class name when the message is empty), cut to
    ``limit`` characters with ``...``: the one way ncf quotes an error in a one-line message."""
    text = str(exc).strip()
    line = text.splitlines()[0] if text else type(exc).__name__
    return line if limit is None or len(line) <= limit else line[:limit] + "..."


def did_you_mean(word: str, options: Iterable[str]) -> str:
    """A ``" (did you mean 'x'?)"`` hint for the closest of ``options``, or ``""``.

    The one spelling of this hint in ncf: config keys, option values, model and dataset names.
    """
    close = difflib.get_close_matches(str(word), [str(o) for o in options], n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""
