"""Image parameterizations: what the optimiser changes, and how it becomes an image in [0, 1].

* ``'pixels'``: one free value per pixel and channel, ``image = sigmoid(p)``.
* ``'fourier'``: the decorrelated basis of Lucid (Olah et al., 2017) and Xplique: a complex spectrum
  per channel, scaled by ``1 / f`` (frequency) so that every frequency moves at a comparable rate,
  transformed back with an inverse real FFT, divided by 4; for RGB images the three channels are
  then mixed by the square root of ImageNet's colour correlation (Lucid's
  ``color_correlation_svd_sqrt``, normalised by its largest column norm), and a sigmoid maps the
  result into [0, 1]. Gray images skip the colour step.
* ``'maco'``: magnitude-constrained phase (Fel et al., 2023, as in Xplique): only the phase of the
  spectrum is optimised, the magnitude is fixed. Xplique fixes it to an ImageNet-averaged spectrum
  that it downloads; none is bundled here, so the fixed magnitude is the ``1 / f`` spectrum of the
  Fourier basis. The image is standardised per channel before the colour mixing and the sigmoid.

Every parameterization maps a parameter batch to images ``(B, H, W, C)`` in [0, 1]; the loop then
maps [0, 1] to the model's input range. :meth:`Parameterization.from_image` inverts the map
(pixels and Fourier), so an optimisation can also start from given images.
"""
import numpy as np
import tensorflow as tf

__all__ = ["Parameterization", "Pixels", "Fourier", "Maco", "get_parameterization", "PARAMETERIZATIONS",
           "COLOR_CORRELATION"]

#: Square root of ImageNet's colour correlation matrix (Lucid's ``color_correlation_svd_sqrt``).
COLOR_CORRELATION = np.asarray([[0.26, 0.09, 0.02],
                                [0.27, 0.00, -0.05],
                                [0.27, -0.09, 0.03]], np.float32)
_COLOR_NORMALIZED = COLOR_CORRELATION / np.max(np.linalg.norm(COLOR_CORRELATION, axis=0))

#: Largest image side accepted (the parameters and spectra of one image stay within a few MB).
MAX_SIDE = 1024
_EPS = 1e-6


def _logit(images):
    p = np.clip(np.asarray(images, np.float64), _EPS, 1.0 - _EPS)
    return np.log(p) - np.log1p(-p)


class Parameterization:
    """Base class: ``param_shape(H, W, C)``, ``init(rng, H, W, C)``, ``to_image(params, H, W, C)``.

    Attributes
    ----------
    name : str
    init_std : float
        Standard deviation of the random start.
    """

    name = "base"

    def __init__(self, init_std=0.01):
        init_std = float(init_std)
        if not 0.0 <= init_std <= 10.0:
            raise ValueError("init_std: expected a number in [0, 10], got %r" % init_std)
        self.init_std = init_std

    def key(self):
        return (self.name, self.init_std)

    def param_shape(self, h, w, c):  # pragma: no cover - overridden
        raise NotImplementedError

    def init(self, rng, h, w, c):
        """One image's starting parameters, float32 of :meth:`param_shape`, from a numpy Generator."""
        return (rng.standard_normal(self.param_shape(h, w, c)) * self.init_std).astype(np.float32)

    def to_image(self, params, h, w, c):  # pragma: no cover - overridden
        raise NotImplementedError

    def from_image(self, images):
        """Parameters ``(B, *param_shape)`` whose image is ``images`` ``(B, H, W, C)`` in (0, 1)."""
        raise NotImplementedError("%s has no inverse" % self.name)

    def __repr__(self):
        return "%s(init_std=%g)" % (type(self).__name__, self.init_std)


class Pixels(Parameterization):
    """One free value per pixel: ``image = sigmoid(params)``.

    Examples
    --------
    >>> p = Pixels()
    >>> img = np.full((1, 4, 4, 1), 0.25, np.float32)
    >>> np.allclose(p.to_image(tf.constant(p.from_image(img)), 4, 4, 1).numpy(), img, atol=1e-6)
    True
    """

    name = "pixels"

    def param_shape(self, h, w, c):
        return (h, w, c)

    def to_image(self, params, h, w, c):
        return tf.sigmoid(params)

    def from_image(self, images):
        return _logit(images).astype(np.float32)


def _frequencies(h, w):
    """``(h, w // 2 + 1)`` spatial frequencies of ``rfft2d`` (cycles per pixel)."""
    fy = np.fft.fftfreq(h)[:, None]
    fx = np.fft.rfftfreq(w)[None, :]
    return np.sqrt(fx * fx + fy * fy)


def _spectrum_scale(h, w, decay_power):
    """Lucid's ``1 / max(f, 1 / max(h, w)) ** decay_power * sqrt(h w)``."""
    scale = 1.0 / np.maximum(_frequencies(h, w), 1.0 / max(h, w)) ** decay_power
    return (scale * np.sqrt(w * h)).astype(np.float32)


