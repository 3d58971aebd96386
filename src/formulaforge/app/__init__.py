"""The Gradio web UI. May import every layer below it."""
