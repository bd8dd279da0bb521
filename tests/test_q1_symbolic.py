"""Q1 derivations checked with SymPy."""

from __future__ import annotations

import sympy as sp

from hw2.q1 import symbolic as sym


def test_m_k3_is_D_plus_1_times_D_plus_2_over_2():
    assert sp.expand(sym.feature_dim_k3() - (sym.D + 1) * (sym.D + 2) / 2) == 0


def test_closed_form_of_the_sum():
    assert sym.closed_form_holds_symbolically()
    assert all(sym.closed_form_holds_for(k) for k in range(1, 7))
    assert sym.pascal_step_holds()


def test_kernel_identity_symbolic_both_forms():
    for form in ("symmetric", "tensor"):
        for dim in (1, 2, 3):
            for terms in (1, 2, 3, 4):
                assert sym.kernel_residual(dim, terms, form) == 0, (form, dim, terms)


def test_dimension_of_symbolic_map_equals_closed_form():
    for dim in (1, 2, 3, 4):
        for terms in (1, 2, 3, 4):
            x = list(sp.symbols(f"x1:{dim + 1}"))
            expected = sym.feature_dim_closed().subs({sym.D: dim, sym.K: terms})
            assert len(sym.symbolic_features(x, terms)) == expected


def test_seed_formula_fails_the_identity():
    # The seed's M = 1 + D + D(D-1)/2 drops the squares x_i^2: wrong count and wrong kernel.
    for dim in (2, 3):
        residual = sym.seed_kernel_residual(dim)
        assert residual != 0
        q, k = sym.symbolic_vectors(dim)
        expected = -sum(qi**2 * ki**2 for qi, ki in zip(q, k)) / 2
        assert sp.expand(residual - expected) == 0
    difference = sp.expand(sym.feature_dim_k3() - sym.seed_feature_dim())
    assert difference == sym.D  # exactly the D missing squares


def test_multinomial_identity():
    for dim in (2, 3):
        for degree in (1, 2, 3):
            assert sym.multinomial_identity_holds(dim, degree)


def test_normaliser_positivity():
    assert sp.simplify(sym.k3_completed_square() - sym.taylor_polynomial(3)) == 0
    argmin, minimum = sym.polynomial_minimum(3)
    assert argmin == -1 and minimum == sp.Rational(1, 2)
    assert sym.is_positive_everywhere(3) and sym.is_positive_everywhere(5)
    assert not sym.is_positive_everywhere(4) and not sym.is_positive_everywhere(2)
    t0, value = sym.negative_witness(4)
    assert value < 0 and value == sym.taylor_polynomial(4).subs(sym.t, t0)


def test_crossover_solves_cost_equality():
    L_star = sym.crossover_length()
    assert sp.simplify(sym.exact_cost().subs(sym.L, L_star) - sym.linear_cost().subs(sym.L, L_star)) == 0
    # with M = (D+1)(D+2)/2 the crossover is L* = M to leading order in D
    ratio = (L_star / sym.M).subs(sym.M, sym.feature_dim_k3())
    assert sp.limit(ratio, sym.D, sp.oo) == 1
    assert 150 < sym.crossover_at(16) < 160


def test_cost_terms_add_up_to_the_costs():
    assert sp.expand(sum(sym.exact_cost_terms().values()) - (2 * sym.L**2 * sym.D + sym.L**2)) == 0
    expected = 2 * sym.L * sym.M * sym.D + 2 * sym.L * sym.M + sym.L * sym.D
    assert sp.expand(sum(sym.linear_cost_terms().values()) - expected) == 0
