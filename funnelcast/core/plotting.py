"""Matplotlib for files only, with a font that has Chinese glyphs (stage names such as 明确需求
would otherwise be drawn as empty boxes). Every chart module gets pyplot from here."""

from __future__ import annotations

from functools import cache
from pathlib import Path

import matplotlib

matplotlib.use("Agg")  # files only, no display
import matplotlib.pyplot as plt  # noqa: E402
from matplotlib import font_manager  # noqa: E402

CJK_FONT_FILE = "NotoSansCJKsc-Regular.otf"


@cache
def pyplot():
    """pyplot with Noto Sans CJK SC registered first in the sans-serif list (Latin falls back to DejaVu)."""
    import mplfonts

    path = Path(mplfonts.__file__).parent / "fonts" / CJK_FONT_FILE
    if path.is_file():
        font_manager.fontManager.addfont(str(path))
        name = font_manager.FontProperties(fname=str(path)).get_name()
        plt.rcParams["font.sans-serif"] = [name, *plt.rcParams["font.sans-serif"]]
        plt.rcParams["font.family"] = "sans-serif"
        plt.rcParams["axes.unicode_minus"] = False  # the CJK font lacks U+2212
    return plt
