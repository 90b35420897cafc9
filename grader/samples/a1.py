"""Assignment 1's buggy sample: three realistic derivative mistakes, two of them the seeds' own."""

BUGGY_CELLS = {
    # d tr(AB)/dA written as B: the entry b_qp read as b_pq
    "grad_trace_AB_solution": '''
def grad_trace_AB(A, B):
    """Gradient of y = tr(A B) with respect to A (n x m), for B of shape (m x n)."""
    return B
'''.strip(),
    # the factor 2 of d||q||^2/dq lost (seed 004 garbles it into "2^k")
    "grad_normWx_W_solution": '''
def grad_normWx_W(W, x):
    """Gradient of f = ||W x||^2 with respect to W (m x n), for x (n,)."""
    q = W @ x
    return np.outer(q, x)
'''.strip(),
    # seed 003's answer, -2 (X - AS) A^T: the wrong shape, and factorize inherits it
    "grad_J_S_solution": '''
def grad_J_S(X, A, S):
    """dJ/dS (R x M) for J = ||X - A S||_F^2, X (N x M), A (N x R), S (R x M)."""
    return -2 * (X - A @ S) @ A.T
'''.strip(),
}
BUGGY_MODULES = {}
BUGGY_LOSES = {"grad_trace_AB", "grad_normWx_W", "factorization_grad_S", "factorize"}
