"""Tests of the segmentation model, its data and metrics (test_train.py has the tests
every task shares). Run them all with: python -m pytest -q"""

import pytest
import torch

from data import SyntheticShapes
from train import CLASSES, IN_CHANNELS, build_model, confusion, scores


@pytest.mark.parametrize("size", [(32, 32), (37, 45)])
def test_output_shape(size):
    torch.manual_seed(0)
    model = build_model().eval()
    with torch.no_grad():
        out = model(torch.randn(2, IN_CHANNELS, *size))
    assert out.shape == (2, CLASSES, *size)
    assert torch.isfinite(out).all()


def test_synthetic_data_is_deterministic_and_labels_are_in_range():
    data = SyntheticShapes(4, (32, 32), IN_CHANNELS, CLASSES, seed=0)
    image, label = data[3]
    again_image, again_label = data[3]
    assert image.shape == (IN_CHANNELS, 32, 32)
    assert torch.equal(image, again_image) and torch.equal(label, again_label)
    assert 0 <= int(label.min()) and int(label.max()) < max(CLASSES, 2)


def test_metrics_are_perfect_for_a_perfect_prediction():
    target = torch.tensor([[[0, 1], [1, 0]]])
    assert scores(confusion(target, target)) == {"dice": 1.0, "iou": 1.0}
