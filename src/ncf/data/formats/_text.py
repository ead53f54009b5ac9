"""Low-level file helpers shared by the readers: opening, peeking, compression and int tokens.

Every failure here is a :class:`~ncf.errors.DataError` naming the file (and the line when
known): a truncated ``.gz``, a directory where a file belongs, a byte that is not UTF-8.
"""

from __future__ import annotations

import bz2
import contextlib
import gzip
import zlib
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import IO, cast

import numpy as np
import numpy.typing as npt

from ncf.errors import DataError

COMPRESSED = (".gz", ".bz2")
_UNSUPPORTED = {
    ".xz": "xz", ".lzma": "lzma", ".zst": "zstd", ".zstd": "zstd", ".lz4": "lz4",
    ".br": "brotli", ".zip": "zip", ".7z": "7z", ".z": "compress",
}
_KIND = {".gz": "gzip", ".bz2": "bzip2"}
_BOM = b"\xef\xbb\xbf"
PEEK_BYTES = 1 << 16
SHOWN_CHARS = 40


def shorten(text: str) -> str:
    """``repr(text)``, cut to a few dozen characters so that a message stays one short line."""
    if len(text) > SHOWN_CHARS:
        return repr(text[:SHOWN_CHARS]) + f"... ({len(text)} characters)"
    return repr(text)


def show_bytes(raw: bytes) -> str:
    """:func:`shorten` of UTF-8 text, or the bytes' own repr (``b'\\xe9'``) when not UTF-8."""
    try:
        return shorten(raw.decode("utf-8"))
    except UnicodeDecodeError:
        return repr(raw[:SHOWN_CHARS]) + ("..." if len(raw) > SHOWN_CHARS else "")


# ---------------------------------------------------------------------- paths and compression
def base_suffix(path: Path) -> str:
    """The extension that names the format, ignoring a compression suffix."""
    suffixes = [s.lower() for s in path.suffixes]
    if suffixes and suffixes[-1] in COMPRESSED:
        suffixes = suffixes[:-1]
    return suffixes[-1] if suffixes else ""


def compression(path: Path) -> str | None:
    """``"gzip"``/``"bzip2"`` for a compressed file, None for a plain one."""
    return _KIND.get(path.suffix.lower())


def require_file(path: Path) -> None:
    """DataError unless ``path`` is an existing regular file in a compression ncf reads."""
    if not path.exists():
        raise DataError("file not found", path=path)
    if path.is_dir():
        raise DataError("is a directory, expected a file (use load_dataset for directories)", path=path)
    kind = _UNSUPPORTED.get(path.suffix.lower())
    if kind is not None:
        raise DataError(
            f"{kind}-compressed files are not supported; decompress it, or recompress it as "
            ".gz or .bz2", path=path,
        )


def decompress_error(path: Path, exc: BaseException) -> DataError:
    """The DataError for a compressed file that could not be decompressed."""
    kind = compression(path) or "compressed"
    return DataError(f"truncated or corrupt {kind} file ({exc}); download or compress it again", path=path)


@contextlib.contextmanager
def decompressing(path: Path) -> Iterator[None]:
    """Turn decompression failures (truncated stream, bad CRC, not compressed) into DataError."""
    if compression(path) is None:
        yield
        return
    try:
        yield
    except (EOFError, zlib.error, gzip.BadGzipFile) as exc:
        raise decompress_error(path, exc) from exc
    except OSError as exc:  # bz2 "Invalid data stream"; pyarrow "Truncated compressed stream"
        if exc.errno is not None:  # a real I/O error (permissions, disk): not the data's fault
            raise
        raise decompress_error(path, exc) from exc


def open_binary(path: Path) -> IO[bytes]:
    """Open a (possibly gzip/bz2 compressed) file for binary reading."""
    kind = compression(path)
    if kind == "gzip":
        return cast(IO[bytes], gzip.open(path, "rb"))
    if kind == "bzip2":
        return cast(IO[bytes], bz2.open(path, "rb"))
    return open(path, "rb")


def read_bytes(path: Path, *, strip_bom: bool = False) -> bytes:
    """The whole (decompressed) file; ``strip_bom`` drops a leading UTF-8 byte-order mark."""
    require_file(path)
    with open_binary(path) as fh, decompressing(path):
        data = fh.read()
    if strip_bom and data.startswith(_BOM):
        data = data[len(_BOM) :]
    return data


