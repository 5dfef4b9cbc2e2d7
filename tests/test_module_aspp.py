"""ASPP: the image-pooling BatchNorm needs a batch of 2 in training (as in torchvision); atrous rates."""

import pytest
import torch

from plugscaffold.modules.aspp import AtrousSpatialPyramidPooling


def test_batch_of_one_is_refused_in_training_with_a_sentence_and_works_in_eval():
    module = AtrousSpatialPyramidPooling(16)
    x = torch.randn(1, 16, 9, 7)
    with pytest.raises(ValueError, match="batch of at least 2 in training mode, but got a batch of 1"):
        module(x)
    assert module.eval()(x).shape == x.shape
    assert module.train()(torch.randn(2, 16, 9, 7)).shape == (2, 16, 9, 7)


@pytest.mark.parametrize("output_stride,rates", [(16, (6, 12, 18)), (8, (12, 24, 36))])
def test_atrous_rates_follow_the_output_stride(output_stride, rates):
    module = AtrousSpatialPyramidPooling(16, output_stride=output_stride)
    assert tuple(module.convs[i][0].dilation[0] for i in (1, 2, 3)) == rates
    assert tuple(module.convs[i][0].padding[0] for i in (1, 2, 3)) == rates


def test_projection_dropout_is_torchvisions_half_by_default():
    # torchvision/models/segmentation/deeplabv3.py ASPP.project ends with nn.Dropout(0.5)
    module = AtrousSpatialPyramidPooling(16)
    assert isinstance(module.project[-1], torch.nn.Dropout) and module.project[-1].p == 0.5
    assert AtrousSpatialPyramidPooling(16, dropout=0.1).project[-1].p == 0.1
    x = torch.randn(2, 16, 6, 6)
    module.eval()
    with torch.no_grad():
        assert torch.equal(module(x), module(x))  # the identity in eval
