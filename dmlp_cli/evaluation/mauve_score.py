"""MAUVE: the gap between the distributions of model samples and human text.

MAUVE (Pillutla et al., 2021) embeds both text sets with a featurizing LM,
quantizes the embeddings into clusters, and measures the area under the
divergence curve between the two cluster histograms P (human) and Q (model):
1 means indistinguishable, near 0 means far apart. It needs the optional extra
`pip install 'dmlp[mauve]'` (package `mauve-text`, module `mauve`), imported
only here, so the rest of dmlp works without it.
"""

from collections.abc import Sequence

from dmlp_cli.errors import DmlpError


def mauve_score(
    p_texts: Sequence[str],
    q_texts: Sequence[str],
    *,
    featurize_model_name: str = "gpt2-large",
    device_id: int = -1,
    max_text_length: int = 256,
    seed: int = 25,
) -> float:
    """MAUVE in [0, 1] between reference texts `p_texts` and generated texts `q_texts`; device_id -1 is CPU."""
    try:
        import mauve
    except ImportError as err:
        raise DmlpError("MAUVE needs the optional extra: pip install 'dmlp[mauve]'") from err
    result = mauve.compute_mauve(
        p_text=list(p_texts),
        q_text=list(q_texts),
        featurize_model_name=featurize_model_name,
        device_id=device_id,
        max_text_length=max_text_length,
        seed=seed,
    )
    return float(result.mauve)
