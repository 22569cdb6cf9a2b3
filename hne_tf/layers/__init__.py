"""Keras 3 layers for tree ensembles (TensorFlow backend).

Convention shared by every layer here: a tensor holds the activations of
several tree nodes ("groups") side by side in its channel axis, each group
with the same number of channels. ``groups`` is the number of output groups
of the layer when the whole tree is evaluated. Each layer's ``call`` accepts
``group_range=(start, stop)``: compute only output groups ``start..stop-1``,
from an input that holds exactly the groups they depend on. This is what lets
a prefix sub-model or an anytime step reuse the full model's weights without
copying them: the layer slices its own kernels.

``branch > 1`` means the layer first replicates every input group ``branch``
times (Fig. 2 of the AAAI paper); its input then holds ``groups // branch``
groups.

Every layer reports its cost per group with ``group_cost(input_hw)``:
``(macs, params, output_hw)``. MACs count the multiply-accumulates of
convolutions and dense layers; batch norm (folded into the convolution at
export), activations, pooling and residual additions are not counted.

Modules, one per role (import the names from this package):

- :mod:`~hne_tf.layers.kernels`: custom-gradient ops (``subsample``, the float32 depthwise input
  gradient, the folded batch norm);
- :mod:`~hne_tf.layers.primitives`: ``GroupedConv2D``, ``TreeDepthwiseConv2D``,
  ``TreeBatchNorm``, ``BranchReplicate``, ``TreeDense``;
- :mod:`~hne_tf.layers.blocks`: ``TreeConvBN``, ``TreeBottleneck``, ``TreeBasicBlock``,
  ``TreeInvertedResidual``, ``TreeHead``;
- :mod:`~hne_tf.layers.containers`: ``GroupedBlock``, ``PerNodeBlock``;
- :mod:`~hne_tf.layers.common`: Keras registration (``register``, package ``"hne_tf"``), cost
  types and helpers.
"""

from __future__ import annotations

from hne_tf.layers.blocks import TreeBasicBlock, TreeBottleneck, TreeConvBN, TreeHead, TreeInvertedResidual
from hne_tf.layers.common import PACKAGE, GroupCost, NodeCosts, register, sequence_cost
from hne_tf.layers.containers import GroupedBlock, PerNodeBlock, serialize_list
from hne_tf.layers.kernels import BN_CHANNEL_ALIGN, subsample
from hne_tf.layers.primitives import BranchReplicate, GroupedConv2D, TreeBatchNorm, TreeDense, TreeDepthwiseConv2D

#: Whether TreeBatchNorm trains odd channel counts through :func:`kernels._folded_batch_norm` (on by
#: default). TreeBatchNorm reads it from this package at call time, so ``hne_tf.layers.FOLD_ODD_CHANNELS =
#: False`` switches it off for models traced afterwards.
#: It was off for a while: a test saw a bottleneck's "reduce" batch-norm scale get an exactly zero
#: gradient in some processes. That scale's exact gradient *is* 0 at initialisation (its output goes
#: through ReLU, a depthwise convolution and another batch norm, so the loss is invariant to scaling its
#: gamma and beta together, and beta starts at 0); the fused kernel returns rounding noise there, the
#: folded one sometimes an exact 0 (tests/test_training_lib.py's test_every_model_loss_pair_trains).
FOLD_ODD_CHANNELS = True

__all__ = [
    "BN_CHANNEL_ALIGN", "FOLD_ODD_CHANNELS", "PACKAGE", "BranchReplicate", "GroupCost", "GroupedBlock",
    "GroupedConv2D", "NodeCosts", "PerNodeBlock", "TreeBasicBlock", "TreeBatchNorm", "TreeBottleneck",
    "TreeConvBN", "TreeDense", "TreeDepthwiseConv2D", "TreeHead", "TreeInvertedResidual", "register",
    "sequence_cost", "serialize_list", "subsample",
]
