"""What every tab shares: the model registry and the pool of loaded generators (one per process)."""

from __future__ import annotations

from dataclasses import dataclass, field

from ganlab.models.pool import ModelPool
from ganlab.models.registry import Registry, load_model


@dataclass
class AppContext:
    registry: Registry = field(default_factory=Registry)
    pool: ModelPool = field(init=False)

    def __post_init__(self) -> None:
        self.pool = ModelPool(lambda model_id: load_model(self.registry, model_id))
