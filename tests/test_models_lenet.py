"""Tests of Liu et al. 2019's LeNet (lenet.py) and ResNet-50 + CLS head (the ResNet scripts)."""
import repro  # noqa: F401
import keras
import numpy as np
import pytest

from repro.errors import BadArgument
from repro.models.lenet import BODY_LAYERS, CONV_LAYERS, FEATURES, HEAD_LAYERS, WEIGHT_LAYERS, flatten_size, lenet
from repro.liu2019.network import (
    liu_backbone,
    liu_conv_kernels,
    liu_probe_layers,
    liu_resnet50,
    torch_conv_path,
)
from repro.chen2022.analyses import chen_groups
from repro.models.resnet import resnet
from repro.neyshabur2020.analyses import neyshabur_modules
from repro.transfer import transfer

# torch LeNet + LeNet_cls of lenet.py at 28x28x1, without the unused 6-way classifier:
# (in, out, kernel) of Conv2d / Linear (kernel 1).
TORCH_LENET = [(1, 20, 5), (20, 50, 5), (50 * 4 * 4, 500, 1), (500, 1024, 1), (1024, 1024, 1), (1024, 10, 1)]
RESNET50_TRAINABLE = 25_557_032
TINY = dict(input_shape=(16, 16, 3), width=4, stem="cifar", blocks=(1, 1, 1, 1))


def _count(variables) -> int:
    return int(sum(np.prod(v.shape) for v in variables))


def _images(n: int, size: int = 28) -> np.ndarray:
    return np.random.default_rng(0).normal(size=(n, size, size, 1)).astype("float32")


@pytest.fixture(scope="module")
def net() -> keras.Model:
    return lenet(num_classes=10, seed=0)


@pytest.fixture(scope="module")
def tiny_liu() -> keras.Model:
    """A Liu model on a tiny backbone (width 4, one block per stage, 16x16x3), seed 3."""
    return liu_resnet50(5, seed=3, **TINY)


@pytest.fixture(scope="module")
def liu() -> keras.Model:
    """The full Liu model: ResNet-50 at 224x224x3 + CLS head, 200 classes (CUB); built once."""
    return liu_resnet50(200, seed=0)


# ---- LeNet -----------------------------------------------------------------


def test_lenet_layer_shapes_follow_the_code_at_28(net):
    shapes = {name: net.get_layer(name).output.shape for name in (
        "conv1", "pool1", "conv2", "pool2", "flatten", "fc1", FEATURES, "cls_fc1", "cls_fc2", "cls_fc3")}
    assert shapes == {
        "conv1": (None, 24, 24, 20), "pool1": (None, 12, 12, 20), "conv2": (None, 8, 8, 50),
        "pool2": (None, 4, 4, 50), "flatten": (None, 800), "fc1": (None, 500), FEATURES: (None, 500),
        "cls_fc1": (None, 1024), "cls_fc2": (None, 1024), "cls_fc3": (None, 10),
    }
    assert net.input_shape == (None, 28, 28, 1)
    order = [layer.name for layer in net.layers]
    assert order.index("pool1") < order.index("relu1") < order.index("conv2") < order.index("conv2_drop") \
        < order.index("pool2") < order.index("relu2")
    assert isinstance(net.get_layer("conv2_drop"), keras.layers.SpatialDropout2D)
    assert net.get_layer("conv1").padding == "valid" and net.get_layer("conv2").padding == "valid"


def test_lenet_weight_layer_names_and_parameter_count_equal_torch(net):
    assert WEIGHT_LAYERS == BODY_LAYERS + HEAD_LAYERS == ("conv1", "conv2", "fc1", "cls_fc1", "cls_fc2", "cls_fc3")
    assert CONV_LAYERS == ("conv1", "conv2")
    assert [layer.name for layer in net.layers if layer.weights] == list(WEIGHT_LAYERS)
    torch_count = sum(c_out * c_in * k * k + c_out for c_in, c_out, k in TORCH_LENET)
    assert torch_count == 1_998_944
    assert _count(net.trainable_variables) == torch_count
    # the only other variables are the three seeded dropouts' generator states
    assert all("seed_generator" in v.path for v in net.non_trainable_variables)


