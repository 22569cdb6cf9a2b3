"""Model families, one module each: its builders, its presets as a table, its extras.

:mod:`hne_tf.presets` (the registry) imports every module of this package when it
is imported (:func:`hne_tf.plugins.import_package`): those named in
:data:`IMPORT_FIRST` first, then the others by name. A module here registers its
family with ``presets.register_family`` and its presets from a table with
``presets.register_presets`` (one preset alone: the ``presets.register_preset``
decorator), and keeps the family's training-only parts (:class:`hne_tf.presets.Extra`
subclasses) beside them; its test goes to ``tests/``. A module whose name starts
with ``_`` holds what the families share and is not imported as a family.
"""

#: The papers' families, imported first and in this order, so that ``presets.FAMILIES``
#: (and the error messages that list it) keeps the order in which presets.py registered them.
#: A new family needs no entry here. Set before the import below, which may run the registry.
IMPORT_FIRST = ("hne", "one", "oemc", "ensemblenet")

# A family module imported on its own first (``from hne_tf.families.one import GatedTeacher``)
# would register itself after the registry had imported the others; importing the registry
# here, before any family module runs, keeps the order the same whatever is imported first.
import hne_tf.presets  # noqa: E402, F401
