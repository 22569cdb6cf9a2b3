"""``python3 -m export.fixture``: :mod:`hne_tf.export.fixture`'s CLI."""

from hne_tf.export.fixture import cli

if __name__ == "__main__":
    cli()
