"""The model code of TensorLayer's recurrent tutorials runs as written on Keras 3 (issue 24, point 1).

``PTB_Net`` (examples/text_ptb/tutorial_ptb_lstm.py) and ``Text_Generation_Net``
(examples/text_generation/tutorial_generate_text.py) are TensorLayer 2.2's tutorial
models, kept here as the tutorials write them: two stacked ``tl.layers.RNN`` over Keras
``LSTMCell`` whose final states are fed back as the next batch's ``initial_state``
(truncated backpropagation), TensorLayer's ``ptb_iterator`` and ``cross_entropy``,
and generation one word at a time. The tutorials' training scripts need two edits
that are not about recurrent layers: ``net.weights`` does not exist on a TL 2.2.5
model (``trainable_weights`` does), and a Keras 3 optimizer takes a callable rather
than a ``tf.Variable`` as its learning rate.
"""
import keras
import numpy as np
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import Dense, Embedding
from tensorlayer.models import Model

import tensorlayer_xplain  # noqa: F401  (installs the recurrent-layer patches)

VOCAB, HIDDEN = 12, 16
# a corpus the models can learn: the ids 0..11 cycling
CORPUS = list(np.tile(np.arange(VOCAB), 40))


class PTB_Net(Model):
    """tutorial_ptb_lstm.py's model, as written."""

    def __init__(self, vocab_size, hidden_size, init, keep):
        super(PTB_Net, self).__init__()

        self.embedding = tl.layers.Embedding(vocab_size, hidden_size, init)
        self.dropout1 = tl.layers.Dropout(keep=keep)
        self.lstm1 = tl.layers.RNN(
            cell=tf.keras.layers.LSTMCell(hidden_size), return_last_output=False, return_last_state=True,
            return_seq_2d=False, in_channels=hidden_size
        )
        self.dropout2 = tl.layers.Dropout(keep=keep)
        self.lstm2 = tl.layers.RNN(
            cell=tf.keras.layers.LSTMCell(hidden_size), return_last_output=False, return_last_state=True,
            return_seq_2d=True, in_channels=hidden_size
        )
        self.dropout3 = tl.layers.Dropout(keep=keep)
        self.out_dense = tl.layers.Dense(vocab_size, in_channels=hidden_size, W_init=init, b_init=init, act=None)

    def forward(self, inputs, lstm1_initial_state=None, lstm2_initial_state=None):
        inputs = self.embedding(inputs)
        inputs = self.dropout1(inputs)
        lstm1_out, lstm1_state = self.lstm1(inputs, initial_state=lstm1_initial_state)
        inputs = self.dropout2(lstm1_out)
        lstm2_out, lstm2_state = self.lstm2(inputs, initial_state=lstm2_initial_state)
        inputs = self.dropout3(lstm2_out)
        logits = self.out_dense(inputs)
        return logits, lstm1_state, lstm2_state


class Text_Generation_Net(Model):
    """tutorial_generate_text.py's model, as written."""

    def __init__(self, vocab_size, hidden_size, init):
        super(Text_Generation_Net, self).__init__()

        self.embedding = Embedding(vocab_size, hidden_size, init, name='embedding')
        self.lstm = tl.layers.RNN(
            cell=tf.keras.layers.LSTMCell(hidden_size), return_last_output=False, return_last_state=True,
            return_seq_2d=True, in_channels=hidden_size
        )
        self.out_dense = Dense(vocab_size, in_channels=hidden_size, W_init=init, b_init=init, act=None, name='output')

    def forward(self, inputs, initial_state=None):
        embedding_vector = self.embedding(inputs)
        lstm_out, final_state = self.lstm(embedding_vector, initial_state=initial_state)
        logits = self.out_dense(lstm_out)
        return logits, final_state


