"""How a tokenizer is obtained: loaded from the hub or a folder, or trained on the corpus.

Whichever way, the result has `pad_token_id`, `bos_token_id` and
`eos_token_id` set, because the encoding and collation code relies on all
three. Missing ones are filled with tokens the vocabulary already has, never
with new tokens, so a pretrained model's embedding table never needs resizing.
"""

from __future__ import annotations

from collections.abc import Iterable

from tokenizers import Tokenizer, decoders, models, normalizers, pre_tokenizers, trainers
from transformers import AutoTokenizer, PreTrainedTokenizerBase, PreTrainedTokenizerFast

from dmlp_cli.errors import DmlpError

PAD, UNK, BOS, EOS = "<pad>", "<unk>", "<s>", "</s>"
# Stand-ins tried in order when a tokenizer lacks a role: GPT-2 has no pad
# (eos serves), BERT has no bos/eos ([CLS]/[SEP] serve).
_STAND_INS = {
    "bos_token": ("cls_token", "eos_token"),
    "eos_token": ("sep_token",),
    "pad_token": ("eos_token",),
}


def with_special_ids(tokenizer: PreTrainedTokenizerBase) -> PreTrainedTokenizerBase:
    """Fills a missing bos/eos/pad with an existing token that plays the same role."""
    for role, stand_ins in _STAND_INS.items():
        if getattr(tokenizer, f"{role}_id") is not None:
            continue
        stand_in = next((s for s in stand_ins if getattr(tokenizer, f"{s}_id") is not None), None)
        if stand_in is None:
            raise DmlpError(
                f"tokenizer '{tokenizer.name_or_path}' has no {role} and no {'/'.join(stand_ins)} to stand in for it; "
                "pick a tokenizer that has special tokens, or a trained one"
            )
        setattr(tokenizer, role, getattr(tokenizer, stand_in))
    return tokenizer


class PretrainedTokenizer:
    """A tokenizer from the hub or a local folder (also how checkpoints restore theirs)."""

    def __init__(self, *, name_or_path: str):
        self.name_or_path = name_or_path

    def build(self, *, texts: Iterable[str] | None = None, save_dir: str | None = None) -> PreTrainedTokenizerBase:
        """`texts` is accepted so both tokenizer kinds are built the same way; a pretrained one ignores it."""
        try:
            tokenizer = AutoTokenizer.from_pretrained(self.name_or_path)
        except (OSError, ValueError) as err:
            raise DmlpError(
                f"tokenizer '{self.name_or_path}' could not be loaded (offline? not a tokenizer folder?); "
                "set encoder.tokenizer.name_or_path=<hub id or local folder> (or decoder.tokenizer.name_or_path)"
            ) from err
        tokenizer = with_special_ids(tokenizer)
        if save_dir is not None:
            tokenizer.save_pretrained(save_dir)
        return tokenizer


class TrainedTokenizer:
    """A tokenizer trained on the training texts: for from-scratch models and offline runs."""

    KINDS = ("wordlevel", "bpe", "wordpiece")

    def __init__(
        self, *, model: str = "wordlevel", vocab_size: int = 8000, min_frequency: int = 1, lowercase: bool = True
    ):
        if model not in self.KINDS:
            raise DmlpError(
                f"tokenizer model '{model}' is unknown; set tokenizer.model to one of {', '.join(self.KINDS)}"
            )
        self.model = model
        self.vocab_size = vocab_size
        self.min_frequency = min_frequency
        self.lowercase = lowercase

    def build(self, *, texts: Iterable[str], save_dir: str | None = None) -> PreTrainedTokenizerFast:
        """Trains deterministically on `texts`; `save_dir` lets PretrainedTokenizer reload it unchanged.

        Missing texts (None from empty csv cells or json nulls) are skipped here because the
        tokenizer is trained before `encode_corpus` drops empty lines.
        """
        backend = self._untrained()
        backend.train_from_iterator((text for text in texts if text), trainer=self._trainer())
        tokenizer = PreTrainedTokenizerFast(
            tokenizer_object=backend,
            pad_token=PAD,
            unk_token=UNK,
            bos_token=BOS,
            eos_token=EOS,
            clean_up_tokenization_spaces=False,
        )
        if save_dir is not None:
            tokenizer.save_pretrained(save_dir)
        return tokenizer

    def _untrained(self) -> Tokenizer:
        """Splits on whitespace only, so pre-tokenized text (e.g. "ca n't") decodes back exactly.

        No post-processor: callers decide where bos/eos go. Word-level tokens
        are joined with spaces by the `tokenizers` default (no decoder). The
        subword kinds mark word starts with "▁" (as SentencePiece does) and
        their decoder turns it back into spaces. They do not use the trainers'
        "##" prefix / "</w>" suffix because those symbols get ids in hash-map
        order, which makes training non-deterministic (huggingface/tokenizers#1794).
        """
        if self.model == "wordlevel":
            backend = Tokenizer(models.WordLevel(unk_token=UNK))
            backend.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
        else:
            if self.model == "bpe":
                backend = Tokenizer(models.BPE(unk_token=UNK))
            else:
                backend = Tokenizer(models.WordPiece(unk_token=UNK, continuing_subword_prefix=""))
            backend.pre_tokenizer = pre_tokenizers.Sequence(
                [pre_tokenizers.WhitespaceSplit(), pre_tokenizers.Metaspace(prepend_scheme="always", split=False)]
            )
            backend.decoder = decoders.Metaspace(prepend_scheme="always")
        if self.lowercase:
            backend.normalizer = normalizers.Lowercase()
        return backend

    def _trainer(self) -> trainers.Trainer:
        """Special tokens first, so <pad> is id 0, then <unk>, <s>, </s>."""
        options = dict(
            vocab_size=self.vocab_size,
            min_frequency=self.min_frequency,
            special_tokens=[PAD, UNK, BOS, EOS],
            show_progress=False,
        )
        if self.model == "wordlevel":
            return trainers.WordLevelTrainer(**options)
        if self.model == "bpe":
            return trainers.BpeTrainer(**options)
        return trainers.WordPieceTrainer(**options, continuing_subword_prefix="")
