"""Reference TensorLayer models used by the examples, tests and benchmarks, and a trainer.

No layer or model is given a fixed ``name``: TensorLayer names are global in a
process, so fixed names would clash when a builder is called twice.
"""
import numpy as np
import tensorflow as tf
import tensorlayer as tl
from tensorlayer.layers import BatchNorm, Conv2d, Dense, Dropout, Flatten, Input, MaxPool2d

from .adapter import as_adapter

__all__ = ["mlp", "cnn", "cifar10_batchnorm", "attention_mnist", "train", "accuracy", "calibrate_batchnorm"]


def _seed(seed):
    if seed is not None:
        tf.random.set_seed(int(seed))
        np.random.seed(int(seed))


def mlp(seed=None):
    """The TensorLayer tutorial MLP for flat MNIST (static model).

    Input 784 -> Dense 256 relu -> Dropout(keep=0.8) -> Dense 128 relu -> Dense 10 (logits).

    Parameters
    ----------
    seed : int, optional
        Seed for the weight initializers.

    Returns
    -------
    tl.models.Model
        Takes ``(N, 784)`` float32, returns logits ``(N, 10)``.

    Examples
    --------
    >>> model = mlp(seed=0)
    >>> model.eval(); model(np.zeros((2, 784), np.float32)).shape
    TensorShape([2, 10])
    """
    _seed(seed)
    ni = Input([None, 784])
    nn = Dense(n_units=256, act=tf.nn.relu, in_channels=784)(ni)
    nn = Dropout(keep=0.8)(nn)
    nn = Dense(n_units=128, act=tf.nn.relu, in_channels=256)(nn)
    nn = Dense(n_units=10, in_channels=128)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


