"""Packaging for tensorlayer-xplain: explainability for TensorLayer models."""
import os
import re

from setuptools import find_packages, setup

HERE = os.path.dirname(os.path.abspath(__file__))


def _version():
    with open(os.path.join(HERE, "tensorlayer_xplain", "_version.py"), encoding="utf-8") as f:
        return re.search(r'^__version__ = "([^"]+)"', f.read(), re.M).group(1)


def _long_description():
    with open(os.path.join(HERE, "README.md"), encoding="utf-8") as f:
        return f.read()


setup(
    name="tensorlayer-xplain",
    version=_version(),
    description="Explainability (gradients, Grad-CAM, attention, LIME, SHAP) for TensorLayer models, "
    "in the style of tl.visualize",
    long_description=_long_description(),
    long_description_content_type="text/markdown",
    license="Apache-2.0",
    python_requires=">=3.9",
    packages=find_packages(include=["tensorlayer_xplain", "tensorlayer_xplain.*"]),
    package_data={"tensorlayer_xplain": ["data/*.npz", "data/*.txt"]},
    include_package_data=True,
    install_requires=[
        "tensorlayer>=2.2.5",
        "tensorflow>=2.12",
        # TensorLayer imports cv2 but does not declare it.
        "opencv-python-headless",
        "numpy",
        "matplotlib>=3.5",
        "shap>=0.42",
        "lime>=0.2",
        "scikit-image>=0.19",
        "scikit-learn>=1.0",
        "pandas",
        "tqdm",
        # weights files without pickle (tensorlayer_xplain.save_weights / load_weights)
        "safetensors>=0.4",
        "h5py>=3",
        # explain_dataset's chunked, resumable store (ExplanationStore); zarr 3 needs Python >= 3.11
        "zarr>=3; python_version>='3.11'",
    ],
    extras_require={
        # httpx: FastAPI's TestClient; playwright: the report test drives Debian's chromium (apt-get install chromium);
        # schemathesis: the service is fuzzed from its OpenAPI schema
        # ruff: the linter .ci/run runs before the tests; tensorboard: tests/tensorboard;
        # quantus: the reference of the metric equality tests (tests/metrics/test_quantus_equality.py)
        "test": ["pytest>=7", "hypothesis>=6", "httpx", "playwright>=1.40", "pytest-playwright>=0.4", "schemathesis>=4",
                 "ruff>=0.6", "tensorboard>=2.12", "quantus==0.6.0"],
        "serve": ["fastapi>=0.100", "uvicorn[standard]>=0.20", "python-multipart>=0.0.13", "pillow", "orjson>=3.9"],
        "app": ["gradio>=5"],
        "docs": ["sphinx>=7", "numpydoc>=1.6", "sphinx-rtd-theme>=2.0"],
        # explain_with_ray (Ray Data actors) and ExplanationStore.to_dask
        # tlxp.tensorboard: ExplanationLogger, log_explanations, ExplanationStore.to_tensorboard
        "tensorboard": ["tensorboard>=2.12"],
        "distributed": ["ray[data]>=2.9", "dask[array]", "psutil"],  # psutil: benchmarks/bench_scale.py
        # the peer measured side by side in benchmarks/bench_feature_visualization.py (never imported by the package)
        "bench": ["tf-keras-vis>=0.8"],
    },
    entry_points={"console_scripts": ["tensorlayer-xplain=tensorlayer_xplain.cli:main"]},
    classifiers=[
        "Programming Language :: Python :: 3",
        "Topic :: Scientific/Engineering :: Artificial Intelligence",
    ],
)
