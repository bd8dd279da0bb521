"""SymPy derivations for Q1: feature-space size, kernel identity, positivity, costs.

Every function returns SymPy objects (or booleans established by SymPy), so the
tests can check them and the Q1 experiment can print them with ``sympy.latex``.
"""

from __future__ import annotations

import itertools
import math

import sympy as sp

D, K, L, M = sp.symbols("D K L M", positive=True, integer=True)
n = sp.Symbol("n", integer=True, nonnegative=True)
t = sp.Symbol("t", real=True)


# feature-space size ----------------------------------------------------------

def monomial_count(degree: int | sp.Expr = n) -> sp.Expr:
    """Return the number of monomials of ``degree`` in D variables: C(D+n-1, n)."""
    return sp.binomial(D + degree - 1, degree)


def feature_dim_sum() -> sp.Sum:
    """Return M(D, K) as the unevaluated sum over degrees 0..K-1 of monomial counts."""
    return sp.Sum(monomial_count(n), (n, 0, K - 1))


def feature_dim_closed() -> sp.Expr:
    """Return the closed form C(D+K-1, K-1) of M(D, K)."""
    return sp.binomial(D + K - 1, K - 1)


def feature_dim_tensor() -> sp.Sum:
    """Return the tensor-product map's dimension sum_{n<K} D^n (unevaluated)."""
    return sp.Sum(D**n, (n, 0, K - 1))


def feature_dim_k3() -> sp.Expr:
    """Return M(D) for three terms, 1 + D + D(D+1)/2, as a factored polynomial."""
    return sp.factor(sp.expand_func(feature_dim_closed().subs(K, 3)))


def seed_feature_dim() -> sp.Expr:
    """Return the seed report's M = 1 + D + D(D-1)/2 (it leaves out the squares x_i^2)."""
    return 1 + D + D * (D - 1) / 2


def closed_form_holds_symbolically() -> bool:
    """Check with SymPy's summation that sum_{n<K} C(D+n-1, n) = C(D+K-1, K-1) for symbolic D, K."""
    summed = feature_dim_sum().doit()
    ratio = sp.gammasimp((summed / feature_dim_closed()).rewrite(sp.gamma))
    return sp.simplify(ratio) == 1


def closed_form_holds_for(k: int) -> bool:
    """Check the closed form as a polynomial identity in D for a fixed number of terms k."""
    summed = sum(sp.expand_func(monomial_count(j)) for j in range(k))
    return sp.expand(summed - sp.expand_func(feature_dim_closed().subs(K, k))) == 0


def pascal_step_holds() -> bool:
    """Check the induction step C(D+K-1, K-1) + C(D+K-1, K) = C(D+K, K) for symbolic D, K."""
    lhs = sp.binomial(D + K - 1, K - 1) + sp.binomial(D + K - 1, K)
    rhs = sp.binomial(D + K, K)
    return sp.simplify(sp.gammasimp((lhs / rhs).rewrite(sp.gamma))) == 1


# kernel identity ---------------------------------------------------------------

def symbolic_vectors(dim: int) -> tuple[list[sp.Symbol], list[sp.Symbol]]:
    """Return symbolic vectors q = (q_1..q_D), k = (k_1..k_D)."""
    return list(sp.symbols(f"q1:{dim + 1}", real=True)), list(sp.symbols(f"k1:{dim + 1}", real=True))


def symbolic_features(x: list[sp.Expr], terms: int, form: str = "symmetric") -> list[sp.Expr]:
    """Return phi_K(x) for a symbolic vector: monomials / sqrt(a!) (symmetric) or Kronecker powers."""
    feats: list[sp.Expr] = [sp.Integer(1)]
    for degree in range(1, terms):
        if form == "symmetric":
            for combo in itertools.combinations_with_replacement(range(len(x)), degree):
                weight = sp.prod([sp.factorial(combo.count(i)) for i in set(combo)])
                feats.append(sp.prod([x[i] for i in combo]) / sp.sqrt(weight))
        elif form == "tensor":
            for combo in itertools.product(range(len(x)), repeat=degree):
                feats.append(sp.prod([x[i] for i in combo]) / sp.sqrt(sp.factorial(degree)))
        else:
            raise ValueError(f"unknown form {form!r}")
    return feats


def seed_features(x: list[sp.Expr]) -> list[sp.Expr]:
    """Return the seed report's map: 1, x_i, and x_i x_j for i < j only (no squares)."""
    pairs = [x[i] * x[j] for i, j in itertools.combinations(range(len(x)), 2)]
    return [sp.Integer(1), *x, *pairs]


def truncated_exp(s: sp.Expr, terms: int) -> sp.Expr:
    """Return sum_{n<terms} s^n / n!."""
    return sum(s**j / sp.factorial(j) for j in range(terms))


