"""The rules that judge the nine checkable claims of Yosinski et al. 2014 (papers/yosinski2014/claims.csv).

Each rule implements the ``rule`` column of papers/yosinski2014/claims.csv for
its id and returns the claim's parts (:mod:`repro.verdicts`), one per
statement of the paper, labelled (a), (b), ... as in claims.csv.
Notation (papers/yosinski2014/README.md, "Claim rules"):

- ``rel(c, r)``: the mean accuracy of every network of condition c with n in
  the layer range r, minus its reference (baseB, the natman base nets, the
  whole-task net), pooled over networks as Table 1 pools; target-matched at
  the miniature scales (:meth:`Networks.rel`);
- every statistic is an :class:`~repro.yosinski2014.compare.Estimate` whose
  standard error counts the distinct base nets behind it (sigma, the noise of
  one network, per distinct base net; the same base net cancels in a
  difference);
- evidence is in accuracy points (100 x fraction), estimate ± 2 se, with the
  paper's value of the same statistic where the part uses it as ``claimed``.

The paper's sizes are the official logs' values behind Figures 2 and 3 and the
numbers of the text and Table 1 (published.csv); a rule raises NotMeasured
when a network it needs is absent.
"""
from __future__ import annotations

from typing import TYPE_CHECKING, Callable, Iterable, Sequence

from repro.compare import NotMeasured
from repro.verdicts import Part, all_of, at_most, greater, not_applicable, within

if TYPE_CHECKING:
    from repro.yosinski2014.compare import Estimate, Networks

SPLITS = "random_splits"
NATMAN = "natman"
WHOLE = "random_features"
LAYERS = tuple(range(1, 8))
PTS = " pts"

SAME = 0.01
"""Equivalence margin of "the same as / similar to / nearly back to / almost perfectly" (accuracy fraction):
half the smallest drop the paper calls a drop (BnB at n = 4, -2.03 points, Figure 2); it covers the largest
deviation the paper itself calls similar to the base case (BnB+ at n = 1, -0.74 points)."""

NO_BOOST = 0.008
"""Ceiling on the BnB+ control's gain over baseB (Y-C5 (b)): half the AnB+ boost over layers 1-7 (1.6 points,
Table 1). A control gaining half the boost would put half of it down to the longer training."""

NEAR_CHANCE = 0.1
""""Near chance" (Y-C8 (b)): at most a tenth of the way from chance to the whole-task base net. The paper calls
its n = 5 random net (0.0499, 8.5% of the way) near chance."""

# The paper's values (official logs behind Figure 2 and 3, published.csv): accuracy relative to the own base, n = 1..7.
PAPER_REL = {
    "BnB": (0.0016, -0.0016, -0.0040, -0.0203, -0.0316, -0.0063, -0.0019),
    "AnB": (0.0031, -0.0012, -0.0062, -0.0253, -0.0471, -0.0445, -0.0826),
    "BnB+": (-0.0074, -0.0036, 0.0062, 0.0036, 0.0050, 0.0025, 0.0015),
    "AnB+": (0.0122, 0.0107, 0.0175, 0.0147, 0.0195, 0.0209, 0.0213),
    "natman": (0.0029, -0.0093, -0.0324, -0.0733, -0.1295, -0.1657, -0.2501),
    "random_frozen": (-0.0846, -0.1737, -0.5752, -0.5573, -0.5264, -0.5618, -0.5617),
}
PAPER_ANBP = ((0.6373, 1), (0.6358, 2), (0.6426, 2), (0.6398, 2), (0.6446, 1), (0.6460, 1), (0.6465, 1))
"""AnB+ per n: (mean accuracy, networks), Figure 2 (top); pooled over networks as Table 1 pools."""
PAPER_NATMAN = {  # Figure 3 (top left): base (n = 0) and frozen AnB into each target, n = 1..7
    "natmanA": (0.6534, 0.6571, 0.6506, 0.6250, 0.5824, 0.5219, 0.4851, 0.3990),  # natural
    "natmanB": (0.5372, 0.5392, 0.5214, 0.5008, 0.4616, 0.4098, 0.3742, 0.2914),  # man-made
}
TABLE1 = {("AnB+ - base", "1-7"): 0.016, ("AnB+ - base", "5-7"): 0.021, ("AnB+ - BnB+", "1-7"): 0.014}
"""Table 1 (and §4.1 item 5 for the boosts over baseB), as printed."""
DROP_N7 = {"random_splits": 0.08, "natman": 0.25}
"""§4.3: the frozen-transfer drop at n = 7, "8% vs. 25%" (accuracy points / 100)."""
ERRORS = {"half": 0.375, "whole": 0.425}
"""§4.1 item 1: top-1 error of a random-half net and of the 1000-class net."""
RANGES = ((1, 2), (3, 5), (6, 7))
"""The layer ranges of §4.1 item 4: 1-2 transfer almost perfectly, 3-5 co-adaptation dominates, 6-7 specificity."""


