"""Padding encoded examples into batch tensors.

Encoder and decoder have their own tokenizers and so their own pad ids;
each side is right-padded to the longest sequence of that side in the batch
(not to max_length), so short batches cost less compute.
"""

from __future__ import annotations

import torch
from torch.nn.utils.rnn import pad_sequence


class PairCollator:
    """`DataLoader` collate_fn for examples with "encoder_ids", "decoder_ids", "label", "text"."""

    def __init__(self, *, encoder_pad_id: int, decoder_pad_id: int):
        self.encoder_pad_id = encoder_pad_id
        self.decoder_pad_id = decoder_pad_id

    def __call__(self, examples: list[dict]) -> dict[str, torch.Tensor | list]:
        encoder_ids, encoder_mask = _pad([e["encoder_ids"] for e in examples], self.encoder_pad_id)
        decoder_ids, decoder_mask = _pad([e["decoder_ids"] for e in examples], self.decoder_pad_id)
        return {
            "encoder_ids": encoder_ids,
            "encoder_mask": encoder_mask,
            "decoder_ids": decoder_ids,
            "decoder_mask": decoder_mask,
            "labels": torch.tensor([e["label"] for e in examples], dtype=torch.long),
            "text": [e["text"] for e in examples],
        }


def _pad(sequences: list, pad_id: int) -> tuple[torch.Tensor, torch.Tensor]:
    """Right-pads to the longest sequence; the mask is 1 on real tokens, 0 on padding."""
    tensors = [torch.as_tensor(s, dtype=torch.long) for s in sequences]
    ids = pad_sequence(tensors, batch_first=True, padding_value=pad_id)
    lengths = torch.tensor([len(t) for t in tensors])
    mask = (torch.arange(ids.shape[1]) < lengths[:, None]).long()
    return ids, mask


def collated_batches(dataset, *, collator: PairCollator, batch_size: int, limit: int | None = None) -> list[dict]:
    """The first `limit` rows of an encoded split (all when None) as collated batches, in order."""
    count = len(dataset) if limit is None else min(limit, len(dataset))
    return [
        collator(list(dataset.select(range(start, min(start + batch_size, count)))))
        for start in range(0, count, batch_size)
    ]
