"""MAUVE: the gap between the distributions of model samples and human text.

MAUVE (Pillutla et al., 2021) embeds both text sets with a featurizing LM,
quantizes the embeddings into k-means clusters, and measures the area under the
divergence curve between the two cluster histograms P (human) and Q (model):
1 means indistinguishable, near 0 means far apart. The features come from the
scorer LM already loaded for perplexity (`ScorerLM.features`): the `mauve`
package's own featurizer would download gpt2-large from the hub. It needs the
optional extra `pip install 'dmlp[mauve]'` (package `mauve-text`, module
`mauve`), imported only here, so the rest of dmlp works without it.
"""

import importlib.util
import logging

import torch

from dmlp_cli.errors import DmlpError

INSTALL = "pip install 'dmlp[mauve]'"


def mauve_available() -> bool:
    """Whether the optional extra is installed (without importing it)."""
    return importlib.util.find_spec("mauve") is not None


def mauve_score(p_features: torch.Tensor, q_features: torch.Tensor, *, seed: int = 25) -> float:
    """MAUVE in [0, 1] between reference features `p_features` [n, d] and sample features `q_features` [m, d],
    with the package's defaults: max(2, round(min(n, m) / 10)) clusters of the PCA-reduced, L2-normalised
    features (90% of the variance kept), scaling constant c = 5; `seed` seeds k-means."""
    logging.getLogger("faiss.loader").setLevel(logging.WARNING)  # its CPU-feature probing is not news to a user
    try:
        import mauve
    except ImportError as err:
        raise DmlpError(f"MAUVE needs the optional extra: {INSTALL}") from err
    result = mauve.compute_mauve(p_features=p_features.numpy(), q_features=q_features.numpy(), seed=seed)
    return float(result.mauve)
