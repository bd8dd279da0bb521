"""hw2: Deep Learning (IST 2023/24) Homework 2 as a library.

Importing this package does no work: models, data loaders, metrics and the
maths live in submodules (``hw2.q1.attention``, ``hw2.q1.symbolic``, ...).
"""

__all__ = ["__version__"]
__version__ = "0.1.0"
