"""Serving explanations: the FastAPI app (extra ``serve``) and the Gradio demo (extra ``app``).

``api`` builds the app (:func:`create_app`); ``service`` runs one explainer behind it (locks, costs,
micro-batching, deadlines); ``request`` parses uploads and JSON bodies; ``http`` holds the body limit
and response schemas; ``encode`` turns maps into JSON and PNG; ``errors`` maps failures to status
codes; ``batching`` merges concurrent requests into one model call; ``demo`` is the Gradio demo
(:mod:`tensorlayer_xplain.serve.demo`). Nothing here imports FastAPI or Gradio before it is used.
"""
from .api import *  # noqa: F403
from .api import __all__  # noqa: F401
