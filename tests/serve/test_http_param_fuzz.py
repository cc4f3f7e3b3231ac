"""Issue 29 row 2: every parameter of every served method, odd values, over HTTP: no crash, no 5xx.

Each group of methods runs in its own Python process (``_param_fuzz_worker.py``), so a native
abort (SLIC's ``munmap_chunk(): invalid pointer`` was one) shows as a signal exit instead of
killing the test run or passing unseen. Every answer must be 200, or a 4xx whose message names
the parameter. One more process (``--sequences``) fuzzes a token model and an encoder-decoder
served with vocabularies: every parameter ``GET /methods`` lists for them and the seq2seq decoding
options, with token ids and with ``text``, and the ``text`` and ``targets`` fields themselves.
"""
import json
import os
import subprocess
import sys

import pytest

import tensorlayer_xplain as tlxp

HERE = os.path.dirname(os.path.abspath(__file__))
WORKER = os.path.join(HERE, "_param_fuzz_worker.py")
GROUPS = [
    ["gradient", "gradient_x_input", "guided_backprop", "gradcam", "gradcam_plus_plus", "scorecam",
     "integrated_gradients", "smoothgrad", "vargrad", "layercam", "lrp", "deeplift"],
    ["occlusion", "rise", "sobol", "attention", "attention_rollout", "lime", "lime_tabular"],
    ["shap", "shap_kernel", "shap_partition", "shap_deep"],
]


#: The worker's runs: one per group of image methods, and the token and seq2seq services.
RUNS = GROUPS + [["--sequences"]]


def test_the_groups_cover_every_registered_method():
    assert sorted(m for g in GROUPS for m in g) == tlxp.available_methods()


@pytest.mark.slow
def test_http_parameter_fuzz_finds_no_crash_and_no_5xx():
    """The four runs go side by side (about two minutes in all); each must exit 0 with no bad answer."""
    env = dict(os.environ, PYTHONPATH=os.pathsep.join([os.path.dirname(os.path.dirname(HERE))]
                                                      + os.environ.get("PYTHONPATH", "").split(os.pathsep)),
               TF_CPP_MIN_LOG_LEVEL="3")
    procs = [subprocess.Popen([sys.executable, WORKER] + methods, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, env=env) for methods in RUNS]
    outputs = [proc.communicate(timeout=900) for proc in procs]
    total = 0
    for methods, proc, (out, err) in zip(RUNS, procs, outputs):
        assert proc.returncode == 0, "the fuzz process of %s died (code %d; a native abort is negative): %s" % (
            methods, proc.returncode, err[-2000:])
        result = json.loads(out.strip().splitlines()[-1])
        assert result["requests"] > 100
        assert result["bad"] == [], (methods, result["bad"][:20])
        total += result["requests"]
    print("HTTP parameter fuzz: %d requests, 0 crashes, 0 5xx, every 4xx names its parameter" % total)
