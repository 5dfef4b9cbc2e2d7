"""Tests for model.py, data.py and train.py. Run them with: python -m pytest -q"""

import re
from pathlib import Path

import pytest
import torch

from data import SyntheticShapes
from train import CLASSES, IN_CHANNELS, build_model, compute_loss, confusion, scores

HERE = Path(__file__).resolve().parent


@pytest.mark.parametrize("size", [(32, 32), (37, 45)])
def test_output_shape(size):
    torch.manual_seed(0)
    model = build_model().eval()
    with torch.no_grad():
        out = model(torch.randn(2, IN_CHANNELS, *size))
    assert out.shape == (2, CLASSES, *size)
    assert torch.isfinite(out).all()


def test_parameter_count_matches_the_model_py_header():
    header = re.search(r"Parameters: ([\d,]+)", (HERE / "model.py").read_text())
    if header is None:
        pytest.skip(
            "model.py was generated without counting its parameters (--no-smoke)"
        )
    count = sum(p.numel() for p in build_model().parameters())
    assert count == int(header.group(1).replace(",", ""))


def test_synthetic_data_is_deterministic_and_labels_are_in_range():
    data = SyntheticShapes(4, (32, 32), IN_CHANNELS, CLASSES, seed=0)
    image, label = data[3]
    again_image, again_label = data[3]
    assert image.shape == (IN_CHANNELS, 32, 32)
    assert torch.equal(image, again_image) and torch.equal(label, again_label)
    assert 0 <= int(label.min()) and int(label.max()) < max(CLASSES, 2)


def test_a_few_training_steps_lower_the_loss():
    torch.manual_seed(0)
    data = SyntheticShapes(4, (32, 32), IN_CHANNELS, CLASSES, seed=0)
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


def test_metrics_are_perfect_for_a_perfect_prediction():
    target = torch.tensor([[[0, 1], [1, 0]]])
    assert scores(confusion(target, target)) == {"dice": 1.0, "iou": 1.0}
