"""``python3 -m export.anytime``: :mod:`hne_tf.export.anytime`'s CLI (installed: ``hne-anytime``)."""

from hne_tf.export.anytime import cli

if __name__ == "__main__":
    cli()
