"""Worker of the HTTP parameter fuzz (run in a subprocess by test_http_param_fuzz.py, so a native abort shows).

``python _param_fuzz_worker.py METHOD [METHOD ...]`` serves every registered method
(tiny CNN, small budget), sends every parameter of the given methods each odd value
through the FastAPI app and prints one JSON line: the number of requests and every
response that is a 5xx or a 4xx whose message does not name the parameter.

``python _param_fuzz_worker.py --sequences`` does the same on a token model and an
encoder-decoder (tiny Luong model) served with a vocabulary: every parameter that
``GET /methods`` lists for them (the token and seq2seq versions, and the decoding
options ``decoder_inputs``, ``sos``, ``seq_length``), sent with token ids and with
``text``, and odd values of the ``text`` and ``targets`` fields themselves.
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
RAW_MARK = "<raw JSON literal>"
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


def _send(client, body, value):
    """POST body; a ``("raw", literal)`` value stands where body holds ``RAW_MARK`` (NaN, -Infinity in the text)."""
    if isinstance(value, tuple):
        text = json.dumps(body).replace(json.dumps(RAW_MARK), value[1])
        return client.post("/explain", content=text, headers={"content-type": "application/json"})
    return client.post("/explain", json=body)


def _check(response, key, shown, method, unfit=None):
    """A bad answer (5xx, an unexpected status, or a 4xx not naming ``key``) as a dict, else None."""
    detail = response.json().get("detail", "") if response.headers.get("content-type", "").startswith(
        "application/json") and response.status_code != 200 else ""
    if response.status_code not in OK or (response.status_code != 200 and not names_it(str(detail), key)
                                          and detail != unfit):
        return {"method": method, "param": key, "value": repr(shown)[:40], "status": response.status_code,
                "detail": str(detail)[:300]}
    return None


#: Odd values of the text fields (``text``, ``targets``, ``params.decoder_inputs``) beyond ODD.
ODD_TEXT = ["", "   ", "zzz unknown", "a " * 600, ["a", 1], [["a"]], [], ["a b"] * 9, "\u0000 a", "\u00e4 a",
            "a" * 5000, ["", ""], "<pad>", "A B C"]
#: Cheap settings of the token and seq2seq versions.
CHEAP_SEQUENCES = {"integrated_gradients": {"steps": 4}, "smoothgrad": {"n_samples": 2}, "shap": {"n_samples": 4},
                   "lime": {"num_samples": 16}, "shap_kernel": {"nsamples": 16}, "shap_partition": {"max_evals": 16}}


def sequences():
    """Fuzz a token model and an encoder-decoder served with vocabularies, with ids and with text."""
    from tensorlayer_xplain.methods.seq2seq import SEQ2SEQ_METHODS
    from tensorlayer_xplain.methods.tokens import TOKEN_METHODS

    from conftest import planted_token_model, tiny_luong

    token_vocab = ["<pad>", "<unk>"] + ["w%d" % i for i in range(2, 30)]
    luong_vocab = ["<pad>", "<sos>"] + list("abcdefg")
    served = [("tokens", tlxp.ModelExplainer(planted_token_model(), methods=sorted(TOKEN_METHODS), vocab=token_vocab,
                                             cache=False), [[5, 9, 7, 0, 0, 0, 0, 0, 0, 0, 0, 0]], "w5 w9 superb",
               sorted(TOKEN_METHODS)),
              ("seq2seq", tlxp.ModelExplainer(tiny_luong("dot", seed=6), methods=list(SEQ2SEQ_METHODS), sos=1,
                                              seq_length=3, vocab=luong_vocab, cache=False), [[2, 5, 3, 0]],
               "a d b", list(SEQ2SEQ_METHODS))]
    requests, bad = 0, []
    for kind, explainer, ids, text, expected in served:
        app = create_app(explainer, max_cost=20_000, timeout=300, max_batch=4, batch_window=None)
        with TestClient(app, raise_server_exceptions=False) as client:
            info = client.get("/methods").json()
            assert info["model"]["kind"] == kind and sorted(info["methods"]) == sorted(expected), info
            options = list(info.get("options", {}))
            for method, described in info["methods"].items():
                cheap = CHEAP_SEQUENCES.get(method, {})
                for field, value in (("inputs", ids), ("text", text)):
                    plain = client.post("/explain", json={field: value, "method": method, "params": cheap})
                    requests += 1
                    assert plain.status_code == 200, (kind, method, field, plain.text[:300])
                keys = list(described["parameters"]) + options
                for key in keys:
                    for i, value in enumerate(ODD + [("raw", r) for r in RAW]
                                              + (ODD_TEXT if key == "decoder_inputs" else [])):
                        sent = RAW_MARK if isinstance(value, tuple) else value
                        body = {"method": method, "params": dict(cheap, **{key: sent})}
                        body["inputs" if i % 2 else "text"] = ids if i % 2 else text
                        r = _send(client, body, value)
                        requests += 1
                        problem = _check(r, key, value[1] if isinstance(value, tuple) else value, method)
                        if problem:
                            bad.append(dict(problem, model=kind))
            method = info["default"]
            for key in ("text", "targets"):
                for value in ODD + ODD_TEXT + [("raw", r) for r in RAW]:
                    body = {"method": method, "params": CHEAP_SEQUENCES.get(method, {})}
                    if key == "targets":
                        body["text"] = text
                    body[key] = RAW_MARK if isinstance(value, tuple) else value
                    r = _send(client, body, value)
                    requests += 1
                    problem = _check(r, key, value[1] if isinstance(value, tuple) else value, method)
                    if problem:
                        bad.append(dict(problem, model=kind))
    print(json.dumps({"requests": requests, "bad": bad}))


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
    if sys.argv[1:] == ["--sequences"]:
        sequences()
    else:
        main(sys.argv[1:])
