"""LIME's regressions run with one BLAS thread, without rescanning the process's libraries per call."""
import threadpoolctl

from tensorlayer_xplain.methods._engine import blackbox as _blackbox


def _blas_threads():
    return {lib["filepath"]: lib["num_threads"] for lib in threadpoolctl.threadpool_info() if lib["user_api"] == "blas"}


def test_small_blas_limits_every_blas_library_to_one_thread_and_restores_it(monkeypatch):
    import sklearn.linear_model  # noqa: F401  (what LIME imports: SciPy's OpenBLAS is loaded)

    before = _blas_threads()
    with _blackbox.small_blas():
        assert set(_blas_threads().values()) == {1}
    assert _blas_threads() == before
    made = []
    monkeypatch.setattr(threadpoolctl.ThreadpoolController, "__init__",
                        lambda self, *a, **k: made.append(1) or None)  # a new controller per call would show
    with _blackbox.small_blas():
        pass
    assert made == []
