"""Reconstruction BLEU: how faithfully a model reproduces its inputs.

Reconstruction BLEU is sacrebleu's corpus BLEU (0-100) of the hypotheses
against one reference each:

    BLEU = BP * exp(mean_{n=1..4} log p_n),   BP = min(1, exp(1 - ref_len / hyp_len))

where p_n is the clipped n-gram precision pooled over the whole corpus. The
texts are already tokenized and lowercased (tokens separated by spaces), so the
default tokenizer is "none": sacrebleu's own tokenizers would re-split them.
"""

from collections.abc import Sequence

from sacrebleu.metrics import BLEU


def corpus_bleu(hypotheses: Sequence[str], references: Sequence[str], *, tokenize: str = "none") -> float:
    """Corpus BLEU (0-100) of `hypotheses[i]` against its single reference `references[i]`."""
    if len(hypotheses) != len(references):
        raise ValueError(
            f"corpus_bleu got {len(hypotheses)} hypotheses but {len(references)} references; "
            "pass exactly one reference per hypothesis"
        )
    if not hypotheses:
        raise ValueError("corpus_bleu got no hypotheses; pass at least one hypothesis/reference pair")
    metric = BLEU(tokenize=tokenize, force=True)
    return metric.corpus_score(list(hypotheses), [list(references)]).score