def test_lenet_input_size_changes_the_flatten_and_num_classes_the_logits():
    assert flatten_size(28) == 800 and flatten_size(32) == 1250
    model = lenet(num_classes=3, input_size=32, seed=0)
    assert model.get_layer("flatten").output.shape == (None, 1250)
    assert model.get_layer("fc1").kernel.shape == (1250, 500)
    assert model.output_shape == (None, 3)
    with pytest.raises(BadArgument):
        lenet(input_size=15)


def test_lenet_init_is_torch_default_uniform_within_one_over_sqrt_fan_in(net):
    fan_ins = dict(zip(WEIGHT_LAYERS, (25, 500, 800, 500, 1024, 1024)))
    for name, fan_in in fan_ins.items():
        bound = 1.0 / np.sqrt(fan_in)
        kernel, bias = (w.numpy() for w in net.get_layer(name).weights)
        for values in (kernel, bias):
            assert np.abs(values).max() <= bound + 1e-7, name
            assert np.abs(values).max() > 0.6 * bound, name  # uniform over the whole range, not zeros
        if kernel.size > 10_000:
            assert kernel.std() == pytest.approx(bound / np.sqrt(3), rel=0.02), name


def test_lenet_same_seed_same_weights_other_seed_other_weights(net):
    again, other = lenet(seed=0), lenet(seed=1)
    for a, b in zip(net.variables, again.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert not np.array_equal(net.get_layer("fc1").kernel.numpy(), other.get_layer("fc1").kernel.numpy())
    # distinct seeds per layer: same-shaped initializers do not repeat
    assert not np.allclose(net.get_layer("cls_fc2").bias.numpy(), net.get_layer("cls_fc1").bias.numpy())


def test_lenet_dropout_acts_only_in_training_and_conv2_dropout_drops_whole_channels(net):
    x = _images(8)
    inference = net(x, training=False).numpy()
    np.testing.assert_array_equal(inference, net(x, training=False).numpy())
    assert not np.allclose(inference, net(x, training=True).numpy())
    taps = keras.Model(net.input, [net.get_layer("conv2").output, net.get_layer("conv2_drop").output])
    before, after = (t.numpy() for t in taps(x, training=True))
    kept = np.abs(after).reshape(8, -1, 50).max(axis=1) > 0  # (batch, channel)
    assert 0 < kept.mean() < 1
    for i, c in zip(*np.nonzero(kept)):
        np.testing.assert_allclose(after[i, ..., c], 2.0 * before[i, ..., c], rtol=1e-5, atol=1e-6)
    for i, c in zip(*np.nonzero(~kept)):
        assert not after[i, ..., c].any()


def test_lenet_transfers_body_and_head_and_reloads_its_weights_file(net, tmp_path):
    target = lenet(seed=5)
    record = transfer(target, WEIGHT_LAYERS, len(WEIGHT_LAYERS), "finetune", net)
    assert record.copied == list(WEIGHT_LAYERS)
    np.testing.assert_array_equal(target(_images(2)).numpy(), net(_images(2)).numpy())
    path = tmp_path / "lenet.weights.h5"
    net.save_weights(path)
    loaded = lenet(seed=9, weights=path)
    np.testing.assert_array_equal(loaded.get_layer("cls_fc3").kernel.numpy(), net.get_layer("cls_fc3").kernel.numpy())


# ---- ResNet-50 + CLS head -----------------------------------------------------


def test_liu_head_shapes_settings_and_parameter_count(liu):
    assert liu.output_shape == (None, 200)
    assert liu.get_layer("avgpool").output.shape == (None, 2048)
    assert liu.get_layer("cls_bottleneck").kernel.shape == (2048, 256)
    assert liu.get_layer("cls_fc").kernel.shape == (256, 200)
    bn = liu.get_layer("cls_bn")
    assert (bn.epsilon, bn.momentum) == (1e-5, 0.9)
    assert np.all(bn.gamma.numpy() == 1.0) and np.all(bn.beta.numpy() == 0.0)
    assert liu.get_layer("cls_relu").negative_slope == pytest.approx(0.2)
    assert [layer.name for layer in liu.layers[-4:]] == ["cls_bottleneck", "cls_bn", "cls_relu", "cls_fc"]
    backbone = RESNET50_TRAINABLE - (2048 * 1000 + 1000)
    head = (2048 * 256 + 256) + 2 * 256 + (256 * 200 + 200)
    assert _count(liu.trainable_variables) == backbone + head == 24_084_488
    bound = 1.0 / np.sqrt(2048)
    assert np.abs(liu.get_layer("cls_bottleneck").kernel.numpy()).max() <= bound + 1e-7
    assert np.abs(liu.get_layer("cls_bottleneck").bias.numpy()).max() <= bound + 1e-7


def test_liu_conv_kernels_are_the_53_backbone_convs_in_torch_order(liu):
    kernels = liu_conv_kernels(liu)
    assert len(kernels) == len(set(kernels)) == 53
    assert sum("downsample" in path for path in kernels) == 4
    assert kernels[:5] == ["stem_conv/kernel", "layer1_block0_conv1/kernel", "layer1_block0_conv2/kernel",
                           "layer1_block0_conv3/kernel", "layer1_block0_downsample_conv/kernel"]
    assert kernels[-1] == "layer4_block2_conv3/kernel"
    conv_paths = {layer.kernel.path for layer in liu.layers if isinstance(layer, keras.layers.Conv2D)}
    assert set(kernels) == conv_paths
    assert not any("bn" in path or "cls" in path for path in kernels)


def test_liu_probe_paths_exist_with_the_code_shapes(liu):
    probes = liu_probe_layers()
    assert probes == {"landscape": "layer4_block1_conv3/kernel", "variation_of_loss": "layer3_block0_conv1/kernel"}
    shapes = {v.path: tuple(v.shape) for v in liu.variables}
    assert shapes[probes["landscape"]] == (1, 1, 512, 2048)  # torch (2048, 512, 1, 1)
    assert shapes[probes["variation_of_loss"]] == (1, 1, 512, 256)  # torch (256, 512, 1, 1)
    assert torch_conv_path("conv1.weight") == "stem_conv/kernel"
    assert torch_conv_path("layer2.0.downsample.0.weight") == "layer2_block0_downsample_conv/kernel"
    with pytest.raises(ValueError):
        torch_conv_path("layer2.0.bn1.weight")


def test_chen_and_neyshabur_maps_need_a_resnet_fc(liu):
    with pytest.raises(ValueError, match="fc"):
        chen_groups(liu)
    with pytest.raises(ValueError, match="fc"):
        neyshabur_modules(liu)


def test_resnet_include_top_false_gives_2048_features_and_keeps_the_default():
    features = resnet((32, 32, 3), width=64, stem="imagenet", include_top=False, seed=0)
    assert features.output_shape == (None, 2048)
    assert not any(layer.name == "fc" for layer in features.layers)
    assert _count(features.trainable_variables) == RESNET50_TRAINABLE - (2048 * 1000 + 1000)
    with_top, without = resnet(seed=4, **TINY), resnet(seed=4, include_top=False, **TINY)
    assert with_top.output_shape == (None, 1000) and with_top.layers[-1].name == "fc"
    assert without.output_shape == (None, 4 * 4 * 8)
    fc_paths = {"fc/kernel", "fc/bias"}
    assert {v.path for v in with_top.variables} - {v.path for v in without.variables} == fc_paths
    for a, b in zip((v for v in with_top.variables if v.path not in fc_paths), without.variables):
        assert a.path == b.path
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    assert len(chen_groups(with_top)) == 1 + 4 * 3 + 1
    with pytest.raises(ValueError):
        chen_groups(without)


def test_liu_backbone_init_matches_resnet_and_backbone_weights_load(tiny_liu, tmp_path):
    source = resnet(seed=3, include_top=False, **TINY)
    backbone = liu_backbone(tiny_liu)
    assert [v.path for v in backbone.variables] == [v.path for v in source.variables]
    for a, b in zip(backbone.variables, source.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    top = resnet(num_classes=7, seed=11, **TINY)  # a different backbone, saved with its fc
    path, top_path = tmp_path / "backbone.weights.h5", tmp_path / "with_top.weights.h5"
    top.save_weights(top_path)
    liu_backbone(liu_resnet50(5, seed=11, **TINY)).save_weights(path)  # the same backbone, without fc
    for weights_file in (path, top_path):
        loaded = liu_resnet50(5, seed=3, backbone_weights=weights_file, **TINY)
        for a, b in zip(liu_backbone(loaded).variables, top.variables):
            assert a.path == b.path
            np.testing.assert_array_equal(a.numpy(), b.numpy())
        for name in ("cls_bottleneck", "cls_fc"):  # the head keeps its fresh (seed 3) init
            np.testing.assert_array_equal(loaded.get_layer(name).kernel.numpy(),
                                          tiny_liu.get_layer(name).kernel.numpy())
    whole = tmp_path / "liu.weights.h5"
    loaded.save_weights(whole)
    reloaded = liu_resnet50(5, seed=9, weights=whole, **TINY)
    for a, b in zip(reloaded.variables, loaded.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    with pytest.raises(BadArgument):
        liu_resnet50(5, weights=whole, backbone_weights=path, **TINY)


def test_liu_head_bn_gamma_can_follow_old_torch_uniform_init(tiny_liu):
    ones = tiny_liu
    uniform = liu_resnet50(5, seed=3, head_bn_gamma="uniform", **TINY)
    gamma = uniform.get_layer("cls_bn").gamma.numpy()
    assert gamma.min() >= 0.0 and gamma.max() < 1.0 and gamma.std() > 0.1
    np.testing.assert_array_equal(ones.get_layer("cls_fc").kernel.numpy(), uniform.get_layer("cls_fc").kernel.numpy())
    logits = uniform(np.zeros((4, 16, 16, 3), "float32"), training=True)
    assert logits.shape == (4, 5) and np.all(np.isfinite(logits))
    with pytest.raises(BadArgument):
        liu_resnet50(5, head_bn_gamma="zeros", **TINY)


def test_a_fresh_head_shares_the_backbone_and_draws_its_own_head_from_its_seed(tiny_liu):
    """``loss_landscape.py``: the loaded ResNet under ``CLS(2048, 102)`` built afresh (the suite's landscape model)."""
    from repro.liu2019.network import HEAD_LAYERS, with_fresh_head

    fresh = with_fresh_head(tiny_liu, 7, seed=5)
    again = with_fresh_head(tiny_liu, 7, seed=5)
    other = with_fresh_head(tiny_liu, 7, seed=6)
    x = _images(4, 16).repeat(3, axis=-1)
    assert fresh(x).shape == (4, 7)
    backbone = liu_backbone(tiny_liu).weights
    assert all(any(w is v for v in fresh.weights) for w in backbone)  # shared variables, not copies
    head = [w for layer in HEAD_LAYERS for w in fresh.get_layer(layer).weights]
    assert not any(any(w is v for v in tiny_liu.weights) for w in head)
    np.testing.assert_array_equal(fresh(x, training=False), again(x, training=False))
    assert not np.allclose(fresh(x, training=False), other(x, training=False))
