"""Botfip-LLM training in one folder: ``pretrain`` (Algorithm 1), ``finetune`` (eqs. 4/8),
``data`` (datasets, teacher features, batches), ``distributed`` (ranks, teacher rank, device per
rank) and ``common`` (runtime, optimizer, loss log, plots)."""
