"""Model families and presets in files of their own.

:mod:`hne_tf.presets` imports every module of this package when it is
imported (:func:`hne_tf.plugins.import_package`). A module here adds a family
with ``presets.register_family`` and its presets with the
``presets.register_preset`` decorator; its test goes to ``tests/``. The four
papers' families (HNE, ONE, OEMC, EnsembleNet) are registered in
:mod:`hne_tf.presets` itself.
"""
