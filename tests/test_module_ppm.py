"""PPM: the 1-bin level's BatchNorm needs a batch of 2 in training (as in the official code)."""

import pytest
import torch

from plugscaffold.modules.ppm import PyramidPoolingModule


def test_batch_of_one_is_refused_in_training_with_a_sentence_and_works_in_eval():
    module = PyramidPoolingModule(16)
    x = torch.randn(1, 16, 5, 4)
    with pytest.raises(ValueError, match="batch of at least 2 in training mode, but got a batch of 1"):
        module(x)
    assert module.eval()(x).shape == x.shape
    # A map smaller than the 6-bin level still works (adaptive pooling repeats pixels).
    assert module.train()(torch.randn(2, 16, 2, 3)).shape == (2, 16, 2, 3)
