"""hne-tf: tree ensembles (HNE, ONE, OEMC, EnsembleNet) for anytime inference."""

from hne_tf.cost import cost_table, format_cost_table
from hne_tf.models import PrefixModel, TreeEnsemble, build_model
from hne_tf.presets import list_models
from hne_tf.tree import AnytimeStep, StepRun, TreeSpec, default_prefixes, run_anytime_steps

__all__ = ["AnytimeStep", "PrefixModel", "StepRun", "TreeEnsemble", "TreeSpec", "build_model", "cost_table",
           "default_prefixes", "format_cost_table", "list_models", "run_anytime_steps"]
__version__ = "0.1.0"
