"""Split a compiled step's batch across the replicas of a ``tf.distribute`` strategy.

A step opts in by telling :meth:`ModelAdapter.compiled` which of its arguments
are row-aligned with the batch (``rows``): those are cut into one contiguous
slice per replica, the others (scalars such as a piece size, per-step vectors
such as integrated-gradient alphas) are given whole to every replica, the step
runs on every replica at once with ``strategy.run``, and each output is
concatenated back in replica order. The model's variables are read where they
live (inference only; nothing is written).

Examples
--------
>>> strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])
>>> explainer = tlxp.ModelExplainer(model, methods=['gradient'], strategy=strategy)
"""
import tensorflow as tf

__all__ = ["ReplicatedStep"]


class ReplicatedStep:
    """A compiled step whose row-aligned arguments are split across a strategy's replicas.

    Replica ``r`` of ``R`` takes rows ``r * n // R : (r + 1) * n // R`` of every
    row-aligned argument; the outer step is one ``tf.function`` with the same
    input signature as ``fn``, so new batch sizes do not retrace.

    Parameters
    ----------
    strategy : tf.distribute.Strategy
    fn : tf.function
        The step (with an ``input_signature``), traced per replica.
    rows : sequence of int
        Positions of the arguments that have one row per sample (``0`` is ``x``).
    """

    def __init__(self, strategy, fn, rows):
        self.strategy, self.fn, self.rows = strategy, fn, tuple(rows)
        self.replicas = int(strategy.num_replicas_in_sync)
        self.step = tf.function(self._split_run, input_signature=fn.input_signature)

    def _split_run(self, *args):
        replicas, rows, fn = self.replicas, self.rows, self.fn

        def on_replica():
            r = tf.distribute.get_replica_context().replica_id_in_sync_group
            n = tf.shape(args[0])[0]
            start, stop = r * n // replicas, (r + 1) * n // replicas
            return fn(*[a[start:stop] if i in rows else a for i, a in enumerate(args)])

        local = self.strategy.experimental_local_results(self.strategy.run(on_replica))
        return tf.nest.map_structure(lambda *pieces: tf.concat(pieces, axis=0), *local)

    def experimental_get_tracing_count(self):
        return self.fn.experimental_get_tracing_count() + self.step.experimental_get_tracing_count()

    def __call__(self, *args):
        if self.replicas < 2 or int(args[0].shape[0]) < self.replicas:
            return self.fn(*args)  # nothing to split
        return self.step(*args)
