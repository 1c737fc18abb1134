"""Shared fixtures."""
import pytest
import tensorflow_datasets as tfds

MOCK_IMAGENET_EXAMPLES = 48


@pytest.fixture
def mocked_imagenet(tmp_path):
    """A data_dir where imagenet2012 looks prepared, served by tfds's mock data."""
    builder = tfds.builder("imagenet2012", data_dir=tmp_path)
    splits = ("train", "validation")
    infos = [tfds.core.SplitInfo(name=name, shard_lengths=[MOCK_IMAGENET_EXAMPLES], num_bytes=0) for name in splits]
    builder.info.set_splits(tfds.core.SplitDict(infos))
    builder.data_path.mkdir(parents=True)
    builder.info.write_to_directory(builder.data_path)
    with tfds.testing.mock_data(num_examples=MOCK_IMAGENET_EXAMPLES, data_dir=str(tmp_path)):
        yield str(tmp_path)


@pytest.fixture(scope="module")
def published(request):
    """``papers/<PAPER>/published.csv`` of the requesting test module's ``PAPER``."""
    from repro.compare import load_published

    return load_published(request.module.PAPER)


@pytest.fixture(scope="module")
def values(published):
    """Published values by key (quantity, condition, n, target)."""
    return {p.key: p.value for p in published}


@pytest.fixture(scope="module")
def claims(request):
    """``papers/<PAPER>/claims.csv`` of the requesting test module's ``PAPER``."""
    from repro.compare import load_claims

    return load_claims(request.module.PAPER)
