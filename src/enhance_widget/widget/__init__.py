"""The Jupyter widget: before/after compare, controls and live tiles over the kernel engine."""

from .widget import EnhanceWidget

__all__ = ["EnhanceWidget"]
