"""Translate dates written by people into ISO dates with TensorLayer's Seq2seqLuongAttention, and read its attention.

Dates between 1950 and 2049 are written with ``datetime`` in 13 formats ("tuesday 5 march
1996", "5/3/96", "march 5, 1996", "05.03.1996", "the 5th of march, 1996", "19960305",
...) and translated character by character into ``1996-03-05``. The model is
TensorLayer's own ``tl.models.Seq2seqLuongAttention`` (a GRU encoder and decoder, Luong
attention, one embedding shared by source and output characters; its ``forward`` and
``inference`` run unchanged) with three layers changed (:class:`AttentionOnlyLuong`):

* its decoder starts from a learned constant state instead of the encoder's final state,
  so it can learn about a date only through its attention;
* its alignment leaves out the padding;
* its encoder states (what the attention scores and reads) are TensorLayer's GRU states
  plus a projection of each character's own embedding (:class:`ResidualEncoder`).
  TensorLayer's encoder is a left-to-right GRU: its state over a character holds
  everything written before it, so the decoder could read the month at the year, and
  where it did depended on the seed.

**The skip connection is what makes the alignment readable**, where it is: it puts each
character, unmixed, in the state at that character, so reading a field in place is the
easy route. The attention is never trained on where the fields are, and the decoder can
still read a field elsewhere; the check below measures whether it does. Measured: the
check passes at seeds 0, 1 and 2 and fails at seed 3 (the month and the day read at the
character after them), with at least 99.5% exact match at all four (see the guide).
``--encoder gru`` keeps TensorLayer's encoder states, ``--encoder local`` scores them
but builds the context from each character and its neighbours (the alignment is then
readable by construction, but training stalls on some formats at some seeds), and
``--decoder-start encoder --attend-padding`` trains TensorLayer's model unchanged (as
accurate, but its attention then sits on the padding). Training uses teacher forcing;
held-out dates (never seen in training, in any format) are decoded greedily.

The script prints

* the exact-match accuracy of the greedy decoding on held-out dates (all 10 characters right);
* for each output field (year, month, day): the share of the attention that the output
  positions of that field put on the source characters holding that field, the same
  among the attention that falls on the written date, and the share of the date those
  characters take (what uniform attention would give), the same per output character;
  then whether every field puts most (> 50%) of its attention on its own characters;
* how well gradient attributions (integrated gradients over the source characters)
  agree with the attention (the share of positions where the source character with
  the largest attribution lies inside the attended field);

and saves ``date_alignment.<fmt>``: the alignment matrices (output characters x source
characters, the padding in front included) of a few held-out dates next to their
integrated-gradients maps.

Run ``python examples/date_translation.py --help`` for the options. Nothing is
downloaded. The defaults train in about 100 to 120 s of CPU time (12 epochs; the script
prints both).
"""
import argparse
import datetime
import os
import tempfile
import time

import keras
import numpy as np
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.models.seq2seq_with_attention import Decoder_Attention, Encoder

import tensorlayer_xplain as tlxp

PAD, SOS = 0, 1
CHARS = " ,-./0123456789abcdefghijklmnopqrstuvwxyz"
VOCAB = ["<pad>", "<sos>"] + list(CHARS)
IDS = {c: i for i, c in enumerate(VOCAB)}
SOURCE_LENGTH = 30
OUTPUT_LENGTH = 10
FIELDS = {"year": range(0, 4), "month": range(5, 7), "day": range(8, 10)}
FIRST, LAST = datetime.date(1950, 1, 1), datetime.date(2049, 12, 31)


def _ordinal(day):
    suffix = "th" if 11 <= day <= 13 else {1: "st", 2: "nd", 3: "rd"}.get(day % 10, "th")
    return str(day), suffix


