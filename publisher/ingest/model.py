"""A small logistic regression: how the importer weighs its title-or-subheading signals.

The coefficients live in `segmenter.json` beside this module and are fitted on the annotated
dumps by `benchmarks/segmentation.py --fit` (which also reports leave-one-file-out figures,
the honest measure). Fitting is Newton's method with an L2 penalty, in plain Python: a few
hundred decisions and two dozen signals need no numeric library.
"""

from __future__ import annotations

import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import lru_cache
from operator import mul
from pathlib import Path

WEIGHTS_FILE = Path(__file__).with_name("segmenter.json")


@dataclass(frozen=True)
class Model:
    names: tuple[str, ...]
    coef: tuple[float, ...]
    intercept: float
    # Decisions whose probability is this close to 0.5 are read both ways (dumps.split) and,
    # by default, listed for the admin to check (`import --margin` lists more).
    margin: float = 0.2

    def logit(self, x: Sequence[float]) -> float:
        if len(x) != len(self.coef):
            raise ValueError(f"{len(x)} signals for {len(self.coef)} weights")
        # The same products summed in the same order as a generator would, in C.
        dot: float = sum(map(mul, self.coef, x))
        return self.intercept + dot

    def probability(self, x: Sequence[float]) -> float:
        return sigmoid(self.logit(x))

    def weight(self, name: str) -> float:
        return self.coef[self.names.index(name)]

    def reach(self, ranges: Mapping[str, tuple[float, float]]) -> tuple[float, float]:
        """The least and the most the signals `ranges` names, each within its (low, high),
        can add to the logit."""
        low = high = 0.0
        for name, (a, b) in ranges.items():
            c = self.weight(name)
            low += min(c * a, c * b)
            high += max(c * a, c * b)
        return low, high

    def as_dict(self) -> dict[str, object]:
        return {
            "intercept": round(self.intercept, 6),
            "margin": self.margin,
            "coefficients": {n: round(c, 6) for n, c in zip(self.names, self.coef, strict=True)},
        }


def logit(p: float) -> float:
    """The inverse of the sigmoid: the logit of probability `p` (0 < p < 1)."""
    return math.log(p / (1.0 - p))


def sigmoid(z: float) -> float:
    if z >= 0:
        return 1.0 / (1.0 + math.exp(-z))
    e = math.exp(z)
    return e / (1.0 + e)


@lru_cache(maxsize=1)
def load(path: Path = WEIGHTS_FILE) -> Model:
    doc = json.loads(path.read_text("utf-8"))
    coef = doc["coefficients"]
    return Model(tuple(coef), tuple(float(v) for v in coef.values()), float(doc["intercept"]),
                 float(doc.get("margin", 0.2)))


def _solve(a: list[list[float]], b: list[float]) -> list[float]:
    """Gaussian elimination with partial pivoting (the matrix is small and positive definite)."""
    n = len(b)
    m = [[*row, b[i]] for i, row in enumerate(a)]
    for col in range(n):
        piv = max(range(col, n), key=lambda r: abs(m[r][col]))
        m[col], m[piv] = m[piv], m[col]
        p = m[col][col]
        for r in range(col + 1, n):
            f = m[r][col] / p
            if f:
                for c in range(col, n + 1):
                    m[r][c] -= f * m[col][c]
    out = [0.0] * n
    for r in range(n - 1, -1, -1):
        out[r] = (m[r][n] - sum(m[r][c] * out[c] for c in range(r + 1, n))) / m[r][r]
    return out


def fit(names: Sequence[str], xs: Sequence[Sequence[float]], ys: Sequence[int],
        l2: float = 1.0, iterations: int = 50) -> Model:
    """Maximum-likelihood weights with an L2 penalty on the coefficients (not the intercept),
    which keeps them finite when a signal separates the examples perfectly."""
    k = len(names) + 1
    w = [0.0] * k
    rows = [[1.0, *x] for x in xs]
    for _ in range(iterations):
        grad = [0.0] * k
        hess = [[0.0] * k for _ in range(k)]
        for row, y in zip(rows, ys, strict=True):
            p = sigmoid(sum(a * b for a, b in zip(w, row, strict=True)))
            err = p - y
            s = p * (1.0 - p)
            for i in range(k):
                grad[i] += err * row[i]
                ri = s * row[i]
                if ri:
                    hrow = hess[i]
                    for j in range(k):
                        hrow[j] += ri * row[j]
        for i in range(1, k):
            grad[i] += l2 * w[i]
            hess[i][i] += l2
        step = _solve(hess, grad)
        w = [a - b for a, b in zip(w, step, strict=True)]
        if max(abs(s) for s in step) < 1e-8:
            break
    return Model(tuple(names), tuple(w[1:]), w[0])


def write(model: Model, path: Path = WEIGHTS_FILE) -> None:
    path.write_text(json.dumps(model.as_dict(), indent=1, ensure_ascii=False) + "\n", "utf-8")
