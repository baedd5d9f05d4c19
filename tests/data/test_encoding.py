import datasets
import pytest
from transformers import BertTokenizerFast

from dmlp_cli.data.encoding import EncodingReport, encode_corpus
from dmlp_cli.data.tokenizers import TrainedTokenizer, with_special_ids
from dmlp_cli.errors import DmlpError

TEXTS = ["the food was great .", "the service was slow .", "we will come back", "great food ."]
WORDS = sorted({word for text in TEXTS for word in text.split()})


@pytest.fixture(scope="module")
def words():
    """Word-level: <pad>=0 <unk>=1 <s>=2 </s>=3, one id per word, no specials added by the tokenizer."""
    return TrainedTokenizer().build(texts=TEXTS)


@pytest.fixture(scope="module")
def bert():
    """Adds [CLS] ... [SEP] itself, like a pretrained BERT tokenizer."""
    vocab = {token: i for i, token in enumerate(["[PAD]", "[UNK]", "[CLS]", "[SEP]", "[MASK]", *WORDS])}
    return with_special_ids(BertTokenizerFast(vocab=vocab))


def corpus(**splits: list[str]) -> datasets.DatasetDict:
    return datasets.DatasetDict(
        {name: datasets.Dataset.from_dict({"text": texts, "label": [1] * len(texts)}) for name, texts in splits.items()}
    )


def test_encoder_gets_tokenizer_specials_and_decoder_gets_bos_eos(words, bert):
    encoded, report = encode_corpus(
        corpus(train=["the food was great ."]), encoder_tokenizer=bert, decoder_tokenizer=words, max_length=16
    )
    example = encoded["train"][0]
    assert encoded["train"].column_names == ["text", "label", "encoder_ids", "decoder_ids"]
    assert example["encoder_ids"] == bert("the food was great .")["input_ids"]
    assert (example["encoder_ids"][0], example["encoder_ids"][-1]) == (bert.cls_token_id, bert.sep_token_id)
    content = words("the food was great .", add_special_tokens=False)["input_ids"]
    assert example["decoder_ids"] == [words.bos_token_id, *content, words.eos_token_id]
    assert words.decode(example["decoder_ids"], skip_special_tokens=True) == "the food was great ."
    assert report.num_truncated == {"train": 0}


def test_empty_and_whitespace_lines_are_dropped_and_counted(words):
    encoded, report = encode_corpus(
        corpus(train=["the food", "", "   ", "we will come back"], valid=["great .", "\t"]),
        encoder_tokenizer=words,
        decoder_tokenizer=words,
        max_length=16,
    )
    assert encoded["train"]["text"] == ["the food", "we will come back"]
    assert report.num_examples == {"train": 2, "valid": 1}
    assert report.num_empty_dropped == {"train": 2, "valid": 1}


def test_split_that_ends_up_empty_is_a_dmlp_error(words):
    with pytest.raises(DmlpError, match="dataset split 'valid' is empty after dropping 2 empty lines; check dataset.path"):
        encode_corpus(
            corpus(train=["the food"], valid=["", " "]), encoder_tokenizer=words, decoder_tokenizer=words, max_length=8
        )


def test_truncation_is_counted_and_keeps_the_closing_token(words, bert):
    texts = ["the food was great . we will come back", "great food ."]
    encoded, report = encode_corpus(corpus(train=texts), encoder_tokenizer=bert, decoder_tokenizer=words, max_length=5)
    long, short = encoded["train"]
    assert len(long["encoder_ids"]) == len(long["decoder_ids"]) == 5
    encoder_words = bert(texts[0], add_special_tokens=False)["input_ids"]
    decoder_words = words(texts[0], add_special_tokens=False)["input_ids"]
    assert long["encoder_ids"] == [bert.cls_token_id, *encoder_words[:3], bert.sep_token_id]
    assert long["decoder_ids"] == [words.bos_token_id, *decoder_words[:3], words.eos_token_id]
    assert len(short["decoder_ids"]) == 5 and short["decoder_ids"][-1] == words.eos_token_id  # 3 words + bos + eos fit
    assert report.num_truncated == {"train": 1}


def test_pretokenized_columns_are_used_and_not_wrapped_twice(words, bert):
    bos, eos = words.bos_token_id, words.eos_token_id
    ds = datasets.Dataset.from_dict(
        {
            "text": ["anything", "goes", "here"],
            "label": [0, 1, 0],
            "encoder_token_ids": [[2, 7, 3], [2, 8, 9, 3], [2, 3]],
            "decoder_token_ids": [[bos, 5, 6, eos], [5, 6], [bos, 5]],
        }
    )
    encoded, _ = encode_corpus(
        datasets.DatasetDict(train=ds), encoder_tokenizer=bert, decoder_tokenizer=words, max_length=16
    )
    assert encoded["train"]["encoder_ids"] == [[2, 7, 3], [2, 8, 9, 3], [2, 3]]
    assert encoded["train"]["decoder_ids"] == [[bos, 5, 6, eos], [bos, 5, 6, eos], [bos, 5, eos]]
    assert "encoder_token_ids" not in encoded["train"].column_names


def test_out_of_range_pretokenized_ids_are_a_dmlp_error(words, bert):
    ds = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1], "decoder_token_ids": [[2, 5, 3], [2, 50257, 3]]})
    with pytest.raises(DmlpError, match=r"column 'decoder_token_ids' has token id 50257, outside tokenizer"):
        encode_corpus(datasets.DatasetDict(train=ds), encoder_tokenizer=bert, decoder_tokenizer=words, max_length=8)


def test_ids_check_only_looks_at_the_selected_rows(words):
    ds = datasets.Dataset.from_dict({"text": ["a", "b"], "label": [0, 1], "encoder_token_ids": [[2, 5, 3], [-1]]})
    encoded, _ = encode_corpus(
        datasets.DatasetDict(train=ds.select([0])), encoder_tokenizer=words, decoder_tokenizer=words, max_length=8
    )
    assert encoded["train"]["encoder_ids"] == [[2, 5, 3]]


def test_too_short_max_length_is_a_dmlp_error(words):
    with pytest.raises(DmlpError, match="max_length=2 is too short"):
        encode_corpus(corpus(train=["the food"]), encoder_tokenizer=words, decoder_tokenizer=words, max_length=2)


def test_report_summary_has_one_line_per_split():
    report = EncodingReport(
        num_examples={"train": 178153, "valid": 5000},
        num_empty_dropped={"train": 12, "valid": 0},
        num_truncated={"train": 3, "valid": 1},
        max_length=64,
    )
    assert report.summary() == (
        "train: 178153 examples, 12 empty dropped, 3 truncated to 64 tokens\n"
        "valid: 5000 examples, 0 empty dropped, 1 truncated to 64 tokens"
    )


def test_parallel_encoding_matches_serial(words, bert):
    texts = corpus(train=TEXTS * 5 + [""])
    serial, serial_report = encode_corpus(texts, encoder_tokenizer=bert, decoder_tokenizer=words, max_length=5)
    parallel, parallel_report = encode_corpus(
        texts, encoder_tokenizer=bert, decoder_tokenizer=words, max_length=5, num_proc=2
    )
    assert parallel["train"][:] == serial["train"][:]
    assert parallel_report == serial_report
