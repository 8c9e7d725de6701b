"""Forests as flat numpy arrays: pre-order, subtree and ancestor sums, compressed uplines.

A forest is given by ``parent`` (``-1`` for a root). :meth:`Tree.build` orders it depth first in C
(scipy's depth-first order on the left-child/right-sibling form of the forest, so a node with a
hundred thousand children costs no more than a chain), after which every subtree is a contiguous
range ``pos[v] <= p < end[v]`` of the order. Subtree sums are then two cumulative sums, and an
upline search is pointer jumping: a logarithmic number of whole-array steps, whatever the depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import breadth_first_order, depth_first_order


class CycleError(ValueError):
    """The parent pointers hold a cycle; ``node`` lies on it."""

    def __init__(self, node: int) -> None:
        super().__init__(f"cycle through node {node}")
        self.node = node


def sum_by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Exact int64 sums of ``values`` grouped by ``index`` (``0 <= index < size``)."""
    values = np.asarray(values, dtype=np.int64)
    if values.size == 0:
        return np.zeros(size, dtype=np.int64)
    if int(np.abs(values).sum(dtype=np.float64)) < 2**52:
        # Every partial sum is an integer below 2**53, so the float sums are exact.
        return np.rint(np.bincount(index, weights=values, minlength=size)).astype(np.int64)
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, index, values)
    return out