# Each format is a list of parts: a field ('year4', 'year2', 'month', 'month2', 'monthname', 'mon',
# 'day', 'day2', 'dayord') or a literal string; '%A'/'%a' (the weekday) counts as no field.
FORMATS = [
    ["weekday", " ", "day", " ", "monthname", " ", "year4"],         # tuesday 5 march 1996
    ["day", "/", "month", "/", "year2"],                              # 5/3/96
    ["monthname", " ", "day", ", ", "year4"],                         # march 5, 1996
    ["day2", ".", "month2", ".", "year4"],                            # 05.03.1996
    ["day", " ", "mon", " ", "year4"],                                # 5 mar 1996
    ["wkd", ", ", "day", " ", "mon", " ", "year2"],                   # tue, 5 mar 96
    ["year4", "/", "month2", "/", "day2"],                            # 1996/03/05
    ["dayord", " of ", "monthname", " ", "year4"],                    # 5th of march 1996
    ["mon", " ", "day2", " ", "year4"],                               # mar 05 1996
    ["day2", "-", "mon", "-", "year4"],                               # 05-mar-1996
    ["the ", "dayord", " of ", "monthname", ", ", "year4"],           # the 5th of march, 1996
    ["year4", "month2", "day2"],                                      # 19960305
    ["day", " ", "monthname", " ", "year2"],                          # 5 march 96
]


def render(date, parts):
    """The date written with ``parts``, and the character spans ``{field: (start, stop)}`` of year, month, day."""
    text, spans = "", {}
    for part in parts:
        field = None
        if part in ("year4", "year2"):
            piece, field = (date.strftime("%Y") if part == "year4" else date.strftime("%y")), "year"
        elif part in ("month", "month2", "monthname", "mon"):
            piece = {"month": str(date.month), "month2": "%02d" % date.month,
                     "monthname": date.strftime("%B").lower(), "mon": date.strftime("%b").lower()}[part]
            field = "month"
        elif part in ("day", "day2"):
            piece, field = (str(date.day) if part == "day" else "%02d" % date.day), "day"
        elif part == "dayord":
            number, suffix = _ordinal(date.day)
            spans["day"] = (len(text), len(text) + len(number))
            text += number + suffix
            continue
        elif part in ("weekday", "wkd"):
            piece = date.strftime("%A" if part == "weekday" else "%a").lower()
        else:
            piece = part
        if field is not None:
            spans[field] = (len(text), len(text) + len(piece))
        text += piece
    return text, spans


def encode(text, length, pre=False):
    """Character ids padded with ``PAD`` to ``length`` (before the text with ``pre``, else after)."""
    ids = [IDS[c] for c in text]
    if len(ids) > length:
        raise ValueError("text: %r is longer than %d characters" % (text, length))
    pads = [PAD] * (length - len(ids))
    return pads + ids if pre else ids + pads


def decode(ids):
    return "".join(VOCAB[i] for i in ids if i > SOS)


def make_dataset(dates, rng):
    """Source ids (N, 30), target ids (N, 10), field spans (source positions) and format, one random format per date."""
    src, tgt, spans, formats = [], [], [], []
    for date in dates:
        k = int(rng.randint(len(FORMATS)))
        text, span = render(date, FORMATS[k])
        # the source is padded in front (as Keras' pad_sequences does): the encoder reads the
        # padding first, so its states at the end hold the date, not a run of padding
        src.append(encode(text, SOURCE_LENGTH, pre=True))
        tgt.append(encode(date.isoformat(), OUTPUT_LENGTH))
        offset = SOURCE_LENGTH - len(text)
        spans.append({field: (a + offset, b + offset) for field, (a, b) in span.items()})
        formats.append(k)
    return np.array(src, np.int32), np.array(tgt, np.int32), spans, np.array(formats)


def split_dates(n_train, n_test, seed=0):
    """Disjoint random training and held-out dates between 1950 and 2049."""
    rng = np.random.RandomState(seed)
    days = rng.permutation((LAST - FIRST).days + 1)[:n_train + n_test]
    dates = [FIRST + datetime.timedelta(days=int(d)) for d in days]
    return dates[:n_train], dates[n_train:]


def teacher_inputs(tgt):
    """``[SOS, y_0, ..., y_{T-2}]``: the decoder inputs of teacher forcing."""
    return np.concatenate([np.full((len(tgt), 1), SOS, np.int32), tgt[:, :-1]], axis=1)


