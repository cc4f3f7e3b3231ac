"""Worker of the HTTP parameter fuzz (run in a subprocess by test_http_param_fuzz.py, so a native abort shows).

``python _param_fuzz_worker.py METHOD [METHOD ...]`` serves every registered method
(tiny CNN, small budget), sends every parameter of the given methods each odd value
through the FastAPI app and prints one JSON line: the number of requests and every
response that is a 5xx or a 4xx whose message does not name the parameter.
"""
import json
import os
import sys

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
sys.path.insert(0, os.path.join(os.path.dirname(os.path.abspath(__file__)), ".."))

import numpy as np
from fastapi.testclient import TestClient

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.serve import create_app

from conftest import tiny_static_cnn

SIZE = 12
#: The odd values of issue 29 (JSON literals NaN/Infinity are sent as raw text, see RAW).
ODD = [0, 1, -1, 1e-300, -1e-300, 5e-324, 1e30, -1e30, 1e308, "nan", "inf", True, False, "x", [1, 2], {"a": 1},
       2 ** 63, None]
RAW = ["NaN", "-Infinity"]
#: Cheap settings per method, so a value that is accepted runs in milliseconds.
BACKGROUND = np.linspace(0, 1, 2 * SIZE * SIZE).reshape(2, SIZE, SIZE, 1).round(3).tolist()
CHEAP = {"integrated_gradients": {"steps": 4}, "smoothgrad": {"n_samples": 2}, "vargrad": {"n_samples": 2},
         "rise": {"n_masks": 16, "mask_size": 3}, "lime": {"num_samples": 16},
         "lime_tabular": {"num_samples": 16, "training_data": BACKGROUND + BACKGROUND},
         "shap": {"n_samples": 4, "background": BACKGROUND},
         "shap_kernel": {"nsamples": 16, "max_background": 2, "n_segments": 4, "background": BACKGROUND},
         "shap_partition": {"max_evals": 16}, "shap_deep": {"max_background": 2, "background": BACKGROUND},
         "occlusion": {"window": 4, "stride": 4}, "sobol": {"grid_size": 2, "nb_design": 2},
         "scorecam": {"max_channels": 2}}
#: Statuses a parameter may legitimately get.
OK = {200, 400, 413, 422}


def names_it(detail, key):
    return key in detail


def main(methods):
    model = tiny_static_cnn(seed=1, size=SIZE, n_classes=3)
    explainer = tlxp.ModelExplainer(model, methods=tlxp.available_methods(), cache=False)
    app = create_app(explainer, max_cost=20_000, timeout=300, max_batch=4)
    x = np.random.default_rng(0).random((1, SIZE, SIZE, 1)).round(3).tolist()
    requests, bad = 0, []
    with TestClient(app, raise_server_exceptions=False) as client:
        for method in methods:
            cheap = CHEAP.get(method, {})
            # a method this model cannot run at all (attention_rollout without self-attention) answers every
            # request with the same 422 naming the model: that answer is right whatever the parameter
            plain = client.post("/explain", json={"inputs": x, "method": method, "params": cheap})
            requests += 1
            assert plain.status_code in (200, 422), (method, plain.status_code, plain.text[:300])
            assert plain.status_code == 200 or method == "attention_rollout", (method, plain.text[:300])
            unfit = plain.json()["detail"] if plain.status_code == 422 else None
            for key in tlxp.method_parameters(method):
                for value in ODD + [("raw", r) for r in RAW]:
                    params = dict(cheap)
                    if isinstance(value, tuple):
                        params.pop(key, None)
                        body = json.dumps({"inputs": x, "method": method, "params": params})
                        body = body[:-2] + ('%s"%s": %s}}' % (", " if params else "", key, value[1]))
                        r = client.post("/explain", content=body, headers={"content-type": "application/json"})
                        shown = value[1]
                    else:
                        params[key] = value
                        r = client.post("/explain", json={"inputs": x, "method": method, "params": params})
                        shown = value
                    requests += 1
                    detail = r.json().get("detail", "") if r.headers.get("content-type", "").startswith(
                        "application/json") and r.status_code != 200 else ""
                    if r.status_code not in OK or (r.status_code != 200 and not names_it(str(detail), key)
                                                   and detail != unfit):
                        bad.append({"method": method, "param": key, "value": repr(shown)[:40],
                                    "status": r.status_code, "detail": str(detail)[:300]})
    print(json.dumps({"requests": requests, "bad": bad}))


if __name__ == "__main__":
    main(sys.argv[1:])
