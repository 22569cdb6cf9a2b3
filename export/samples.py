"""``python3 -m export.samples``: :mod:`hne_tf.export.samples`'s CLI."""

from hne_tf.export.samples import cli

if __name__ == "__main__":
    cli()