def _decorrelate(images, c, inverse=False):
    """Mix RGB channels by the normalised colour correlation (or undo it); gray images as they are."""
    if c != 3:
        return images
    matrix = _COLOR_NORMALIZED.T if not inverse else np.linalg.inv(_COLOR_NORMALIZED.T).astype(np.float32)
    if isinstance(images, np.ndarray):
        return images @ matrix
    return tf.tensordot(images, tf.constant(matrix), axes=[[3], [0]])


class Fourier(Parameterization):
    """Lucid's decorrelated Fourier basis with colour decorrelation (see the module docstring).

    Parameters
    ----------
    init_std : float
        Standard deviation of the random spectrum (Lucid: 0.01).
    decay_power : float
        Exponent of the ``1 / f`` scaling (Lucid: 1).

    Examples
    --------
    >>> p = Fourier()
    >>> img = np.random.default_rng(0).uniform(0.1, 0.9, (2, 8, 6, 3)).astype(np.float32)
    >>> back = p.to_image(tf.constant(p.from_image(img)), 8, 6, 3).numpy()
    >>> float(np.abs(back - img).max()) < 1e-4
    True
    """

    name = "fourier"

    def __init__(self, init_std=0.01, decay_power=1.0):
        super().__init__(init_std)
        decay_power = float(decay_power)
        if not 0.0 <= decay_power <= 4.0:
            raise ValueError("decay_power: expected a number in [0, 4], got %r" % decay_power)
        self.decay_power = decay_power

    def key(self):
        return (self.name, self.init_std, self.decay_power)

    def param_shape(self, h, w, c):
        return (2, c, h, w // 2 + 1)  # real and imaginary parts of each channel's spectrum

    def _spatial(self, params, h, w):
        """Inverse FFT of the scaled spectrum: ``(B, H, W, C)`` before the colour step and the sigmoid."""
        scale = tf.constant(_spectrum_scale(h, w, self.decay_power))
        spectrum = tf.complex(params[:, 0] * scale, params[:, 1] * scale)
        planes = tf.signal.irfft2d(spectrum, fft_length=[h, w])  # (B, C, H, W)
        return tf.transpose(planes, (0, 2, 3, 1)) / 4.0

    def to_image(self, params, h, w, c):
        return tf.sigmoid(_decorrelate(self._spatial(params, h, w), c))

    def from_image(self, images):
        images = np.asarray(images, np.float32)
        _, h, w, c = images.shape
        spatial = _decorrelate(_logit(images).astype(np.float32), c, inverse=True) * 4.0
        spectrum = np.fft.rfft2(np.transpose(spatial, (0, 3, 1, 2)).astype(np.float64), s=(h, w))
        spectrum = spectrum / _spectrum_scale(h, w, self.decay_power)
        return np.stack([spectrum.real, spectrum.imag], axis=1).astype(np.float32)

    def __repr__(self):
        return "Fourier(init_std=%g, decay_power=%g)" % (self.init_std, self.decay_power)


class Maco(Fourier):
    """Magnitude-constrained phase (MaCo): the phase is optimised, the ``1 / f`` magnitude is fixed.

    Parameters
    ----------
    init_std : float
        Standard deviation of the random phase (radians).
    decay_power : float
        Exponent of the fixed ``1 / f`` magnitude.
    """

    name = "maco"

    def __init__(self, init_std=1.0, decay_power=1.0):
        super().__init__(init_std, decay_power)

    def param_shape(self, h, w, c):
        return (c, h, w // 2 + 1)

    def to_image(self, params, h, w, c):
        magnitude = tf.constant(_spectrum_scale(h, w, self.decay_power))
        spectrum = tf.complex(tf.cos(params) * magnitude, tf.sin(params) * magnitude)
        planes = tf.signal.irfft2d(spectrum, fft_length=[h, w])
        mean, var = tf.nn.moments(planes, axes=[2, 3], keepdims=True)
        planes = (planes - mean) / tf.sqrt(var + 1e-8)
        return tf.sigmoid(_decorrelate(tf.transpose(planes, (0, 2, 3, 1)), c))

    def __repr__(self):
        return "Maco(init_std=%g, decay_power=%g)" % (self.init_std, self.decay_power)


#: Names accepted by ``feature_visualization(parameterization=...)``.
PARAMETERIZATIONS = {"pixels": Pixels, "fourier": Fourier, "maco": Maco}


def get_parameterization(value):
    """A :class:`Parameterization` from a name (``'pixels'``, ``'fourier'``, ``'maco'``) or an instance.

    Examples
    --------
    >>> get_parameterization('fourier')
    Fourier(init_std=0.01, decay_power=1)
    """
    if isinstance(value, Parameterization):
        return value
    if isinstance(value, str) and value in PARAMETERIZATIONS:
        return PARAMETERIZATIONS[value]()
    raise ValueError("parameterization: expected one of %s or a Parameterization, got %r"
                     % (sorted(PARAMETERIZATIONS), value))