def _paper_mean(condition: str, ns: Iterable[int]) -> float:
    """The paper's relative value pooled over ``ns`` (BnB, AnB, natman: equal network counts per n)."""
    ns = list(ns)
    return sum(PAPER_REL[condition][n - 1] for n in ns) / len(ns)


def _paper_anbp(ns: Iterable[int]) -> float:
    """The paper's AnB+ accuracy pooled over the networks with n in ``ns``."""
    rows = [PAPER_ANBP[n - 1] for n in ns]
    return sum(acc * count for acc, count in rows) / sum(count for _, count in rows)


def _span(lo: int, hi: int) -> tuple[int, ...]:
    return tuple(range(lo, hi + 1))


def _name(ns: Sequence[int]) -> str:
    return f"n={ns[0]}" if len(ns) == 1 else f"n={ns[0]}-{ns[-1]}"


def _greater(label: str, says: str, est: Estimate, claimed: float | None = None, what: str = "") -> Part:
    """:func:`repro.verdicts.greater` on an estimate, in accuracy points."""
    return greater(label, says, 100 * est.value, 100 * est.se,
                   claimed=None if claimed is None else 100 * claimed, unit=PTS, what=what)


def _within(label: str, says: str, est: Estimate, margin: float, what: str = "") -> Part:
    return within(label, says, 100 * est.value, 100 * est.se, 100 * margin, unit=PTS, what=what)


def _require(nets: Networks, experiment: str, condition: str, ns: Iterable[int],
             targets: Iterable[str] | None = None) -> None:
    """NotMeasured unless ``condition`` has at least one network at every n (into every target)."""
    for group in ([None] if targets is None else [[t] for t in targets]):
        missing = [n for n in ns if len(nets.values(experiment, condition, [n], group)) == 0]
        if missing:
            into = "" if group is None else f" into {group[0]}"
            raise NotMeasured(f"no {condition} runs{into} in {experiment} at n = "
                              + ", ".join(str(n) for n in missing))


def claim_c1(nets: Networks) -> list[Part]:
    """Y-C1, §4.1 item 2, Figure 2: BnB like baseB at n = 1-2, worse at 3-6 (most at 4-5), nearly back at 6-7."""
    _require(nets, SPLITS, "BnB", LAYERS)

    def rel(*ns: int) -> Estimate:
        return nets.rel(SPLITS, "BnB", ns)

    return [
        all_of("a", "BnB performs as well as baseB at n = 1 and 2",
               [_within(f"n={n}", "", rel(n), SAME, "BnB - baseB") for n in (1, 2)]),
        all_of("b", "BnB is worse than baseB at n = 3, 4, 5 and 6",
               [_greater(f"n={n}", "", -rel(n), -PAPER_REL["BnB"][n - 1], "baseB - BnB") for n in (3, 4, 5, 6)]),
        _greater("c", "the drop is largest at n = 4 and 5 ('particularly 4 and 5')", rel(3, 6) - rel(4, 5),
                 _paper_mean("BnB", (3, 6)) - _paper_mean("BnB", (4, 5)), "BnB(3,6) - BnB(4,5)"),
        all_of("d", "by n = 6 BnB is nearly back at baseB, as at n = 7",
               [_within(f"n={n}", "", rel(n), SAME, "BnB - baseB") for n in (6, 7)]),
    ]


