"""``python3 -m export``: the export CLI, :mod:`hne_tf.export.__main__` (installed: ``hne-export``)."""

from hne_tf.export.__main__ import cli

if __name__ == "__main__":
    cli()
