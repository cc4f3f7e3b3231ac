"""SLIC's ``compactness`` is checked before native code (issue 29, row 2: 1e-300 aborted the server).

The probes run in a child process: without the check, scikit-image's SLIC corrupts the heap and the
process dies with SIGABRT, which must show up as a failure here, not kill the test run.
"""
import json
import os
import subprocess
import sys
import textwrap

import numpy as np
import pytest

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.methods._engine.segmentation import COMPACTNESS_RANGE, check_compactness, segment_image

BAD = [1e-300, -1e-300, 5e-324, 0, 0.0, -1, 1e30, 1e308, float("inf"), float("nan"), True, "1", [0.1]]

PROBE = textwrap.dedent("""
    import json, sys
    import numpy as np
    import tensorlayer_xplain as tlxp
    from fastapi.testclient import TestClient
    from tensorlayer_xplain.models import cnn
    from tensorlayer_xplain.serve import create_app

    model = cnn(seed=0, filters=(2, 2), dense_units=4)
    x = np.random.RandomState(0).rand(1, 28, 28, 1).astype("f4")
    out = {"direct": [], "http": []}
    for value in (1e-300, -1e-300, 5e-324, 0):
        try:
            tlxp.explain(model, x, "lime", compactness=value, num_samples=20)
            out["direct"].append("no error")
        except ValueError as err:
            out["direct"].append(str(err))
    explainer = tlxp.ModelExplainer(model, methods=["gradient", "lime", "smoothgrad"])
    with TestClient(create_app(explainer)) as client:
        bodies = [{"method": "lime", "params": {"compactness": v, "num_samples": 20}} for v in (1e-300, -1e-300, 0)]
        bodies.append({"method": "smoothgrad", "params": {"base_method": "lime", "n_samples": 2,
                                                          "base_params": {"compactness": 1e-300, "num_samples": 20}}})
        for body in bodies:
            response = client.post("/explain", json=dict(body, inputs=x.tolist()))
            out["http"].append([response.status_code, response.text[:300]])
        out["health"] = client.get("/health").status_code
    print("RESULT " + json.dumps(out))
""")


@pytest.mark.parametrize("value", BAD, ids=repr)
def test_out_of_range_compactness_is_refused_by_name(value):
    with pytest.raises(ValueError, match=r"^compactness: expected a number between 0.0001 and 10000.*got"):
        check_compactness(value)
    with pytest.raises(ValueError, match="compactness"):
        segment_image(np.random.RandomState(0).rand(12, 12, 1), "slic", 10, value)


def test_range_edges_segment():
    image = np.random.RandomState(0).rand(16, 16, 1)
    for value in COMPACTNESS_RANGE:
        labels = segment_image(image, "slic", 10, value)
        assert labels.shape == (16, 16) and labels.min() == 0


def test_cost_check_refuses_before_any_work():
    model = tlxp.models.mlp(seed=0)
    with pytest.raises(ValueError, match="compactness"):
        tlxp.estimate_cost(model, "lime", 1, compactness=1e-300)


def test_no_abort_in_process_or_over_http():
    pytest.importorskip("fastapi")
    env = dict(os.environ, TF_CPP_MIN_LOG_LEVEL="3", MPLBACKEND="Agg")
    done = subprocess.run([sys.executable, "-c", PROBE], capture_output=True, text=True, timeout=600, env=env)
    assert done.returncode == 0, "probe process died (rc %d): %s" % (done.returncode, done.stderr[-2000:])
    result = json.loads(done.stdout.split("RESULT ", 1)[1])
    assert all(message.startswith("compactness: expected") for message in result["direct"]), result["direct"]
    for status, text in result["http"]:
        assert status == 422 and "compactness" in text, (status, text)
    assert result["health"] == 200
