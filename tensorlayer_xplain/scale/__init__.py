"""A whole dataset explained: the Zarr store and its writer, chunking of the input, the Ray Data job.

``store`` reads (:func:`~tensorlayer_xplain.open_store`, :class:`~tensorlayer_xplain.ExplanationStore`),
``writer`` writes resumably
(:meth:`ModelExplainer.explain_dataset <tensorlayer_xplain.ModelExplainer.explain_dataset>`),
``chunking`` splits arrays and iterables into chunks and draws progress, ``ray`` runs the chunks on Ray
workers (extra ``distributed``). Importing this package imports none of zarr, Ray or dask.
"""
