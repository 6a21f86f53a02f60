"""Tiny randomly initialised models, built from configs (nothing is downloaded), saved with
save_pretrained and loaded back like any real model: for `showrunner make-tiny-model`, offline
demos, benchmarks and tests. Their pictures are noise, but every code path of a real render
runs. Worker side only: they import torch.
"""
