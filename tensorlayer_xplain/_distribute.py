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
>>> strategy = tf.distribute.MirroredStrategy(['/cpu:0', '/cpu:1'])        # doctest: +SKIP
>>> explainer = tlxp.ModelExplainer(model, methods=['gradient'], strategy=strategy)  # doctest: +SKIP
"""
import tensorflow as tf

__all__ = ["ReplicatedStep"]


def _sizes(n, replicas):
    """Rows per replica: as equal as possible, the first ones one larger."""
    base, extra = divmod(n, replicas)
    return [base + (1 if i < extra else 0) for i in range(replicas)]


class ReplicatedStep:
    """A compiled step whose row-aligned arguments are split across a strategy's replicas.

    Parameters
    ----------
    strategy : tf.distribute.Strategy
    fn : tf.function
        The step, traced per replica.
    rows : sequence of int
        Positions of the arguments that have one row per sample (``0`` is ``x``).
    """

    def __init__(self, strategy, fn, rows):
        self.strategy, self.fn, self.rows = strategy, fn, tuple(rows)
        self.replicas = int(strategy.num_replicas_in_sync)

    def experimental_get_tracing_count(self):
        return self.fn.experimental_get_tracing_count()

    def __call__(self, *args):
        args = [tf.convert_to_tensor(a) for a in args]
        n = int(args[0].shape[0])
        if self.replicas < 2 or n < self.replicas:
            return self.fn(*args)  # nothing to split
        sizes = _sizes(n, self.replicas)
        parts = [tf.split(a, sizes, axis=0) if i in self.rows else None for i, a in enumerate(args)]

        def per_replica(context):
            r = context.replica_id_in_sync_group
            return tuple(parts[i][r] if parts[i] is not None else a for i, a in enumerate(args))

        values = self.strategy.experimental_distribute_values_from_function(per_replica)
        local = self.strategy.experimental_local_results(self.strategy.run(self.fn, args=values))
        return tf.nest.map_structure(lambda *pieces: tf.concat(pieces, axis=0), *local)
