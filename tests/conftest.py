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
