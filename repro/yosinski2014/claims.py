"""The rules that judge the nine checkable claims of Yosinski et al. 2014 (papers/yosinski2014/claims.csv).

Each rule implements, word for word, the ``rule`` column of
papers/yosinski2014/claims.csv for its id, and returns ``(holds, evidence)``.
Notation (as in papers/yosinski2014/README.md, "Claim rules"):

- ``baseB``: mean of all random-split base nets, N of them;
- ``rel(c, n) = mean(c, n) - baseB``, mean over the m_n networks of
  condition c at n (AnB pools both directions);
- a range such as ``AnB(3-5)`` pools every network with n in the range,
  M of them, as Table 1 does;
- ``se(m1, m2, ...) = sigma * sqrt(1/m1 + 1/m2 + ...)``, sigma the noise
  unit of :class:`~repro.yosinski2014.compare.Networks` (the std of the
  random-split base nets on ImageNet, the seed noise of replicate base nets
  at mini; floored), the standard error of a difference of means; "within
  noise" means within 2 se;
- at mini and smoke scale every accuracy is target-matched (relative to its
  own target's base net, re-centred on baseB; see ``Networks``), because the
  5/5 halves are not exchangeable; Y-C7 compares targets and reads raw values.

The rules compare signs, orderings and gaps relative to baseB, so they apply
at any scale; a rule raises NotMeasured when a network it needs is absent.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable

from repro.compare import NotMeasured

if TYPE_CHECKING:
    from repro.yosinski2014.compare import Networks

SPLITS = "random_splits"
NATMAN = "natman"
WHOLE = "random_features"


class _Checks:
    """Collects the parts of a rule; the claim holds iff every part holds."""

    def __init__(self, nets: Networks, header: str):
        self.parts = [header, f"sigma {nets.sigma:.4f}"]
        self.ok = True

    def add(self, ok: bool, text: str) -> None:
        self.ok = self.ok and bool(ok)
        self.parts.append(f"{text} {'✓' if ok else '✗'}")

    def result(self) -> tuple[bool, str]:
        return self.ok, "; ".join(self.parts)


def _require(nets: Networks, experiment: str, condition: str, ns: Iterable[int],
             targets: Iterable[str] | None = None) -> None:
    """NotMeasured unless ``condition`` has at least one network at every n (into every target)."""
    for group in ([None] if targets is None else [[t] for t in targets]):
        missing = [n for n in ns if len(nets.values(experiment, condition, [n], group)) == 0]
        if missing:
            into = "" if group is None else f" into {group[0]}"
            raise NotMeasured(f"no {condition} runs{into} in {experiment} at n = "
                              + ", ".join(str(n) for n in missing))


def _signed(value: float) -> str:
    """``+0.0123``: four decimals with a sign, and never ``-0.0000``."""
    return f"{round(value, 4) + 0.0:+.4f}"


def _span(lo: int, hi: int) -> range:
    return range(lo, hi + 1)


def _base(nets: Networks) -> tuple[float, int, str]:
    base, n_base = nets.base_b()
    return base, n_base, f"baseB {base:.4f} (N={n_base})"


def claim_c1(nets: Networks) -> tuple[bool, str]:
    """Y-C1, §4.1 item 2: BnB matches baseB at n = 1-2, drops in the middle, recovers by n = 7."""
    _require(nets, SPLITS, "BnB", nets.layers)
    base, n_base, header = _base(nets)
    stats = {n: nets.pooled(SPLITS, "BnB", [n]) for n in nets.layers}
    rel = {n: mean - base for n, (mean, _) in stats.items()}
    check = _Checks(nets, header)
    for n in (1, 2):
        tol = 2 * nets.se(stats[n][1], n_base)
        check.add(abs(rel[n]) <= tol, f"(a) rel(BnB,{n}) {_signed(rel[n])} within ±{tol:.4f}")
    worst = min(nets.layers, key=rel.__getitem__)
    tol = 2 * nets.se(stats[worst][1], n_base)
    check.add(worst in (3, 4, 5, 6) and rel[worst] < -tol,
              f"(b) worst n={worst} (3-6 required) {_signed(rel[worst])} < {_signed(-tol)}")
    check.add(rel[7] >= rel[worst] / 2, f"(c) rel(BnB,7) {_signed(rel[7])} >= {_signed(rel[worst] / 2)}")
    return check.result()


def claim_c2(nets: Networks) -> tuple[bool, str]:
    """Y-C2, §4.1 item 3: BnB+ stays within noise of baseB at every n."""
    _require(nets, SPLITS, "BnB+", nets.layers)
    base, n_base, header = _base(nets)
    check = _Checks(nets, header)
    for n in nets.layers:
        mean, m = nets.pooled(SPLITS, "BnB+", [n])
        tol = 2 * nets.se(m, n_base)
        check.add(abs(mean - base) <= tol, f"n={n} {_signed(mean - base)} within ±{tol:.4f}")
    return check.result()


def claim_c3(nets: Networks) -> tuple[bool, str]:
    """Y-C3, §4.1 item 4: AnB shape; specificity (AnB - BnB) grows with n, co-adaptation dominates at 3-5."""
    _require(nets, SPLITS, "AnB", nets.layers)
    _require(nets, SPLITS, "BnB", nets.layers)
    base, n_base, header = _base(nets)
    check = _Checks(nets, header)
    low, m_low = nets.pooled(SPLITS, "AnB", _span(1, 2))
    tol = 2 * nets.se(m_low, n_base)
    check.add(abs(low - base) <= tol, f"(a) AnB(1-2) - baseB {_signed(low - base)} within ±{tol:.4f}")
    rel = {}
    for n in nets.layers:
        mean, m = nets.pooled(SPLITS, "AnB", [n])
        rel[n] = mean - base
        if n >= 4:
            tol = 2 * nets.se(m, n_base)
            check.add(rel[n] < -tol, f"(b) rel(AnB,{n}) {_signed(rel[n])} < {_signed(-tol)}")
    deeper = max(rel[n] for n in range(4, 8))
    check.add(rel[3] > deeper, f"(c) rel(AnB,3) {_signed(rel[3])} > max over n=4-7 {_signed(deeper)}")
    gap, coad, counts = {}, {}, {}
    for lo, hi in ((1, 2), (3, 5), (6, 7)):
        anb, m_anb = nets.pooled(SPLITS, "AnB", _span(lo, hi))
        bnb, m_bnb = nets.pooled(SPLITS, "BnB", _span(lo, hi))
        gap[lo], coad[lo], counts[lo] = anb - bnb, bnb - base, (m_anb, m_bnb)
    tol = 2 * nets.se(*counts[6])
    check.add(gap[1] > gap[3] > gap[6] and gap[6] < -tol,
              f"(d) g(1-2) {_signed(gap[1])} > g(3-5) {_signed(gap[3])} > g(6-7) {_signed(gap[6])}, g(6-7) < {_signed(-tol)}")
    check.add(-gap[6] > -coad[6] and -coad[3] > -gap[3],
              f"(e) at 6-7 specificity {-gap[6]:.4f} > co-adaptation {-coad[6]:.4f}; "
              f"at 3-5 co-adaptation {-coad[3]:.4f} > specificity {-gap[3]:.4f}")
    return check.result()


def claim_c4(nets: Networks) -> tuple[bool, str]:
    """Y-C4, §4.1 item 5 and Table 1: AnB+ beats baseB and BnB+ at every n."""
    _require(nets, SPLITS, "AnB+", nets.layers)
    _require(nets, SPLITS, "BnB+", nets.layers)
    base, n_base, header = _base(nets)
    check = _Checks(nets, header)
    margins = []
    for n in nets.layers:
        anbp, _ = nets.pooled(SPLITS, "AnB+", [n])
        bnbp, _ = nets.pooled(SPLITS, "BnB+", [n])
        margins.append((anbp - base, anbp - bnbp))
    check.add(min(min(m) for m in margins) > 0, "(a) AnB+ - baseB / AnB+ - BnB+ at n=1-7: "
              + ", ".join(f"{_signed(a)}/{_signed(b)}" for a, b in margins))
    boosts = []
    for lo in (1, 3, 5):
        mean, m = nets.pooled(SPLITS, "AnB+", _span(lo, 7))
        boosts.append((lo, mean - base, m))
    _, boost, m = boosts[0]
    tol = 2 * nets.se(m, n_base)
    check.add(boost > tol, f"(b) Table 1 boost over layers 1-7 {100 * boost:+.2f} pts > {100 * tol:.2f}")
    check.parts.append("not judged: boost over 3-7 {:+.2f}, 5-7 {:+.2f} pts".format(
        100 * boosts[1][1], 100 * boosts[2][1]))
    return check.result()


def claim_c5(nets: Networks) -> tuple[bool, str]:
    """Y-C5, §4.1 item 5: the BnB+ control, trained as long as AnB+, gets no boost."""
    _require(nets, SPLITS, "AnB+", nets.layers)
    _require(nets, SPLITS, "BnB+", nets.layers)
    base, n_base, header = _base(nets)
    check = _Checks(nets, header)
    anbp, m_a = nets.pooled(SPLITS, "AnB+", _span(1, 7))
    bnbp, m_b = nets.pooled(SPLITS, "BnB+", _span(1, 7))
    tol = 2 * nets.se(m_a, m_b)
    check.add(anbp - bnbp > tol, f"(a) AnB+(1-7) - BnB+(1-7) {100 * (anbp - bnbp):+.2f} pts > {100 * tol:.2f}")
    tol = 2 * nets.se(m_b, n_base)
    check.add(abs(bnbp - base) <= tol, f"(b) BnB+(1-7) - baseB {_signed(bnbp - base)} within ±{tol:.4f}")
    return check.result()


def _natman_rel(nets: Networks, ns: Iterable[int]) -> tuple[float, int, int]:
    """AnB on the natman split (both targets pooled) minus the pooled natman base nets, with counts."""
    ns = list(ns)
    anb, m = nets.pooled(NATMAN, "AnB", ns)
    base, n_base = nets.pooled(NATMAN, "base", [0])
    return anb - base, m, n_base


def claim_c6(nets: Networks) -> tuple[bool, str]:
    """Y-C6, §4.3 and Figure 3 bottom: the dissimilar-split drop grows faster with n."""
    _require(nets, SPLITS, "AnB", nets.layers)
    _require(nets, NATMAN, "AnB", nets.layers)
    base, n_base, header = _base(nets)
    check = _Checks(nets, header)

    def d(lo: int, hi: int) -> tuple[float, float, float, float]:
        """(d, rel natman, rel random split, se of d) over layers lo..hi."""
        nat, m_nat, n_nat = _natman_rel(nets, _span(lo, hi))
        anb, m = nets.pooled(SPLITS, "AnB", _span(lo, hi))
        return nat - (anb - base), nat, anb - base, nets.se(m_nat, n_nat, m, n_base)

    d7, nat7, split7, se7 = d(7, 7)
    check.add(d7 < -2 * se7, f"(a) at n=7 natman {_signed(nat7)} vs random split {_signed(split7)}: "
              f"d {_signed(d7)} < {_signed(-2 * se7)}")
    d12, d35, d67 = d(1, 2)[0], d(3, 5)[0], d(6, 7)[0]
    check.add(d12 > d35 > d67, f"(b) d(1-2) {_signed(d12)} > d(3-5) {_signed(d35)} > d(6-7) {_signed(d67)}")
    return check.result()


def claim_c7(nets: Networks) -> tuple[bool, str]:
    """Y-C7, §4.2 and Figure 3 top left: natmanA (natural) is the easier target at every n.

    An absolute comparison between targets, so it reads the accuracies as measured, never target-matched.
    """
    _require(nets, NATMAN, "base", [0], ["natmanA", "natmanB"])
    _require(nets, NATMAN, "AnB", nets.layers, ["natmanA", "natmanB"])
    a, m_a = nets.pooled(NATMAN, "base", [0], ["natmanA"], raw=True)
    b, m_b = nets.pooled(NATMAN, "base", [0], ["natmanB"], raw=True)
    check = _Checks(nets, f"base natmanA {a:.4f}, natmanB {b:.4f}")
    tol = 2 * nets.se(m_a, m_b)
    check.add(a - b > tol, f"(a) difference {_signed(a - b)} > {tol:.4f}")
    gaps = [nets.pooled(NATMAN, "AnB", [n], ["natmanA"], raw=True)[0]
            - nets.pooled(NATMAN, "AnB", [n], ["natmanB"], raw=True)[0] for n in nets.layers]
    check.add(min(gaps) > 0, "(b) AnB into natmanA minus into natmanB, n=1-7: "
              + " ".join(f"{_signed(g)}" for g in gaps))
    return check.result()


def claim_c8(nets: Networks) -> tuple[bool, str]:
    """Y-C8, §4.3 and Figure 3: random frozen layers fall at n = 1-2, near chance from n = 3, below transfer."""
    _require(nets, WHOLE, "random_frozen", nets.layers)
    _require(nets, SPLITS, "AnB", nets.layers)
    _require(nets, NATMAN, "AnB", nets.layers)
    whole, n_whole = nets.pooled(WHOLE, "base", [0])
    base, n_base, header = _base(nets)
    check = _Checks(nets, f"{header}, whole-task base {whole:.4f} (N={n_whole})")
    rel_rf = {}
    for n in nets.layers:
        mean, m = nets.pooled(WHOLE, "random_frozen", [n])
        rel_rf[n] = (mean, mean - whole, m)
    for n in (1, 2):
        tol = 2 * nets.se(rel_rf[n][2], n_whole)
        check.add(rel_rf[n][1] < -tol, f"(a) rel_rf({n}) {_signed(rel_rf[n][1])} < {_signed(-tol)}")
    chance = nets.chance()
    ceiling = chance + 0.1 * (whole - chance)
    deep = [rel_rf[n][0] for n in range(3, 8)]
    check.add(max(deep) <= ceiling, f"(b) random_frozen(3-7) max {max(deep):.4f} <= {ceiling:.4f} "
              f"(chance {chance:.4f})")
    beaten = []
    for n in nets.layers:
        anb, m = nets.pooled(SPLITS, "AnB", [n])
        nat, m_nat, n_nat = _natman_rel(nets, [n])
        rf, m_rf = rel_rf[n][1], rel_rf[n][2]
        ok = (anb - base - rf > 2 * nets.se(m, n_base, m_rf, n_whole)
              and nat - rf > 2 * nets.se(m_nat, n_nat, m_rf, n_whole))
        beaten.append(ok)
        if not ok:
            check.add(False, f"(c) n={n}: rel AnB {_signed(anb - base)}, natman {_signed(nat)}, random {_signed(rf)}")
    if all(beaten):
        check.add(True, "(c) transfer (random split and natman) above random features by > 2se at n=1-7")
    return check.result()


def claim_c9(nets: Networks) -> tuple[bool, str]:
    """Y-C9, §4.1 item 1: a half-task base net beats the whole-task base net."""
    whole, n_whole = nets.pooled(WHOLE, "base", [0])
    base, n_base, header = _base(nets)
    check = _Checks(nets, f"{header}, whole-task base {whole:.4f} (N={n_whole})")
    tol = 2 * nets.se(n_base, n_whole)
    check.add(base - whole > tol, f"baseB - whole {_signed(base - whole)} > {tol:.4f}")
    return check.result()


RULES: dict[str, Callable[[Networks], tuple[bool, str]]] = {
    "Y-C1": claim_c1, "Y-C2": claim_c2, "Y-C3": claim_c3, "Y-C4": claim_c4, "Y-C5": claim_c5,
    "Y-C6": claim_c6, "Y-C7": claim_c7, "Y-C8": claim_c8, "Y-C9": claim_c9,
}
"""Claim id -> rule, one per row of papers/yosinski2014/claims.csv."""
