"""``first_line``: the one way an error is quoted in a one-line message (CLI, server, readers)."""

from __future__ import annotations

import pytest

from ncf.errors import first_line


@pytest.mark.parametrize(("exc", "limit", "want"), [
    (ValueError("bad value\n  at line 3\nmore"), None, "bad value"),
    (ValueError("  \n padded first\nsecond"), None, "padded first"),
    (KeyError(), None, "KeyError"),  # an empty message names the class
    (RuntimeError("x" * 250), 200, "x" * 200 + "..."),
    (RuntimeError("x" * 200), 200, "x" * 200),  # at the limit: not cut
])
def test_first_line(exc, limit, want):
    assert first_line(exc, limit) == want

