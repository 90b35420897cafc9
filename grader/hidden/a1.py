"""Assignment 1's hidden tests: each public check id on the public cases plus harder ones.

The checks have no reference implementation (the oracle is the numerical gradient, or the loss
the check computes), so the hidden variant differs only in its inputs: other seeds, tall and
wide shapes, square shapes (where a transposed answer has the right shape but wrong values) and
edge sizes (one row, one column, rank one).
"""
from grader.hidden import with_extra_cases
from grader.nncheck import a1 as public

_XAC = ((10, {"n": 5, "m": 2}), (11, {"n": 2, "m": 6}), (12, {"n": 5, "m": 5}),
        (13, {"n": 1, "m": 3}), (14, {"n": 4, "m": 1}))
_WX = ((10, {"m": 5, "n": 2}), (11, {"m": 2, "n": 6}), (12, {"m": 5, "n": 5}),
       (13, {"m": 1, "n": 3}), (14, {"m": 4, "n": 1}))
_QUAD = ((10, {"b": 1, "m": 2, "n": 4}), (11, {"b": 6, "m": 4, "n": 2}),
         (12, {"b": 5, "m": 4, "n": 4}), (13, {"b": 2, "m": 5, "n": 3}),
         (14, {"b": 3, "m": 1, "n": 1}))
_FACT = ((10, {"N": 6, "M": 3, "R": 2}), (11, {"N": 2, "M": 7, "R": 3}),
         (12, {"N": 4, "M": 4, "R": 4}), (13, {"N": 5, "M": 5, "R": 1}),
         (14, {"N": 1, "M": 6, "R": 2}))

EXTRA = {
    "grad_xtx": ((10, {"n": 3}), (11, {"n": 8}), (12, {"n": 2})),
    "grad_trace_AB": ((10, {"n": 5, "m": 2}), (11, {"n": 1, "m": 4}), (12, {"n": 6, "m": 6}),
                      (13, {"n": 2, "m": 7}), (14, {"n": 3, "m": 3})),
    "grad_xAc_x": _XAC,
    "grad_xAc_A": _XAC,
    "grad_normWx_W": _WX,
    "grad_normWx_x": _WX,
    "quadform_grad_x": _QUAD,
    "quadform_grad_W": _QUAD,
    "factorization_grad_A": _FACT,
    "factorization_grad_S": _FACT,
    "factorize": ((10, {"N": 30, "M": 12, "R": 4}), (11, {"N": 15, "M": 15, "R": 3}),
                  (12, {"N": 12, "M": 40, "R": 3}), (13, {"N": 25, "M": 20, "R": 1}),
                  (14, {"N": 40, "M": 10, "R": 3})),
}


cases, evaluate, run = with_extra_cases(public, EXTRA)
