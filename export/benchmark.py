"""``python3 -m export.benchmark``: :mod:`hne_tf.export.benchmark`'s CLI (installed: ``hne-bench``)."""

from hne_tf.export.benchmark import cli

if __name__ == "__main__":
    cli()
