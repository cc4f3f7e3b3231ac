"""The Gradio demo bounds drawings and uploads before decoding them (issue 29, row 7): bytes against the
HTTP service's ``max_upload_bytes``, pixels from the image header, then a cheap integer reduction."""
import io
import struct
import zlib

import gradio as gr
import numpy as np
import pytest
from gradio.components.image_editor import EditorData
from gradio.data_classes import FileData
from PIL import Image

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.adapter.pixels import MAX_IMAGE_PIXELS
from tensorlayer_xplain.serve.api import MAX_UPLOAD_BYTES
from tensorlayer_xplain.serve.demo import build_demo, decode_drawing, sketch_to_image

from conftest import tiny_static_cnn


@pytest.fixture(scope="module")
def demo():
    explainer = tlxp.ModelExplainer(tiny_static_cnn(seed=8, size=28, n_classes=4), methods=["gradient"])
    return build_demo(explainer, examples=np.zeros((1, 28, 28, 1), np.float32))


def _sketchpad(demo):
    (pad,) = [b for b in demo.blocks.values() if isinstance(b, gr.Sketchpad)]
    return pad


def _png_header_only(width, height):
    """A ~100-byte PNG declaring ``width x height`` RGBA (its pixel data is a token IDAT)."""
    def chunk(kind, data):
        return struct.pack(">I", len(data)) + kind + data + struct.pack(">I", zlib.crc32(kind + data))
    ihdr = struct.pack(">IIBBBBB", width, height, 8, 6, 0, 0, 0)
    idat = zlib.compress(b"\x00" * 64)
    return b"\x89PNG\r\n\x1a\n" + chunk(b"IHDR", ihdr) + chunk(b"IDAT", idat) + chunk(b"IEND", b"")


def _peak_rss_growth(fn):
    """(result, growth of the peak RSS in bytes while ``fn`` ran): VmHWM reset through /proc/self/clear_refs."""
    def status(key):
        for line in open("/proc/self/status"):
            if line.startswith(key):
                return int(line.split()[1]) * 1024
    with open("/proc/self/clear_refs", "w") as f:
        f.write("5")
    before = status("VmRSS:")
    result = fn()
    return result, status("VmHWM:") - before


def _png(array):
    buf = io.BytesIO()
    Image.fromarray(array).save(buf, "PNG")
    return buf.getvalue()


def test_a_12000_pixel_square_png_is_refused_from_its_header(tmp_path, demo):
    path = tmp_path / "huge.png"
    path.write_bytes(_png_header_only(12000, 12000))
    with pytest.raises(ValueError, match=r"sketch: the image is 12000x12000 \(144000000 pixels\); at most %d"
                                         % MAX_IMAGE_PIXELS):
        decode_drawing(str(path))
    pad = _sketchpad(demo)
    value, growth = _peak_rss_growth(lambda: pad.preprocess(EditorData(composite=FileData(path=str(path)),
                                                                       background=FileData(path=str(path)))))
    assert "12000x12000" in value["error"] and value["composite"] is None
    assert growth < 16 << 20, growth
    out = demo.xplain_handlers["use_drawing"](value, ["gradient"], "predicted class")
    assert out[0] is None and out[-1].startswith("**Error:** sketch: the image is 12000x12000")


def test_a_real_3000_pixel_drawing_is_refused_before_decoding(tmp_path, demo):
    canvas = np.full((3000, 3000, 4), 255, np.uint8)
    canvas[500:2500, 1400:1600, :3] = 0
    path = tmp_path / "big.png"
    path.write_bytes(_png(canvas))
    del canvas
    assert path.stat().st_size < MAX_UPLOAD_BYTES  # small file, 36 MB once decoded
    payload = EditorData(composite=FileData(path=str(path)))
    value, growth = _peak_rss_growth(lambda: _sketchpad(demo).preprocess(payload))
    assert "3000x3000 (9000000 pixels)" in value["error"]
    assert growth < 16 << 20, growth
    print("3000x3000 RGBA drawing refused; peak RSS grew by %.1f MB (decoded it would be 36 MB)" % (growth / 2 ** 20))


def test_uploads_over_the_services_byte_limit_are_refused(tmp_path):
    noise = np.random.default_rng(0).integers(0, 256, (1000, 1000, 3), dtype=np.uint8)
    data = _png(noise)
    assert len(data) > MAX_UPLOAD_BYTES
    with pytest.raises(ValueError, match="sketch: the file is %d bytes; at most %d are accepted"
                                         % (len(data), MAX_UPLOAD_BYTES)):
        decode_drawing(data)
    with pytest.raises(ValueError, match="sketch: not a readable image"):
        decode_drawing(b"not an image at all")


def test_a_large_accepted_drawing_is_reduced_and_gives_the_same_digit(tmp_path, demo):
    canvas = np.full((1400, 1400, 4), 255, np.uint8)
    yy, xx = np.mgrid[:1400, :1400]
    canvas[np.abs(np.hypot(yy - 700, (xx - 700) * 1.6) - 400) < 70, :3] = 0  # a "0"
    path = tmp_path / "one.png"
    path.write_bytes(_png(canvas))
    value = _sketchpad(demo).preprocess(EditorData(composite=FileData(path=str(path))))
    assert value["composite"].shape == (467, 467, 4)
    reduced, full = sketch_to_image(value), sketch_to_image(canvas)
    assert np.corrcoef(reduced.ravel(), full.ravel())[0, 1] > 0.99 and np.abs(reduced - full).mean() < 0.01
    current, shown, labels, figure, status = demo.xplain_handlers["use_drawing"](value, ["gradient"], "predicted class")
    assert current.shape == (28, 28, 1) and status == ""