def _perplexity_per_epoch(net, call, epochs, batch_size=4, num_steps=5, max_grad_norm=5.0):
    """The tutorials' training loop (states carried across batches, reset each epoch); perplexity per epoch."""
    lr = tf.Variable(0.0, trainable=False)
    optimizer = tf.optimizers.Adam(learning_rate=lambda: lr)
    train_weights = net.trainable_weights
    perplexities = []
    for _ in range(epochs):
        lr.assign(1e-2)
        net.train()
        states, costs, iters = None, 0.0, 0
        for x, y in tl.iterate.ptb_iterator(CORPUS, batch_size, num_steps):
            with tf.GradientTape() as tape:
                logits, states = call(net, x, states)
                cost = tl.cost.cross_entropy(logits, tf.reshape(y, [-1]), name='train_loss')
            grad, _ = tf.clip_by_global_norm(tape.gradient(cost, train_weights), max_grad_norm)
            optimizer.apply_gradients(zip(grad, train_weights))
            costs += float(cost)
            iters += 1
        perplexities.append(np.exp(costs / iters))
    return perplexities


def _ptb_call(net, x, states):
    s1, s2 = states or (None, None)
    logits, s1, s2 = net(x, lstm1_initial_state=s1, lstm2_initial_state=s2)
    return logits, (s1, s2)


def _generation_call(net, x, state):
    return net(x, initial_state=state)


def test_ptb_lstm_trains_with_truncated_backpropagation_and_evaluates_word_by_word(tmp_path):
    keras.utils.set_random_seed(0)  # TensorLayer's initializers and the Keras cells'
    net = PTB_Net(hidden_size=HIDDEN, vocab_size=VOCAB, init=tf.random_uniform_initializer(-0.1, 0.1), keep=0.9)
    perplexities = _perplexity_per_epoch(net, _ptb_call, epochs=3)
    assert perplexities[-1] < 0.6 * perplexities[0], perplexities
    # the tutorial's test loop: batch 1, one word at a time, the states carried over
    net.eval()
    s1 = s2 = None
    for x, _ in tl.iterate.ptb_iterator(CORPUS[:30], batch_size=1, num_steps=1):
        logits, s1, s2 = net(x, lstm1_initial_state=s1, lstm2_initial_state=s2)
    assert tuple(logits.shape) == (1, VOCAB)
    assert [tuple(t.shape) for t in s1] == [(1, HIDDEN), (1, HIDDEN)]
    # carrying the state is the same as reading the whole sequence at once (the iterator's inputs are
    # the first 29 words: each has the next one as its target)
    whole, _, _ = net(np.asarray([CORPUS[:29]]))
    np.testing.assert_allclose(logits.numpy()[0], whole.numpy()[-1], atol=1e-5)
    path = str(tmp_path / "ptb.hdf5")
    net.save_weights(path)
    twin = PTB_Net(hidden_size=HIDDEN, vocab_size=VOCAB, init=tf.random_uniform_initializer(-0.1, 0.1), keep=0.9)
    twin.load_weights(path)
    twin.eval()
    x = np.asarray([[1, 2, 3, 4]])
    np.testing.assert_array_equal(twin(x)[0].numpy(), net(x)[0].numpy())


def test_text_generation_lstm_trains_and_generates_from_a_seed():
    keras.utils.set_random_seed(1)
    net = Text_Generation_Net(VOCAB, HIDDEN, tl.initializers.random_uniform(-0.1, 0.1))
    perplexities = _perplexity_per_epoch(net, _generation_call, epochs=8)
    assert perplexities[-1] < 0.6 * perplexities[0], perplexities
    # the tutorial's generation: feed the seed word by word, then sample from the top k
    net.eval()
    state, outs = None, [3, 4, 5]
    for word in outs[:-1]:
        _, state = net(np.asarray(word).reshape(1, 1), initial_state=state)
    word = outs[-1]
    for _ in range(6):
        logits, state = net(np.asarray(word).reshape(1, 1), initial_state=state)
        word = tl.nlp.sample_top(tf.nn.softmax(logits)[0].numpy(), top_k=1)
        outs.append(int(word))
    # top-1 sampling of a model trained on 0..11 cycling continues the cycle
    assert outs[3:] == [(5 + k) % VOCAB for k in range(1, 7)], outs
