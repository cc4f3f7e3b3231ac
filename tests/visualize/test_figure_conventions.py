"""TL figure conventions: saveable writes name(.pdf) and closes, display mode is headless, bad second."""
import os

import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.visualize import figure_path


def test_gradient_visualization_writes_file_and_closes(tmp_path, static_cnn, images):
    exp = tlxp.gradient_visualization(static_cnn, images[:2], 1, name=str(tmp_path / "grad"))
    assert os.path.getsize(tmp_path / "grad.pdf") > 1000
    assert isinstance(exp, tlxp.Explanation) and (exp.targets == 1).all()
    again = tlxp.gradient_visualization(static_cnn, exp, name=str(tmp_path / "sub" / "grad.png"))
    assert again is exp and (tmp_path / "sub" / "grad.png").read_bytes()[:4] == b"\x89PNG"
    umask = os.umask(0)
    os.umask(umask)
    assert os.stat(tmp_path / "grad.pdf").st_mode & 0o777 == 0o666 & ~umask  # not a temp file's 0600
    # a failure while drawing leaves no file behind
    with pytest.raises(ValueError):
        tlxp.gradient_visualization(static_cnn, images, targets=99, name=str(tmp_path / "bad.png"))
    assert not (tmp_path / "bad.png").exists()


def test_gradient_visualization_display_mode_is_headless(static_cnn, images):
    exp = tlxp.gradient_visualization(static_cnn, images[:1], saveable=False, second=0.01)
    assert exp.attributions.shape == (1, 12, 12, 1)


def test_figure_path_follows_tl():
    assert figure_path("gradient") == "gradient.pdf"
    assert figure_path("out/x.png") == "out/x.png"
    assert figure_path("v1.5") == "v1.5.pdf"


def test_display_mode_rejects_a_negative_display_time(static_cnn, images):
    with pytest.raises(ValueError, match="second: expected a non-negative number"):
        tlxp.gradient_visualization(static_cnn, images[:1], saveable=False, second=-1)
