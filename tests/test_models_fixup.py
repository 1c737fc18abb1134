"""Tests of the Fixup ResNet-50 port (Neyshabur et al. 2020's network, official fixup_resnet_imagenet.py)."""
import repro  # noqa: F401
import keras
import numpy as np
import pytest

from repro.errors import BadArgument
from repro.models.fixup_resnet import fixup_resnet, module_outputs
from repro.neyshabur2020.analyses import neyshabur_modules

STAGES = (3, 4, 6, 3)
N_BLOCKS = sum(STAGES)  # Fixup's L = 16 residual branches
BLOCKS = [f"layer{s}.{b}" for s, count in enumerate(STAGES, start=1) for b in range(count)]
BLOCK_PREFIXES = [f"layer{s}_block{b}" for s, count in enumerate(STAGES, start=1) for b in range(count)]
SCALARS = ("bias1a", "bias1b", "bias2a", "bias2b", "bias3a", "bias3b")


def _mini(seed=0, **kwargs) -> keras.Model:
    return fixup_resnet((32, 32, 1), num_classes=10, width=4, stem="mini", seed=seed, **kwargs)


@pytest.fixture(scope="module")
def full_model() -> keras.Model:
    """Fixup ResNet-50: width 64, ImageNet stem, 224x224x3, 1000 classes (built once)."""
    return fixup_resnet((224, 224, 3), num_classes=1000, width=64, stem="imagenet", seed=0)


@pytest.fixture(scope="module")
def mini_model() -> keras.Model:
    """Width 4, mini stem, 32x32x1, 10 classes."""
    return _mini(seed=0)


def _torch_resnet50_counts(width=64, in_channels=3, num_classes=1000):
    """(conv + fc params, BatchNorm weight + bias params) of torchvision resnet50, from its architecture."""
    convs = 7 * 7 * in_channels * width  # stem conv, no bias
    bns = 2 * width  # stem bn
    inplanes = width
    for stage, count in enumerate(STAGES, start=1):
        planes = width * 2 ** (stage - 1)
        for block in range(count):
            convs += inplanes * planes + 9 * planes * planes + planes * 4 * planes  # 1x1, 3x3, 1x1
            bns += 2 * (planes + planes + 4 * planes)  # bn1, bn2, bn3
            if block == 0:  # projection shortcut: 1x1 conv + bn
                convs += inplanes * 4 * planes
                bns += 2 * 4 * planes
            inplanes = 4 * planes
    fc = inplanes * num_classes + num_classes
    return convs + fc, bns


