"""TFDS builder ``chexpert_csv``: CheXpert-v1.0-small read from its CSV files, with a seeded row split.

Why not the catalog's ``chexpert`` (tfds 4.9.10, version 3.1.0): its
features (``name`` = the CSV path, ``image``, ``label`` = 14 ClassLabels
uncertain/positive/negative/unmentioned, ``image_view``) carry the per-label
values and the view, but not the row of ``train.csv``: tfds stores the
records in the order of a hash of the path, and the split this builder
reproduces (``libdata/chexpert_index/split_trainset.py`` of
google-research/understanding-transfer-learning) is a
``RandomState(1234)`` permutation of the CSV rows. This builder applies
that permutation at preparation time and writes only the rows the protocol
uses:

- ``train``: rows ``perm[:train_size]`` of ``train.csv`` (official
  ``train.0-50k.csv``), in that order;
- ``test``: rows ``perm[train_size:train_size + test_size]`` (official
  ``train.50k-100k.csv``, the paper's "test" set for model selection and
  plots);
- ``validation``: every row of ``valid.csv`` in file order (the official
  ``dev.csv``, 234 images).

``perm = np.random.RandomState(seed).permutation(n_rows)`` equals the
official ``rng.permutation(lines)`` of the data lines (header excluded):
permuting a list shuffles it with the same Fisher-Yates draws as permuting
its indices. Every view (frontal and lateral) is kept.

Features: ``image`` (the bytes of the manual image files, unchanged:
grayscale JPEGs), ``path`` (the CSV ``Path``), ``row`` (0-based data row in its CSV),
``view`` (frontal/lateral), ``observations`` (float32[14] in
:data:`OBSERVATIONS` order: 1.0 positive, 0.0 negative, -1.0 uncertain, NaN
blank, exactly the CSV cells). Label policies are left to the reader (see
the paper's data module). Records keep the split order (TFDS
shuffling disabled). ``info.metadata`` holds the CSV row count, the config,
per-split positive counts of every observation and
``train_rows_positive_cardiomegaly_or_consolidation`` (the rows a training
list that over-samples these two observations duplicates).

Manual files: ``CheXpert-v1.0-small`` (with ``train.csv``, ``valid.csv``,
``train/``, ``valid/``) in ``<data_dir>/downloads/manual`` or ``manual_dir``;
:func:`chexpert_builder` prepares once with ``prepare=True``.
"""
from __future__ import annotations

import csv
import dataclasses
import math
import os
from pathlib import Path
from typing import Iterator, Sequence

import numpy as np
import tensorflow_datasets as tfds

from repro.data.catalog import default_data_dir, manual_files_hint
from repro.errors import BadArgument, DatasetMissing

ROOT = "CheXpert-v1.0-small"
CSV_FILES = ("train.csv", "valid.csv")
OBSERVATIONS = (
    "No Finding", "Enlarged Cardiomediastinum", "Cardiomegaly", "Lung Opacity", "Lung Lesion", "Edema",
    "Consolidation", "Pneumonia", "Atelectasis", "Pneumothorax", "Pleural Effusion", "Pleural Other",
    "Fracture", "Support Devices",
)
FIRST_OBSERVATION_COLUMN = 5  # Path, Sex, Age, Frontal/Lateral, AP/PA, then the 14 observations
CELL_VALUES = {"1.0": 1.0, "0.0": 0.0, "-1.0": -1.0, "": math.nan}
# The builder records how many training rows are positive (1.0) for either of these in its metadata, so a
# reader that repeats those rows (an over-sampling training list) knows its epoch length.
COUNTED_POSITIVES = ("Cardiomegaly", "Consolidation")


@dataclasses.dataclass
class ChexpertConfig(tfds.core.BuilderConfig):
    """Row split of ``train.csv``: ``RandomState(seed).permutation``, then train_size + test_size rows."""

    seed: int = 1234
    train_size: int = 50_000
    test_size: int = 50_000


ROWS_1234_50K = ChexpertConfig(
    name="rows_1234_50k",
    description="train = rows 0-50k, test = rows 50k-100k of train.csv shuffled by RandomState(1234); "
    "validation = valid.csv (the row split of libdata/chexpert_index/split_trainset.py in "
    "google-research/understanding-transfer-learning).",
)


def read_rows(csv_path: str | os.PathLike) -> list[dict]:
    """Data rows of a CheXpert CSV: path, view and the 14 observations as floats (NaN = blank).

    Raises BadArgument when the header is not CheXpert's or a cell is not
    one of "1.0", "0.0", "-1.0", "" (the values the official reader maps).
    """
    with open(csv_path, newline="") as handle:
        reader = csv.reader(handle)
        header = next(reader)
        names = tuple(header[FIRST_OBSERVATION_COLUMN:])
        if names != OBSERVATIONS or header[0] != "Path" or header[3] != "Frontal/Lateral":
            raise BadArgument(f"{csv_path} does not have CheXpert's header; got {header}")
        rows = []
        for number, fields in enumerate(reader, start=2):
            cells = fields[FIRST_OBSERVATION_COLUMN:]
            try:
                values = [CELL_VALUES[cell] for cell in cells]
            except KeyError as error:
                raise BadArgument(f"{csv_path} line {number}: observation value {error.args[0]!r} is not "
                                  f"accepted; accepted: {sorted(CELL_VALUES)}") from error
            if len(values) != len(OBSERVATIONS):
                raise BadArgument(f"{csv_path} line {number}: {len(fields)} fields; expected {len(header)}")
            rows.append({"path": fields[0], "view": fields[3].lower(), "observations": values})
    return rows


