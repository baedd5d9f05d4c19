import math

import pytest
import torch
from tokenizers import Tokenizer, models, pre_tokenizers, trainers
from transformers import AutoModelForCausalLM, AutoTokenizer, GPT2Config, GPT2LMHeadModel, PreTrainedTokenizerFast

from dmlp_cli.errors import DmlpError
from dmlp_cli.evaluation.perplexity import ScorerLM, perplexity_under

CORPUS = ["the cat sat on the mat", "a dog ran to the park", "the bird flew over a tree"]
EOS = "<|endoftext|>"
# Word counts 3, 6, 1, 5 -> with the eos, 4 + 7 + 2 + 6 = 19 scored tokens.
TEXTS = ["the cat sat", "a dog ran to the park", "tree", "the bird sat on a"]


def _tokenizer(*, with_bos: bool) -> PreTrainedTokenizerFast:
    tokenizer = Tokenizer(models.WordLevel(unk_token=EOS))
    tokenizer.pre_tokenizer = pre_tokenizers.WhitespaceSplit()
    tokenizer.train_from_iterator(CORPUS, trainers.WordLevelTrainer(special_tokens=[EOS, "<pad>"]))
    return PreTrainedTokenizerFast(
        tokenizer_object=tokenizer,
        bos_token=EOS if with_bos else None,
        eos_token=EOS,
        unk_token=EOS,
        pad_token="<pad>",
    )


def _save_scorer(folder, *, n_positions: int = 64, with_bos: bool = True) -> str:
    tokenizer = _tokenizer(with_bos=with_bos)
    torch.manual_seed(0)
    # A large init spread makes the predictions far from uniform, so a padding
    # leak or an off-by-one in the shift would move the perplexity visibly.
    config = GPT2Config(
        n_layer=2, n_embd=32, n_head=2, n_positions=n_positions, vocab_size=len(tokenizer), initializer_range=0.5
    )
    GPT2LMHeadModel(config).save_pretrained(folder)
    tokenizer.save_pretrained(folder)
    return str(folder)


@pytest.fixture(scope="module")
def scorer_dir(tmp_path_factory):
    return _save_scorer(tmp_path_factory.mktemp("scorer"))


def _manual_nll(folder: str, texts, *, max_length: int | None = None) -> tuple[float, int]:
    """One text at a time: NLL of bos + tokens + eos, bos unscored, by explicit log-softmax gather."""
    tokenizer = AutoTokenizer.from_pretrained(folder)
    model = AutoModelForCausalLM.from_pretrained(folder).eval()
    eos = tokenizer.convert_tokens_to_ids(EOS)
    total_nll, total_tokens = 0.0, 0
    for text in texts:
        ids = torch.tensor([eos, *tokenizer.encode(text, add_special_tokens=False), eos])[:max_length]
        with torch.no_grad():
            log_probs = torch.log_softmax(model(ids[None]).logits[0, :-1].double(), dim=-1)
        total_nll -= log_probs.gather(1, ids[1:, None]).sum().item()
        total_tokens += len(ids) - 1
    return total_nll, total_tokens


def test_matches_manual_computation(scorer_dir):
    result = ScorerLM(name_or_path=scorer_dir).perplexity(TEXTS)
    nll, tokens = _manual_nll(scorer_dir, TEXTS)
    assert tokens == 19
    assert result.total_tokens == 19
    assert result.num_texts == 4
    assert result.num_truncated == 0
    assert result.total_nll == pytest.approx(nll, rel=1e-4)
    assert result.perplexity == pytest.approx(math.exp(nll / tokens), rel=1e-4)


def test_batching_does_not_change_the_result(scorer_dir):
    one = ScorerLM(name_or_path=scorer_dir, batch_size=1).perplexity(TEXTS)
    eight = ScorerLM(name_or_path=scorer_dir, batch_size=8).perplexity(TEXTS)
    assert eight.total_tokens == one.total_tokens
    assert eight.total_nll == pytest.approx(one.total_nll, rel=1e-5)


def test_eos_is_the_first_token_when_there_is_no_bos(scorer_dir, tmp_path):
    no_bos_dir = _save_scorer(tmp_path, with_bos=False)
    assert AutoTokenizer.from_pretrained(no_bos_dir).bos_token_id is None
    with_bos = ScorerLM(name_or_path=scorer_dir).perplexity(TEXTS)
    without_bos = ScorerLM(name_or_path=no_bos_dir).perplexity(TEXTS)
    assert without_bos.total_tokens == with_bos.total_tokens
    assert without_bos.total_nll == pytest.approx(with_bos.total_nll, rel=1e-5)


def test_long_texts_are_truncated_and_counted(tmp_path):
    folder = _save_scorer(tmp_path, n_positions=6)
    # bos + 6 words + eos = 8 ids -> cut to 6 (5 scored); bos + 3 words + eos = 5 ids fit (4 scored).
    texts = ["a dog ran to the park", "the cat sat"]
    result = ScorerLM(name_or_path=folder, batch_size=2).perplexity(texts)
    nll, tokens = _manual_nll(folder, texts, max_length=6)
    assert result.num_truncated == 1
    assert result.total_tokens == tokens == 9
    assert result.total_nll == pytest.approx(nll, rel=1e-4)


def test_wrapper_equals_scorer(scorer_dir):
    assert perplexity_under(TEXTS, name_or_path=scorer_dir, batch_size=2) == ScorerLM(
        name_or_path=scorer_dir, batch_size=2
    ).perplexity(TEXTS)


def test_missing_folder_is_a_user_error(tmp_path):
    missing = str(tmp_path / "no-such-scorer")
    with pytest.raises(DmlpError, match="scorer.name_or_path=") as info:
        ScorerLM(name_or_path=missing)
    assert missing in str(info.value)
    assert "\n" not in str(info.value)


def test_empty_text_list_raises(scorer_dir):
    with pytest.raises(ValueError, match="no texts"):
        ScorerLM(name_or_path=scorer_dir).perplexity([])


def test_features_are_the_last_hidden_state_of_bos_text_one_text_at_a_time(scorer_dir):
    texts = [*TEXTS, ""]  # lengths differ, so batches are sorted and padded; the empty text's feature is the bos's
    features = ScorerLM(name_or_path=scorer_dir, batch_size=3).features(texts)
    tokenizer = AutoTokenizer.from_pretrained(scorer_dir)
    model = AutoModelForCausalLM.from_pretrained(scorer_dir).eval()
    assert features.shape == (5, 32) and features.dtype == torch.float32
    for text, feature in zip(texts, features):
        ids = torch.tensor([[tokenizer.bos_token_id, *tokenizer.encode(text, add_special_tokens=False)]])
        with torch.no_grad():
            expected = model(ids, output_hidden_states=True).hidden_states[-1][0, -1]
        torch.testing.assert_close(feature, expected, rtol=1e-5, atol=1e-5)


def test_describe_names_the_scorer_and_counts_its_parameters(scorer_dir):
    scorer = ScorerLM(name_or_path=scorer_dir)
    assert scorer.describe() == {
        "name_or_path": scorer_dir, "architecture": "GPT2LMHeadModel",
        "parameters": sum(p.numel() for p in GPT2LMHeadModel.from_pretrained(scorer_dir).parameters()),
        "layers": 2, "hidden_size": 32, "max_length": 64, "dtype": "float32",
    }
