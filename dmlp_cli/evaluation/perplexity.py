"""Generation perplexity: how fluent samples look to an independent causal LM.

Each text is scored as `[bos] + tokens(text) + [eos]`; the bos is context only
and every later token, the eos included, is scored:

    perplexity = exp(total NLL / total tokens),
    total NLL = sum_texts sum_{t>=1} -log p(x_t | x_<t),   total tokens = sum_texts (len(tokens) + 1)

A corpus-level (token-weighted) mean, so long samples count for more than short
ones. Scoring the eos rewards samples that end where a sentence ends. A
tokenizer without a bos uses its eos as the first token (GPT-2 style, where
`<|endoftext|>` is both). Texts longer than the scorer's context are cut to it
(losing their eos) and counted, so a truncation-heavy run is visible.

The same loaded LM gives MAUVE its features (`features`, evaluation/mauve_score.py),
so MAUVE needs no second model and nothing from the hub.
"""

import math
from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import torch
import torch.nn.functional as F
from transformers import AutoModelForCausalLM, AutoTokenizer

from dmlp_cli.errors import DmlpError


@dataclass
class PerplexityResult:
    """The perplexity and the sums it comes from, so runs can be pooled."""

    perplexity: float
    total_nll: float
    total_tokens: int
    num_texts: int
    num_truncated: int


class ScorerLM:
    """A causal LM loaded once and used to score any number of sample sets."""

    def __init__(self, *, name_or_path: str, device: str = "cpu", batch_size: int = 32, dtype: str = "float32"):
        torch_dtype = getattr(torch, dtype, None)
        if not isinstance(torch_dtype, torch.dtype):
            raise DmlpError(
                f"scorer dtype '{dtype}' is not a torch dtype; pass scorer.dtype=float32, bfloat16 or float16"
            )
        if batch_size < 1:
            raise DmlpError(f"scorer batch_size must be >= 1, got {batch_size}; pass scorer.batch_size=32")
        try:
            self.tokenizer = AutoTokenizer.from_pretrained(name_or_path)
            self.model = AutoModelForCausalLM.from_pretrained(name_or_path, dtype=torch_dtype)
        except (OSError, ValueError) as err:
            reason = str(err).strip().splitlines()[0] if str(err).strip() else type(err).__name__
            raise DmlpError(
                f"scorer model '{name_or_path}' could not be loaded: {reason}; "
                "pass scorer.name_or_path=<hub id or local folder>"
            ) from err
        self.eos_id = self.tokenizer.eos_token_id
        if self.eos_id is None:
            raise DmlpError(
                f"scorer model '{name_or_path}' has a tokenizer without an eos token; "
                "pass scorer.name_or_path=<a causal LM whose tokenizer defines eos>"
            )
        self.bos_id = self.tokenizer.bos_token_id if self.tokenizer.bos_token_id is not None else self.eos_id
        self.name_or_path = name_or_path
        self.max_length = getattr(self.model.config, "max_position_embeddings", None)
        self.device = device
        self.batch_size = batch_size
        self.model.to(device).eval()

    def describe(self) -> dict:
        """What the scorer is, for scores.json: its name, class, size, context and dtype."""
        config = self.model.config
        return {
            "name_or_path": self.name_or_path, "architecture": type(self.model).__name__,
            "parameters": sum(parameter.numel() for parameter in self.model.parameters()),
            "layers": getattr(config, "num_hidden_layers", None), "hidden_size": getattr(config, "hidden_size", None),
            "max_length": self.max_length, "dtype": str(self.model.dtype).removeprefix("torch."),
        }

    @torch.no_grad()
    def perplexity(self, texts: Sequence[str]) -> PerplexityResult:
        """Corpus perplexity of `texts` (see the module docstring for the definition)."""
        if not texts:
            raise ValueError("perplexity got no texts; pass at least one sample")
        sequences, num_truncated = self._sequences(texts, eos=True)
        total_nll = 0.0
        for _, input_ids, attention_mask in self._batches(sequences):
            logits = self.model(input_ids=input_ids, attention_mask=attention_mask.long()).logits
            labels = input_ids.masked_fill(~attention_mask, -100)
            total_nll += F.cross_entropy(
                logits[:, :-1].float().flatten(0, 1), labels[:, 1:].flatten(), ignore_index=-100, reduction="sum"
            ).item()
        total_tokens = sum(len(seq) - 1 for seq in sequences)
        return PerplexityResult(
            perplexity=math.exp(total_nll / total_tokens),
            total_nll=total_nll,
            total_tokens=total_tokens,
            num_texts=len(sequences),
            num_truncated=num_truncated,
        )

    @torch.no_grad()
    def features(self, texts: Sequence[str]) -> torch.Tensor:
        """[len(texts), hidden] float32: the last layer's hidden state at each text's last token, read as
        `[bos] text` (cut to the context). MAUVE's featurization (Pillutla et al., 2021), with the scorer's bos
        in front so an empty text has a feature too."""
        sequences, _ = self._sequences(texts, eos=False)
        features = torch.empty(len(sequences), self.model.config.hidden_size)
        for rows, input_ids, attention_mask in self._batches(sequences):
            hidden = self.model(
                input_ids=input_ids, attention_mask=attention_mask.long(), output_hidden_states=True
            ).hidden_states[-1]
            last = hidden[torch.arange(len(rows)), attention_mask.sum(1) - 1]
            features[rows] = last.float().cpu()
        return features

    def _sequences(self, texts: Sequence[str], *, eos: bool) -> tuple[list[list[int]], int]:
        """`[bos] tokens(text)` (+ `[eos]`) per text, cut to the scorer's context, and how many were cut."""
        token_ids = self.tokenizer(list(texts), add_special_tokens=False)["input_ids"]
        sequences = [[self.bos_id, *ids, *([self.eos_id] if eos else [])] for ids in token_ids]
        if self.max_length is None:
            return sequences, 0
        return [seq[: self.max_length] for seq in sequences], sum(len(seq) > self.max_length for seq in sequences)

    def _batches(self, sequences: list[list[int]]) -> Iterator[tuple[torch.Tensor, torch.Tensor, torch.Tensor]]:
        """(row indices, input ids, attention mask) on the scorer's device, right-padded; similar lengths share a
        batch, so little compute goes into padding. The pad id is never attended to nor scored."""
        order = sorted(range(len(sequences)), key=lambda index: len(sequences[index]))
        for start in range(0, len(order), self.batch_size):
            rows = torch.tensor(order[start: start + self.batch_size])
            batch = [sequences[index] for index in rows.tolist()]
            width = max(len(seq) for seq in batch)
            attention_mask = torch.arange(width)[None, :] < torch.tensor([len(seq) for seq in batch])[:, None]
            input_ids = torch.tensor([seq + [self.eos_id] * (width - len(seq)) for seq in batch])
            yield rows, input_ids.to(self.device), attention_mask.to(self.device)


def perplexity_under(
    texts: Sequence[str], *, name_or_path: str, device: str = "cpu", batch_size: int = 32
) -> PerplexityResult:
    """Load the scorer LM `name_or_path` and return the perplexity of `texts` under it."""
    return ScorerLM(name_or_path=name_or_path, device=device, batch_size=batch_size).perplexity(texts)