def split_rows(n_rows: int, config: ChexpertConfig) -> dict[str, np.ndarray]:
    """Indices into train.csv's data rows of the ``train`` and ``test`` splits of ``config``."""
    needed = config.train_size + config.test_size
    if n_rows < needed:
        raise BadArgument(f"train.csv has {n_rows} rows; config {config.name!r} needs {needed}")
    perm = np.random.RandomState(config.seed).permutation(n_rows)
    return {"train": perm[: config.train_size], "test": perm[config.train_size : needed]}


class ChexpertCsv(tfds.core.GeneratorBasedBuilder):
    """CheXpert-v1.0-small from its CSVs with a seeded row split (see the module docstring)."""

    VERSION = tfds.core.Version("1.0.0")
    RELEASE_NOTES = {"1.0.0": "train/test = seeded permutation of train.csv rows, validation = valid.csv."}
    BUILDER_CONFIGS = [ROWS_1234_50K]
    MANUAL_DOWNLOAD_INSTRUCTIONS = (
        f"Register at https://stanfordmlgroup.github.io/competitions/chexpert/ and put the {ROOT} "
        "directory (train.csv, valid.csv, train/, valid/) in the manual_dir."
    )

    def _info(self) -> tfds.core.DatasetInfo:
        return tfds.core.DatasetInfo(
            builder=self,
            description="CheXpert-v1.0-small chest radiographs with the 14 raw CSV observations.",
            features=tfds.features.FeaturesDict(
                {
                    "image": tfds.features.Image(shape=(None, None, 1)),
                    "path": tfds.features.Text(),
                    "row": tfds.features.Scalar(dtype=np.int64),
                    "view": tfds.features.ClassLabel(names=["frontal", "lateral"]),
                    "observations": tfds.features.Tensor(shape=(len(OBSERVATIONS),), dtype=np.float32),
                }
            ),
            homepage="https://stanfordmlgroup.github.io/competitions/chexpert/",
            disable_shuffling=True,
            metadata=tfds.core.MetadataDict(),
        )

    def _split_generators(self, dl_manager: tfds.download.DownloadManager) -> dict:
        manual = Path(dl_manager.manual_dir)
        root = manual / ROOT
        absent = [name for name in CSV_FILES if not (root / name).is_file()]
        if absent:
            raise DatasetMissing(f"cannot prepare {self.name}: {', '.join(absent)} not found in {root}; "
                                 f"{manual_files_hint('chexpert', manual)}")
        train_rows = read_rows(root / "train.csv")
        valid_rows = read_rows(root / "valid.csv")
        config = self.builder_config
        indices = split_rows(len(train_rows), config)
        indices["validation"] = np.arange(len(valid_rows))
        source = {"train": train_rows, "test": train_rows, "validation": valid_rows}
        positives = {
            split: {name: int(sum(source[split][i]["observations"][k] == 1.0 for i in rows))
                    for k, name in enumerate(OBSERVATIONS)}
            for split, rows in indices.items()
        }
        either = [OBSERVATIONS.index(name) for name in COUNTED_POSITIVES]
        duplicated = sum(any(train_rows[i]["observations"][k] == 1.0 for k in either) for i in indices["train"])
        self.info.metadata.update(
            {"train_csv_rows": len(train_rows), "seed": config.seed, "train_size": config.train_size,
             "test_size": config.test_size, "positives": positives,
             "train_rows_positive_cardiomegaly_or_consolidation": int(duplicated)}
        )
        return {
            "train": self._generate_examples(manual, train_rows, indices["train"]),
            "test": self._generate_examples(manual, train_rows, indices["test"]),
            "validation": self._generate_examples(manual, valid_rows, indices["validation"]),
        }

    def _generate_examples(self, manual: Path, rows: Sequence[dict], indices: np.ndarray
                           ) -> Iterator[tuple[int, dict]]:
        for position, row in enumerate(indices):
            record = rows[int(row)]
            image = manual / record["path"]
            if not image.is_file():
                raise DatasetMissing(f"cannot prepare {self.name}: image {image} listed in the CSV is missing")
            yield position, {
                "image": os.fspath(image),
                "path": record["path"],
                "row": int(row),
                "view": record["view"],
                "observations": np.asarray(record["observations"], dtype=np.float32),
            }


def chexpert_builder(
    data_dir: str | os.PathLike | None = None,
    *,
    manual_dir: str | os.PathLike | None = None,
    prepare: bool = False,
    config: str | ChexpertConfig = "rows_1234_50k",
) -> ChexpertCsv:
    """The ``chexpert_csv`` builder, checked to be prepared in ``data_dir`` (as ``catalog.catalog_builder``).

    Not prepared and ``prepare`` False, or manual CSVs absent: DatasetMissing
    naming ``data_dir``'s dataset directory and what to put in ``manual_dir``
    (default ``<data_dir>/downloads/manual``). ``config`` is a config name or
    a :class:`ChexpertConfig` (tests use small split sizes).
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    manual = Path(manual_dir) if manual_dir is not None else root / "downloads" / "manual"
    builder = ChexpertCsv(data_dir=os.fspath(root), config=config)
    if builder.is_prepared():
        return builder
    name = f"{builder.name}/{builder.builder_config.name}"
    hint = f"{manual_files_hint('chexpert', manual)} (with train.csv, valid.csv, train/ and valid/)"
    if not prepare:
        raise DatasetMissing(f"tfds dataset {name!r} is not prepared in {builder.data_dir}: {hint}, run "
                             f"`repro prepare chexpert_csv --data-dir {root}` once and give repro run --data-dir {root}")
    absent = [f"{ROOT}/{f}" for f in CSV_FILES if not (manual / ROOT / f).is_file()]
    if absent:
        raise DatasetMissing(f"cannot prepare tfds dataset {name!r} in {root}: {hint}; missing {', '.join(absent)}")
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual)))
    return builder
