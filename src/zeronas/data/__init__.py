"""Loading, validating and splitting zero-shot learning datasets."""

from zeronas.data.dataset import ZSLDataset, ZSLTask, bundled_dataset_path, load_dataset

__all__ = ["ZSLDataset", "ZSLTask", "bundled_dataset_path", "load_dataset"]