class StartStateEncoder(Encoder):
    """TensorLayer's Luong ``Encoder`` whose "last state" is a learned constant ``(1, H)`` vector.

    ``Seq2seqLuongAttention`` starts its decoder from the state its encoder returns
    last. TensorLayer's encoder returns its final state, which has read the whole
    date: the decoder can then translate without looking at the source, and its
    alignment says nothing. This encoder returns the same encoder states (what the
    attention reads) but hands the decoder a learned start state that is the same for
    every date, so everything the decoder learns about a date comes through the
    attention. The model's own ``forward`` and ``inference`` are unchanged.
    """

    def __init__(self, hidden_size, cell, embedding_layer, name=None):
        super().__init__(hidden_size, cell, embedding_layer, name=name)
        self.start_state = self._get_weights("start_state", shape=(1, hidden_size), init=tl.initializers.zeros())

    def forward(self, src_seq, initial_state=None):
        output, encoding_hidden_states, _ = super().forward(src_seq, initial_state=initial_state)
        return output, encoding_hidden_states, tf.tile(self.start_state, [tf.shape(src_seq)[0], 1])


class ResidualEncoder(StartStateEncoder):
    """TensorLayer's GRU encoder states plus a projection of each character's own embedding.

    TensorLayer's encoder is a left-to-right GRU: its state over any character holds
    everything written before it, so a decoder can read the month at the space after
    it, or at the year, and where it does so depends on the training seed. This encoder
    adds to the state at each character a learned linear projection of that character's
    embedding (a skip connection, as in residual networks), so what is written at a
    character is also there, unmixed, in the state at that character. The decoder can
    still read a field elsewhere; the skip makes reading it in place the easy route,
    and the example's check measures whether it does.
    """

    def __init__(self, hidden_size, cell, embedding_layer, name=None):
        super().__init__(hidden_size, cell, embedding_layer, name=name)
        size = embedding_layer.embedding_size
        self.skip = self._get_weights("skip", shape=(size, hidden_size),
                                      init=tl.initializers.truncated_normal(stddev=size ** -0.5))

    def forward(self, src_seq, initial_state=None):
        output, states, start = super().forward(src_seq, initial_state=initial_state)
        skip = tf.einsum("bte,eh->bth", src_seq, self.skip)
        return output, [state + skip[:, t] for t, state in enumerate(states)], start


class SharedKeys:
    """The keys ``(B, T_src, H)`` of the encoder's last call, read by the decoder's score (None outside a call)."""

    keys = None


class LocalValueEncoder(StartStateEncoder):
    """A Luong encoder with separate keys and values: TensorLayer's GRU states say *where*, the characters *what*.

    TensorLayer's attention reads the same encoder states to score the source positions
    and to build the context. Those states come from a left-to-right GRU, so the state
    over any character holds everything written before it: a decoder can read the month
    at the space after it, or at the year, and a "where does the month look" check then
    depends on the training seed. This encoder keeps TensorLayer's GRU states as the
    **keys** (they know the format: which group of digits is the month), and returns as
    its encoder states, the **values** the context is built from, what is written around
    each character: ``tanh`` of a width-3 convolution of the embeddings (the character
    and its two neighbours). A field can then be read only at its own characters or at
    the character just before or after it: **this is what makes the alignment
    readable**, and the example's check measures how much of the attention lands on the
    field's own characters rather than on its neighbours or elsewhere.

    The keys reach :class:`MaskedDecoderAttention` through :attr:`shared`, a plain
    :class:`SharedKeys` both layers hold (set per call, cleared by
    :class:`AttentionOnlyLuong`).
    """

    def __init__(self, hidden_size, cell, embedding_layer, name=None):
        super().__init__(hidden_size, cell, embedding_layer, name=name)
        self.shared = SharedKeys()
        size = embedding_layer.embedding_size
        self.value_kernel = self._get_weights("value_kernel", shape=(3, size, hidden_size),
                                              init=tl.initializers.truncated_normal(stddev=(3 * size) ** -0.5))
        self.value_bias = self._get_weights("value_bias", shape=(hidden_size,), init=tl.initializers.zeros())

    def forward(self, src_seq, initial_state=None):
        output, keys, start = super().forward(src_seq, initial_state=initial_state)
        self.shared.keys = tf.stack(keys, 1)
        values = tf.nn.tanh(tf.nn.conv1d(src_seq, self.value_kernel, 1, "SAME") + self.value_bias)
        return output, tf.unstack(values, axis=1), start


