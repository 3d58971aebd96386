"""ContextFormulas at arXiv scale on datatrove: bulk reader -> filters -> extraction -> writer, MinHash, assembly.

The per-document extraction is :func:`formulaforge.datasets.builder.process_document`, the
same function ``data build`` runs; this package only adds the distributed plumbing
(datatrove blocks and executors), the arXiv bulk reader and near-duplicate removal.
datatrove is an optional dependency (``pip install 'formulaforge[scale]'``).
"""