def kernel_residual(dim: int, terms: int, form: str = "symmetric") -> sp.Expr:
    """Return expand(phi(q).phi(k) - sum_{n<K} (q.k)^n/n!): zero exactly when the map is right."""
    q, k = symbolic_vectors(dim)
    phi_q, phi_k = symbolic_features(q, terms, form), symbolic_features(k, terms, form)
    dot = sum(a * b for a, b in zip(q, k))
    return sp.expand(sum(a * b for a, b in zip(phi_q, phi_k)) - truncated_exp(dot, terms))


def seed_kernel_residual(dim: int) -> sp.Expr:
    """Return the residual of the seed report's map against 1 + q.k + (q.k)^2/2."""
    q, k = symbolic_vectors(dim)
    phi_q, phi_k = seed_features(q), seed_features(k)
    dot = sum(a * b for a, b in zip(q, k))
    return sp.expand(sum(a * b for a, b in zip(phi_q, phi_k)) - truncated_exp(dot, 3))


def multinomial_identity_holds(dim: int, degree: int) -> bool:
    """Check (q.k)^n / n! = sum_{|a|=n} q^a k^a / a! (the summation identity behind phi)."""
    q, k = symbolic_vectors(dim)
    total = sp.Integer(0)
    for combo in itertools.combinations_with_replacement(range(dim), degree):
        alpha = [combo.count(i) for i in range(dim)]
        term = sp.prod([(q[i] * k[i]) ** a / sp.factorial(a) for i, a in enumerate(alpha)])
        total += term
    dot = sum(a * b for a, b in zip(q, k))
    return sp.expand(dot**degree / sp.factorial(degree) - total) == 0


# positivity of the normaliser ------------------------------------------------------

def taylor_polynomial(terms: int) -> sp.Expr:
    """Return P_K(t) = sum_{n<K} t^n / n!."""
    return truncated_exp(t, terms)


def k3_completed_square() -> sp.Expr:
    """Return ((t+1)^2 + 1)/2, which SymPy checks equals 1 + t + t^2/2."""
    return ((t + 1) ** 2 + 1) / 2


def polynomial_minimum(terms: int) -> tuple[sp.Expr, sp.Expr] | None:
    """Return (argmin, min) of P_K over the reals, or None when P_K is unbounded below."""
    poly = sp.Poly(taylor_polynomial(terms), t)
    if poly.degree() % 2 == 1:
        return None
    critical = [r for r in sp.real_roots(sp.Poly(sp.diff(poly.as_expr(), t), t))]
    values = [(r, poly.as_expr().subs(t, r)) for r in critical]
    return min(values, key=lambda rv: float(rv[1]))


def is_positive_everywhere(terms: int) -> bool:
    """Return True when P_K(t) > 0 for every real t (SymPy: no real roots, positive leading term)."""
    poly = sp.Poly(taylor_polynomial(terms), t)
    return len(sp.real_roots(poly)) == 0 and poly.LC() > 0


def negative_witness(terms: int) -> tuple[sp.Expr, sp.Expr] | None:
    """Return a point t0 (the real root minus one) with P_K(t0) < 0, or None when P_K > 0."""
    roots = sp.real_roots(sp.Poly(taylor_polynomial(terms), t))
    if not roots:
        return None
    t0 = sp.floor(min(roots)) - 1
    return t0, taylor_polynomial(terms).subs(t, t0)


# costs ---------------------------------------------------------------------------

def exact_cost_terms() -> dict[str, sp.Expr]:
    """Multiply-adds of Softmax(QK^T)V by step: QK^T (L^2 D), softmax (~L^2), times V (L^2 D)."""
    return {"scores": L**2 * D, "softmax": L**2, "weighted sum": L**2 * D}


def exact_cost() -> sp.Expr:
    """Multiply-adds of Softmax(QK^T)V: 2 L^2 D + L^2."""
    return sum(exact_cost_terms().values())


def linear_cost_terms() -> dict[str, sp.Expr]:
    """Multiply-adds of D^-1 Phi(Q)(Phi(K)^T V) by step (the feature map itself not counted)."""
    return {"Phi(K)^T V": L * M * D, "Phi(K)^T 1": L * M, "Phi(Q) kv": L * M * D, "Phi(Q) k_sum": L * M,
            "division": L * D}


def linear_cost() -> sp.Expr:
    """Multiply-adds of D^-1 Phi(Q)(Phi(K)^T V): two L M D products, two L M sums, L D divisions."""
    return sum(linear_cost_terms().values())


def quadratic_taylor_cost() -> sp.Expr:
    """Multiply-adds of D^-1 (Phi(Q)Phi(K)^T) V evaluated left to right."""
    return L**2 * M + L**2 * D + L**2


def crossover_length() -> sp.Expr:
    """Return the L at which exact_cost = linear_cost (solved by SymPy)."""
    solutions = sp.solve(sp.Eq(exact_cost(), linear_cost()), L)
    positive = [s for s in solutions if s != 0]
    return sp.simplify(positive[0])


def crossover_at(dim: int, terms: int = 3) -> float:
    """Return the predicted crossover length for concrete D and K (symmetric map)."""
    m = math.comb(dim + terms - 1, terms - 1)
    return float(crossover_length().subs({D: dim, M: m}))