#: The encoder states the attention reads: see :func:`build_model`.
ENCODERS = ("residual", "local", "gru")


class MaskedDecoderAttention(Decoder_Attention):
    """TensorLayer's Luong decoder whose alignment leaves out the source padding.

    TensorLayer's ``score`` is a softmax over every source position, padding included.
    This one takes the softmax of the same scores over the characters of the date only
    (``source_mask``, set by :class:`AttentionOnlyLuong` for each batch), so the padding
    can neither be read nor serve as a place to look at nothing. With a
    :class:`LocalValueEncoder` (``shared``), it scores the encoder's keys instead of the
    encoder states it is given (the values); TensorLayer's ``forward`` then builds the
    context from the values as before.
    """

    source_mask = None  # (B, T_src) float, 1 on the date's characters
    shared = None  # the SharedKeys of a LocalValueEncoder

    def score(self, encoding_hidden, hidden, method):
        if self.shared is not None and self.shared.keys is not None:
            encoding_hidden = self.shared.keys  # the keys; the context is still built from the values
        if self.source_mask is None:
            return super().score(encoding_hidden, hidden, method)
        # TensorLayer's three score functions before its softmax (the same formulas), (B, T_src);
        # the padding gets -1e9 (renormalising TensorLayer's probabilities instead underflows
        # to all-zero rows once the padding's share nears 1)
        if method == "concat":
            tiled = tf.tile(tf.expand_dims(hidden, 1), [1, tf.shape(encoding_hidden)[1], 1])
            combined = tf.nn.tanh(tf.tensordot(tf.concat([tiled, encoding_hidden], 2), self.W, axes=[[2], [0]]))
            logits = tf.squeeze(tf.tensordot(combined, self.V, axes=[[2], [0]]), 2)
        else:
            query = tf.matmul(hidden, self.W) if method == "general" else hidden
            logits = tf.einsum("bth,bh->bt", encoding_hidden, query)
        return tf.nn.softmax(logits + (1.0 - self.source_mask) * -1e9, axis=-1)


class AttentionOnlyLuong(tl.models.Seq2seqLuongAttention):
    """``tl.models.Seq2seqLuongAttention`` whose decoder reads the source through its attention alone.

    The changes are in the layers; TensorLayer's ``forward`` and ``inference`` run
    unchanged. The encoder hands the decoder a learned start state instead of its final
    state (:class:`StartStateEncoder`), so the decoder learns about a date only through its
    attention; with ``mask_padding=True`` the decoder (:class:`MaskedDecoderAttention`)
    attends only to the date's characters. ``encoder`` picks the states the attention
    reads: ``'residual'`` TensorLayer's GRU states plus each character's own embedding
    (:class:`ResidualEncoder`), ``'local'`` the GRU states as keys and each character with
    its two neighbours as values (:class:`LocalValueEncoder`), ``'gru'`` TensorLayer's GRU
    states as they are.
    """

    def __init__(self, hidden_size, embedding_layer, cell, method, mask_padding=True, encoder="residual", name=None):
        if encoder not in ENCODERS:
            raise ValueError("encoder: expected one of %s, got %r" % (", ".join(map(repr, ENCODERS)), encoder))
        if encoder == "local" and not mask_padding:
            raise ValueError("encoder='local' needs mask_padding=True (the keys reach the decoder's masked score)")
        super().__init__(hidden_size, embedding_layer=embedding_layer, cell=cell, method=method, name=name)
        kind = {"residual": ResidualEncoder, "local": LocalValueEncoder, "gru": StartStateEncoder}[encoder]
        self.enc_layer = kind(hidden_size, cell, embedding_layer)
        if mask_padding:
            self.dec_layer = MaskedDecoderAttention(hidden_size, cell, embedding_layer, method=self.method)
            self.dec_layer.shared = getattr(self.enc_layer, "shared", None)
        self.mask_padding = bool(mask_padding)
        self.encoder = encoder

    def forward(self, inputs, seq_length=20, sos=None):
        if self.mask_padding:
            self.dec_layer.source_mask = tf.cast(tf.not_equal(inputs[0], PAD), tf.float32)
        try:
            return super().forward(inputs, seq_length=seq_length, sos=sos)
        finally:
            self.dec_layer.source_mask = None
            if getattr(self.enc_layer, "shared", None) is not None:
                self.enc_layer.shared.keys = None


