"""Public checks for the course's layers: numerical gradients, contract and property checks.

This package is shipped to students as ``nncheck`` (it imports only numpy, scipy and scikit-learn
and contains no reference solution); the hidden tests call the same functions with the
reference implementation passed in.
"""
from .gradcheck import numerical_gradient, rel_error
from .results import CheckResult

__all__ = ["CheckResult", "numerical_gradient", "rel_error"]
