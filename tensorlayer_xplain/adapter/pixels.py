"""Pixel values: one rule for scaling images and integer arrays to [0, 1].

The rule (the Python API warns, the service applies it):

* an image file is scaled by its bit depth: 8-bit PNG/JPEG by 1/255, 16-bit PNG
  by 1/65535 (Pillow's ``convert('L')`` would clip a 16-bit image to 0 or 255);
* an unsigned integer array of a known pixel type is scaled the same way:
  ``uint8`` by 1/255, ``uint16`` by 1/65535 (:func:`scale_pixels`; the service
  applies it to ``.npy`` uploads);
* any other integer-typed input holding values above 1 (JSON integers, ``int64``
  arrays) is ambiguous: :func:`check_scaled` rejects it (the service answers
  422) and :func:`warn_unscaled` warns once (the Python API, which explains the
  values as given). Integer inputs that are all 0 or 1 are the same numbers as
  floats and pass.
"""
import warnings

import numpy as np

__all__ = ["FULL_SCALE", "MAX_IMAGE_PIXELS", "image_pixels", "open_image_bounded", "scale_pixels",
           "unscaled_integers", "check_scaled", "warn_unscaled"]

#: Most pixels an uploaded or drawn image may declare before it is decoded (the demo's canvas is 280 x 280;
#: 2048 x 2048 RGBA decodes to 16 MB).
MAX_IMAGE_PIXELS = 2048 * 2048

#: Full-scale value of each unsigned integer pixel type.
FULL_SCALE = {np.dtype(np.uint8): 255.0, np.dtype(np.uint16): 65535.0}

#: Pillow modes of 16-bit single-channel images (PNG keeps them; ``"I"`` on older Pillow).
_SIXTEEN_BIT_MODES = ("I;16", "I;16B", "I;16L", "I;16N", "I")

_warned = False


def image_pixels(image, channels):
    """A Pillow image as float32 ``(H, W, channels)`` in [0, 1], scaled by its bit depth.

    Parameters
    ----------
    image : PIL.Image.Image
        8-bit (gray, RGB, palette, with or without alpha) or 16-bit gray.
    channels : {1, 3}
        Gray or RGB output; alpha is dropped.

    Returns
    -------
    ndarray, float32, shape (H, W, channels)

    Examples
    --------
    >>> from PIL import Image
    >>> im = Image.fromarray(np.array([[0, 65535]], np.uint16))
    >>> image_pixels(im, 1)[..., 0].tolist()
    [[0.0, 1.0]]
    """
    if image.mode in _SIXTEEN_BIT_MODES:
        gray = np.asarray(image, dtype=np.float32) / np.float32(65535.0)
        pixels = np.clip(gray, 0.0, 1.0)[..., None]
        return pixels if channels == 1 else np.repeat(pixels, 3, axis=-1)
    pixels = np.asarray(image.convert("L" if channels == 1 else "RGB"), dtype=np.float32) / np.float32(255.0)
    return pixels.reshape(pixels.shape[:2] + (channels,))


def open_image_bounded(source, max_bytes, max_pixels=MAX_IMAGE_PIXELS, name="image"):
    """Open an image file lazily and check its size in bytes and pixels from its header, before any decoding.

    Parameters
    ----------
    source : str, os.PathLike or bytes
        A file path or the file's content.
    max_bytes : int
        Largest file accepted (the HTTP service's ``max_upload_bytes``).
    max_pixels : int
        Largest ``width * height`` accepted.
    name : str
        Named in messages.

    Returns
    -------
    PIL.Image.Image
        Opened, not decoded (close it, or use it in a ``with`` block).

    Raises
    ------
    ValueError
        Too many bytes or pixels, or not an image.

    Examples
    --------
    >>> import io
    >>> from PIL import Image
    >>> buf = io.BytesIO(); Image.new("L", (300, 200)).save(buf, "PNG")
    >>> open_image_bounded(buf.getvalue(), max_bytes=1 << 20).size
    (300, 200)
    """
    import io
    import os

    from PIL import Image, UnidentifiedImageError

    size = len(source) if isinstance(source, (bytes, bytearray, memoryview)) else os.path.getsize(source)
    if size > max_bytes:
        raise ValueError("%s: the file is %d bytes; at most %d are accepted" % (name, size, max_bytes))
    try:
        im = Image.open(io.BytesIO(source) if isinstance(source, (bytes, bytearray, memoryview)) else source)
    except (UnidentifiedImageError, OSError, ValueError, Image.DecompressionBombError) as err:
        raise ValueError("%s: not a readable image (%s)" % (name, str(err)[:200])) from None
    width, height = im.size
    if width * height > max_pixels:
        im.close()
        raise ValueError("%s: the image is %dx%d (%d pixels); at most %d pixels are decoded"
                         % (name, width, height, width * height, max_pixels))
    return im


def scale_pixels(array):
    """``uint8`` / ``uint16`` arrays to float32 in [0, 1] by their full scale; anything else as it is.

    Examples
    --------
    >>> scale_pixels(np.array([0, 255], np.uint8)).tolist()
    [0.0, 1.0]
    """
    array = np.asarray(array)
    scale = FULL_SCALE.get(array.dtype)
    return array if scale is None else array.astype(np.float32) / np.float32(scale)


def unscaled_integers(array):
    """True when ``array`` is integer-typed and holds a value above 1 (0-255 pixels, say)."""
    try:
        array = np.asarray(array)
    except (ValueError, TypeError):
        return False
    return bool(np.issubdtype(array.dtype, np.integer) and array.size and array.max() > 1)


def _message(array, name):
    return ("%s: got integer-typed values up to %d (dtype %s), which look like unscaled pixels"
            % (name, int(np.asarray(array).max()), np.asarray(array).dtype))


def check_scaled(inputs, name="inputs"):
    """Raise ValueError for integer-typed inputs above 1 (the service's rule; see the module docstring).

    Examples
    --------
    >>> check_scaled([[0.0, 0.5], [1, 0]])       # floats, and integers that are all 0 or 1, pass
    >>> unscaled_integers([[0, 255]])             # check_scaled raises ValueError for this
    True
    """
    if unscaled_integers(inputs):
        raise ValueError(_message(inputs, name) + "; send floats in [0, 1] (divide 8-bit pixels by 255), "
                         "or a PNG or a uint8/uint16 .npy, which are scaled by their bit depth")


def warn_unscaled(inputs, name="inputs"):
    """Warn once per process about integer-typed inputs above 1 (explained as given)."""
    global _warned
    if _warned or not unscaled_integers(inputs):
        return
    _warned = True
    warnings.warn(_message(inputs, name) + "; they are explained as given. If the model was trained on "
                  "[0, 1] inputs, scale them first, e.g. x.astype('float32') / 255 (shown once)",
                  UserWarning, stacklevel=3)