def test_fixup_resnet50_has_no_batchnorm_and_the_pytorch_fixup_parameter_count(full_model):
    assert not any(isinstance(layer, keras.layers.BatchNormalization) for layer in full_model.layers)
    convs = [layer for layer in full_model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 53 and not any(layer.use_bias for layer in convs)
    weights, bn = _torch_resnet50_counts()
    assert weights + bn == 25_557_032  # the derivation reproduces torchvision resnet50's count
    # fixup_resnet50 = resnet50 without BN + scalars: stem bias1, per block 6 biases + 1 scale, bias2 before fc.
    fixup_scalars = 1 + N_BLOCKS * (len(SCALARS) + 1) + 1
    expected = 25_557_032 - bn + fixup_scalars
    trainable = sum(int(np.prod(v.shape)) for v in full_model.trainable_variables)
    assert trainable == expected == 25_504_026
    assert not full_model.non_trainable_variables
    assert full_model.output_shape == (None, 1000)


def test_official_fixup_init(full_model):
    def std(layer):
        return full_model.get_layer(layer).kernel.numpy().std()

    for prefix in BLOCK_PREFIXES:
        assert not np.any(full_model.get_layer(f"{prefix}_conv3").kernel.numpy())
        for conv in ("conv1", "conv2"):
            kernel = full_model.get_layer(f"{prefix}_{conv}").kernel  # (k_h, k_w, c_in, c_out)
            k_h, k_w, _, c_out = kernel.shape
            target = np.sqrt(2.0 / (c_out * k_h * k_w)) * N_BLOCKS ** -0.25
            assert kernel.numpy().std() == pytest.approx(target, rel=0.05), f"{prefix}_{conv}"
            assert abs(kernel.numpy().mean()) < 0.1 * target
        for scalar in SCALARS:
            assert full_model.get_layer(f"{prefix}_{scalar}").bias.numpy() == 0.0
        assert full_model.get_layer(f"{prefix}_scale").scale.numpy() == 1.0
    # Larger kernels pin the constants tightly (>= 590k entries: sampling error << 1%).
    assert std("layer4_block2_conv2") == pytest.approx(np.sqrt(2.0 / (512 * 9)) / 2.0, rel=0.01)  # 16^(-1/4)=1/2
    assert std("layer3_block5_conv1") == pytest.approx(np.sqrt(2.0 / 256) / 2.0, rel=0.01)
    for stage, c_out in zip(range(1, 5), (256, 512, 1024, 2048)):
        assert std(f"layer{stage}_block0_downsample_conv") == pytest.approx(np.sqrt(2.0 / c_out), rel=0.03)
    assert std("layer4_block0_downsample_conv") == pytest.approx(np.sqrt(2.0 / 2048), rel=0.01)
    assert not any(f"block{b}_downsample" in layer.name for layer in full_model.layers for b in range(1, 6))
    assert full_model.get_layer("stem_conv_bias").bias.numpy() == 0.0
    assert full_model.get_layer("fc_bias_in").bias.numpy() == 0.0
    # Stem conv and fc: PyTorch's default U(-1/sqrt(fan_in), 1/sqrt(fan_in)) (zero_fc_init=False).
    fc = full_model.get_layer("fc")
    for values, fan_in in (
        (full_model.get_layer("stem_conv").kernel.numpy(), 7 * 7 * 3),
        (fc.kernel.numpy(), 2048),
        (fc.bias.numpy(), 2048),
    ):
        bound = 1.0 / np.sqrt(fan_in)
        assert np.abs(values).max() <= bound
        assert np.abs(values).max() > 0.95 * bound
        assert values.std() == pytest.approx(bound / np.sqrt(3.0), rel=0.05)


def test_at_init_every_residual_branch_is_zero(mini_model):
    # Identity blocks: conv3 = 0 and all biases 0, so out = relu(x) = x (x is post-ReLU).
    identity = [p for p in BLOCK_PREFIXES if not p.endswith("block0")]
    taps = keras.Model(
        mini_model.input,
        [mini_model.get_layer(f"{p}_bias1a").input for p in identity]
        + [mini_model.get_layer(f"{p}_out").output for p in identity]
        + [mini_model.get_layer("layer2_block0_bias1a").input, mini_model.get_layer("layer2_block0_out").output],
    )
    x = np.random.default_rng(0).normal(size=(2, 32, 32, 1)).astype("float32")
    outs = [np.asarray(o) for o in taps(x)]
    n = len(identity)
    for prefix, block_in, block_out in zip(identity, outs[:n], outs[n : 2 * n]):
        assert block_in.min() >= 0.0 and block_in.max() > 0.0, prefix
        np.testing.assert_allclose(block_out, np.maximum(block_in, 0.0), rtol=0, atol=1e-6, err_msg=prefix)
    # Downsample block: out = relu(downsample(x)), a strided 1x1 conv (torch padding 0: rows/cols 0, 2, ...).
    block_in, block_out = outs[2 * n :]
    kernel = mini_model.get_layer("layer2_block0_downsample_conv").kernel.numpy()[0, 0]
    expected = np.maximum(np.einsum("bhwc,cd->bhwd", block_in[:, ::2, ::2], kernel), 0.0)
    np.testing.assert_allclose(block_out, expected, rtol=1e-5, atol=1e-5)


def test_scalar_bias_and_scale_are_wired_as_in_the_official_block():
    model = _mini(seed=0, blocks=(2, 1, 1, 1))
    for prefix in ("layer1_block1", "layer2_block0"):
        for layer in model.layers:  # nonzero b1a, b1b, b2a, b2b, b3a must not leak through the zero conv3
            if layer.name.startswith(f"{prefix}_bias"):
                layer.bias.assign(0.7)
        model.get_layer(f"{prefix}_bias3b").bias.assign(-0.3)
        model.get_layer(f"{prefix}_scale").scale.assign(2.0)
    names = [f"{p}_{end}" for p in ("layer1_block1", "layer2_block0") for end in ("bias1a", "out")]
    taps = keras.Model(model.input, [model.get_layer(n).input if n.endswith("a") else model.get_layer(n).output
                                     for n in names])
    x = np.random.default_rng(0).normal(size=(1, 32, 32, 1)).astype("float32")
    identity_in, identity_out, down_in, down_out = (np.asarray(o) for o in taps(x))
    np.testing.assert_allclose(identity_out, np.maximum(identity_in - 0.3, 0.0), atol=1e-6)  # relu(0*s + b3b + x)
    # The shortcut sees x + b1a, as in the official ``downsample(x + self.bias1a)``.
    kernel = model.get_layer("layer2_block0_downsample_conv").kernel.numpy()[0, 0]
    shortcut = np.einsum("bhwc,cd->bhwd", down_in[:, ::2, ::2] + 0.7, kernel)
    np.testing.assert_allclose(down_out, np.maximum(shortcut - 0.3, 0.0), rtol=1e-5, atol=1e-5)


def test_seeded_init_is_reproducible_and_seed_dependent(mini_model):
    again, other = _mini(seed=0), _mini(seed=1)
    assert [v.path for v in again.variables] == [v.path for v in mini_model.variables]
    for a, b in zip(mini_model.variables, again.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    for name in ("stem_conv", "layer1_block1_conv1", "layer3_block0_downsample_conv", "fc"):
        assert not np.array_equal(mini_model.get_layer(name).kernel.numpy(), other.get_layer(name).kernel.numpy())
    kernel = mini_model.get_layer("layer1_block1_conv1").kernel.numpy()
    assert not np.array_equal(kernel, mini_model.get_layer("layer1_block2_conv1").kernel.numpy())


def test_neyshabur_modules_and_cka_taps(mini_model):
    modules = neyshabur_modules(mini_model)
    assert set(modules) == {v.path for v in mini_model.variables}
    assert list(dict.fromkeys(modules.values())) == ["conv1", *BLOCKS, "fc"]
    assert modules["stem_conv_bias/bias"] == "conv1"
    assert modules["fc_bias_in/bias"] == "fc"
    assert modules["layer2_block0_downsample_conv/kernel"] == "layer2.0"
    assert modules["layer3_block5_scale/scale"] == "layer3.5"
    counts = {m: list(modules.values()).count(m) for m in dict.fromkeys(modules.values())}
    # per block: 3 conv kernels + 6 biases + 1 scale (+ the downsample kernel in block 0)
    assert counts == {"conv1": 2, **{b: 11 if b.endswith(".0") else 10 for b in BLOCKS}, "fc": 3}
    taps = module_outputs(mini_model)
    assert list(taps) == ["conv1", "layer1", "layer2", "layer3", "layer4"]
    assert taps["layer4"] == "layer4_block2_out"
    shapes = {m: mini_model.get_layer(name).output.shape for m, name in taps.items()}
    # conv1 is tapped after the stem ReLU, before the max-pool (torch's conv1 resolution).
    assert shapes == {"conv1": (None, 32, 32, 4), "layer1": (None, 16, 16, 16), "layer2": (None, 8, 8, 32),
                      "layer3": (None, 4, 4, 64), "layer4": (None, 2, 2, 128)}


def test_strides_at_224_follow_the_torch_layout(full_model):
    def spatial(name):
        return full_model.get_layer(name).output.shape[1:]

    assert spatial("stem_relu") == (112, 112, 64)
    assert spatial("stem_pool") == (56, 56, 64)
    taps = module_outputs(full_model)
    assert [spatial(taps[f"layer{s}"]) for s in range(1, 5)] == [
        (56, 56, 256), (28, 28, 512), (14, 14, 1024), (7, 7, 2048)]
    assert full_model.get_layer("stem_conv_pad").padding == ((3, 3), (3, 3))
    for stage in range(2, 5):
        assert full_model.get_layer(f"layer{stage}_block0_conv1").strides == (1, 1)
        assert full_model.get_layer(f"layer{stage}_block0_conv2").strides == (2, 2)
        assert full_model.get_layer(f"layer{stage}_block0_conv2_pad").padding == ((1, 1), (1, 1))
        assert full_model.get_layer(f"layer{stage}_block0_downsample_conv").strides == (2, 2)
    assert full_model.get_layer("layer1_block0_conv2").strides == (1, 1)


def test_weights_round_trip_exactly_through_a_weights_file(tmp_path):
    saved = _mini(seed=0)
    rng = np.random.default_rng(0)
    for variable in saved.variables:  # non-default scalars and conv3 kernels must survive too
        variable.assign(rng.normal(size=variable.shape).astype("float32"))
    path = tmp_path / "fixup.weights.h5"
    saved.save_weights(path)
    loaded = _mini(seed=1, weights=path)
    assert [v.path for v in loaded.variables] == [v.path for v in saved.variables]
    for a, b in zip(saved.variables, loaded.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(BadArgument, match="weights.h5"):
        _mini(weights=tmp_path / "fixup.h5")
    with pytest.raises(BadArgument, match="does not exist"):
        _mini(weights=tmp_path / "missing.weights.h5")


def test_bad_stem_and_sizes_raise_bad_argument():
    with pytest.raises(BadArgument, match="stem 'cifar'"):
        fixup_resnet((32, 32, 1), 10, width=4, stem="cifar")
    with pytest.raises(BadArgument, match="must all be positive"):
        fixup_resnet((32, 32, 1), 10, width=0, stem="mini")
