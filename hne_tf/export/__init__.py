"""TFLite export of trained tree ensembles (``python -m export``).

* :mod:`export.convert`  Keras -> frozen graphs -> TFLite flatbuffers
* :mod:`export.exporter` the export job: files, parity checks, manifest
* :mod:`export.manifest` the manifest schema and its validator
* :mod:`export.runtime`  running the files with LiteRT + XNNPACK on the host
* :mod:`export.anytime`  the host anytime runner (``python -m export.anytime``)
* :mod:`export.benchmark` the latency benchmark (``python -m export.benchmark``)
"""
