"""Atomic file writes: a failure never leaves a half-written file behind."""
import contextlib
import os
import tempfile

__all__ = ["atomic_path", "ensure_parent"]


def ensure_parent(path, argument="path"):
    """Create the folder of ``path`` if needed; ValueError naming ``argument`` when impossible or not writable."""
    directory = os.path.dirname(os.path.abspath(path))
    try:
        os.makedirs(directory, exist_ok=True)
    except OSError as err:
        raise ValueError("%s: cannot create the folder %r (%s)" % (argument, directory, err)) from None
    if not os.access(directory, os.W_OK):
        raise ValueError("%s: the folder %r is not writable" % (argument, directory))
    return directory


@contextlib.contextmanager
def atomic_path(path, argument="path"):
    """Yield a temporary path beside ``path``; move it into place only if the block succeeds.

    The final file gets the usual permissions (``0666`` minus the umask), not
    the private ``0600`` of a temporary file.

    Examples
    --------
    >>> text = '<html><body>report</body></html>'
    >>> with atomic_path('out/report.html') as tmp:
    ...     open(tmp, 'w').write(text)
    """
    directory = ensure_parent(path, argument)
    suffix = os.path.splitext(path)[1]
    fd, tmp = tempfile.mkstemp(suffix=suffix, dir=directory, prefix=".tmp-")
    os.close(fd)
    try:
        yield tmp
        umask = os.umask(0)
        os.umask(umask)
        os.chmod(tmp, 0o666 & ~umask)
        os.replace(tmp, path)
    finally:
        if os.path.exists(tmp):
            os.remove(tmp)
