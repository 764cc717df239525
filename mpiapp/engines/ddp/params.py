"""DDPParams: the `ddp.*` config section as one frozen value the engine reads."""

from __future__ import annotations

from dataclasses import dataclass, fields


@dataclass(frozen=True)
class DDPParams:
    """Every `ddp.*` key (see mpiapp/config/ddp.py for each one's meaning and range)."""

    features_path: str | None
    horizon: int
    validation_from: str | None
    test_from: str | None
    validation_share: float
    test_share: float
    model: str
    hidden: tuple
    lookback: int
    batch_size: int
    accumulation_steps: int
    epochs: int
    max_steps: int
    learning_rate: float
    weight_decay: float
    schedule: str
    warmup_steps: int
    grad_clip: float
    patience: int
    precision: str
    seed: int
    shuffle_block: int
    buffer_rows: int
    backend: str
    cpu_allreduce: str
    device: str
    threads: int
    timeout_s: float
    checkpoint_steps: int

    @classmethod
    def from_config(cls, section) -> "DDPParams":
        kw = {f.name: section[f.name] for f in fields(cls)}
        kw["hidden"] = tuple(int(h) for h in kw["hidden"])
        return cls(**kw)

    @property
    def window(self) -> int:
        """Bars of features per sample: 1 for the MLP, ddp.lookback for the sequence models."""
        return 1 if self.model == "mlp" else int(self.lookback)

    def store_identity(self) -> dict:
        """What the feature store depends on (besides the data): a store built with other values is
        not reused."""
        return {"horizon": self.horizon, "validation_from": self.validation_from, "test_from": self.test_from,
                "validation_share": self.validation_share, "test_share": self.test_share}