@dataclass(frozen=True)
class Tree:
    """A forest in depth-first pre-order.

    Attributes:
        parent: Parent of each node, ``-1`` for a root.
        order: The nodes in pre-order.
        pos: Position of each node in ``order``.
        end: One past the last position of each node's subtree.
        depth: Number of ancestors of each node.
        first_child_ptr: CSR offsets of ``children`` per node.
        children: Children grouped by parent (each group in node order).
    """

    parent: np.ndarray
    order: np.ndarray
    pos: np.ndarray
    end: np.ndarray
    depth: np.ndarray
    first_child_ptr: np.ndarray
    children: np.ndarray

    @classmethod
    def build(cls, parent: np.ndarray) -> Tree:
        """Order the forest given by ``parent``.

        Raises:
            CycleError: Some parent pointers form a cycle (a node is its own ancestor).
        """
        parent = np.asarray(parent, dtype=np.int64)
        n = parent.size
        par = np.where(parent < 0, n, parent)
        children = np.argsort(par, kind="stable")
        counts = np.bincount(par, minlength=n + 1)
        indptr = np.zeros(n + 2, dtype=np.int64)
        np.cumsum(counts, out=indptr[1:])
        graph = sp.csr_matrix(
            (np.ones(n, dtype=np.int8), children.astype(np.int32), indptr), shape=(n + 1, n + 1)
        )
        bfs = breadth_first_order(graph, n, directed=True, return_predecessors=False)
        if bfs.size != n + 1:
            seen = np.zeros(n + 1, dtype=bool)
            seen[bfs] = True
            raise CycleError(int(np.flatnonzero(~seen)[0]))
        # scipy visits neighbours in column order, so relabel nodes deepest-first: then a node's
        # first child always has a smaller label than its next sibling and is visited first.
        inverse = bfs[::-1]
        label = np.empty(n + 1, dtype=np.int64)
        label[inverse] = np.arange(n + 1)
        first = np.full(n + 1, -1, dtype=np.int64)
        has_children = counts > 0
        first[has_children] = children[indptr[:-1][has_children]]
        sibling = np.full(n + 1, -1, dtype=np.int64)
        if n > 1:
            same = par[children[1:]] == par[children[:-1]]
            sibling[children[:-1][same]] = children[1:][same]
        first_l = first[inverse]
        sibling_l = sibling[inverse]
        has_first = first_l >= 0
        has_sibling = sibling_l >= 0
        ptr = np.zeros(n + 2, dtype=np.int64)
        np.cumsum(has_first.astype(np.int64) + has_sibling, out=ptr[1:])
        columns = np.empty(ptr[-1], dtype=np.int32)
        columns[ptr[:-1][has_first]] = label[first_l[has_first]]
        columns[ptr[:-1][has_sibling] + has_first[has_sibling]] = label[sibling_l[has_sibling]]
        lcrs = sp.csr_matrix(
            (np.ones(columns.size, dtype=np.int8), columns, ptr), shape=(n + 1, n + 1)
        )
        lcrs.has_sorted_indices = True
        pre = depth_first_order(lcrs, n, directed=True, return_predecessors=False)
        order = inverse[pre[1:]].astype(np.int64)
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        # The last position of a subtree is its deepest last-child descendant: pointer jumping.
        last = np.arange(n, dtype=np.int64)
        inner = np.flatnonzero(has_children[:n])
        last[inner] = children[indptr[1:][inner] - 1]
        while True:
            jumped = last[last]
            if np.array_equal(jumped, last):
                break
            last = jumped
        end = pos[last] + 1
        diff = np.bincount(pos, minlength=n + 1) - np.bincount(end, minlength=n + 1)
        depth = np.cumsum(diff)[pos] - 1
        return cls(parent, order, pos, end, depth, indptr[: n + 1], children[:n])

    @property
    def size(self) -> int:
        """Number of nodes."""
        return self.parent.size

    def subtree_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` over each node's subtree (the node included), exact in int64."""
        prefix = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(np.asarray(values, dtype=np.int64)[self.order], out=prefix[1:])
        return prefix[self.end] - prefix[self.pos]

    def ancestor_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` over each node and its ancestors, exact in int64."""
        values = np.asarray(values, dtype=np.int64)
        diff = np.zeros(self.size + 1, dtype=np.int64)
        diff[self.pos] = values
        diff -= sum_by(self.end, values, self.size + 1)
        return np.cumsum(diff)[: self.size][self.pos]

    def children_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` over each node's children, exact in int64."""
        prefix = np.zeros(self.size + 1, dtype=np.int64)
        np.cumsum(np.asarray(values, dtype=np.int64)[self.children], out=prefix[1:])
        return prefix[self.first_child_ptr[1:]] - prefix[self.first_child_ptr[:-1]]

    def in_subtree(self, root: np.ndarray, node: np.ndarray) -> np.ndarray:
        """Whether each ``node`` lies in the subtree of the matching ``root`` (``-1``: never)."""
        ok = root >= 0
        safe = np.where(ok, root, 0)
        p = self.pos[node]
        return ok & (self.pos[safe] <= p) & (p < self.end[safe])

    def nearest_marked_ancestor(self, marked: np.ndarray) -> np.ndarray:
        """The nearest strict ancestor of each node for which ``marked`` holds, else ``-1``."""
        n = self.size
        marked_ext = np.append(np.asarray(marked, dtype=bool), True)
        jump = np.where(self.parent < 0, n, self.parent)
        jump = np.append(jump, n)
        todo = np.flatnonzero(~marked_ext[jump])
        while todo.size:
            jump[todo] = jump[jump[todo]]
            todo = todo[~marked_ext[jump[todo]]]
        result = jump[:n]
        result[result == n] = -1
        return result

    def ancestor_at(self, nodes: np.ndarray, steps: int) -> np.ndarray:
        """The ancestor ``steps`` levels above each node (``-1`` stays ``-1``), by parent hops."""
        out = np.asarray(nodes, dtype=np.int64).copy()
        for _ in range(steps):
            live = out >= 0
            out[live] = self.parent[out[live]]
        return out

    def nearest_marked_self_or_ancestor(self, marked: np.ndarray) -> np.ndarray:
        """Like :meth:`nearest_marked_ancestor`, but a marked node answers itself."""
        up = self.nearest_marked_ancestor(marked)
        return np.where(marked, np.arange(self.size), up)
