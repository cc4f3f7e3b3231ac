"""TensorLayer's IMDB fastText model on a generated corpus: do the explanations find the planted words?

The model is the one of TensorLayer's ``tutorial_imdb_fasttext.py``: an
``AverageEmbedding`` of the unigram and hashed bigram ids, then ``Dense(10)`` and
``Dense(2)``, trained with Adam on padded id sequences. The corpus is generated
(nothing to download): every document is 8-30 filler words drawn from a
vocabulary of 400 made-up words, with 1-3 *planted* words (out of 4 positive
and 4 negative ones) that alone decide its label. So the right explanation of
a document is known: its planted words.

Integrated gradients (in embedding space), occlusion and LIME explain held-out
documents; a word's score is its unigram attribution plus half of the
attribution of each bigram it is in. The script prints, per method, the
*recall* of the planted words among each document's top-k words (k = its number
of planted words), and saves coloured-token figures (PNG and HTML).

Run ``python examples/text_fasttext.py --help`` for the options.
"""
import argparse
import os
import time
import zlib

import numpy as np
import tensorflow as tf
import tensorlayer as tl

import tensorlayer_xplain as tlxp

POSITIVE = ("superb", "moving", "brilliant", "delightful")
NEGATIVE = ("dull", "awful", "boring", "clumsy")
N_FILLER = 400
N_BUCKETS = 5000  # bigram hash buckets (TL's tutorial uses 1,000,000 on IMDB)
EMBEDDING_SIZE = 50
MAX_WORDS = 30


class FastTextModel(tl.models.Model):
    """The model of TensorLayer's ``tutorial_imdb_fasttext.py``."""

    def __init__(self, vocab_size, embedding_size, n_labels):
        super().__init__()
        self.avg_embed = tl.layers.AverageEmbedding(vocab_size, embedding_size)
        self.dense1 = tl.layers.Dense(n_units=10, in_channels=embedding_size)
        self.dense2 = tl.layers.Dense(n_units=n_labels, in_channels=10)

    def forward(self, x):
        z = self.avg_embed(x)
        z = self.dense1(z)
        return self.dense2(z)


def make_vocabulary():
    """Words by id: 0 is the pad, then the filler words, then the planted words."""
    rng = np.random.default_rng(12345)
    letters = np.array(list("abcdefghijklmnopqrstuvwxyz"))
    filler = set()
    while len(filler) < N_FILLER:
        filler.add("".join(rng.choice(letters, rng.integers(3, 8))))
    return ["<pad>"] + sorted(filler) + list(POSITIVE) + list(NEGATIVE)


def make_corpus(n, words, rng):
    """``n`` documents (lists of word ids), their labels, and each document's planted positions."""
    index = {w: i for i, w in enumerate(words)}
    positive, negative = [index[w] for w in POSITIVE], [index[w] for w in NEGATIVE]
    docs, labels, planted = [], [], []
    for _ in range(n):
        label = int(rng.integers(0, 2))
        doc = list(rng.integers(1, N_FILLER + 1, rng.integers(8, MAX_WORDS - 2)))
        k = int(rng.integers(1, 4))
        where = sorted(rng.choice(len(doc) + k, k, replace=False))
        for pos in where:
            doc.insert(pos, int(rng.choice(positive if label else negative)))
        docs.append(doc)
        labels.append(label)
        planted.append(where)
    return docs, np.array(labels, np.int64), planted


def bigram_id(a, b, unigram_vocab_size):
    """TL's ``hash_ngram``, with a hash that is the same in every process (Python's is salted)."""
    return unigram_vocab_size + zlib.crc32(("%d_%d" % (a, b)).encode()) % N_BUCKETS


def augment_with_bigrams(doc, unigram_vocab_size):
    """TL's ``augment_with_ngrams(unigrams, unigram_vocab_size, n_buckets, n=2)``: unigrams then bigram ids."""
    return list(doc) + [bigram_id(a, b, unigram_vocab_size) for a, b in zip(doc[:-1], doc[1:])]


def pad(sequences, length):
    out = np.zeros((len(sequences), length), np.int32)
    for i, s in enumerate(sequences):
        out[i, :len(s)] = s
    return out


def word_scores(attributions, doc, unigram_vocab_size):
    """A word's score: its unigram attribution plus half of each bigram it is in (bigrams follow the unigrams)."""
    n = len(doc)
    scores = attributions[:n].astype(np.float64).copy()
    bigrams = attributions[n:2 * n - 1]
    scores[:-1] += 0.5 * bigrams
    scores[1:] += 0.5 * bigrams
    return scores


def recall(exp, docs, planted, unigram_vocab_size):
    """Mean fraction of each document's planted words among its top-k words (k = number planted)."""
    found = []
    for i, doc in enumerate(docs):
        scores = word_scores(exp.attributions[i], doc, unigram_vocab_size)
        k = len(planted[i])
        top = np.argsort(-scores, kind="stable")[:k]
        found.append(len(set(top.tolist()) & set(planted[i])) / k)
    return float(np.mean(found))


