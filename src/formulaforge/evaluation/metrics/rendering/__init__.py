"""Render engines for the CDM-style metric: each turns a formula into the symbols it draws.

* :mod:`.mathtext` — pure Python (matplotlib's mathtext layout, research LaTeX rewritten
  into what mathtext reads); always available.
* :mod:`.tex` — a real TeX engine (``latex`` to DVI, glyphs read with
  ``matplotlib.dviread``); used when ``latex`` is installed.

Both give :class:`Symbol` tuples in ems from the formula's left edge and baseline, or
``None`` for a formula the engine cannot render.
"""

from formulaforge.evaluation.metrics.rendering.symbols import Symbol

__all__ = ["Symbol"]
