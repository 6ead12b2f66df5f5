"""What part of the platform a caller may see, as plain data the services filter by."""

from __future__ import annotations

from dataclasses import dataclass


@dataclass(frozen=True)
class MallScope:
    """The malls an operator may see and change: `None` means every mall (platform operator)."""

    mall_ids: frozenset[int] | None

    @classmethod
    def everything(cls) -> MallScope:
        return cls(None)

    @property
    def is_platform(self) -> bool:
        return self.mall_ids is None

    def allows(self, mall_id: int) -> bool:
        return self.mall_ids is None or mall_id in self.mall_ids
