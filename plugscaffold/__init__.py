"""plugscaffold: generate standalone, checked PyTorch models with published plug-ins wired in."""

__version__ = "0.1.0"
