"""RFC 6962 / RFC 9162 Merkle trees over the ledger's entry hashes.

- leaf hash: ``SHA-256(0x00 || entry_hash)`` (32 raw bytes of the entry hash);
- node hash: ``SHA-256(0x01 || left || right)``;
- the tree over ``n`` leaves splits at ``k``, the largest power of two below ``n``
  (``MTH(D[n]) = node(MTH(D[0:k]), MTH(D[k:n]))``); the empty tree's hash is ``SHA-256("")``.

The distinct prefixes for leaves and nodes mean no inner node can pass for a leaf (the
second-preimage attack on plain Merkle trees). :class:`Frontier` computes roots incrementally
with O(log n) memory; :func:`inclusion_proof` and :func:`verify_inclusion` are RFC 9162's
audit paths (section 2.1.3).
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence

EMPTY_ROOT = hashlib.sha256(b"").digest()


def leaf_hash(entry_hash: bytes) -> bytes:
    """``SHA-256(0x00 || entry_hash)``."""
    return hashlib.sha256(b"\x00" + entry_hash).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """``SHA-256(0x01 || left || right)``."""
    return hashlib.sha256(b"\x01" + left + right).digest()


def _split(n: int) -> int:
    """The largest power of two strictly below ``n`` (n >= 2)."""
    return 1 << ((n - 1).bit_length() - 1)


class Frontier:
    """Roots of the perfect subtrees that make up a tree of ``size`` leaves, largest first.

    A tree of ``n`` leaves is a sequence of perfect subtrees, one per set bit of ``n``; adding a
    leaf merges equal-sized subtrees like a binary counter, so memory is O(log n).

    >>> f = Frontier()
    >>> for i in range(3):
    ...     f.append_leaf(leaf_hash(bytes([i]) * 32))
    >>> f.size, len(f.nodes)
    (3, 2)
    """

    __slots__ = ("nodes", "size")

    def __init__(self, size: int = 0, nodes: Sequence[bytes] = ()) -> None:
        if len(nodes) != size.bit_count():
            raise ValueError(f"a frontier of {size} leaves has {size.bit_count()} nodes")
        self.size = size
        self.nodes = list(nodes)

    def append_leaf(self, leaf: bytes) -> None:
        """Add one leaf hash (already ``leaf_hash``-ed)."""
        node = leaf
        size = self.size
        while size & 1:
            node = node_hash(self.nodes.pop(), node)
            size >>= 1
        self.nodes.append(node)
        self.size += 1

    def append_entry(self, entry_hash: bytes) -> None:
        """Add one entry hash as a leaf."""
        self.append_leaf(leaf_hash(entry_hash))

    def root(self) -> bytes:
        """RFC 6962 tree hash of the leaves so far."""
        if not self.nodes:
            return EMPTY_ROOT
        root = self.nodes[-1]
        for node in reversed(self.nodes[:-1]):
            root = node_hash(node, root)
        return root

    def copy(self) -> Frontier:
        return Frontier(self.size, self.nodes)


def tree_hash(entry_hashes: Iterable[bytes]) -> bytes:
    """Root over ``entry_hashes`` (streamed)."""
    frontier = Frontier()
    for h in entry_hashes:
        frontier.append_entry(h)
    return frontier.root()


def inclusion_proof(index: int, size: int, subtree: Callable[[int, int], bytes]) -> list[bytes]:
    """RFC 6962 ``PATH(index, D[size])``: sibling hashes from the leaf's level up.

    Parameters
    ----------
    index : int
        0-based leaf index (entry ``seq - 1``), ``0 <= index < size``.
    size : int
        Leaves in the tree (a checkpoint's size).
    subtree : callable
        ``subtree(start, end)`` -> the tree hash of leaves ``[start, end)``; the caller
        decides how to compute it (memoised, streamed from a store ...).
    """
    if not 0 <= index < size:
        raise ValueError(f"leaf index {index} outside a tree of {size} leaves")
    path: list[bytes] = []
    start, end = 0, size
    while end - start > 1:
        k = _split(end - start)
        if index - start < k:
            path.append(subtree(start + k, end))
            end = start + k
        else:
            path.append(subtree(start, start + k))
            start += k
    path.reverse()
    return path


def subtree_ranges(index: int, size: int) -> list[tuple[int, int]]:
    """The leaf ranges whose hashes make up ``inclusion_proof(index, size)``, in proof order."""
    ranges: list[tuple[int, int]] = []
    inclusion_proof(index, size, lambda s, e: ranges.append((s, e)) or b"")
    ranges.reverse()
    return ranges


def root_from_inclusion(index: int, size: int, leaf: bytes, path: Sequence[bytes]) -> bytes | None:
    """RFC 9162 section 2.1.3.2: the root ``path`` proves for ``leaf``; None if malformed."""
    if not 0 <= index < size:
        return None
    fn, sn, r = index, size - 1, leaf
    for p in path:
        if sn == 0:
            return None
        if fn & 1 or fn == sn:
            r = node_hash(p, r)
            if not fn & 1:
                while not fn & 1 and fn != 0:
                    fn >>= 1
                    sn >>= 1
        else:
            r = node_hash(r, p)
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None


def verify_inclusion(
    index: int, size: int, entry_hash: bytes, path: Sequence[bytes], root: bytes
) -> bool:
    """Whether ``path`` proves entry ``index`` (0-based) in the tree of ``size`` with ``root``."""
    return root_from_inclusion(index, size, leaf_hash(entry_hash), path) == root
