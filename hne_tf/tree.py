"""Tree specification shared by every model family.

A tree ensemble is a sequence of blocks. Block ``b`` multiplies the number of
live branches by ``branching[b]``; the branches ("nodes") alive at block ``b``
are stored side by side in the channel axis, ``groups[b]`` of them. Leaves are
the nodes of the last block, ordered depth-first: node ``j`` at block ``b`` is
the parent of nodes ``j * r .. j * r + r - 1`` at block ``b + 1`` (``r`` the
branching of block ``b + 1``). With that order the first ``k`` leaves form the
sub-ensemble of size ``k`` used for anytime inference (eq. 1 of the AAAI paper).

Everything here is plain Python so it can be used by the export code, the
manifest writer and tests without building a model.
"""

from __future__ import annotations

import dataclasses
import math
import numbers
from collections.abc import Callable, Iterator, Sequence
from typing import Any

from hne_tf import checks


@dataclasses.dataclass(frozen=True)
class AnytimeStep:
    """One step of leaf-by-leaf (anytime) evaluation.

    Attributes:
      step: 1-based step number; step ``k`` adds leaf ``k - 1`` (0-based).
      leaf: 0-based index of the leaf this step produces.
      start_block: first block this step computes. Blocks before it were
        computed by earlier steps and are read from the cache.
      reads: cache slot read as input: ``"input"`` (the image) when
        ``start_block == 0``, else ``"block{start_block - 1}"``.
      writes: cache slots this step writes because a later step reads them.
    """

    step: int
    leaf: int
    start_block: int
    reads: str
    writes: tuple[str, ...]


def slot_name(block: int) -> str:
    """Name of the cache slot that holds one node's output of ``block``."""
    return "input" if block < 0 else f"block{block}"


def cumulative_groups(branching: Sequence[int]) -> tuple[int, ...]:
    """Live nodes per block: the running product of the branching factors.

    ``(1, 2, 2, 2, 2)`` gives ``(1, 2, 4, 8, 16)``.
    """
    groups, g = [], 1
    for r in branching:
        g *= int(r)
        groups.append(g)
    return tuple(groups)


@dataclasses.dataclass(frozen=True)
class StepRun:
    """What one anytime step read and produced (see :func:`run_anytime_steps`).

    Attributes:
      step: the :class:`AnytimeStep`.
      inputs: the cache slot it read (``step.reads``).
      logits: its leaf's logits, as ``run_step`` returned them.
      writes: the slots it wrote, ``{name: activation}`` for ``step.writes``.
    """

    step: AnytimeStep
    inputs: Any
    logits: Any
    writes: dict[str, Any]


def run_anytime_steps(steps: Sequence[AnytimeStep], run_step: Callable[[AnytimeStep, Any], tuple[Any, dict]],
                      inputs: Any, num_steps: int | None = None) -> Iterator[StepRun]:
    """Runs anytime steps in order, passing one cache between them.

    The anytime cache loop of the Keras steps (``TreeEnsemble.run_anytime``)
    and of the frozen step graphs that calibrate int8 files
    (``export.convert.representative_batches``). The exported TFLite file has
    its own loop, :class:`hne_tf.export.runtime.Steps`, which keeps each slot
    in the interpreter's buffers (zero-copy) instead of a dict; the tests
    check the two against each other. The cache starts as
    ``{"input": inputs}``; each step reads ``cache[step.reads]`` and adds the
    slots named in ``step.writes``.

    Args:
      steps: the schedule, ``TreeSpec.anytime_steps()`` or a prefix of it.
      run_step: ``(step, x) -> (logits, outputs)``, ``outputs`` a mapping
        holding at least the slots ``step.writes`` (extra keys are ignored).
      inputs: the image batch.
      num_steps: stop after this many steps (all by default); must be in
        ``[1, len(steps)]``.

    Yields:
      One :class:`StepRun` per step, in order.
    """
    steps = list(steps)
    if num_steps is None:
        num_steps = len(steps)
    elif isinstance(num_steps, bool) or not isinstance(num_steps, int) or not 1 <= num_steps <= len(steps):
        # Checked here, not at the first next(): a bad count fails where it is passed.
        raise ValueError(f"num_steps must be an integer in [1, {len(steps)}], got {num_steps!r}")

    def walk() -> Iterator[StepRun]:
        cache = {"input": inputs}
        for s in steps[:num_steps]:
            x = cache[s.reads]
            logits, outputs = run_step(s, x)
            writes = {name: outputs[name] for name in s.writes}
            cache.update(writes)
            yield StepRun(s, x, logits, writes)
    return walk()


