"""FormulaForge: teach large language models mathematics the way researchers write it.

Layers follow the data: ``sources`` -> ``formula`` -> ``datasets`` -> ``models`` ->
``training`` -> ``evaluation`` -> ``app``, with ``cli`` on top. ``utils`` is the floor
every layer may import; a layer never imports one above it.
"""

__version__ = "0.1.0"
