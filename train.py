"""``python3 train.py [flags]`` in a checkout: the training CLI, :mod:`hne_tf.cli.train` (installed: ``hne-train``).

``--help`` lists the flags. Importing the CLI starts no TensorFlow, so its stderr noise filter still
starts first.
"""

from hne_tf.cli.train import cli

if __name__ == "__main__":
    cli()
