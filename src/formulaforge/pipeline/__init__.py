"""The main job: one YAML recipe from sources to a fine-tuned, evaluated model and its report.

May import every layer below it (``utils`` .. ``evaluation``); only ``app`` and the CLI
sit above it.
"""
