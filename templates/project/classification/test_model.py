"""Tests of the classifier, its data and metrics (test_train.py has the tests every task
shares). Run them all with: python -m pytest -q"""

import pytest
import torch

from data import SyntheticClasses
from train import CLASSES, IN_CHANNELS, LABELS, build_model, confusion, scores


@pytest.mark.parametrize("size", [(32, 32), (37, 45)])
def test_output_shape(size):
    torch.manual_seed(0)
    model = build_model().eval()
    with torch.no_grad():
        out = model(torch.randn(2, IN_CHANNELS, *size))
    assert out.shape == (2, CLASSES)
    assert torch.isfinite(out).all()


def test_synthetic_data_is_deterministic_and_every_label_occurs():
    data = SyntheticClasses(2 * LABELS, (32, 32), IN_CHANNELS, CLASSES, seed=0)
    image, label = data[3]
    again_image, again_label = data[3]
    assert image.shape == (IN_CHANNELS, 32, 32) and label.shape == ()
    assert torch.equal(image, again_image) and torch.equal(label, again_label)
    assert sorted({int(data[i][1]) for i in range(len(data))}) == list(range(LABELS))


def test_metrics_are_perfect_for_a_perfect_prediction_and_count_mistakes():
    target = torch.tensor([0, 1, 1, 0])
    assert scores(confusion(target, target)) == {
        "accuracy": 1.0,
        "balanced_accuracy": 1.0,
    }
    wrong = torch.tensor([0, 1, 0, 0])  # one of two 1s missed
    assert scores(confusion(wrong, target)) == {
        "accuracy": 0.75,
        "balanced_accuracy": 0.75,
    }