def build_model(hidden=128, embedding=64, method="general", seed=0, decoder_start="learned", mask_padding=True,
                encoder="residual"):
    """The date model: :class:`AttentionOnlyLuong` (``decoder_start='learned'``) or TensorLayer's model as it is.

    ``encoder`` (:data:`ENCODERS`, see :class:`AttentionOnlyLuong`): ``'residual'``
    (default), ``'local'`` or ``'gru'`` (TensorLayer's encoder states; where the alignment
    looks then depends on the seed, see the guide). ``decoder_start='encoder'`` builds
    ``tl.models.Seq2seqLuongAttention`` unchanged (its decoder starts from the encoder's
    final state; ``mask_padding`` and ``encoder`` are then ignored).
    """
    if decoder_start not in ("learned", "encoder"):
        raise ValueError("decoder_start: expected 'learned' or 'encoder', got %r" % (decoder_start,))
    keras.utils.set_random_seed(seed)  # TensorLayer's and the Keras cells' initializers
    embedding_layer = tl.layers.Embedding(vocabulary_size=len(VOCAB), embedding_size=embedding)
    if decoder_start == "encoder":
        return tl.models.Seq2seqLuongAttention(hidden_size=hidden, cell=tf.keras.layers.GRUCell, method=method,
                                               embedding_layer=embedding_layer)
    return AttentionOnlyLuong(hidden, embedding_layer, tf.keras.layers.GRUCell, method, mask_padding=mask_padding,
                              encoder=encoder)


