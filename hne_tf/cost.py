"""Parameter and MAC accounting per prefix and per anytime step.

The unit is multiply-accumulates (MACs), per image. MACs count convolutions
and dense layers only (see ``hne_tf.layers``); papers that say "FLOPs" often
mean the same count. Parameters count every weight of the Keras layers a
prefix uses, batch-norm statistics included. A family's training-only extras
(``TreeEnsemble.extras``: ONE's gate, OEMC's adaptation convolutions) are not
part of any prefix, step or member; a teacher extra (ONE's gate) is costed
on its own as ``table["teacher"]``: every leaf plus the extra's layers.
"""

from __future__ import annotations

import numpy as np

from hne_tf.tree import default_prefixes


def node_costs(model) -> dict[str, list[list[int]]]:
    """Per block (the head last), per node: MACs and params."""
    hw = model.image_shape[:2]
    macs, params = [], []
    for block in (*model.tree_blocks, model.head):  # the head: one "node" per leaf
        m, p, hw = block.node_costs(hw)
        macs.append(m)
        params.append(p)
    return {"macs": macs, "params": params}


def cost_table(model) -> dict:
    """MACs and params of every prefix ``k = 1..N`` and every anytime step.

    Returns a dict with ``unit`` ("MACs"), ``num_leaves``, ``prefixes`` (one
    row per ``k``: ``k``, ``macs``, ``params``), ``steps`` (one row per
    anytime step: ``step``, ``start_block``, ``macs``, ``params``),
    ``members`` (one row per leaf alone, its whole root-to-leaf path:
    ``leaf``, ``macs``, ``params``) and ``full_macs``.
    """
    costs = node_costs(model)
    spec = model.spec
    n = spec.num_leaves
    # The head is one "node" per leaf, after the last block.
    nodes_needed = lambda k: list(spec.prefix_nodes(k)) + [k]  # noqa: E731
    prefixes = []
    for k in range(1, n + 1):
        counts = nodes_needed(k)
        prefixes.append({
            "k": k,
            "macs": sum(sum(costs["macs"][b][:c]) for b, c in enumerate(counts)),
            "params": sum(sum(costs["params"][b][:c]) for b, c in enumerate(counts)),
        })
    def path_cost(leaf: int, start_block: int) -> dict[str, int]:
        """MACs and params of ``leaf``'s nodes from ``start_block`` on, its head included."""
        path = [(b, spec.node_of_leaf(leaf, b)) for b in range(start_block, spec.num_blocks)]
        path.append((spec.num_blocks, leaf))  # the head, last in ``costs``
        return {key: sum(costs[key][b][j] for b, j in path) for key in ("macs", "params")}

    steps = [{"step": s.step, "start_block": s.start_block, **path_cost(s.leaf, s.start_block)}
             for s in spec.anytime_steps()]
    members = [{"leaf": leaf, **path_cost(leaf, 0)} for leaf in range(n)]
    table = {"unit": "MACs", "num_leaves": n, "prefixes": prefixes, "steps": steps, "members": members,
             "full_macs": prefixes[-1]["macs"]}
    try:
        teacher = teacher_cost(model, prefixes[-1])
    except ValueError:  # a teacher of unknown cost: no row (the export says why when asked for it)
        teacher = None
    if teacher is not None:
        table["teacher"] = teacher
    return table


def teacher_cost(model, full: dict) -> dict | None:
    """MACs and params of the model's teacher (every leaf plus the ``"teacher"`` extra), or None.

    ``full`` is the k = N row of :func:`cost_table`. The extra's MACs follow
    the table's rule (convolutions and dense layers only): ONE's gate is a
    dense layer on the globally pooled shared features, ``channels x
    branches`` MACs; its batch norm adds params only. A layer of another kind
    raises ValueError (its MACs would be unknown).
    """
    import keras

    from hne_tf.presets import TEACHER

    extra = model.extra(TEACHER)
    if extra is None:
        return None
    gate_macs = 0
    for layer in extra.layers:
        if isinstance(layer, keras.layers.Dense):
            gate_macs += int(np.prod(layer.kernel.shape))
        elif not isinstance(layer, keras.layers.BatchNormalization):
            raise ValueError(f"{model.preset}: cannot count the MACs of the teacher's layer {layer.name} "
                             f"({type(layer).__name__})")
    gate_params = sum(int(np.prod(w.shape)) for w in extra.weights)
    return {"macs": full["macs"] + gate_macs, "params": full["params"] + gate_params,
            "leaves_macs": full["macs"], "leaves_params": full["params"],
            "gate_macs": gate_macs, "gate_params": gate_params}


def format_cost_table(table: dict, prefixes=None) -> str:
    """Human-readable rendering of :func:`cost_table`."""
    n = table["num_leaves"]
    ks = prefixes or default_prefixes(n)
    rows = [f"{'leaves k':>9} {'MMACs':>10} {'params':>11} {'MACs(k)/MACs(1)':>16}"]
    base = table["prefixes"][0]["macs"]
    for k in ks:
        p = table["prefixes"][k - 1]
        rows.append(f"{k:>9} {p['macs'] / 1e6:>10.2f} {p['params']:>11,} {p['macs'] / base:>16.2f}")
    rows.append("anytime steps (MMACs): " + ", ".join(f"{s['macs'] / 1e6:.2f}" for s in table["steps"]))
    return "\n".join(rows)
