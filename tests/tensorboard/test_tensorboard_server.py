"""A real ``tensorboard --logdir`` process (bound to 127.0.0.1) serves the logger's image and scalar tags (issue 28)."""
import json
import os
import socket
import subprocess
import sys
import time
import urllib.request

import numpy as np
import pytest

from tensorlayer_xplain.tensorboard import ExplanationLogger

pytest.importorskip("tensorboard")


def _free_port():
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def _get(url):
    with urllib.request.urlopen(url, timeout=5) as response:
        return response.read()


@pytest.mark.slow
def test_tensorboard_serves_images_and_scalars(static_cnn, tmp_path):
    x = np.random.default_rng(0).random((4, 12, 12, 1), dtype=np.float32)
    run = tmp_path / "run1"
    with ExplanationLogger(run, x, methods=["gradient", "gradcam"], labels=np.arange(4),
                           metric_params={"steps": 5}) as logger:
        logger.log(static_cnn, 0)
        logger.log(static_cnn, 1)

    port = _free_port()
    command = [sys.executable, "-m", "tensorboard.main", "--logdir", str(tmp_path), "--host", "127.0.0.1",
               "--port", str(port), "--load_fast", "false", "--reload_interval", "1"]
    server = subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.PIPE,
                              env=dict(os.environ, CUDA_VISIBLE_DEVICES=""))
    base = "http://127.0.0.1:%d" % port
    try:
        deadline = time.monotonic() + 90
        scalars = images = {}
        while time.monotonic() < deadline:
            assert server.poll() is None, "tensorboard exited: %s" % server.stderr.read().decode()[-2000:]
            try:
                scalars = json.loads(_get(base + "/data/plugin/scalars/tags"))
                images = json.loads(_get(base + "/data/plugin/images/tags"))
            except OSError:
                scalars = images = {}
            if "run1" in scalars and "run1" in images and "drift/gradcam/first" in scalars["run1"]:
                break
            time.sleep(1)
        assert "run1" in scalars, "no scalars served: %s" % (scalars,)
        for tag in ("metrics/deletion/gradient", "metrics/deletion/gradcam", "agreement/spearman/gradient_vs_gradcam",
                    "drift/gradcam/first", "watched/accuracy"):
            assert tag in scalars["run1"], tag
        assert set(images["run1"]) >= {"explanations/gradient", "explanations/gradcam"}
        series = json.loads(_get(base + "/data/plugin/scalars/scalars?run=run1&tag=metrics/deletion/gradcam"))
        assert [point[1] for point in series] == [0, 1]
        np.testing.assert_allclose([point[2] for point in series],
                                   [h["scalars"]["metrics/deletion/gradcam"] for h in logger.history], rtol=1e-6)
        frames = json.loads(_get(base + "/data/plugin/images/images?run=run1&tag=explanations/gradcam"))
        assert [frame["step"] for frame in frames] == [0, 1]
        png = _get(base + "/data/plugin/images/individualImage?" + frames[0]["query"])
        assert png[:8] == b"\x89PNG\r\n\x1a\n"
    finally:
        server.terminate()
        try:
            server.wait(timeout=20)
        except subprocess.TimeoutExpired:
            server.kill()
            server.wait()
        server.stderr.close()
    assert server.returncode is not None
