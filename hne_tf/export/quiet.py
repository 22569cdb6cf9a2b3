"""The export CLIs' stderr filter; it lives in :mod:`hne_tf.quiet`, shared with ``train.py``."""

from hne_tf.quiet import NOISE, is_noise, quiet_native_stderr

__all__ = ["NOISE", "is_noise", "quiet_native_stderr"]
