"""Botfip-LLM (Chen, Xu, Zheng 2024): multimodal pre-training of function images and OTS
with knowledge distillation from a frozen LLM. See docs/botfip.md."""

from formulaforge.models.botfip.config import BotfipConfig, paper_config, preset, tiny_config

__all__ = ["BotfipConfig", "paper_config", "preset", "tiny_config"]
