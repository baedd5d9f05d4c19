"""dmlp: train, sample and score text diffusion models from YAML configs."""

__version__ = "0.1.0"
