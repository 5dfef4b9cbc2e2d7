from pathlib import Path

import pytest
import torch

from plugscaffold.modules.blurpool import BlurPool2d, MaxBlurPool2d

FIXTURE = Path(__file__).parent / "fixtures" / "official" / "blurpool.pt"


@pytest.fixture(scope="module")
def fx():
    return torch.load(FIXTURE, weights_only=True)


def test_default_filter_buffer_equals_the_official_one(fx):
    # The generic replay loads the official buffer; this checks the one ours builds.
    ours = MaxBlurPool2d(fx["config"]["in_channels"]).state_dict()
    assert list(ours) == ["1.filt"]
    assert torch.equal(ours["1.filt"], fx["state_dict"]["1.filt"])


@pytest.mark.parametrize("size", range(1, 8))
def test_binomial_filters_equal_the_official_table(fx, size):
    assert torch.equal(BlurPool2d(1, filt_size=size).filt, fx["official_filters"][size])


def test_blurpool_variants_match_official(fx):
    # Odd input size, other filter sizes, paddings, pad_off and stride, from the official BlurPool.
    for case in fx["blurpool_variants"]:
        out = BlurPool2d(3, **case["kwargs"])(fx["blurpool_input"])
        assert out.shape == case["output"].shape, case["kwargs"]
        assert (out - case["output"]).abs().max().item() <= 1e-6, case["kwargs"]


def test_constant_input_is_preserved():
    x = torch.full((1, 2, 8, 8), 3.0)
    assert torch.allclose(MaxBlurPool2d(2)(x), torch.full((1, 2, 4, 4), 3.0))


def test_channels_last_and_autocast():
    torch.manual_seed(0)
    m = MaxBlurPool2d(4)
    x = torch.randn(2, 4, 8, 6)
    ref = m(x)
    assert torch.allclose(m(x.contiguous(memory_format=torch.channels_last)), ref, atol=1e-6)
    assert m(x.half()).dtype == torch.half
    with torch.autocast("cpu", dtype=torch.bfloat16):
        low = m(x)
    assert low.shape == ref.shape and torch.isfinite(low.float()).all()


@pytest.mark.parametrize("kwargs", [{"filt_size": 0}, {"filt_size": 8}, {"pad_type": "circular"}])
def test_bad_arguments_raise(kwargs):
    with pytest.raises(ValueError):
        BlurPool2d(4, **kwargs)
