"""The six small-scale studies of the papers' claims, on real Fashion-MNIST (2 CPU cores).

Every study trains small models for one epoch (batch 128, cosine lr 0.1,
weight decay 5e-4) and evaluates on the 10,000 test images. The trees are
``hne_resnet_mini`` (the AAAI paper's 16-leaf tree at a quarter of the
channels) and, for ONE, OEMC and EnsembleNet, CIFAR ResNet-14 at half width.
One epoch keeps a run near 5 minutes; the papers train for 200-300 epochs,
so these studies test the *direction* of each claim at small scale, not the
papers' figures.
"""

from __future__ import annotations

import numpy as np

from experiments.harness import LEGACY_DEFAULTS, Arm, Study, mean_std, prefix_values

# lr and augmentation are pinned to train.py's defaults of the first runs (lr 0.1, the standard
# crop + flip): its defaults have since moved to the main job's (lr 0.2, no augmentation).
PINNED = LEGACY_DEFAULTS
HNE_COMMON = {"model": "hne_resnet_mini", "dataset": "fashion_mnist", "epochs": 1, "batch_size": 128, **PINNED}
RESNET14 = {"depth": 14, "width": 0.5}
CIFAR_COMMON = {"dataset": "fashion_mnist", "epochs": 1, "batch_size": 128, **PINNED}
SHOWN_K = (1, 2, 4, 8, 16)


# ----------------------------------------------------------------- tables

def _wall(evals: list[dict]) -> str:
    secs = [e["wall_seconds"] for e in evals if e.get("wall_seconds")]
    return f"{np.mean(secs) / 60:.1f}" if secs else "-"


def prefix_table(study: Study, found: dict[str, list[dict]], key: str = "accuracy", scale: float = 100.0,
                 ks=None, digits: int = 2) -> str:
    """Rows: arms; columns: ensemble sizes; cells: mean ± std over seeds."""
    n = max((len(e[0]["prefixes"]) for e in found.values() if e), default=16)
    ks = [k for k in (ks or range(1, n + 1)) if k <= n]
    lines = ["| arm | seeds | " + " | ".join(f"k={k}" for k in ks) + " | min/run |",
             "|---|---|" + "---|" * len(ks) + "---|"]
    for arm in study.arms:
        evals = found.get(arm.name, [])
        vals = prefix_values(evals, key) if evals else None
        cells = [mean_std(vals[:, k - 1], scale, digits) if vals is not None and vals.shape[1] >= k else "-"
                 for k in ks]
        lines.append(f"| {arm.label} | {len(evals)} | " + " | ".join(cells) + f" | {_wall(evals)} |")
    return "\n".join(lines)


def leaf_table(study: Study, found: dict[str, list[dict]]) -> str:
    """Per-leaf accuracy: mean over leaves, worst and best leaf (each mean ± std over seeds)."""
    lines = ["| arm | mean leaf acc % | worst leaf % | best leaf % |", "|---|---|---|---|"]
    for arm in study.arms:
        evals = found.get(arm.name, [])
        leaves = np.array([e["leaf_accuracy"] for e in evals]) if evals else np.zeros((0, 1))
        if not len(leaves):
            lines.append(f"| {arm.label} | - | - | - |")
            continue
        lines.append(f"| {arm.label} | {mean_std(leaves.mean(1))} | {mean_std(leaves.min(1))} | "
                     f"{mean_std(leaves.max(1))} |")
    return "\n".join(lines)


def macs_table(study: Study, found: dict[str, list[dict]]) -> str:
    """Accuracy and logit std at the full ensemble against its MACs."""
    lines = ["| arm | MMACs (all leaves) | acc % (k=N) | acc % (k=1) | logit std (k=N) | min/run |",
             "|---|---|---|---|---|---|"]
    for arm in study.arms:
        evals = found.get(arm.name, [])
        if not evals:
            lines.append(f"| {arm.label} | - | - | - | - | - |")
            continue
        acc = prefix_values(evals)
        std = prefix_values(evals, "logit_std")
        macs = evals[0]["prefixes"][-1]["macs"] / 1e6
        lines.append(f"| {arm.label} | {macs:.2f} | {mean_std(acc[:, -1])} | {mean_std(acc[:, 0])} | "
                     f"{mean_std(std[:, -1], 1.0, 3)} | {_wall(evals)} |")
    return "\n".join(lines)


