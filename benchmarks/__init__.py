"""Side-by-side timing and quality tables of tensorlayer-xplain's methods (not tests).

Run from the repository root as modules: ``python -m benchmarks.run`` (the suite: every method on the trained
MNIST CNN and MLP, one table), ``python -m benchmarks.bench_gradients``, ``bench_lime_shap``, ``bench_zoo``,
``bench_scale``, ``bench_serve``. By job: ``settings`` (the run and method settings, the one place),
``timing`` (interleaved pairs with a baseline), ``memory`` (peak Python and RSS of a call), ``machine``
(CPU, versions, how busy the machine was), ``report`` (Markdown, CSV and the plot), ``_models`` (the
trained reference models, cached).
"""
