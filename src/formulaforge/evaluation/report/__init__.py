"""Paper-style reports: Table 1-5 layouts (Markdown, CSV, JSON), loss curves, case-study HTML."""
