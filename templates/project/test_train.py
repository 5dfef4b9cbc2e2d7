"""Tests of model.py and train.py that do not depend on the task (test_model.py has the
task's own). Run them all with: python -m pytest -q"""

import re
from pathlib import Path

import pytest
import torch

from data import make_datasets
from train import CLASSES, IN_CHANNELS, build_model, compute_loss

HERE = Path(__file__).resolve().parent


def test_parameter_count_matches_the_model_py_header():
    header = re.search(r"Parameters: ([\d,]+)", (HERE / "model.py").read_text())
    if header is None:
        pytest.skip(
            "model.py was generated without counting its parameters (--no-smoke)"
        )
    count = sum(p.numel() for p in build_model().parameters())
    assert count == int(header.group(1).replace(",", ""))


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    data, _ = make_datasets(
        None,
        size=(32, 32),
        in_channels=IN_CHANNELS,
        classes=CLASSES,
        train_samples=4,
        val_samples=1,
        seed=0,
    )
    images = torch.stack([data[i][0] for i in range(4)])
    labels = torch.stack([data[i][1] for i in range(4)])
    model = build_model().train()
    optimizer = torch.optim.Adam(model.parameters(), lr=1e-3)
    losses = []
    for _ in range(8):
        loss = compute_loss(model(images), labels)
        optimizer.zero_grad()
        loss.backward()
        optimizer.step()
        losses.append(loss.item())
    assert all(torch.isfinite(torch.tensor(losses)))
    assert losses[-1] < losses[0]
