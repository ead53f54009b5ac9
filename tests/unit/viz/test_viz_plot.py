"""Drawing maps: PNG through matplotlib's Agg canvas, offline HTML through plotly."""

from __future__ import annotations

import numpy as np
import pytest
from fake_models import FixedMF

from ncf.errors import ConfigError
from ncf.viz import MapResult, embedding_map, map_figure, write_map
from ncf.viz.plot import PALETTE, categories, hover_texts


@pytest.fixture(scope="module")
def labelled() -> MapResult:
    labels = np.array([f"g{c}" for c in np.arange(60) % 25])  # more categories than colours
    return embedding_map(FixedMF(10, 60, dim=4), method="pca", labels=labels, titles=[f"<T{i}> & co" for i in range(60)],
                         show_progress=False)


def test_png_is_written_atomically_as_a_real_png(labelled, tmp_path):
    out = write_map(labelled, tmp_path / "map.png")
    assert out.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert [p.name for p in tmp_path.iterdir()] == ["map.png"]  # no temporary file left


def test_continuous_colours_draw_a_png_too(tmp_path):
    result = embedding_map(FixedMF(10, 40, dim=4), method="pca", color_by="popularity", show_progress=False)
    assert write_map(result, tmp_path / "pop.png").stat().st_size > 1000


def test_html_is_self_contained_and_hover_shows_escaped_titles(labelled, tmp_path):
    page = write_map(labelled, tmp_path / "map.html").read_text(encoding="utf-8")
    assert "<script src=" not in page.replace('<script src="data:', "")  # plotly.js is inlined, no CDN
    assert "Plotly.newPlot" in page and len(page) > 1_000_000
    assert "&lt;T7&gt; &amp; co" in page and "<T7>" not in page


def test_many_categories_keep_the_largest_and_group_the_rest(labelled):
    cats = categories(labelled)
    assert cats[0][0] == "other" and len(cats) == len(PALETTE)
    assert sum(int(mask.sum()) for _, _, mask in cats) == len(labelled)
    fig = map_figure(labelled)
    assert len(fig.data) == len(cats)
    assert "id 7" in hover_texts(labelled)[7]


def test_the_suffix_chooses_the_format(labelled, tmp_path):
    with pytest.raises(ConfigError, match=r"\.png or \.html"):
        write_map(labelled, tmp_path / "map.svg")
