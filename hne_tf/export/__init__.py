"""TFLite export of trained tree ensembles (``python -m export``).

* :mod:`hne_tf.export.convert`  Keras -> frozen graphs -> TFLite flatbuffers
* :mod:`hne_tf.export.exporter` the export job: files, parity checks, manifest
* :mod:`hne_tf.export.manifest` the manifest schema and its validator
* :mod:`hne_tf.export.runtime`  running the files with LiteRT + XNNPACK on the host
* :mod:`export.anytime`  the host anytime runner (``python -m export.anytime``)
* :mod:`export.benchmark` the latency benchmark (``python -m export.benchmark``)
"""
