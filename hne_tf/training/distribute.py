"""Where training runs: the distribution strategy of ``--strategy``, the check of
``TF_CONFIG``, the line naming the devices, and which process is the chief."""

from __future__ import annotations

import json
import os

import tensorflow as tf

from hne_tf.training.errors import TrainingError

STRATEGIES = ("default", "mirrored", "multi_worker", "tpu")


def make_strategy(name: str, tpu: str = "") -> tf.distribute.Strategy:
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        return tf.distribute.MirroredStrategy()
    if name == "multi_worker":
        _check_tf_config(os.environ.get("TF_CONFIG"))
        return tf.distribute.MultiWorkerMirroredStrategy()
    if name == "tpu":
        resolver = tf.distribute.cluster_resolver.TPUClusterResolver(tpu=tpu)
        tf.config.experimental_connect_to_cluster(resolver)
        tf.tpu.experimental.initialize_tpu_system(resolver)
        return tf.distribute.TPUStrategy(resolver)
    raise TrainingError(f"unknown --strategy={name!r}; valid choices: {', '.join(STRATEGIES)}")


def _check_tf_config(text: str | None) -> None:
    """Raises TrainingError unless ``text`` is a usable TF_CONFIG for --strategy=multi_worker."""
    example = ('e.g. TF_CONFIG=\'{"cluster": {"worker": ["host1:12345", "host2:12345"]}, '
               '"task": {"type": "worker", "index": 0}}\'')
    if not text:
        return  # MultiWorkerMirroredStrategy then runs a single local worker
    try:
        spec = json.loads(text)
    except json.JSONDecodeError as e:
        raise TrainingError(f"TF_CONFIG is not valid JSON ({e}); {example}") from None
    cluster = spec.get("cluster") if isinstance(spec, dict) else None
    task = spec.get("task") if isinstance(spec, dict) else None
    if not isinstance(cluster, dict) or not cluster or not all(
            isinstance(v, list) and v and all(isinstance(a, str) for a in v) for v in cluster.values()):
        raise TrainingError(f"TF_CONFIG needs \"cluster\": a JSON object of job name -> list of "
                            f"\"host:port\" addresses; {example}")
    if not isinstance(task, dict) or task.get("type") not in cluster:
        raise TrainingError(f"TF_CONFIG needs \"task\": {{\"type\": one of {sorted(cluster)}, \"index\": ...}}; "
                            f"got {task!r}")
    index = task.get("index")
    size = len(cluster[task["type"]])
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < size:
        raise TrainingError(f"TF_CONFIG task index must be an integer in [0, {size - 1}] (the cluster has "
                            f"{size} {task['type']!r} address(es)), got {index!r}")


def accelerators() -> list[str]:
    """The accelerators TensorFlow sees: ``"TPU:<name>"`` per TPU core and the name of each GPU."""
    tpus = tf.config.list_logical_devices("TPU")
    if tpus:
        return [f"TPU:{t.name}" for t in tpus]
    names = []
    for gpu in tf.config.list_physical_devices("GPU"):
        try:
            names.append(tf.config.experimental.get_device_details(gpu).get("device_name") or gpu.name)
        except (ValueError, tf.errors.OpError):
            names.append(gpu.name)
    return names


def describe_devices(strategy: tf.distribute.Strategy) -> str:
    """One line: which devices train (a GPU's name, or the CPU)."""
    devices = accelerators()
    replicas = strategy.num_replicas_in_sync
    if devices and devices[0].startswith("TPU:"):
        return f"training on {len(devices)} TPU core(s), {replicas} replica(s)"
    if devices:
        return f"training on {len(devices)} GPU(s): {', '.join(devices)}; {replicas} replica(s)"
    return f"training on the CPU ({os.cpu_count()} cores; no GPU found); {replicas} replica(s)"


def is_chief(strategy: tf.distribute.Strategy) -> bool:
    """Whether this process writes the run's files (multi-worker: the chief only)."""
    resolver = getattr(strategy, "cluster_resolver", None)
    if not isinstance(strategy, tf.distribute.MultiWorkerMirroredStrategy) or resolver is None:
        return True
    if resolver.task_type in (None, "chief"):
        return True
    has_chief = "chief" in resolver.cluster_spec().as_dict()
    return resolver.task_type == "worker" and resolver.task_id == 0 and not has_chief