def labels_for(words, unigram_vocab_size, docs):
    """A dict id -> label for the figures: words, and bigram ids as 'a_b'."""
    vocab = {i: w for i, w in enumerate(words)}
    for doc in docs:
        for a, b in zip(doc[:-1], doc[1:]):
            vocab[bigram_id(a, b, unigram_vocab_size)] = "%s_%s" % (words[a], words[b])
    return vocab


def train(model, x, y, epochs, batch_size=32, learning_rate=0.01, seed=0):
    optimizer = tf.optimizers.Adam(learning_rate=learning_rate)
    rng = np.random.default_rng(seed)

    @tf.function(reduce_retracing=True)
    def step(xb, yb):
        with tf.GradientTape() as tape:
            loss = tl.cost.cross_entropy(model(xb), yb, name="train_loss")
        grads = tape.gradient(loss, model.trainable_weights)
        optimizer.apply_gradients(zip(grads, model.trainable_weights))
        return loss

    model.train()
    for _ in range(epochs):
        order = rng.permutation(len(x))
        for start in range(0, len(x), batch_size):
            idx = order[start:start + batch_size]
            step(tf.constant(x[idx]), tf.constant(y[idx]))
    model.eval()


def parse_args(argv=None):
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--out", default="xplain_out", help="folder for the figures (default: %(default)s)")
    parser.add_argument("--n-train", type=int, default=4000, help="training documents (default: %(default)s)")
    parser.add_argument("--n-explain", type=int, default=100,
                        help="held-out documents explained (default: %(default)s)")
    parser.add_argument("--epochs", type=int, default=4, help="training epochs (default: %(default)s)")
    parser.add_argument("--lime-samples", type=int, default=500,
                        help="LIME samples per document (default: %(default)s)")
    parser.add_argument("--seed", type=int, default=0, help="random seed (default: %(default)s)")
    return parser.parse_args(argv)


def main(argv=None):
    args = parse_args(argv)
    tf.random.set_seed(args.seed)
    rng = np.random.default_rng(args.seed)
    words = make_vocabulary()
    unigram_vocab_size = len(words)
    vocab_size = unigram_vocab_size + N_BUCKETS
    length = 2 * MAX_WORDS
    docs, labels, _ = make_corpus(args.n_train, words, rng)
    test_docs, test_labels, planted = make_corpus(args.n_explain + 400, words, rng)
    x = pad([augment_with_bigrams(d, unigram_vocab_size) for d in docs], length)
    x_test = pad([augment_with_bigrams(d, unigram_vocab_size) for d in test_docs], length)

    model = FastTextModel(vocab_size, EMBEDDING_SIZE, 2)
    start = time.perf_counter()
    train(model, x, labels, args.epochs, seed=args.seed)
    adapter = tlxp.TokenAdapter(model, pad_id=0)  # ids (N, 60); padding (id 0) gets no attribution
    accuracy = float(np.mean(np.argmax(adapter.predict(x_test), axis=1) == test_labels))
    print("fastText (AverageEmbedding of unigrams + bigrams, %d ids): trained %d epochs in %.1f s, held-out "
          "accuracy %.4f" % (vocab_size, args.epochs, time.perf_counter() - start, accuracy))

    n = args.n_explain
    explain_ids, explain_docs, explain_planted = x_test[:n], test_docs[:n], planted[:n]
    methods = {"integrated_gradients": {"steps": 32}, "occlusion": {"mask_token": 0},
               "lime": {"num_samples": args.lime_samples, "seed": args.seed}}
    results = {}
    for method, params in methods.items():
        start = time.perf_counter()
        exp = tlxp.explain(adapter, explain_ids, method, targets=test_labels[:n], **params)
        results[method] = recall(exp, explain_docs, explain_planted, unigram_vocab_size)
        extra = ""
        if method == "integrated_gradients":
            extra = ", completeness gap max %.2g%%" % (100 * exp.meta["max_completeness_gap"])
        print("%-21s recall of the planted words in the top-k: %.3f  (%d documents, %.1f s%s)"
              % (method, results[method], n, time.perf_counter() - start, extra))
        if method == "integrated_gradients":
            os.makedirs(args.out, exist_ok=True)
            vocab = labels_for(words, unigram_vocab_size, explain_docs[:4])
            for ext in ("png", "html"):
                path = os.path.join(args.out, "fasttext_ig_tokens.%s" % ext)
                tlxp.token_visualization(adapter, _first(exp, 4), vocab=vocab, name=path,
                                         class_names=["negative", "positive"])
                print("saved %s" % path)
    return accuracy, results


def _first(exp, k):
    """The first ``k`` samples of an explanation."""
    return tlxp.Explanation(exp.method, exp.attributions[:k], exp.inputs[:k], exp.targets[:k], exp.predictions[:k],
                            exp.image_shape, params=exp.params,
                            meta={k: exp.meta[k] for k in ("signed", "pad_id") if k in exp.meta})


if __name__ == "__main__":
    main()