def claim_c2(nets: Networks) -> list[Part]:
    """Y-C2, §4.1 item 3, Figure 2: fine-tuned selffers BnB+ perform like baseB at every n."""
    _require(nets, SPLITS, "BnB+", LAYERS)
    return [all_of("a", "BnB+ performs like baseB at every n = 1..7: fine-tuning prevents the BnB drop",
                   [_within(f"n={n}", "", nets.rel(SPLITS, "BnB+", (n,)), SAME, "BnB+ - baseB") for n in LAYERS])]


def claim_c3(nets: Networks) -> list[Part]:
    """Y-C3, §4.1 item 4, Figure 2: AnB near baseB at 1-2, a slight drop at 3, more at 4-7; specificity grows
    with n; co-adaptation dominates the drop at 3-5, specificity at 6-7."""
    _require(nets, SPLITS, "AnB", LAYERS)
    _require(nets, SPLITS, "BnB", LAYERS)

    def anb(*ns: int) -> Estimate:
        return nets.rel(SPLITS, "AnB", ns)

    def bnb(*ns: int) -> Estimate:
        return nets.rel(SPLITS, "BnB", ns)

    def spec(lo: int, hi: int) -> Estimate:  # specificity loss BnB - AnB
        return bnb(*_span(lo, hi)) - anb(*_span(lo, hi))

    def paper_spec(lo: int, hi: int) -> float:
        return _paper_mean("BnB", _span(lo, hi)) - _paper_mean("AnB", _span(lo, hi))

    def paper_coad(lo: int, hi: int) -> float:  # co-adaptation loss baseB - BnB
        return -_paper_mean("BnB", _span(lo, hi))

    steps = list(zip(RANGES, RANGES[1:]))
    return [
        all_of("a", "AnB transfers almost perfectly at n = 1 and 2",
               [_within(f"n={n}", "", anb(n), SAME, "AnB - baseB") for n in (1, 2)]),
        _greater("b", "AnB shows a slight drop at n = 3", -anb(3), -PAPER_REL["AnB"][2], "baseB - AnB(3)"),
        all_of("c", "AnB drops more at each n = 4..7 than at n = 3",
               [_greater(f"n={n}", "", anb(3) - anb(n), PAPER_REL["AnB"][2] - PAPER_REL["AnB"][n - 1],
                         f"AnB(3) - AnB({n})") for n in (4, 5, 6, 7)]),
        all_of("d", "the specificity loss BnB - AnB grows with n (features 'less and less general')",
               [_greater(f"{a[0]}-{a[1]} to {b[0]}-{b[1]}", "", spec(*b) - spec(*a),
                         paper_spec(*b) - paper_spec(*a), "growth of BnB - AnB") for a, b in steps]),
        _greater("e", "at n = 3-5 the co-adaptation loss (baseB - BnB) exceeds the specificity loss (BnB - AnB)",
                 -bnb(3, 4, 5) - spec(3, 5), paper_coad(3, 5) - paper_spec(3, 5), "co-adaptation - specificity"),
        _greater("f", "at n = 6-7 the specificity loss exceeds the co-adaptation loss",
                 spec(6, 7) + bnb(6, 7), paper_spec(6, 7) - paper_coad(6, 7), "specificity - co-adaptation"),
    ]


def claim_c4(nets: Networks) -> list[Part]:
    """Y-C4, §4.1 item 5, Table 1, Figure 2: AnB+ beats baseB at every n; the boost is 1.6 points over layers
    1-7, 2.1 over 5-7, slightly larger when more layers are kept."""
    _require(nets, SPLITS, "AnB+", LAYERS)

    def boost(*ns: int) -> Estimate:
        return nets.rel(SPLITS, "AnB+", ns)

    return [
        all_of("a", "AnB+ beats baseB at every n = 1..7",
               [_greater(f"n={n}", "", boost(n), PAPER_REL["AnB+"][n - 1], "AnB+ - baseB") for n in LAYERS]),
        _greater("b", "the boost over baseB pooled over n = 1-7 is 1.6 points (Table 1)", boost(*_span(1, 7)),
                 TABLE1[("AnB+ - base", "1-7")], "AnB+(1-7) - baseB"),
        _greater("c", "the boost over baseB pooled over n = 5-7 is 2.1 points (Table 1)", boost(*_span(5, 7)),
                 TABLE1[("AnB+ - base", "5-7")], "AnB+(5-7) - baseB"),
        _greater("d", "slightly better performance as more layers are kept", boost(*_span(5, 7)) - boost(*_span(1, 4)),
                 _paper_anbp(_span(5, 7)) - _paper_anbp(_span(1, 4)), "AnB+(5-7) - AnB+(1-4)"),
    ]