def train(model, src, tgt, epochs, batch_size=128, learning_rate=5e-3, seed=0, log=print):
    """Teacher forcing with Adam (cosine-decayed rate) and softmax cross-entropy, a compiled training step."""
    total = epochs * int(np.ceil(len(src) / batch_size))
    optimizer = tf.optimizers.Adam(tf.keras.optimizers.schedules.CosineDecay(learning_rate, total, alpha=0.05))
    weights = model.trainable_weights
    dec = teacher_inputs(tgt)

    @tf.function
    def step(s, d, y):
        with tf.GradientTape() as tape:
            logits = model([s, d])
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(y, logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    rng = np.random.RandomState(seed)
    model.train()
    try:
        for epoch in range(epochs):
            order = rng.permutation(len(src))
            losses = [float(step(src[b], dec[b], tgt[b]))
                      for b in (order[i:i + batch_size] for i in range(0, len(order), batch_size))]
            log("epoch %d/%d: loss %.4f" % (epoch + 1, epochs, np.mean(losses)))
    finally:
        model.eval()


def greedy(model, src, batch_size=512):
    """The model's own greedy decoding (TensorLayer's inference mode, ``sos=``), ``(N, 10)`` ids."""
    model.eval()
    return np.concatenate([np.asarray(model(inputs=[src[i:i + batch_size]], seq_length=OUTPUT_LENGTH, sos=SOS))
                           for i in range(0, len(src), batch_size)])


def field_masks(spans, length=SOURCE_LENGTH):
    """``{field: bool (N, T_src)}``: the source characters holding each field."""
    masks = {f: np.zeros((len(spans), length), bool) for f in FIELDS}
    for i, span in enumerate(spans):
        for field, (a, b) in span.items():
            masks[field][i, a:b] = True
    return masks


def field_attention(alignment, masks):
    """``{field: share}``: the attention that the output positions of each field put on its source characters.

    ``alignment`` is ``(N, T_out, T_src)``; the share is averaged over the field's
    output positions and the samples.
    """
    return {field: float((alignment[:, list(positions), :] * masks[field][:, None, :]).sum(-1).mean())
            for field, positions in FIELDS.items()}


def draw_alignments(attention, ig, n, path):
    """Per date: the alignment and |IG| (output characters x source characters, padding shown as '.'). Closes it."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    fig, axes = plt.subplots(n, 2, figsize=(15, 3.0 * n), squeeze=False)
    try:
        for i in range(n):
            labels = ["." if t == PAD else ("_" if VOCAB[t] == " " else VOCAB[t]) for t in attention.inputs[i]]
            out = decode(attention.meta["outputs"][i]) if "outputs" in attention.meta else decode(attention.targets[i])
            magnitude = np.abs(ig.attributions[i])
            panels = ((attention.attributions[i], "alignment (Luong attention)"),
                      (magnitude / max(float(magnitude.max()), 1e-12), "|integrated gradients| (scaled)"))
            for ax, (matrix, title) in zip(axes[i], panels):
                ax.imshow(matrix, cmap="viridis", vmin=0, vmax=1, aspect="auto")
                ax.set_xticks(range(len(labels)))
                ax.set_xticklabels(labels, fontsize=8)
                ax.set_yticks(range(len(out)))
                ax.set_yticklabels(list(out), fontsize=8)
                ax.set_title("%s -> %s: %s" % (decode(attention.inputs[i]), out, title), fontsize=9)
        fig.tight_layout()
        fig.savefig(path, dpi=80)
    finally:
        plt.close(fig)


def parse_args(argv=None):
    parser = argparse.ArgumentParser(
        description="Train TensorLayer's Seq2seqLuongAttention to translate dates into ISO format, print the "
        "held-out exact match and where each output field attends, and save the alignment figure.")
    parser.add_argument("--out", default=None,
                        help="folder for the figure (default: a new folder xplain_out_* in the temp directory)")
    parser.add_argument("--train-size", type=int, default=20000, help="training dates (default: %(default)s)")
    parser.add_argument("--test-size", type=int, default=2000, help="held-out dates (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=12, help="training epochs (default: %(default)s)")
    parser.add_argument("--hidden", type=int, default=128, help="GRU units (default: %(default)s)")
    parser.add_argument("--embedding", type=int, default=64, help="embedding size (default: %(default)s)")
    parser.add_argument("--method", default="general", choices=["dot", "general", "concat"],
                        help="Luong score function (default: %(default)s)")
    parser.add_argument("--decoder-start", default="learned", choices=["learned", "encoder"],
                        help="the decoder's start state: a learned constant, so the source reaches the decoder "
                        "through the attention only, or the encoder's final state (TensorLayer's model as it is; "
                        "its attention then reads nothing) (default: %(default)s)")
    parser.add_argument("--attend-padding", action="store_true",
                        help="let the attention fall on the padding (TensorLayer's softmax over every source "
                        "position; with --decoder-start learned the default leaves the padding out, and "
                        "--attend-padding does not go with --encoder local)")
    parser.add_argument("--encoder", default="residual", choices=ENCODERS,
                        help="the encoder states the attention reads (with --decoder-start learned): TensorLayer's "
                        "GRU states plus each character's own embedding ('residual'), the GRU states as keys and "
                        "each character with its neighbours as values ('local'), or TensorLayer's GRU states "
                        "('gru': where the alignment looks then depends on the seed) (default: %(default)s)")
    parser.add_argument("--n", type=int, default=4, help="dates drawn in the figure (default: %(default)s)")
    parser.add_argument("--check", type=int, default=300,
                        help="held-out dates for the attention and gradient checks (default: %(default)s)")
    parser.add_argument("--ig-steps", type=int, default=128,
                        help="integrated-gradients steps for the gradient check (default: %(default)s)")
    parser.add_argument("--ig-check", type=int, default=100,
                        help="held-out dates for the gradient check (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    parser.add_argument("--learning-rate", type=float, default=5e-3, help="Adam learning rate (default: %(default)s)")
    parser.add_argument("--format", default="png", choices=["png", "pdf", "svg"],
                        help="figure format (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    rng = np.random.RandomState(args.seed)
    train_dates, test_dates = split_dates(args.train_size, args.test_size, args.seed)
    src, tgt, _, _ = make_dataset(train_dates, rng)
    test_src, test_tgt, test_spans, test_formats = make_dataset(test_dates, rng)
    model = build_model(args.hidden, embedding=args.embedding, method=args.method, seed=args.seed,
                        decoder_start=args.decoder_start, mask_padding=not args.attend_padding,
                        encoder=args.encoder)
    start, cpu = time.perf_counter(), time.process_time()
    train(model, src, tgt, args.epochs, learning_rate=args.learning_rate, seed=args.seed)
    print("trained %d epochs on %d dates in %.1f s (%.1f s of CPU time)" % (
        args.epochs, len(src), time.perf_counter() - start, time.process_time() - cpu))

    decoded = greedy(model, test_src)
    exact = (decoded == test_tgt).all(axis=1)
    print("held-out exact match: %.4f (%d dates, %d formats; per format: %s)" % (
        exact.mean(), len(exact), len(FORMATS),
        " ".join("%.2f" % exact[test_formats == k].mean() for k in range(len(FORMATS)) if (test_formats == k).any())))

    out = args.out or tempfile.mkdtemp(prefix="xplain_out_")
    os.makedirs(out, exist_ok=True)
    k = min(args.check, len(test_src))
    attention = tlxp.explain(model, test_src[:k], "attention", sos=SOS, seq_length=OUTPUT_LENGTH)
    rows = attention.attributions.sum(-1)
    print("alignment %s (N, T_out, T_src); rows sum to 1 within %.1e" % (attention.shape, np.abs(rows - 1).max()))
    masks = field_masks(test_spans[:k])
    source_share = {f: float((m.sum(1) / (test_src[:k] != PAD).sum(1)).mean()) for f, m in masks.items()}
    print("attention of each output field on the source characters holding it (%d held-out dates):" % k)
    shares = field_attention(attention.attributions, masks)
    pad = {f: (test_src[:k] == PAD) for f in FIELDS}
    on_padding = field_attention(attention.attributions, pad)
    for field in FIELDS:
        on_text = 1.0 - on_padding[field]
        print("  %-5s %.1f%% of the attention; %.1f%% of the attention that falls on the written date (the rest, "
              "%.1f%%, on the padding in front); those characters are %.1f%% of the date"
              % (field, 100 * shares[field], 100 * shares[field] / max(on_text, 1e-12), 100 * on_padding[field],
                 100 * source_share[field]))
    print("  per output character: %s" % ", ".join(
        "%s %.0f%%" % (field, 100 * float((attention.attributions[:, t] * masks[field]).sum(-1).mean()))
        for field, positions in FIELDS.items() for t in positions))
    attends = {field: share > 0.5 for field, share in shares.items()}
    print("check: every output field puts most (> 50%%) of its attention on the characters holding it: %s (%s)"
          % ("PASSED" if all(attends.values()) else "FAILED",
             ", ".join("%s %s" % (f, "yes" if ok else "no") for f, ok in attends.items())))
    m = min(args.ig_check, k)
    ig = tlxp.explain(model, test_src[:m], "integrated_gradients", decoder_inputs=attention.decoder_inputs[:m],
                      steps=args.ig_steps)
    top_ig = np.abs(ig.attributions).argmax(-1)  # (N, T_out): the source character with the largest |IG|
    print("integrated gradients (%d held-out dates, %d steps), the source character with the largest |IG|:"
          % (m, args.ig_steps))
    for field, positions in FIELDS.items():
        inside = np.take_along_axis(masks[field][:m], top_ig[:, list(positions)], axis=1)
        print("  %-5s the largest |IG| lies on the field's characters at %.1f%% of its positions"
              % (field, 100 * inside.mean()))
    first = tlxp.Seq2seqExplanation("attention", attention.attributions[:m], attention.inputs[:m],
                                    attention.decoder_inputs[:m], attention.targets[:m], attention.predictions[:m])
    agreement = tlxp.method_agreement({"attention": first, "integrated_gradients": ig},
                                      top_k=OUTPUT_LENGTH)
    print("  attention vs |IG| over the (T_out x T_src) maps: Spearman %.2f, top-%d IoU %.2f"
          % (agreement.spearman.loc["attention", "integrated_gradients"], OUTPUT_LENGTH,
             agreement.iou.loc["attention", "integrated_gradients"]))
    gap = ig.meta["completeness_gap"]
    print("  IG completeness (%d steps): median gap %.4f, %.1f%% of the %d positions within 1%%"
          % (args.ig_steps, np.median(gap), 100 * (gap < 0.01).mean(), gap.size))
    path = os.path.join(out, "date_alignment.%s" % args.format)
    draw_alignments(attention, ig, min(args.n, m), path)
    print("saved %s" % path)
    return float(exact.mean()), shares


if __name__ == "__main__":
    main()
