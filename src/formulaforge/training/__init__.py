"""Training loops and recipes for each stage and model.

May import: ``utils``, ``formula``, ``datasets``, ``models``.
"""
