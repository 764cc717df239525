"""The ddp job: one global torch model trained data-parallel on every symbol's features (docs/ddp.md)."""
