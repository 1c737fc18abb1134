"""Paper-scale datasets from the tfds catalog, read from a prepared data_dir.

The ``paper`` scale (README.md, "Scales") reads the papers' datasets
(ImageNet, DomainNet, CheXpert, ...) through ``tensorflow_datasets`` from a
``--data-dir``. Nothing here downloads at run time: a dataset that is not
prepared in ``data_dir`` raises DatasetMissing naming the directory and, for
datasets tfds cannot download (ImageNet, CheXpert), the manual files needed.
``prepare=True`` runs tfds's ``download_and_prepare`` once; for
manual-download datasets it reads only ``manual_dir``
(default ``<data_dir>/downloads/manual``), for the others it downloads and
so needs network access.
"""
from __future__ import annotations

import os
import re
from pathlib import Path

import tensorflow as tf
import tensorflow_datasets as tfds

from repro.errors import BadArgument, DatasetMissing

MANUAL_FILES = {
    "imagenet2012": ("ILSVRC2012_img_train.tar", "ILSVRC2012_img_val.tar"),
    "chexpert": ("CheXpert-v1.0-small",),
}


def default_data_dir() -> Path:
    """The TFDS data directory used when none is given: $TFDS_DATA_DIR or ~/tensorflow_datasets."""
    return Path(os.environ.get("TFDS_DATA_DIR") or Path.home() / "tensorflow_datasets")


def manual_files_hint(name: str, manual_dir: Path) -> str:
    """One line saying what must be put in ``manual_dir`` to prepare ``name``."""
    if name in MANUAL_FILES:
        return f"put {' and '.join(MANUAL_FILES[name])} in {manual_dir}"
    return f"put the files described by tfds.builder({name!r}).MANUAL_DOWNLOAD_INSTRUCTIONS in {manual_dir}"


def catalog_builder(
    name: str,
    data_dir: str | os.PathLike | None = None,
    *,
    manual_dir: str | os.PathLike | None = None,
    prepare: bool = False,
) -> tfds.core.DatasetBuilder:
    """The tfds builder for catalog dataset ``name``, checked to be prepared in ``data_dir``.

    Raises BadArgument for a name tfds does not know, DatasetMissing (one
    line: directory, manual files, how to prepare) when the dataset is not
    prepared and ``prepare`` is False or its manual files are absent.
    """
    root = Path(data_dir) if data_dir is not None else default_data_dir()
    manual = Path(manual_dir) if manual_dir is not None else root / "downloads" / "manual"
    try:
        builder = tfds.builder(name, data_dir=os.fspath(root))
    except tfds.core.registered.DatasetNotFoundError as error:
        raise BadArgument(f"unknown tfds dataset {name!r}; see tfds.list_builders()") from error
    if builder.is_prepared():
        return builder
    needs_manual = bool(builder.MANUAL_DOWNLOAD_INSTRUCTIONS)
    if not prepare:
        command = f"`repro prepare {name} --data-dir {root}`"
        how = (f"{manual_files_hint(name, manual)}, run {command} once and give repro run --data-dir {root}"
               if needs_manual
               else f"run {command} once on a machine with network access and give repro run --data-dir {root}")
        raise DatasetMissing(f"tfds dataset {name!r} is not prepared in {builder.data_dir}: {how}")
    if needs_manual:
        expected = MANUAL_FILES.get(name, ())
        absent = [f for f in expected if not (manual / f).exists()]
        if absent or not manual.is_dir() or not any(manual.iterdir()):
            raise DatasetMissing(
                f"cannot prepare tfds dataset {name!r} in {root}: {manual_files_hint(name, manual)}"
            )
    builder.download_and_prepare(download_config=tfds.download.DownloadConfig(manual_dir=os.fspath(manual)))
    return builder


def check_split(builder: tfds.core.DatasetBuilder, split: str) -> None:
    """Raise BadArgument unless every split named in ``split`` (e.g. "train[:10%]+validation") exists."""
    known = set(builder.info.splits.keys())
    names = [re.sub(r"\[.*\]$", "", part.strip()) for part in split.split("+")]
    unknown = [n for n in names if n not in known]
    if known and unknown:
        raise BadArgument(
            f"unknown split {unknown[0]!r} for {builder.name}; accepted: {', '.join(sorted(known))}"
        )


def tfds_catalog(
    name: str,
    split: str,
    data_dir: str | os.PathLike | None = None,
    *,
    manual_dir: str | os.PathLike | None = None,
    prepare: bool = False,
    shuffle_files: bool = False,
    decoders: dict | None = None,
    read_config: tfds.ReadConfig | None = None,
) -> tf.data.Dataset:
    """Examples (feature dicts) of ``split`` of tfds catalog dataset ``name`` from ``data_dir``.

    ``split`` accepts tfds slicing ("train[:1%]"). See :func:`catalog_builder`
    for the preparation rules and errors.
    """
    builder = catalog_builder(name, data_dir, manual_dir=manual_dir, prepare=prepare)
    check_split(builder, split)
    return builder.as_dataset(
        split=split, shuffle_files=shuffle_files, decoders=decoders, read_config=read_config
    )