class TreeSpec:
    """Branching structure of a tree ensemble.

    Args:
      branching: branching factor per block, block 0 first. ``(1, 2, 2, 2, 2)``
        is the 16-leaf HNE binary tree, ``(1, 1, 1, 16, 1)`` a multi-branch
        network, ``(16, 1, 1, 1, 1)`` an independent ensemble.
    """

    def __init__(self, branching: Sequence[int]) -> None:
        branching = tuple(branching)
        if not branching:
            raise ValueError("branching must name at least one block")
        if any(isinstance(r, bool) or not isinstance(r, numbers.Integral) or r < 1 for r in branching):
            raise ValueError(f"branching factors must be integers >= 1, got {branching}")
        self.branching = tuple(int(r) for r in branching)
        self.groups: tuple[int, ...] = cumulative_groups(branching)

    @property
    def num_blocks(self) -> int:
        return len(self.branching)

    @property
    def num_leaves(self) -> int:
        return self.groups[-1]

    def leaves_per_node(self, block: int) -> int:
        """How many leaves descend from one node of ``block``."""
        return self.num_leaves // self.groups[block]

    def node_of_leaf(self, leaf: int, block: int) -> int:
        return leaf // self.leaves_per_node(block)

    def prefix_nodes(self, k: int) -> tuple[int, ...]:
        """Number of nodes per block that the first ``k`` leaves need."""
        self._check_k(k)
        return tuple(math.ceil(k / self.leaves_per_node(b)) for b in range(self.num_blocks))

    def start_block(self, leaf: int) -> int:
        """First block where ``leaf``'s path leaves the path of ``leaf - 1``."""
        if leaf == 0:
            return 0
        for b in range(self.num_blocks):
            if self.node_of_leaf(leaf, b) != self.node_of_leaf(leaf - 1, b):
                return b
        raise AssertionError("two leaves cannot share every node")

    def anytime_steps(self) -> list[AnytimeStep]:
        """The depth-first leaf-by-leaf schedule (docs/architecture.md).

        Each node of the tree is computed by exactly one step: the step of the
        first leaf below it.
        """
        n = self.num_leaves
        starts = [self.start_block(leaf) for leaf in range(n)]
        steps = []
        for leaf in range(n):
            writes = []
            for b in range(starts[leaf], self.num_blocks - 1):
                node = self.node_of_leaf(leaf, b)
                # Slot b is read by a later leaf that starts at block b + 1
                # below the same node of block b.
                if any(
                    starts[m] == b + 1 and self.node_of_leaf(m, b) == node
                    for m in range(leaf + 1, n)
                ):
                    writes.append(slot_name(b))
            steps.append(
                AnytimeStep(
                    step=leaf + 1,
                    leaf=leaf,
                    start_block=starts[leaf],
                    reads=slot_name(starts[leaf] - 1),
                    writes=tuple(writes),
                )
            )
        return steps

    def _check_k(self, k: int) -> None:
        checks.leaves("number of leaves", k, self.num_leaves)

    def __repr__(self) -> str:
        return f"TreeSpec(branching={self.branching})"


def default_prefixes(num_leaves: int) -> list[int]:
    """Ensemble sizes 1, 2, 4, ... and ``num_leaves`` itself."""
    sizes = []
    k = 1
    while k < num_leaves:
        sizes.append(k)
        k *= 2
    sizes.append(num_leaves)
    return sizes


def hne_cost_formula(num_branching_blocks: int) -> tuple[int, float]:
    """Paper arithmetic for a binary HNE with equal-cost blocks (AAAI sec. 3.1).

    Returns ``(T_HNE / C, R)`` with ``T_HNE = (2^{B+1} - 1) C`` and
    ``R = (B + 1) / (2 - 2^{-B})``, ``B`` being the number of branching blocks.
    """
    b = num_branching_blocks
    return 2 ** (b + 1) - 1, (b + 1) / (2 - 2.0 ** (-b))

