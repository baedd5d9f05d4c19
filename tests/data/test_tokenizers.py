from pathlib import Path

import pytest
from tokenizers import Tokenizer, decoders, models, pre_tokenizers, trainers
from transformers import BertTokenizerFast, PreTrainedTokenizerFast

from dmlp_cli.data.tokenizers import PretrainedTokenizer, TrainedTokenizer
from dmlp_cli.errors import DmlpError

TEXTS = [
    "the food was exceptional .",
    "unfortunately ca n't say the same about the service .",
    "we always have a great time here !",
    "the burgers are fairly priced and taste delicious .",
    "so we just ate the appetizers .",
] * 4


@pytest.mark.parametrize("kind", TrainedTokenizer.KINDS)
def test_trained_tokenizer_round_trips_and_has_special_ids(kind):
    tokenizer = TrainedTokenizer(model=kind, vocab_size=90).build(texts=TEXTS)
    assert (tokenizer.pad_token_id, tokenizer.unk_token_id, tokenizer.bos_token_id, tokenizer.eos_token_id) == (0, 1, 2, 3)
    for text in TEXTS[:5]:
        ids = tokenizer(text)["input_ids"]
        assert not {0, 2, 3} & set(ids)  # no post-processor: callers place bos/eos
        assert tokenizer.decode(ids) == text
    words = sum(len(text.split()) for text in TEXTS[:5])
    tokens = sum(len(ids) for ids in tokenizer(TEXTS[:5])["input_ids"])
    assert tokens == words if kind == "wordlevel" else tokens > words  # subword kinds split rare words


def test_trained_tokenizer_lowercases_and_maps_unknown_words():
    tokenizer = TrainedTokenizer(vocab_size=100).build(texts=TEXTS)
    assert tokenizer.decode(tokenizer("The FOOD")["input_ids"]) == "the food"
    assert tokenizer("zebra")["input_ids"] == [tokenizer.unk_token_id]


def test_trained_tokenizer_respects_vocab_size_and_skips_missing_texts():
    tokenizer = TrainedTokenizer(vocab_size=10).build(texts=TEXTS + [None, ""])
    assert len(tokenizer) == 10
    assert tokenizer.convert_ids_to_tokens(4) == "the"  # the most frequent word comes right after the specials


@pytest.mark.parametrize("kind", TrainedTokenizer.KINDS)
def test_trained_tokenizer_is_deterministic_and_reloads_from_its_folder(kind, tmp_path):
    first = TrainedTokenizer(model=kind, vocab_size=90).build(texts=TEXTS, save_dir=str(tmp_path))
    for _ in range(3):  # the trainers' hash-map order differs per call, see huggingface/tokenizers#1794
        assert TrainedTokenizer(model=kind, vocab_size=90).build(texts=TEXTS).get_vocab() == first.get_vocab()
    reloaded = PretrainedTokenizer(name_or_path=str(tmp_path)).build()
    assert reloaded.get_vocab() == first.get_vocab()
    assert reloaded(TEXTS[:5])["input_ids"] == first(TEXTS[:5])["input_ids"]
    assert reloaded.decode(reloaded(TEXTS[1])["input_ids"]) == TEXTS[1]
    assert (reloaded.pad_token_id, reloaded.bos_token_id, reloaded.eos_token_id) == (0, 2, 3)


def test_unknown_trained_model_lists_the_choices():
    with pytest.raises(DmlpError, match="wordlevel, bpe, wordpiece"):
        TrainedTokenizer(model="unigram")


def gpt2_style(folder: Path) -> Path:
    backend = Tokenizer(models.BPE())
    backend.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    backend.decoder = decoders.ByteLevel()
    trainer = trainers.BpeTrainer(
        vocab_size=300, special_tokens=["<|endoftext|>"], initial_alphabet=pre_tokenizers.ByteLevel.alphabet()
    )
    backend.train_from_iterator(TEXTS, trainer=trainer)
    wrapped = PreTrainedTokenizerFast(tokenizer_object=backend, bos_token="<|endoftext|>", eos_token="<|endoftext|>")
    wrapped.save_pretrained(folder)
    return folder


def bert_style(folder: Path) -> Path:
    backend = Tokenizer(models.WordPiece(unk_token="[UNK]"))
    backend.pre_tokenizer = pre_tokenizers.Whitespace()
    trainer = trainers.WordPieceTrainer(vocab_size=100, special_tokens=["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]"])
    backend.train_from_iterator(TEXTS, trainer=trainer)
    BertTokenizerFast(vocab=backend.get_vocab()).save_pretrained(folder)
    return folder


def test_gpt2_style_tokenizer_gets_eos_as_pad_without_new_tokens(tmp_path):
    folder = gpt2_style(tmp_path / "gpt2")
    size = len(PreTrainedTokenizerFast.from_pretrained(folder))
    tokenizer = PretrainedTokenizer(name_or_path=str(folder)).build(texts=["ignored"])
    assert len(tokenizer) == size
    assert tokenizer.pad_token_id == tokenizer.eos_token_id == tokenizer.bos_token_id == 0


def test_bert_style_tokenizer_gets_cls_and_sep_as_bos_and_eos(tmp_path):
    folder = bert_style(tmp_path / "bert")
    saved = tmp_path / "saved"
    tokenizer = PretrainedTokenizer(name_or_path=str(folder)).build(save_dir=str(saved))
    assert tokenizer.bos_token_id == tokenizer.cls_token_id
    assert tokenizer.eos_token_id == tokenizer.sep_token_id
    assert tokenizer.pad_token_id == tokenizer.convert_tokens_to_ids("[PAD]")
    assert len(tokenizer) == len(BertTokenizerFast.from_pretrained(folder))
    ids = tokenizer("the food")["input_ids"]
    assert (ids[0], ids[-1]) == (tokenizer.cls_token_id, tokenizer.sep_token_id)
    reloaded = PretrainedTokenizer(name_or_path=str(saved)).build()
    assert (reloaded.bos_token_id, reloaded.eos_token_id) == (tokenizer.bos_token_id, tokenizer.eos_token_id)


def test_missing_tokenizer_folder_is_a_dmlp_error(tmp_path):
    with pytest.raises(DmlpError, match=r"tokenizer '.*missing' could not be loaded .*name_or_path="):
        PretrainedTokenizer(name_or_path=str(tmp_path / "missing")).build()
