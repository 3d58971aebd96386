"""The web UI (``formulaforge app``): every model and dataset of a run, in the browser.

The top layer: it may import everything below it. Gradio is an optional extra
(``pip install 'formulaforge[app]'``) and is imported only by :mod:`.server` and
:mod:`.tabs`; the logic modules (workspace, models, backend, activity) are plain Python,
tested without a browser.
"""
