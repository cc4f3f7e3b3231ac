"""examples/mnist_concepts.py finds the planted square with TCAV and CRAFT (issue 26), in its reduced mode."""
import os
import re
import subprocess
import sys

import pytest

from tensorlayer_xplain import datasets

pytestmark = pytest.mark.slow  # about a minute on two cores

ROOT = os.path.dirname(os.path.dirname(os.path.dirname(os.path.abspath(__file__))))


def test_concepts_example_help():
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mnist_concepts.py"), "--help"],
                         capture_output=True, text=True, timeout=120)
    assert out.returncode == 0 and "--quick" in out.stdout and "--out" in out.stdout


@pytest.mark.skipif(datasets.find_mnist_dir() is None,
                    reason="set TENSORLAYER_XPLAIN_DATA to a folder with mnist/ (the CI does)")
def test_concepts_example_finds_the_planted_square(tmp_path):
    out = subprocess.run([sys.executable, os.path.join(ROOT, "examples", "mnist_concepts.py"), "--quick",
                          "--out", str(tmp_path)], capture_output=True, text=True, timeout=600, cwd=ROOT)
    assert out.returncode == 0, out.stdout[-3000:] + out.stderr[-3000:]
    text = out.stdout
    assert "planted concept found by TCAV: yes" in text and "planted concept found by CRAFT: yes" in text
    # the printed findings: class 7's TCAV score on each model, and CRAFT's top concept holding the square
    scores = [(float(s), float(p), sig == "True") for s, p, sig in re.findall(
        r"class 7: TCAV score ([\d.]+) \(random [\d.]+\), p = ([\d.e-]+), significant (\w+)", text)]
    assert len(scores) == 2
    (shortcut, p_shortcut, sig_shortcut), (clean, _, sig_clean) = scores
    assert shortcut >= 0.9 and sig_shortcut and p_shortcut < 0.05 and not (sig_clean and clean > 0.5)
    top = re.findall(r"top concept \d+: (\d+)% of its 20 best crops contain the square \(all crops: (\d+)%", text)
    assert len(top) == 2 and int(top[0][0]) >= 50 > int(top[0][1])
    # the shortcut model's class-7 visualization paints the square; the clean model's does not
    (corner, rest, clean_corner), = [tuple(map(float, m)) for m in re.findall(
        r"class 7 visualization, mean value in the square's region / elsewhere: shortcut ([\d.]+) / ([\d.]+), "
        r"clean ([\d.]+)", text)]
    assert corner > rest and corner > clean_corner + 0.3
    for name in ("tcav_shortcut", "tcav_clean", "craft_shortcut", "craft_clean", "classes_shortcut", "classes_clean",
                 "channels_shortcut"):
        assert (tmp_path / (name + ".png")).stat().st_size > 5000
