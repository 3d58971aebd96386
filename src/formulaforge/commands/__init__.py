"""CLI command groups, one module each; :mod:`formulaforge.cli` wires them together."""