def claim_c5(nets: Networks) -> list[Part]:
    """Y-C5, §4.1 item 5, Table 1: the boost is not from longer training; BnB+, trained as long, lacks it."""
    _require(nets, SPLITS, "AnB+", LAYERS)
    _require(nets, SPLITS, "BnB+", LAYERS)
    anbp, bnbp = nets.rel(SPLITS, "AnB+", LAYERS), nets.rel(SPLITS, "BnB+", LAYERS)
    return [
        _greater("a", "AnB+ beats the equally long-trained BnB+ by 1.4 points over n = 1-7 (Table 1)", anbp - bnbp,
                 TABLE1[("AnB+ - BnB+", "1-7")], "AnB+(1-7) - BnB+(1-7)"),
        at_most("b", "BnB+, trained as long, does not show the improvement over baseB", 100 * bnbp.value,
                100 * bnbp.se, 100 * NO_BOOST, unit=PTS, what="BnB+(1-7) - baseB"),
    ]


def _natman(nets: Networks, *ns: int) -> Estimate:
    """Frozen AnB on the dissimilar split, both targets pooled, minus the natman base nets (Figure 3 bottom)."""
    return nets.rel(NATMAN, "AnB", ns)


def claim_c6(nets: Networks) -> list[Part]:
    """Y-C6, §4.3, Figure 3 (bottom): the frozen-transfer gap grows faster with n on the dissimilar split."""
    _require(nets, SPLITS, "AnB", LAYERS)
    _require(nets, NATMAN, "AnB", LAYERS)

    def excess(lo: int, hi: int) -> Estimate:  # how much more the dissimilar split loses than the random one
        ns = _span(lo, hi)
        return nets.rel(SPLITS, "AnB", ns) - _natman(nets, *ns)

    def paper_excess(lo: int, hi: int) -> float:
        return _paper_mean("AnB", _span(lo, hi)) - _paper_mean("natman", _span(lo, hi))

    steps = list(zip(RANGES, RANGES[1:]))
    return [
        _greater("a", "at n = 7 the dissimilar split loses more than the random split: 25 against 8 points",
                 excess(7, 7), DROP_N7["natman"] - DROP_N7["random_splits"], "AnB(7) - AnB natman(7)"),
        all_of("b", "the gap grows more quickly with n for the dissimilar tasks",
               [_greater(f"{a[0]}-{a[1]} to {b[0]}-{b[1]}", "", excess(*b) - excess(*a),
                         paper_excess(*b) - paper_excess(*a), "growth of the excess") for a, b in steps]),
    ]


NATURAL_STAND_IN = ("the miniature's dissimilar split is clothing (Fashion-MNIST) against digits (MNIST), 10 "
                    "classes each: neither half stands for natural images, and the paper's two reasons (449 "
                    "against 551 classes, or an easier task) have no counterpart here")


def claim_c7(nets: Networks) -> list[Part]:
    """Y-C7, §4.2, Figure 3 (top left): the natural target is easier than the man-made one, base and transfer.

    Compares two targets, so it reads raw accuracies. Testable at paper scale only."""
    if nets.miniature:
        return [not_applicable("a", "the natural-target base net beats the man-made one", NATURAL_STAND_IN),
                not_applicable("b", "transfer into the natural target stays above transfer into man-made at every n",
                               NATURAL_STAND_IN)]
    _require(nets, NATMAN, "base", [0], ["natmanA", "natmanB"])
    _require(nets, NATMAN, "AnB", LAYERS, ["natmanA", "natmanB"])

    def gap(condition: str, n: int) -> Estimate:
        return nets.level(NATMAN, condition, (n,), ["natmanA"]) - nets.level(NATMAN, condition, (n,), ["natmanB"])

    return [
        _greater("a", "the natural-target base net beats the man-made one (0.653 against 0.537)", gap("base", 0),
                 PAPER_NATMAN["natmanA"][0] - PAPER_NATMAN["natmanB"][0], "natural - man-made"),
        all_of("b", "transfer into the natural target stays above transfer into man-made at every n",
               [_greater(f"n={n}", "", gap("AnB", n), PAPER_NATMAN["natmanA"][n] - PAPER_NATMAN["natmanB"][n],
                         "natural - man-made") for n in LAYERS]),
    ]


