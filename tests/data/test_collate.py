import torch

from dmlp_cli.data.collate import PairCollator

EXAMPLES = [
    {"text": "a b", "label": 1, "encoder_ids": [101, 5, 6, 102], "decoder_ids": [2, 5, 3]},
    {"text": "c", "label": -1, "encoder_ids": [101, 7, 102], "decoder_ids": [2, 7, 8, 9, 3]},
]


def test_pads_each_side_to_its_longest_with_its_own_pad_id():
    batch = PairCollator(encoder_pad_id=0, decoder_pad_id=50256)(EXAMPLES)
    assert batch["encoder_ids"].tolist() == [[101, 5, 6, 102], [101, 7, 102, 0]]
    assert batch["encoder_mask"].tolist() == [[1, 1, 1, 1], [1, 1, 1, 0]]
    assert batch["decoder_ids"].tolist() == [[2, 5, 3, 50256, 50256], [2, 7, 8, 9, 3]]
    assert batch["decoder_mask"].tolist() == [[1, 1, 1, 0, 0], [1, 1, 1, 1, 1]]
    assert batch["labels"].tolist() == [1, -1]
    assert batch["text"] == ["a b", "c"]


def test_tensor_types_and_shapes():
    batch = PairCollator(encoder_pad_id=0, decoder_pad_id=0)(EXAMPLES[:1])
    for key in ("encoder_ids", "encoder_mask", "decoder_ids", "decoder_mask", "labels"):
        assert batch[key].dtype == torch.long
    assert batch["encoder_ids"].shape == batch["encoder_mask"].shape == (1, 4)
    assert batch["decoder_ids"].shape == (1, 3)
    assert batch["labels"].shape == (1,)