def peek_lines(path: Path, max_lines: int) -> list[str]:
    """The first lines of a file (decoded leniently), for sniffing headers, separators, types."""
    with open_binary(path) as fh, decompressing(path):
        head = fh.read(PEEK_BYTES)
        more = fh.read(1)
    text = head.decode("utf-8", errors="replace")
    if text.startswith("\ufeff"):
        text = text[1:]
    lines = text.splitlines()
    if more and lines and not text.endswith(("\n", "\r")):
        lines = lines[:-1]  # the last line was cut by the peek
    return lines[: max_lines + 1]


def sniff_sep(first_line: str) -> str:
    """The field separator of a delimited text line (tab, ``::``, comma, ``;``, ``|``, space)."""
    for sep in ("\t", "::", ",", ";", "|"):
        if sep in first_line:
            return sep
    return " "


def first_invalid_utf8(path: Path) -> tuple[int, str] | None:
    """(1-based line, hex of the byte) of the first byte that is not UTF-8, or None."""
    data = read_bytes(path)
    try:
        data.decode("utf-8")
    except UnicodeDecodeError as exc:
        return data.count(b"\n", 0, exc.start) + 1, f"0x{data[exc.start]:02x}"
    return None


def read_text_lines(path: Path, encoding: str) -> list[tuple[int, str]]:
    """(1-based line number, text without the line end) of every non-blank line."""
    require_file(path)
    with open(path, encoding=encoding, errors="replace", newline="") as fh:
        return [(i + 1, ln.rstrip("\r\n")) for i, ln in enumerate(fh) if ln.strip()]


# ---------------------------------------------------------------------- integer tokens
_WS = np.zeros(256, dtype=bool)
_WS[[9, 10, 11, 12, 13, 32]] = True
_DIGIT = np.zeros(256, dtype=bool)
_DIGIT[48:58] = True


@dataclass
class Tokens:
    """Non-negative integer tokens of a text file with their physical line and position."""

    values: npt.NDArray[np.int64]
    line: npt.NDArray[np.int64]  # 0-based physical line of each token
    pos: npt.NDArray[np.int64]  # 0-based position of the token within its line


def line_of(buf: npt.NDArray[np.uint8], offset: int) -> int:
    """1-based line of byte ``offset``."""
    return int(np.count_nonzero(buf[:offset] == 10)) + 1


def tokenize_ints(data: bytes, path: Path, field_at: Sequence[str]) -> Tokens:
    """Parse whitespace-separated non-negative integers, keeping the line structure (vectorised).

    ``field_at[k]`` names the field of the token at position ``k`` of a line (the last entry
    names every later position), for error messages.
    """
    buf = np.frombuffer(data, dtype=np.uint8)
    ws = _WS[buf]
    bad = ~(ws | _DIGIT[buf])
    if bool(bad.any()):
        at = int(np.argmax(bad))
        start = at
        while start > 0 and not ws[start - 1]:
            start -= 1
        end = at
        while end < buf.size and not ws[end]:
            end += 1
        line_start = start
        while line_start > 0 and buf[line_start - 1] != 10:
            line_start -= 1
        pos = len(data[line_start:start].split())
        raise DataError(
            f"{show_bytes(data[start:end])} is not a non-negative integer",
            path=path, line=line_of(buf, at), field=field_at[min(pos, len(field_at) - 1)],
        )
    nonws = ~ws
    starts = np.flatnonzero(nonws & np.concatenate(([True], ws[:-1])))
    ends = np.flatnonzero(nonws & np.concatenate((ws[1:], [True])))
    if starts.size and int((ends - starts).max()) >= 18:
        k = int(np.argmax(ends - starts))
        raise DataError(f"{show_bytes(data[int(starts[k]):int(ends[k]) + 1])} is too large for an index",
                        path=path, line=line_of(buf, int(starts[k])), field=None)
    newlines = np.flatnonzero(buf == 10)
    line = np.searchsorted(newlines, starts).astype(np.int64)
    values = np.fromstring(data, dtype=np.int64, sep=" ") if starts.size else np.zeros(0, np.int64)  # noqa: NPY201
    if values.size != starts.size:  # pragma: no cover - characters were validated above
        raise DataError("could not parse integers", path=path)
    first = np.ones(starts.size, dtype=bool)
    first[1:] = line[1:] != line[:-1]
    first_idx = np.flatnonzero(first)
    group = np.cumsum(first) - 1
    pos = np.arange(starts.size, dtype=np.int64) - first_idx[group]
    return Tokens(values, line, pos)
