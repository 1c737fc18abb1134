"""repro.verdicts helpers on closed-form cases."""
import math
from statistics import NormalDist

import pytest

from repro.verdicts import Z, ordered, selection_se


def test_ordered_holds_when_every_step_is_resolved():
    # means 3, 2, 1, each from replicates (m - 0.1, m + 0.1): se_of_mean 0.1, se of a step sqrt(0.02) = 0.141
    groups = [(n, (m - 0.1, m + 0.1)) for n, m in (("a", 3.0), ("b", 2.0), ("c", 1.0))]
    part = ordered("a", "a > b > c", groups)
    assert part.outcome == "holds"
    assert "a > b +1 ± 0.283" in part.evidence and "b > c +1 ± 0.283" in part.evidence
    assert ordered("a", "c < b < a", list(reversed(groups)), decreasing=False).outcome == "holds"


def test_ordered_reads_a_tie_as_inconclusive_with_the_detectable_step():
    groups = [("a", (2.9, 3.1)), ("b", (2.8, 3.0)), ("c", (0.9, 1.1))]  # a - b = 0.1 < 2 * 0.141
    part = ordered("a", "a > b > c", groups)
    assert part.outcome == "inconclusive"
    assert part.detectable == "a > b: steps below 0.283 cannot be told from noise here (a tie)"  # only the tie


def test_ordered_fails_on_any_reversal_beyond_noise_even_between_non_neighbours():
    # a > b and b > c are ties, but c beats a by 0.5 > 2 * 0.141
    groups = [("a", (0.9, 1.1)), ("b", (1.15, 1.35)), ("c", (1.4, 1.6))]
    part = ordered("a", "a > b > c", groups)
    assert part.outcome == "fails" and "reversed: c > a beyond noise" in part.evidence


def test_ordered_paired_uses_the_replicate_wise_differences():
    # the groups differ by exactly 1 in every replicate although the replicates spread widely: paired se 0
    a, b = (0.0, 10.0, 20.0), (-1.0, 9.0, 19.0)
    assert ordered("a", "a > b", [("a", a), ("b", b)], paired=True).outcome == "holds"
    assert ordered("a", "a > b", [("a", a), ("b", b)]).outcome == "inconclusive"  # unpaired: se 8.2
    with pytest.raises(ValueError, match="paired"):
        ordered("a", "a > b", [("a", a), ("b", b[:2])], paired=True)


def test_ordered_with_one_replicate_has_no_noise_estimate():
    part = ordered("a", "a > b", [("a", (2.0,)), ("b", (1.0,))])
    assert part.outcome == "inconclusive" and part.detectable == "no estimate of the noise"


def test_selection_se_is_the_bonferroni_z_over_two():
    assert selection_se(0.5, 1) == pytest.approx(0.5)
    tail = 1 - NormalDist().cdf(Z)
    for c in (2, 5, 10):
        z_c = NormalDist().inv_cdf(1 - tail / c)
        assert selection_se(1.0, c) == pytest.approx(z_c / Z)
        assert 1 - NormalDist().cdf(Z * selection_se(1.0, c)) == pytest.approx(tail / c)
    assert selection_se(1.0, 5) == pytest.approx(1.3041, abs=1e-4)
    with pytest.raises(ValueError):
        selection_se(1.0, 0)
