"""Models: MSFT adapters (LoRA, D-plugin, Q-plugin), Botfip-LLM, model loading.

May import: ``utils``, ``formula``, ``datasets``.
"""