def _figure(*args, **kwargs):
    """``plt.subplots(...)`` on the file-only backend (matplotlib loads only when a study plots)."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    return plt.subplots(*args, **kwargs)


def _errorbar(ax, x, values: np.ndarray, label: str) -> None:
    """``values`` ``[seeds, points]``: their mean against ``x``, one sample std as the error bar."""
    ax.errorbar(x, values.mean(0), yerr=values.std(0, ddof=1) if len(values) > 1 else None, marker="o", ms=3,
                capsize=2, label=label)


def _save(fig, axes, title: str, path: str) -> None:
    import matplotlib.pyplot as plt

    for ax in axes:
        ax.grid(alpha=0.3)
    axes[0].legend(fontsize=8)
    fig.suptitle(title)
    fig.tight_layout()
    fig.savefig(path, dpi=100)
    plt.close(fig)


def plot_prefixes(study: Study, found: dict[str, list[dict]], path: str, key: str = "accuracy") -> None:
    """Accuracy (and logit std) against ensemble size, mean ± std over seeds."""
    fig, axes = _figure(1, 2, figsize=(11, 4))
    for arm in study.arms:
        evals = found.get(arm.name, [])
        if not evals:
            continue
        macs = np.array([p["macs"] for p in evals[0]["prefixes"]]) / 1e6
        for ax, k, scale in ((axes[0], key, 100.0), (axes[1], "logit_std", 1.0)):
            _errorbar(ax, macs, prefix_values(evals, k) * scale, arm.label)
    axes[0].set_ylabel("test accuracy (%)")
    axes[1].set_ylabel("std of logits across leaves")
    for ax in axes:
        ax.set_xlabel("MMACs per image (ensemble of the first k leaves)")
    _save(fig, axes, study.title, path)


def plot_leaves(study: Study, found: dict[str, list[dict]], path: str) -> None:
    """Each member's own test accuracy against its index, mean ± std over seeds (OEMC's students)."""
    fig, ax = _figure(figsize=(6, 4))
    for arm in study.arms:
        evals = found.get(arm.name, [])
        if evals:
            v = np.array([e["leaf_accuracy"] for e in evals]) * 100.0
            _errorbar(ax, np.arange(v.shape[1]), v, arm.label)
    ax.set_xlabel("member (0 = the first; OEMC: the pseudo-teacher, then narrower students)")
    ax.set_ylabel("test accuracy of the member alone (%)")
    _save(fig, [ax], study.title, path)


# ----------------------------------------------------------------- studies

def _hne_objectives_report(study, found) -> str:
    return ("Accuracy (%) of the ensemble of the first k leaves, mean ± std over seeds:\n\n"
            + prefix_table(study, found, ks=SHOWN_K) + "\n\nEvery ensemble size:\n\n" + prefix_table(study, found))


HNE_OBJECTIVES = Study(
    name="hne_objectives",
    title="HNE objectives (AAAI Table 1)",
    claim="Claims: L_I + L_HD beats L_I at small ensemble sizes and matches it at N; L_S alone is worse than L_I.",
    arms=[Arm("hne_li", "L_I (independent)", {"loss": "independent"}),
          Arm("hne_ls", "L_S (nested)", {"loss": "nested"}),
          Arm("hne_li_ls", "L_I + L_S", {"loss": "independent_nested"}),
          Arm("hne_li_ld_a0.5", "L_I + L_D (α = 0.5)", {"loss": "codistillation", "alpha": 0.5}),
          Arm("hne_li_lhd_a0.5", "L_I + L_HD (α = 0.5)", {"loss": "hierarchical_distillation", "alpha": 0.5})],
    common=HNE_COMMON, minutes_per_run=6, report=_hne_objectives_report, plot=plot_prefixes)


def _distillation_report(study, found) -> str:
    return ("Accuracy (%) per ensemble size:\n\n" + prefix_table(study, found, ks=SHOWN_K)
            + "\n\nStd of the logits across the leaves of each ensemble (diversity):\n\n"
            + prefix_table(study, found, key="logit_std", scale=1.0, ks=SHOWN_K, digits=3)
            + "\n\nIndividual leaves:\n\n" + leaf_table(study, found))


DISTILLATION = Study(
    name="distillation_diversity",
    title="Distillation and diversity (AAAI Fig. 4)",
    claim="Claim: standard co-distillation (L_D) lowers the diversity of the leaves and hurts large ensembles; "
          "hierarchical distillation (L_HD) does not.",
    arms=[Arm("hne_li", "none (L_I)", {"loss": "independent"}),
          Arm("hne_li_ld_a0.1", "L_D α = 0.1", {"loss": "codistillation", "alpha": 0.1}),
          Arm("hne_li_ld_a0.25", "L_D α = 0.25", {"loss": "codistillation", "alpha": 0.25}),
          Arm("hne_li_ld_a0.5", "L_D α = 0.5", {"loss": "codistillation", "alpha": 0.5}),
          Arm("hne_li_lhd_a0.5", "L_HD α = 0.5", {"loss": "hierarchical_distillation", "alpha": 0.5})],
    common=HNE_COMMON, minutes_per_run=6, report=_distillation_report, plot=plot_prefixes)


def _sharing_report(study, found) -> str:
    return ("Full ensemble (16 leaves) against its cost:\n\n" + macs_table(study, found)
            + "\n\nAccuracy (%) per ensemble size:\n\n" + prefix_table(study, found, ks=SHOWN_K))


SHARING = Study(
    name="parameter_sharing",
    title="Parameter sharing (AAAI Fig. 5)",
    claim="Claim: with the same leaf network and objective (L_I + L_HD), HNE beats a multi-branch network at "
          "large N and matches an independent ensemble at a lower cost.",
    arms=[Arm("share_independent", "independent (16,1,1,1,1)",
              {"loss": "hierarchical_distillation", "model_options": {"branching": [16, 1, 1, 1, 1]}}),
          Arm("share_multibranch", "multi-branch (1,1,1,16,1)",
              {"loss": "hierarchical_distillation", "model_options": {"branching": [1, 1, 1, 16, 1]}}),
          Arm("hne_li_lhd_a0.5", "HNE (1,2,2,2,2)", {"loss": "hierarchical_distillation", "alpha": 0.5})],
    common=HNE_COMMON, minutes_per_run=9, report=_sharing_report, plot=plot_prefixes)


def _one_report(study, found) -> str:
    lines = ["| model | what is deployed | test MMACs | error % | min/run |", "|---|---|---|---|---|"]
    single = found.get("one_single", [])
    one = found.get("one_m3", [])

    def err(vals: list[float]) -> str:
        return mean_std(1.0 - np.asarray(vals))
    if single:
        lines.append(f"| ResNet-14/2 trained alone | the network | {single[0]['prefixes'][0]['macs'] / 1e6:.2f} | "
                     f"{err([e['prefixes'][0]['accuracy'] for e in single])} | {_wall(single)} |")
    if one:
        p = one[0]["prefixes"]
        lines.append(f"| ONE, 3 branches | branch 1 alone | {p[0]['macs'] / 1e6:.2f} | "
                     f"{err([e['leaf_accuracy'][0] for e in one])} | {_wall(one)} |")
        lines.append(f"| ONE, 3 branches | mean of the 3 branches' logits | {p[-1]['macs'] / 1e6:.2f} | "
                     f"{err([e['prefixes'][-1]['accuracy'] for e in one])} | |")
        teacher = [e["teacher"]["accuracy"] for e in one if "teacher" in e]
        lines.append(f"| ONE, 3 branches | ONE-E (gated teacher) | {p[-1]['macs'] / 1e6:.2f} | "
                     + (err(teacher) if teacher else "not evaluated by this revision") + " | |")
    return "\n".join(lines)


ONE_STUDY = Study(
    name="one",
    title="ONE (Lan et al. 2018, Table 5 style)",
    claim="Claim: a branch of a ONE network, deployed alone, beats the same network trained alone.",
    arms=[Arm("one_single", "single network", {"model": "one_resnet", "loss": "independent",
                                               "model_options": {**RESNET14, "num_branches": 1}}),
          Arm("one_m3", "ONE (3 branches)", {"model": "one_resnet", "loss": "one",
                                             "model_options": {**RESNET14, "num_branches": 3}})],
    common=CIFAR_COMMON, minutes_per_run=5, report=_one_report, plot=plot_prefixes)


def _oemc_report(study, found) -> str:
    lines = ["| student | params % of pseudo-teacher path | trained with OEMC, acc % | without distillation, "
             "acc % |", "|---|---|---|---|"]
    oemc = found.get("oemc_s5", [])
    alone = found.get("oemc_s5_nodistill", [])
    n = len((oemc or alone or [{"leaf_accuracy": []}])[0]["leaf_accuracy"])
    sizes = [(5 - i) / 5 for i in range(n)]
    for i in range(n):
        a = mean_std([e["leaf_accuracy"][i] for e in oemc]) if oemc else "-"
        b = mean_std([e["leaf_accuracy"][i] for e in alone]) if alone else "-"
        name = "pseudo-teacher" if i == 0 else f"student {i}"
        lines.append(f"| {name} | about {100 * sizes[i] ** 2:.0f} (width x{sizes[i]:.1f}) | {a} | {b} |")
    if oemc:
        lines.append(f"| ensemble of all | | {mean_std([e['prefixes'][-1]['accuracy'] for e in oemc])} | "
                     f"{mean_std([e['prefixes'][-1]['accuracy'] for e in alone]) if alone else '-'} |")
    return ("The baseline trains the same students with cross-entropy only (no feature or KD terms); they "
            "still share the base block, so it is the no-distillation ablation rather than fully separate "
            "training. Parameter shares are those of the replicated part (channels scale quadratically).\n\n"
            + "\n".join(lines))


OEMC_STUDY = Study(
    name="oemc",
    title="OEMC (Walawalkar et al. 2020)",
    claim="Claim: students trained with OEMC's online distillation beat the same students trained without it.",
    arms=[Arm("oemc_s5", "OEMC", {"model": "oemc_resnet", "loss": "oemc",
                                  "model_options": {**RESNET14, "num_students": 5}}),
          Arm("oemc_s5_nodistill", "no distillation", {"model": "oemc_resnet", "loss": "independent",
                                                       "model_options": {**RESNET14, "num_students": 5}})],
    common=CIFAR_COMMON, minutes_per_run=6, report=_oemc_report, plot=plot_leaves)


def _ensemblenet_report(study, found) -> str:
    return ("Accuracy (%) of a head alone (k=1) and of both heads (k=2):\n\n"
            + prefix_table(study, found, ks=(1, 2)) + "\n\n" + leaf_table(study, found))


ENSEMBLENET_STUDY = Study(
    name="ensemblenet",
    title="EnsembleNet (multi-head co-distillation)",
    claim="Claim: EnsembleNet's co-distillation loss beats its ensembling loss, and the 2-head network beats a "
          "single network of about the same size.",
    arms=[Arm("enet_codistill_mu1", "co-distillation μ = 1", {"loss": "ensemblenet_codistillation",
                                                               "ensemble_mu": 1.0}),
          Arm("enet_codistill_mu2", "co-distillation μ = 2", {"loss": "ensemblenet_codistillation",
                                                               "ensemble_mu": 2.0}),
          Arm("enet_codistill_mu3", "co-distillation μ = 3", {"loss": "ensemblenet_codistillation",
                                                               "ensemble_mu": 3.0}),
          Arm("enet_ensembling_l0", "ensembling λ = 0", {"loss": "ensemblenet_ensembling", "ensemble_lambda": 0.0}),
          Arm("enet_ensembling_lm0.5", "ensembling λ = -0.5", {"loss": "ensemblenet_ensembling",
                                                               "ensemble_lambda": -0.5}),
          Arm("enet_single", "single network (1 head, full width)",
              {"loss": "independent", "model_options": {**RESNET14, "num_heads": 1, "shrink": 1.0}})],
    common={**CIFAR_COMMON, "model": "ensemblenet_resnet", "model_options": {**RESNET14, "num_heads": 2}},
    minutes_per_run=5, report=_ensemblenet_report, plot=plot_prefixes)


STUDIES = {s.name: s for s in (HNE_OBJECTIVES, DISTILLATION, SHARING, ONE_STUDY, OEMC_STUDY, ENSEMBLENET_STUDY)}
