"""explain_dataset and ``explain --store`` never delete what they did not write (issue 29, row 1).

Each case puts a user's files where a store would go and checks that the call is refused with an
error naming the path, before anything is written, with ``resume=False`` / ``--overwrite`` too.
"""
import json
import os

import numpy as np
import pytest
import zarr

import tensorlayer_xplain as tlxp
from tensorlayer_xplain.models import cnn

X = np.zeros((4, 28, 28, 1), "f4")


@pytest.fixture(scope="module")
def explainer():
    return tlxp.ModelExplainer(cnn(seed=0, filters=(2, 2), dense_units=4), methods=["gradient"], cache=False)


def _user_folder(folder):
    folder.mkdir(parents=True, exist_ok=True)
    (folder / "notes.txt").write_text("keep")
    (folder / "thesis").mkdir()
    (folder / "thesis" / "thesis.tex").write_text("\\section{keep}")
    return folder


def _snapshot(folder):
    return sorted((os.path.relpath(os.path.join(root, name), folder), open(os.path.join(root, name), "rb").read())
                  for root, _, names in os.walk(folder) for name in names)


@pytest.mark.parametrize("resume", [True, False])
def test_folder_with_user_files_is_refused(explainer, tmp_path, resume):
    folder = _user_folder(tmp_path / "d")
    before = _snapshot(folder)
    with pytest.raises(ValueError, match=r"path: '.*/d' already holds 2 entries \(notes.txt, thesis\) and is not a "
                                         r"tensorlayer-xplain store"):
        explainer.explain_dataset(X, folder, resume=resume, progress=False)
    assert _snapshot(folder) == before


def test_working_directory_and_home_are_refused(explainer, tmp_path, monkeypatch):
    work, home = _user_folder(tmp_path / "work"), _user_folder(tmp_path / "home")
    monkeypatch.chdir(work)
    monkeypatch.setenv("HOME", str(home))
    for path in (".", os.path.expanduser("~")):
        with pytest.raises(ValueError, match="path: "):
            explainer.explain_dataset(X, path, resume=False, progress=False)
    assert (work / "notes.txt").read_text() == "keep" and (home / "thesis" / "thesis.tex").exists()
    assert sorted(os.listdir(work)) == ["notes.txt", "thesis"]


def test_a_file_is_refused(explainer, tmp_path):
    target = tmp_path / "weights.h5"
    target.write_bytes(b"\x89HDF keep")
    with pytest.raises(ValueError, match="path: expected a folder.*existing file"):
        explainer.explain_dataset(X, target, resume=False, progress=False)
    assert target.read_bytes() == b"\x89HDF keep"


@pytest.mark.parametrize("with_array", [False, True])
def test_foreign_zarr_group_is_refused(explainer, tmp_path, with_array):
    group = zarr.open_group(str(tmp_path / "theirs.zarr"), mode="w")
    group.attrs["owner"] = "someone else"  # attributes only: used to be overwritten silently
    if with_array:
        group.create_array("data", shape=(3,), dtype="int32")[:] = [1, 2, 3]
    for resume in (True, False):
        with pytest.raises(ValueError, match="path: "):
            explainer.explain_dataset(X, tmp_path / "theirs.zarr", resume=resume, progress=False)
    reopened = zarr.open_group(str(tmp_path / "theirs.zarr"), mode="r")
    assert reopened.attrs["owner"] == "someone else"
    if with_array:
        assert list(reopened["data"][:]) == [1, 2, 3]


def test_own_store_is_resumed_and_overwritten_but_not_files_put_inside(explainer, tmp_path):
    path = tmp_path / "ours.zarr"
    first = explainer.explain_dataset(X, path, progress=False)
    assert first.complete
    explainer.explain_dataset(X, path, progress=False)  # resume of our own store
    with pytest.warns(UserWarning, match="overwriting"):
        explainer.explain_dataset(X, path, resume=False, progress=False)
    (path / "notes.txt").write_text("keep")
    with pytest.raises(ValueError, match="did not write.*notes.txt"):
        explainer.explain_dataset(X, path, resume=False, progress=False)
    assert (path / "notes.txt").read_text() == "keep"
    assert json.loads((path / "zarr.json").read_text())["attributes"]  # the store itself is intact


def test_empty_folder_and_new_path_are_accepted(explainer, tmp_path):
    (tmp_path / "empty").mkdir()
    assert len(explainer.explain_dataset(X, tmp_path / "empty", progress=False)) == 4
    assert len(explainer.explain_dataset(X, tmp_path / "new" / "s.zarr", progress=False)) == 4


def test_cli_store_on_a_user_folder_is_one_line_error(tmp_path, monkeypatch, capsys):
    from tensorlayer_xplain.cli import main

    folder = _user_folder(tmp_path / "cwd")
    np.save(folder / "x.npy", X)
    monkeypatch.chdir(folder)
    before = _snapshot(folder)
    argv = ["explain", "--model", "tensorlayer_xplain.models:cnn", "--data", "x.npy", "--n", "4",
            "--methods", "gradient", "--store", ".", "--overwrite", "--out", str(tmp_path / "out")]
    assert main(argv) == 2
    err = capsys.readouterr().err.strip().splitlines()
    assert len(err) == 1 and err[0].startswith("tensorlayer_xplain: error: --store: '.' already holds")
    assert _snapshot(folder) == before
