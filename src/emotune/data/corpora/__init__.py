"""The built-in datasets, one module per family; each reads the files described in
``$EMOTUNE_DATA_DIR/<folder>/SOURCE.md`` into the canonical :class:`~emotune.data.dataset.EmotionDataset`
and is listed in :mod:`emotune.data.registry`."""