RANDOM_INIT = ("the paper's random layers use its N(0, 0.01) fillers, which leave the miniature net at chance "
               "(pilot 4); the miniature's random layers use He init, a different treatment")


def claim_c8(nets: Networks) -> list[Part]:
    """Y-C8, §4.3, Figure 3: random frozen layers lose accuracy at n = 1-2, are near chance from n = 3, and
    transferred features (both splits) beat them at every n, each relative to its own base (Figure 3 bottom)."""
    _require(nets, WHOLE, "random_frozen", LAYERS)
    _require(nets, SPLITS, "AnB", LAYERS)
    _require(nets, NATMAN, "AnB", LAYERS)

    def random(n: int) -> Estimate:
        return nets.rel(WHOLE, "random_frozen", (n,))

    sized = not nets.miniature  # the paper's sizes for random features rest on its init
    drops = all_of("a", "random frozen layers lose accuracy at n = 1 and 2"
                   + ("" if sized else " (the paper's sizes rest on its init; direction only here)"),
                   [_greater(f"n={n}", "", -random(n), -PAPER_REL["random_frozen"][n - 1] if sized else None,
                             "whole-task base - random") for n in (1, 2)])
    if sized:
        whole = nets.level(WHOLE, "base", (0,))
        chance = nets.chance()
        bound = NEAR_CHANCE * (whole.value - chance)
        near = all_of("b", "random frozen layers are near chance for n >= 3",
                      [at_most(f"n={n}", "", 100 * (level.value - chance), 100 * level.se, 100 * bound, unit=PTS,
                               what="random - chance")
                       for n in range(3, 8) for level in [nets.level(WHOLE, "random_frozen", (n,))]])
    else:
        near = not_applicable("b", "random frozen layers are near chance for n >= 3", RANDOM_INIT)
    return [
        drops,
        near,
        all_of("c", "transfer from the dissimilar task beats random features at every n",
               [_greater(f"n={n}", "", _natman(nets, n) - random(n), what="AnB natman - random (relative)")
                for n in LAYERS]),
        all_of("d", "transfer on a random split beats random features at every n",
               [_greater(f"n={n}", "", nets.rel(SPLITS, "AnB", (n,)) - random(n), what="AnB - random (relative)")
                for n in LAYERS]),
    ]


def claim_c9(nets: Networks) -> list[Part]:
    """Y-C9, §4.1 item 1: a random-half net is more accurate on its half than the whole-task net on all classes.

    baseB's error is that of a population of random halves, so its standard error is the spread of the half
    base nets; the whole-task net adds the noise of one network."""
    whole = nets.level(WHOLE, "base", (0,))
    base, _ = nets.base_b()
    d = base - whole.value
    se = (nets.base_spread_se() ** 2 + whole.se ** 2) ** 0.5
    return [greater("a", "a random-half net has lower error than the whole-task net: 37.5% against 42.5%",
                    100 * d, 100 * se, claimed=100 * (ERRORS["whole"] - ERRORS["half"]), unit=PTS,
                    what="baseB - whole")]


RULES: dict[str, Callable[[Networks], list[Part]]] = {
    "Y-C1": claim_c1, "Y-C2": claim_c2, "Y-C3": claim_c3, "Y-C4": claim_c4, "Y-C5": claim_c5,
    "Y-C6": claim_c6, "Y-C7": claim_c7, "Y-C8": claim_c8, "Y-C9": claim_c9,
}
"""Claim id -> rule, one per row of papers/yosinski2014/claims.csv."""