def cnn(seed=None, filters=(16, 32), dense_units=64):
    """A small convolutional network for 28x28x1 digits (static model).

    Conv 3x3 (16, relu) -> MaxPool 2 -> Conv 3x3 (32, relu) -> MaxPool 2 ->
    Flatten -> Dense 64 relu -> Dense 10 (logits). Grad-CAM's default layer is the
    second convolution's pooled output's producer, the last layer with a 4-D output.

    Parameters
    ----------
    seed : int, optional
    filters : tuple of int
        Filters of the two convolutions.
    dense_units : int

    Returns
    -------
    tl.models.Model
        Takes ``(N, 28, 28, 1)`` float32, returns logits ``(N, 10)``.
    """
    _seed(seed)
    ni = Input([None, 28, 28, 1])
    nn = Conv2d(filters[0], (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=1)(ni)
    nn = MaxPool2d((2, 2), (2, 2), padding="SAME")(nn)
    nn = Conv2d(filters[1], (3, 3), (1, 1), act=tf.nn.relu, padding="SAME", in_channels=filters[0])(nn)
    nn = MaxPool2d((2, 2), (2, 2), padding="SAME")(nn)
    nn = Flatten()(nn)
    nn = Dense(n_units=dense_units, act=tf.nn.relu, in_channels=7 * 7 * filters[1])(nn)
    nn = Dense(n_units=10, in_channels=dense_units)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


def cifar10_batchnorm(seed=None, size=24, filters=64, dense_units=(384, 192), n_classes=10):
    """The CIFAR-10 BatchNorm CNN of TensorLayer's tutorial (static model).

    ``get_model_batchnorm`` of ``examples/basic_tutorials/tutorial_cifar10_cnn_static.py``:
    two blocks of Conv 5x5 (no bias) -> BatchNorm(decay=0.99, relu) -> MaxPool 3x3 /2,
    then Flatten -> Dense 384 relu -> Dense 192 relu -> Dense 10 (logits), with the
    tutorial's initializers. The tutorial feeds 24x24x3 crops; ``size``, ``filters``
    and ``dense_units`` shrink it for fast tests. It needs the ``BatchNorm`` patch of
    :mod:`tensorlayer_xplain._compat.layers` (applied on import) to run compiled.

    Parameters
    ----------
    seed : int, optional
        Seed for the weight initializers.
    size : int
        Height and width of the RGB input.
    filters : int
        Filters of both convolutions.
    dense_units : tuple of two int
    n_classes : int

    Returns
    -------
    tl.models.Model
        Takes ``(N, size, size, 3)`` float32, returns logits ``(N, n_classes)``.

    Examples
    --------
    >>> model = cifar10_batchnorm(seed=0)
    >>> model.eval(); model(np.zeros((2, 24, 24, 3), np.float32)).shape
    TensorShape([2, 10])
    """
    _seed(seed)
    w_init = tl.initializers.truncated_normal(stddev=5e-2)
    w_init2 = tl.initializers.truncated_normal(stddev=0.04)
    b_init2 = tl.initializers.constant(value=0.1)
    ni = Input([None, size, size, 3])
    nn = ni
    for _ in range(2):
        nn = Conv2d(filters, (5, 5), (1, 1), padding="SAME", W_init=w_init, b_init=None)(nn)
        nn = BatchNorm(decay=0.99, act=tf.nn.relu)(nn)
        nn = MaxPool2d((3, 3), (2, 2), padding="SAME")(nn)
    nn = Flatten()(nn)
    nn = Dense(dense_units[0], act=tf.nn.relu, W_init=w_init2, b_init=b_init2)(nn)
    nn = Dense(dense_units[1], act=tf.nn.relu, W_init=w_init2, b_init=b_init2)(nn)
    nn = Dense(n_classes, act=None, W_init=w_init2)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


def attention_mnist(seed=None, embed_dim=64, num_heads=4, depth=2, mlp_dim=128, patch_size=4, pooling="cls"):
    """A tiny vision transformer for 28x28x1 digits (static model), built from :mod:`tensorlayer_xplain.layers`.

    PatchEmbedding (7x7 patches of 4x4 pixels) -> ClassToken -> PositionEmbedding ->
    ``depth`` x TransformerBlock (pre-norm, ``num_heads`` heads) -> LayerNormalization ->
    TokenPooling (class token) -> Dense 10 (logits). Dosovitskiy et al. (2021), "An Image
    is Worth 16x16 Words". Each block's attention weights are the output of
    ``block.attention.attention_layer_name`` (see :class:`~tensorlayer_xplain.layers.MultiHeadSelfAttention`).

    With the defaults (~70k weights) it reaches about 96-97% test accuracy after
    3-4 epochs of Adam with a warm-up + cosine learning rate peaking at 3e-3
    (``examples/mnist_attention.py``), about 30 s per epoch on 2 CPU cores.

    Parameters
    ----------
    seed : int, optional
        Seed for the weight initializers.
    embed_dim : int
        Token size D (divisible by ``num_heads``; each head has ``D // num_heads`` dims).
    num_heads, depth, mlp_dim : int
    patch_size : int
        Must divide 28.
    pooling : {'cls', 'mean'}
        Classify from the class token, or from the mean of the patch tokens (no class token).

    Returns
    -------
    tl.models.Model
        Takes ``(N, 28, 28, 1)`` float32, returns logits ``(N, 10)``.

    Examples
    --------
    >>> model = attention_mnist(seed=0)
    >>> model.eval(); model(np.zeros((2, 28, 28, 1), np.float32)).shape
    TensorShape([2, 10])
    """
    from .layers import (
        ClassToken,
        LayerNormalization,
        PatchEmbedding,
        PositionEmbedding,
        TokenPooling,
        TransformerBlock,
    )

    if embed_dim % num_heads:
        raise ValueError("embed_dim: expected a multiple of num_heads (%d), got %d" % (num_heads, embed_dim))
    if 28 % patch_size:
        raise ValueError("patch_size: expected a divisor of 28, got %r" % (patch_size,))
    if pooling not in ("cls", "mean"):
        raise ValueError("pooling: expected 'cls' or 'mean', got %r" % (pooling,))
    _seed(seed)
    n_tokens = (28 // patch_size) ** 2 + (pooling == "cls")
    ni = Input([None, 28, 28, 1])
    nn = PatchEmbedding(patch_size, embed_dim, in_channels=1, image_size=28)(ni)
    if pooling == "cls":
        nn = ClassToken(embed_dim)(nn)
    nn = PositionEmbedding(n_tokens, embed_dim)(nn)
    for _ in range(depth):
        nn = TransformerBlock(num_heads, embed_dim // num_heads, mlp_dim, in_channels=embed_dim)(nn)
    nn = LayerNormalization(embed_dim)(nn)
    nn = TokenPooling(pooling)(nn)
    nn = Dense(n_units=10, in_channels=embed_dim)(nn)
    return tl.models.Model(inputs=ni, outputs=nn)


def _progress(iterable, enabled, desc):
    if not enabled:
        return iterable
    from tqdm.auto import tqdm

    return tqdm(iterable, desc=desc, leave=False, disable=None)  # None: off when not a terminal


def train(model, X, y, epochs=3, batch_size=128, learning_rate=1e-3, seed=0, X_val=None, y_val=None,
          progress=True):
    """Train a TL classifier with Adam and softmax cross-entropy, with a progress bar.

    The model is in training mode only while training; its previous mode is
    restored afterwards.

    Parameters
    ----------
    model : tl.models.Model
        Returns logits.
    X : ndarray, shape (N, *input_shape)
    y : ndarray of int, shape (N,)
    epochs, batch_size, learning_rate : int, int, float
    seed : int
        Shuffling seed.
    X_val, y_val : ndarray, optional
        When given, validation accuracy is reported per epoch.
    progress : bool
        Show a tqdm bar per epoch.

    Returns
    -------
    dict
        ``{'loss': [...], 'val_accuracy': [...]}`` per epoch.

    Examples
    --------
    >>> history = train(mlp(seed=0), X_train.reshape(-1, 784), y_train, epochs=1)
    """
    X = np.asarray(X, np.float32)
    y = np.asarray(y, np.int64)
    if len(X) != len(y):
        raise ValueError("y: expected %d labels (one per row of X), got %d" % (len(X), len(y)))
    optimizer = tf.optimizers.Adam(learning_rate)
    weights = model.trainable_weights

    @tf.function
    def step(xb, yb):
        with tf.GradientTape() as tape:
            logits = model(xb)
            loss = tf.reduce_mean(tf.nn.sparse_softmax_cross_entropy_with_logits(labels=yb, logits=logits))
        optimizer.apply_gradients(zip(tape.gradient(loss, weights), weights))
        return loss

    rng = np.random.default_rng(seed)
    previous = model.is_train
    history = {"loss": [], "val_accuracy": []}
    try:
        model.train()
        for epoch in range(epochs):
            order = rng.permutation(len(X))
            losses = []
            for start in _progress(range(0, len(X), batch_size), progress, "epoch %d/%d" % (epoch + 1, epochs)):
                idx = order[start:start + batch_size]
                losses.append(float(step(tf.constant(X[idx]), tf.constant(y[idx]))))
            history["loss"].append(float(np.mean(losses)))
            if X_val is not None:
                model.eval()
                history["val_accuracy"].append(accuracy(model, X_val, y_val))
                model.train()
    finally:
        _restore_mode(model, previous)
    return history


def _restore_mode(model, previous):
    """Put ``model`` (and every layer) back in the train/eval mode ``previous`` (True, False or None)."""
    model.is_train = None  # let the restore below reset every layer
    if previous is True:
        model.train()
    elif previous is False:
        model.eval()
    else:
        model._set_mode_for_layers(True)
        model.is_train = None


def accuracy(model, X, y, batch_size=512):
    """Fraction of ``X`` classified as ``y`` (model run in inference mode, batched)."""
    scores = as_adapter(model, batch_size=batch_size).predict(X)
    return float(np.mean(np.argmax(scores, axis=1) == np.asarray(y)))


def calibrate_batchnorm(model, X):
    """Set every ``BatchNorm``'s moving statistics to those of the batch ``X``; returns the layers changed.

    TensorLayer initializes ``moving_var`` to zeros, so an untrained (``pretrained=False``)
    zoo model multiplies by ``1 / sqrt(epsilon)`` (about 316) at every BatchNorm in eval
    mode: ResNet50's logits reach 1e25 and saliency maps are dominated by a few
    pixels. One training-mode pass with ``decay=0`` makes each layer's statistics
    the batch's (as a model trained on such data would have); weights are not
    touched and the model's train/eval mode and decays are restored.

    Parameters
    ----------
    model : tl.models.Model
    X : ndarray, shape (N, *input_shape)
        A few representative inputs (N >= 2).

    Returns
    -------
    list of tl.layers.BatchNorm

    Examples
    --------
    >>> resnet = tl.models.ResNet50(pretrained=False)
    >>> calibrate_batchnorm(resnet, np.random.rand(4, 224, 224, 3))
    """
    layers = [layer for layer in as_adapter(model).iter_layers() if isinstance(layer, BatchNorm)]
    decays = [layer.decay for layer in layers]
    previous = model.is_train
    try:
        for layer in layers:
            layer.decay = 0.0
        model.is_train = None
        model.train()
        model(tf.constant(np.asarray(X, np.float32)))
    finally:
        for layer, decay in zip(layers, decays):
            layer.decay = decay
        _restore_mode(model, previous)
    return layers
