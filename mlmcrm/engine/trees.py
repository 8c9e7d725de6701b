"""Forests as flat numpy arrays: pre-order, subtree and ancestor sums, compressed uplines.

A forest is given by ``parent`` (``-1`` for a root). :meth:`Tree.build` orders it depth first in C
(scipy's depth-first order, with wide fan-outs split under virtual nodes so a node with a hundred
thousand children costs no more than a chain), after which every subtree is a contiguous range
``pos[v] <= p < end[v]`` of the order. Subtree sums are then two cumulative sums, and an
upline search is pointer jumping: a logarithmic number of whole-array steps, whatever the depth.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import scipy.sparse as sp
from scipy.sparse.csgraph import depth_first_order


class CycleError(ValueError):
    """The parent pointers hold a cycle; ``node`` lies on it."""

    def __init__(self, node: int) -> None:
        super().__init__(f"cycle through node {node}")
        self.node = node


def sum_by(index: np.ndarray, values: np.ndarray, size: int) -> np.ndarray:
    """Exact sums of ``values`` grouped by ``index`` (``0 <= index < size``).

    int64, or Python integers when ``values`` are (object arrays, for volumes beyond int64).
    """
    values = np.asarray(values)
    if values.dtype == object:
        out = np.zeros(size, dtype=object)
        np.add.at(out, index, values)
        return out
    if values.dtype == bool:
        return np.bincount(index[values], minlength=size).astype(np.int64)
    values = values.astype(np.int64, copy=False)
    if values.size == 0:
        return np.zeros(size, dtype=np.int64)
    if max(abs(int(values.max())), abs(int(values.min()))) * values.size < 2**52:
        # Every partial sum is an integer below 2**53, so the float sums are exact.
        return np.rint(np.bincount(index, weights=values, minlength=size)).astype(np.int64)
    out = np.zeros(size, dtype=np.int64)
    np.add.at(out, index, values)
    return out


_MAX_FAN_OUT = 64


def _group_children(parent: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """CSR offsets and children grouped by parent, in node order (a counting sort in C)."""
    size = parent.size
    child = np.flatnonzero(parent >= 0)
    matrix = sp.csr_matrix(
        (np.ones(child.size, dtype=np.int8), (parent[child], child)), shape=(size, size)
    )
    return matrix.indptr.astype(np.int64), matrix.indices.astype(np.int64)


def _preorder(parent: np.ndarray) -> np.ndarray:
    """Depth-first pre-order of a forest, computed by scipy in C.

    scipy rescans a node's neighbours each time it returns to it, so a node with k children
    costs k**2; children beyond 64 are therefore grouped under virtual nodes first.
    """
    n = parent.size
    par = np.append(np.where(parent < 0, n, parent), -1)  # node n: a root above all roots
    while True:
        counts = np.bincount(par[par >= 0], minlength=par.size)
        big = np.flatnonzero(counts > _MAX_FAN_OUT)
        if big.size == 0:
            break
        indptr, children = _group_children(par)
        groups = -(-counts[big] // _MAX_FAN_OUT)
        first_group = par.size + np.concatenate([[0], np.cumsum(groups)[:-1]])
        kid_counts = counts[big]
        starts = np.repeat(indptr[big], kid_counts)
        rank = np.arange(int(kid_counts.sum())) - np.repeat(
            np.concatenate([[0], np.cumsum(kid_counts)[:-1]]), kid_counts
        )
        kids = children[starts + rank]
        par = np.concatenate([par, np.repeat(big, groups)])
        par[kids] = np.repeat(first_group, kid_counts) + rank // _MAX_FAN_OUT
    indptr, children = _group_children(par)
    graph = sp.csr_matrix(
        (np.ones(children.size, dtype=np.int8), children.astype(np.int32), indptr),
        shape=(par.size, par.size),
    )
    order = depth_first_order(graph, n, directed=True, return_predecessors=False)
    if order.size != par.size:
        seen = np.zeros(par.size, dtype=bool)
        seen[order] = True
        raise CycleError(int(np.flatnonzero(~seen[:n])[0]))
    return order[order < n].astype(np.int64)


@dataclass(frozen=True)
class Tree:
    """A forest in depth-first pre-order.

    Attributes:
        parent: Parent of each node, ``-1`` for a root.
        order: The nodes in pre-order.
        pos: Position of each node in ``order``.
        end: One past the last position of each node's subtree.
        depth: Number of ancestors of each node.
    """

    parent: np.ndarray
    order: np.ndarray
    pos: np.ndarray
    end: np.ndarray
    depth: np.ndarray

    @classmethod
    def build(cls, parent: np.ndarray) -> Tree:
        """Order the forest given by ``parent``.

        Raises:
            CycleError: Some parent pointers form a cycle (a node is its own ancestor).
        """
        parent = np.asarray(parent, dtype=np.int64)
        n = parent.size
        order = _preorder(parent)
        pos = np.empty(n, dtype=np.int64)
        pos[order] = np.arange(n)
        # A subtree ends after its deepest last-child descendant: pointer jumping.
        child = np.flatnonzero(parent >= 0)
        last_pos = np.full(n, -1, dtype=np.int64)
        np.maximum.at(last_pos, parent[child], pos[child])
        last = np.arange(n, dtype=np.int64)
        inner = np.flatnonzero(last_pos >= 0)
        last[inner] = order[last_pos[inner]]
        todo = inner
        while todo.size:
            last[todo] = last[last[todo]]
            todo = todo[last[last[todo]] != last[todo]]
        end = pos[last] + 1
        diff = np.bincount(pos, minlength=n + 1) - np.bincount(end, minlength=n + 1)
        depth = np.cumsum(diff)[pos] - 1
        return cls(parent, order, pos, end, depth)

    @property
    def size(self) -> int:
        """Number of nodes."""
        return self.parent.size

    def subtree_sum(self, values: np.ndarray) -> np.ndarray:
        """Sum of ``values`` over each node's subtree (the node included), exact.

        int64 (the prefix sums may wrap around; their differences are still exact when each
        subtree's sum fits), or Python integers for an object array.
        """
        if np.asarray(values).dtype == object:
            prefix = np.zeros(self.size + 1, dtype=object)
            prefix[1:] = np.cumsum(values[self.order])
            return prefix[self.end] - prefix[self.pos]
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
