"""Export precisions in files of their own.

:mod:`hne_tf.export.precisions` imports every module of this package when it is
imported (:func:`hne_tf.plugins.import_package`). A module here registers its
precision with ``precisions.register(name, help, calibrated)`` on its
converter set-up; the CLI's ``--precisions``, the manifest's ``precisions``
table and its validator read the registry. Its test goes to ``tests/``. The
built-in precisions are in :mod:`hne_tf.export.precisions` itself.
"""
