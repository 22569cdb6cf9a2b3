"""The README's export commands in a checkout, unchanged by the move to :mod:`hne_tf.export`.

``python3 -m export``, ``python3 -m export.anytime``, ``python3 -m export.benchmark``,
``python3 -m export.fixture`` and ``python3 -m export.samples``, run from the repository root: each
module here only starts the CLI of its namesake in :mod:`hne_tf.export`, where everything lives.
Installed (``pip install .``), the same programs are ``hne-export``, ``hne-anytime`` and ``hne-bench``;
this package is not installed.
"""
