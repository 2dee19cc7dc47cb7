"""Make tf2onnx 1.16.1's output byte-stable from process to process (used by ``maxim_tfjs.py``).

Why the MAXIM conversions were not reproducible: tf2onnx prunes the graph after every optimizer pass
(``Graph.delete_unused_nodes``) and rebuilds its node list from ``Graph.extract_sub_graph_nodes``,
which returns ``list(a set of Node objects)``. ``Node`` has no ``__hash__``, so that set is ordered by
the objects' memory addresses, which differ from process to process whatever ``PYTHONHASHSEED`` is.
Every later pass walks the nodes in that order: ``MergeDuplicatedNodesOptimizer`` keeps the first of
each group of identical nodes, the transpose/const-fold passes create nodes named from a process-wide
counter (``Transpose__57903``) in that order, and a different merge order can even leave a few more
duplicates unmerged (we saw 16,429 vs 16,423 nodes for the same model). The outputs are the same; the
bytes are not.

:func:`keep_graph_order_when_pruning` patches ``extract_sub_graph_nodes`` to return the surviving nodes
in the graph's current order (:func:`in_graph_order`), which is itself deterministic (the TF.js
``model.json`` order, plus nodes appended in a now deterministic order). Only the order of tf2onnx's
internal node list changes, not what is kept or how anything is computed.

With that alone, two MAXIM builds still differed in three initializer names: the Einsum decomposition
names its constants ``einsum<id(self)>_...`` (``EinsumSubOp._onnx_name``), a memory address again.
:func:`number_einsum_parts_in_order` numbers those parts in the order they are first named instead.

:func:`make_tf2onnx_deterministic` applies both patches; call it in the converting process before
tf2onnx runs.

This module imports nothing heavy at import time (tf2onnx only inside the patch function), so its pure
helper can be unit-tested with ``onnx`` alone.
"""

from __future__ import annotations

import itertools
from collections.abc import Iterable, Sequence
from typing import Any, TypeVar

T = TypeVar("T")


def in_graph_order(ordered: Sequence[T], subset: Iterable[T], name: Any = None) -> list[T]:
    """The members of ``subset`` in the order they have in ``ordered`` (matched by identity).

    Members that ``ordered`` lacks (none in practice) follow, sorted by ``name(member)`` if given, so that
    the result never depends on the iteration order of ``subset`` (e.g. a set ordered by ``id()``).
    """
    wanted = {id(item): item for item in subset}
    result = [item for item in ordered if id(item) in wanted]
    if len(result) < len(wanted):
        seen = {id(item) for item in result}
        rest = [item for key, item in wanted.items() if key not in seen]
        if name is None:
            raise ValueError(f"{len(rest)} nodes are not in the graph's node list and no name key was given")
        result.extend(sorted(rest, key=name))
    return result


def keep_graph_order_when_pruning() -> None:
    """Patch tf2onnx so that pruning unused nodes keeps the graph's node order (see the module doc)."""
    from tf2onnx.graph import Graph

    extract = Graph.extract_sub_graph_nodes
    if getattr(extract, "_keeps_graph_order", False):
        return

    def extract_in_graph_order(
        self: Any, outputs_name: Any, input_checker: Any = None, remove_unused_inputs: bool = True
    ) -> list[Any]:
        found = extract(self, outputs_name, input_checker, remove_unused_inputs)
        return in_graph_order(self.get_nodes(), found, name=lambda node: node.name)

    extract_in_graph_order._keeps_graph_order = True  # type: ignore[attr-defined]
    Graph.extract_sub_graph_nodes = extract_in_graph_order


def number_einsum_parts_in_order() -> None:
    """Patch tf2onnx's Einsum decomposition to name its parts ``einsum<n>_..`` with ``n`` counted in the
    order the parts are first named, not ``id(part)`` (see the module doc). Names only."""
    from tf2onnx.optimizer.einsum_optimizer import EinsumSubOp

    if getattr(EinsumSubOp._onnx_name, "_counts_in_order", False):
        return
    counter = itertools.count()

    def onnx_name_in_order(self: Any) -> str:
        number = self.__dict__.get("_stable_number")
        if number is None:
            number = self._stable_number = next(counter)
        return f"einsum{number}_{self.name[:2]}"

    onnx_name_in_order._counts_in_order = True  # type: ignore[attr-defined]
    EinsumSubOp._onnx_name = onnx_name_in_order


def make_tf2onnx_deterministic() -> None:
    """Apply every patch of this module (idempotent)."""
    keep_graph_order_when_pruning()
    number_einsum_parts_in_order()
