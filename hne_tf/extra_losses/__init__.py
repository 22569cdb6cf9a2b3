"""Losses in files of their own.

:mod:`hne_tf.losses` imports every module of this package when it is imported
(:func:`hne_tf.plugins.import_package`). A module here defines its loss as a
function decorated with ``losses.register(...)`` (which gives it its ``--loss``
name, its families, its hyperparameters and their ``train.py`` flags); its test
goes to ``tests/``. The papers' losses are in :mod:`hne_tf.losses` itself.
"""
