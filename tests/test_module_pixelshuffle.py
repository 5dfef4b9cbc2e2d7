import torch

from plugscaffold.modules.pixelshuffle import PixelShuffleUp


def test_1x1_variant_equals_a_2x2_stride_2_transposed_conv():
    # out[c, 2y + i, 2x + j] = sum_k W[4c + 2i + j, k] x[k, y, x] + b[4c + 2i + j]
    torch.manual_seed(0)
    m = PixelShuffleUp(3, 5, kernel_size=1)
    with torch.no_grad():
        m.conv.bias.zero_()
    t = torch.nn.ConvTranspose2d(3, 5, 2, stride=2, bias=False)
    with torch.no_grad():
        t.weight.copy_(m.conv.weight.view(5, 2, 2, 3).permute(3, 0, 1, 2))
        x = torch.randn(2, 3, 4, 5)
        assert torch.allclose(m(x), t(x), atol=1e-6)


def test_sub_pixel_layout():
    # Each output pixel (2y + i, 2x + j) of channel c comes from conv channel 4c + 2i + j.
    torch.manual_seed(0)
    m = PixelShuffleUp(2, 3)
    x = torch.randn(1, 2, 4, 4)
    with torch.no_grad():
        conv = m.conv(x)
        out = m(x)
    for i in range(2):
        for j in range(2):
            assert torch.equal(out[:, :, i::2, j::2], conv[:, [4 * c + 2 * i + j for c in range(3)]])
