"""The TL figure conventions, in one place: ``saveable``, ``name``, ``fig_idx``, ``second``.

As in ``tl.visualize``: ``saveable=True`` writes ``name + '.pdf'`` (an extension
in ``name`` such as ``.png`` picks that format); ``saveable=False`` draws and
pauses ``second`` seconds. Unlike ``tl.visualize``: the figure is always closed
afterwards (no leaks in loops), the file is written atomically (a failure leaves
no half-written file), missing parent folders are created, and it works headless.
"""
import contextlib
import os

import matplotlib.pyplot as plt
from matplotlib.backend_bases import FigureCanvasBase

from .docstrings import shared_docstring
from .io import atomic_path, ensure_parent

__all__ = ["tl_figure", "figure_path"]

_NON_INTERACTIVE = {"agg", "pdf", "ps", "svg", "pgf", "cairo", "template"}


def figure_path(name):
    """The file ``name`` is saved to: ``name`` if it has a known image extension, else ``name + '.pdf'``.

    Parameters
    ----------
    name : str or os.PathLike
        A figure function's ``name`` argument.

    Returns
    -------
    str
        The path written when ``saveable=True``.

    Examples
    --------
    >>> figure_path('out/grad'), figure_path('out/grad.png')
    ('out/grad.pdf', 'out/grad.png')
    """
    if not isinstance(name, (str, os.PathLike)):
        raise TypeError("name: expected a file name (str), got %r" % (name,))
    name = os.fspath(name)
    ext = os.path.splitext(name)[1].lstrip(".").lower()
    if ext and ext in FigureCanvasBase.get_supported_filetypes():
        return name
    return name + ".pdf"


@contextlib.contextmanager
@shared_docstring
def tl_figure(saveable=True, name="figure", fig_idx=None, second=10, figsize=None, layout="tight"):
    """Open a figure, let the caller draw, then save or show it and always close it.

    Parameters
    ----------
    %(figure_conventions)s
    figsize : tuple, optional
    layout : {"tight", "constrained", None}
        Matplotlib layout engine, applied when the figure is drawn or saved (so a
        headless display call costs no layout pass); None for manual layouts.

    Yields
    ------
    matplotlib.figure.Figure

    Examples
    --------
    >>> heat = exp.heatmap()[0]
    >>> with tl_figure(True, 'out/heat.png', fig_idx=1) as fig:
    ...     fig.add_subplot(1, 1, 1).imshow(heat)
    """
    if not saveable and (isinstance(second, bool) or not isinstance(second, (int, float)) or second < 0):
        raise ValueError("second: expected a non-negative number of seconds to display, got %r" % (second,))
    path = None
    if saveable:
        path = figure_path(name)
        ensure_parent(path, "name")
    fig = plt.figure(fig_idx, figsize=figsize)
    fig.clf()
    fig.set_layout_engine(layout)
    if figsize is not None:
        fig.set_size_inches(*figsize)
    try:
        yield fig
        if saveable:
            with atomic_path(path, "name") as tmp:
                fig.savefig(tmp, format=os.path.splitext(path)[1].lstrip("."), bbox_inches="tight")
        else:
            if plt.get_backend().lower() in _NON_INTERACTIVE:
                return  # headless: nothing can be shown, so do not render or wait
            was_interactive = plt.isinteractive()
            plt.ion()
            try:
                plt.draw()
                if second > 0:  # matplotlib treats pause(0) as "run the event loop forever"
                    plt.pause(second)
            finally:
                if not was_interactive:
                    plt.ioff()  # TL leaves interactive mode on; we restore the caller's
    finally:
        plt.close(fig)
