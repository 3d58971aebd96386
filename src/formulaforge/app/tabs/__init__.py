"""One module per tab of the web UI: plain handler functions (tested without a browser) and a
``build(ctx)`` that lays the tab out and wires its buttons to them."""
