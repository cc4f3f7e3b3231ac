"""Vocabularies of token models: read a vocabulary file, turn text into ids and ids into words.

A vocabulary is a list (index = id -> word) or a dict (word -> id, or id ->
word). A vocabulary *file* holds one token per line, its line number (from 0)
being its id, or ``word<TAB>id`` / ``word id`` lines (the format of
``tl.nlp.build_vocab``-style files); ``#`` lines are not special.
"""
import os

import numpy as np

__all__ = ["load_vocabulary", "word_to_id", "encode_text", "MAX_VOCABULARY_BYTES"]

#: Largest vocabulary file read (bytes).
MAX_VOCABULARY_BYTES = 64 << 20


def load_vocabulary(path):
    """Read a vocabulary file into a dict word -> id.

    Parameters
    ----------
    path : str or os.PathLike
        One token per line (id = line number), or ``word<TAB>id`` / ``word id`` lines.

    Returns
    -------
    dict of str -> int

    Raises
    ------
    ValueError
        ``vocab``: an unreadable, oversized or malformed file (naming the line), or a word listed twice.

    Examples
    --------
    >>> import tempfile, os
    >>> p = os.path.join(tempfile.mkdtemp(), 'vocab.txt'); _ = open(p, 'w').write('<pad>\\ngood\\nbad\\n')
    >>> load_vocabulary(p)
    {'<pad>': 0, 'good': 1, 'bad': 2}
    """
    if not isinstance(path, (str, os.PathLike)):
        raise TypeError("vocab: expected a vocabulary file path, a list or a dict, got %s" % type(path).__name__)
    try:
        size = os.path.getsize(path)
        if size > MAX_VOCABULARY_BYTES:
            raise ValueError("vocab: %r holds %d bytes; at most %d are read" % (os.fspath(path), size,
                                                                               MAX_VOCABULARY_BYTES))
        with open(path, encoding="utf-8") as f:
            lines = f.read().splitlines()
    except (OSError, UnicodeDecodeError) as err:
        raise ValueError("vocab: cannot read the vocabulary file %r (%s)" % (os.fspath(path), err)) from None
    lines = [line for line in lines if line.strip()]
    vocab = {}
    paired = bool(lines) and all(len(line.replace("\t", " ").split()) == 2 and line.split()[-1].isdigit()
                                 for line in lines)
    for number, line in enumerate(lines):
        if paired:
            word, index = line.replace("\t", " ").split()
            index = int(index)
        else:
            word, index = line.strip(), number
            if len(word.split()) != 1:
                raise ValueError("vocab: line %d of %r holds %r; expected one token per line or 'word id' lines"
                                 % (number + 1, os.fspath(path), line[:60]))
        if word in vocab:
            raise ValueError("vocab: the word %r is listed twice in %r" % (word[:60], os.fspath(path)))
        vocab[word] = index
    if not vocab:
        raise ValueError("vocab: the vocabulary file %r is empty" % os.fspath(path))
    return vocab


def word_to_id(vocab):
    """A dict word -> id from a list, a dict (either direction) or a vocabulary file path."""
    if isinstance(vocab, (str, os.PathLike)):
        return load_vocabulary(vocab)
    if isinstance(vocab, (list, tuple)):
        return {str(w): i for i, w in enumerate(vocab)}
    if isinstance(vocab, dict):
        if all(isinstance(k, str) for k in vocab):
            return {k: int(v) for k, v in vocab.items()}
        return {str(w): int(i) for i, w in vocab.items()}
    raise TypeError("vocab: expected a list, a dict or a vocabulary file path, got %s" % type(vocab).__name__)


def encode_text(texts, vocab, length, pad_id=0, unknown=None, lower=True):
    """Whitespace-split texts into ids ``(N, length)``, padded with ``pad_id``.

    Parameters
    ----------
    texts : str or list of str
    vocab : list, dict or path
        See :func:`word_to_id`.
    length : int
        The model's sequence length ``T``.
    pad_id : int
    unknown : str, optional
        The word standing for words not in the vocabulary (e.g. ``'<unk>'``);
        None: an unknown word is an error.
    lower : bool
        Lower-case the text first.

    Returns
    -------
    ndarray, int32, shape (N, length)

    Raises
    ------
    ValueError
        ``text``: a word outside the vocabulary (without ``unknown``) or a text longer than ``length``.

    Examples
    --------
    >>> encode_text('Good film', ['<pad>', 'good', 'film'], 4)
    array([[1, 2, 0, 0]], dtype=int32)
    """
    mapping = word_to_id(vocab)
    if isinstance(texts, str):
        texts = [texts]
    if not isinstance(texts, (list, tuple)) or not texts or not all(isinstance(t, str) for t in texts):
        raise ValueError("text: expected a string or a non-empty list of strings, got %.60r" % (texts,))
    if unknown is not None and unknown not in mapping:
        raise ValueError("unknown: %r is not in the vocabulary" % (unknown,))
    out = np.full((len(texts), int(length)), int(pad_id), np.int32)
    for i, text in enumerate(texts):
        words = (text.lower() if lower else text).split()
        if len(words) > length:
            raise ValueError("text: text %d has %d words; this model reads at most %d" % (i, len(words), length))
        for j, word in enumerate(words):
            index = mapping.get(word, mapping.get(unknown) if unknown is not None else None)
            if index is None:
                raise ValueError("text: the word %r (text %d) is not in the vocabulary" % (word[:60], i))
            out[i, j] = index
    return out
