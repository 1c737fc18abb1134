"""Tests of the torchvision-style ResNet and its Chen / Neyshabur module maps."""
import repro  # noqa: F401
import keras
import numpy as np
import pytest

from repro.errors import BadArgument
from repro.chen2022.analyses import chen_groups
from repro.models.resnet import resnet
from repro.neyshabur2020.analyses import neyshabur_modules

BLOCKS = [f"layer{s}.{b}" for s, count in enumerate((3, 4, 6, 3), start=1) for b in range(count)]


@pytest.fixture(scope="module")
def full_model() -> keras.Model:
    """ResNet-50 at full width, ImageNet stem, 224x224x3, 1000 classes (built once)."""
    return resnet((224, 224, 3), num_classes=1000, width=64, stem="imagenet", seed=0)


@pytest.fixture(scope="module")
def narrow_model() -> keras.Model:
    """The mini-scale net: width 16, CIFAR stem, 32x32x1, 10 classes."""
    return resnet((32, 32, 1), num_classes=10, width=16, stem="cifar", seed=0)


def test_full_width_resnet50_has_torchvision_parameter_count_and_shapes(full_model):
    trainable = sum(int(np.prod(v.shape)) for v in full_model.trainable_variables)
    assert trainable == 25_557_032
    assert full_model.output_shape == (None, 1000)
    assert full_model.get_layer("stem_pool").output.shape == (None, 56, 56, 64)
    assert full_model.get_layer("layer4_block2_out").output.shape == (None, 7, 7, 2048)


def test_v1_5_layout_stride_in_the_3x3_conv_symmetric_padding_and_no_conv_bias(full_model):
    assert full_model.get_layer("layer2_block0_conv1").strides == (1, 1)
    assert full_model.get_layer("layer2_block0_conv2").strides == (2, 2)
    assert full_model.get_layer("layer2_block0_downsample_conv").strides == (2, 2)
    assert full_model.get_layer("layer2_block0_conv2_pad").padding == ((1, 1), (1, 1))
    convs = [layer for layer in full_model.layers if isinstance(layer, keras.layers.Conv2D)]
    assert len(convs) == 53 and not any(layer.use_bias for layer in convs)
    assert full_model.get_layer("stem_bn").epsilon == 1e-5


def test_narrow_cifar_stem_model_runs_a_forward_pass_at_32x32x1(narrow_model):
    logits = narrow_model(np.random.default_rng(0).normal(size=(2, 32, 32, 1)).astype("float32"), training=False)
    assert logits.shape == (2, 10)
    assert np.all(np.isfinite(logits))
    assert narrow_model.get_layer("layer1_block0_out").output.shape == (None, 32, 32, 64)
    assert narrow_model.get_layer("layer4_block2_out").output.shape == (None, 4, 4, 512)
    assert not any(layer.name == "stem_pool" for layer in narrow_model.layers)


def test_chen_groups_are_stem_sixteen_blocks_and_fc_without_shortcut_convs(narrow_model):
    groups = chen_groups(narrow_model)
    names = list(dict.fromkeys(groups.values()))
    assert names == ["stem", *BLOCKS, "fc"]
    counts = {name: list(groups.values()).count(name) for name in names}
    assert counts == {"stem": 1, **{block: 3 for block in BLOCKS}, "fc": 1}
    assert len(groups) == 50
    assert all(path.endswith("/kernel") and "downsample" not in path for path in groups)
    assert groups["layer2_block0_conv2/kernel"] == "layer2.0"


def test_neyshabur_modules_cover_every_variable_in_eighteen_modules(narrow_model):
    modules = neyshabur_modules(narrow_model)
    assert list(dict.fromkeys(modules.values())) == ["conv1", *BLOCKS, "fc"]
    assert set(modules) == {v.path for v in narrow_model.variables}
    assert modules["layer3_block0_downsample_conv/kernel"] == "layer3.0"
    assert modules["stem_bn/moving_variance"] == "conv1"
    assert modules["fc/bias"] == "fc"


def test_seeded_init_is_reproducible_and_distinct_across_layers(narrow_model):
    again = resnet((32, 32, 1), num_classes=10, width=16, stem="cifar", seed=0)
    other = resnet((32, 32, 1), num_classes=10, width=16, stem="cifar", seed=1)
    for a, b in zip(narrow_model.variables, again.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())
    kernel = narrow_model.get_layer("layer1_block1_conv1").kernel.numpy()
    assert not np.array_equal(kernel, narrow_model.get_layer("layer1_block2_conv1").kernel.numpy())
    assert not np.array_equal(kernel, other.get_layer("layer1_block1_conv1").kernel.numpy())
    fan_out = 3 * 3 * 16
    assert narrow_model.get_layer("layer1_block0_conv2").kernel.numpy().std() == pytest.approx(
        np.sqrt(2.0 / fan_out), rel=0.1
    )


def test_weights_round_trip_exactly_through_a_weights_file(tmp_path):
    saved = resnet((32, 32, 1), num_classes=10, width=16, stem="cifar", seed=0)
    rng = np.random.default_rng(0)
    for variable in saved.variables:
        if "moving" in variable.path:  # non-default BN statistics must survive too
            variable.assign(rng.uniform(0.5, 2.0, size=variable.shape).astype("float32"))
    path = tmp_path / "mini.weights.h5"
    saved.save_weights(path)
    loaded = resnet((32, 32, 1), num_classes=10, width=16, stem="cifar", weights=path, seed=1)
    assert [v.path for v in loaded.variables] == [v.path for v in saved.variables]
    for a, b in zip(saved.variables, loaded.variables):
        np.testing.assert_array_equal(a.numpy(), b.numpy())


def test_bad_stem_and_weights_arguments_raise_one_line_errors(tmp_path):
    with pytest.raises(BadArgument, match="stem 'vit'"):
        resnet((32, 32, 1), 10, width=4, stem="vit")
    with pytest.raises(BadArgument, match="weights.h5"):
        resnet((32, 32, 1), 10, width=4, stem="cifar", blocks=(1, 1, 1, 1), weights=tmp_path / "w.h5")
    with pytest.raises(BadArgument, match="does not exist"):
        resnet((32, 32, 1), 10, width=4, stem="cifar", blocks=(1, 1, 1, 1), weights=tmp_path / "w.weights.h5")
