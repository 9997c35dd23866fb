"""The assignment solver of the FDDB evaluation program, step for step, so that its matchings are the program's.

Reference: ``Hungarian.cpp`` of the FDDB ``evaluate`` program (Jain and Learned-Miller, UMass tech. report
UM-CS-2010-009, 2010), B. Gerkey's C implementation of Kuhn's Hungarian method (2003), maximising.

The solver does not always find a maximum-weight assignment. Routine II picks its cover step ``d`` from the uncovered
slacks in an order-dependent way (a slack of zero resets the search, so ``d`` can end on a larger slack than the
smallest), and the method then stops on a cover that is not optimal. For example, on the ``2 x 3`` rating matrix
``[[0.55, 0.08, 0.30], [0.55, 0.08, 0.30]]`` (two identical detections overlapping three faces) it assigns the
0.55 and the 0.08 pairs, total 0.63, where 0.55 + 0.30 = 0.85 is possible. The FDDB figures every paper reports come
from this solver, so :func:`mmdet_face.evaluation.functional.fddb.match_regions` uses it by default; its
``method='optimal'`` gives the true maximum-weight matching instead.

Numbers are Python floats (IEEE doubles) combined in the program's order, so the comparisons against
``HUNGARIAN_EPS`` decide as the program's do.
"""
from typing import List, Sequence

__all__ = ['HUNGARIAN_EPS', 'InfeasibleAssignmentError', 'hungarian_official']

HUNGARIAN_EPS = 1e-15
_ZERO, _ONE, _STAR = 0, 1, 2


class InfeasibleAssignmentError(RuntimeError):
    """The solver ended without one starred zero per row (the program stops with an assertion there)."""


class _Problem:

    def __init__(self, rating: Sequence[Sequence[float]]):
        self.r = [[float(x) for x in row] for row in rating]
        self.m = len(self.r)
        self.n = len(self.r[0]) if self.m else 0
        self.q = [[_ZERO] * self.n for _ in range(self.m)]
        self.u = [0.0] * self.m
        self.v = [0.0] * self.n
        self.ess_rows = [0] * self.m
        self.ess_cols = [0] * self.n
        self.seq_i = [0] * (self.m * self.n + 1)
        self.seq_j = [0] * (self.m * self.n + 1)
        self.k = 0
        self.row_total = self.col_total = 0.0

    def make_cover(self):
        m, n, r = self.m, self.n, self.r
        row_max = [0.0] * m
        col_max = [0.0] * n
        self.row_total = self.col_total = 0.0
        for i in range(m):
            for j in range(n):
                if r[i][j] > row_max[i]:
                    row_max[i] = r[i][j]
            self.row_total += row_max[i]
        for j in range(n):
            for i in range(m):
                if r[i][j] > col_max[j]:
                    col_max[j] = r[i][j]
            self.col_total += col_max[j]
        if self.row_total <= self.col_total:
            self.u = row_max
        else:
            self.v = col_max

    def build_q(self):
        for i in range(self.m):
            for j in range(self.n):
                diff = self.u[i] + self.v[j] - self.r[i][j]
                if abs(diff) < HUNGARIAN_EPS:
                    if self.q[i][j] == _ZERO:
                        self.q[i][j] = _ONE
                else:
                    self.q[i][j] = _ZERO

    def add_stars(self):
        m, n, q = self.m, self.n, self.q
        if self.row_total <= self.col_total:
            for i in range(m):
                for j in range(n):
                    if q[i][j] == _ONE and not any(k != i and q[k][j] == _STAR for k in range(m)):
                        q[i][j] = _STAR
                        break
        else:
            for j in range(n):
                for i in range(m):
                    if q[i][j] == _ONE and not any(k != j and q[i][k] == _STAR for k in range(n)):
                        q[i][j] = _STAR
                        break

    def routine_one(self) -> str:
        """Kuhn's Routine I: returns ``'one'`` (after toggling an alternating sequence) or ``'two'``."""
        m, n, q, seq_i, seq_j = self.m, self.n, self.q, self.seq_i, self.seq_j
        self.k = 0
        for i in range(m):
            self.ess_rows[i] = 0
        j = 0
        while j < n:
            i = 0
            while i < m and q[i][j] != _STAR:
                i += 1
            if i < m:  # column j has a 1*
                j += 1
                continue
            i = 0
            while i < m:
                if q[i][j] != _ONE:
                    i += 1
                    continue
                seq_i[self.k], seq_j[self.k] = i, j
                self.k += 1
                jump_prelim = False
                while not jump_prelim:
                    # Case 1: look in row i for a 1*
                    j = 0
                    jump_case1 = False
                    while j < n and not jump_case1:
                        if q[i][j] != _STAR:
                            j += 1
                            continue
                        # Case 2: a 1* at (i, j); search column j for a 1 in a row not in the sequence
                        i = 0
                        while not jump_case1:
                            while i < m:
                                if q[i][j] == _ONE:
                                    if i in seq_i[:self.k]:
                                        i += 1
                                        continue
                                    seq_i[self.k], seq_j[self.k] = seq_i[self.k - 1], j
                                    self.k += 1
                                    seq_i[self.k], seq_j[self.k] = i, j
                                    self.k += 1
                                    jump_case1 = True
                                    break
                                i += 1
                            if i >= m:  # no 1 in column j: the row is essential
                                self.ess_rows[seq_i[self.k - 1]] = 1
                                j = seq_j[self.k - 1]
                                i = seq_i[self.k - 1] + 1
                                if self.k > 1:
                                    self.k -= 2
                                    continue
                                self.k -= 1
                                jump_case1 = jump_prelim = True
                                break
                    if j >= n:  # no 1* in row i: toggle the sequence (Alternative Ia)
                        while self.k > 0:
                            a, b = seq_i[self.k - 1], seq_j[self.k - 1]
                            q[a][b] = _STAR if q[a][b] == _ONE else _ONE
                            self.k -= 1
                        return 'one'
            j += 1
        # Alternative Ib: the essential columns
        for j in range(n):
            self.ess_cols[j] = 0
            for i in range(m):
                if q[i][j] == _STAR and not self.ess_rows[i]:
                    self.ess_cols[j] = 1
                    break
        return 'two'

    def routine_two(self) -> str:
        """Kuhn's Routine II: returns ``'done'`` or ``'one'`` (after moving the cover)."""
        m, n, u, v, r = self.m, self.n, self.u, self.v, self.r
        d = 0.0
        for i in range(m):
            if self.ess_rows[i]:
                continue
            for j in range(n):
                if self.ess_cols[j]:
                    continue
                slack = u[i] + v[j] - r[i][j]
                if slack < -HUNGARIAN_EPS:
                    raise InfeasibleAssignmentError(f'negative slack {slack} in the cover')
                if abs(d) < HUNGARIAN_EPS or (slack > -HUNGARIAN_EPS and slack < d):
                    d = slack
        if d < -HUNGARIAN_EPS:
            raise InfeasibleAssignmentError(f'negative cover step {d}')
        if abs(d) < HUNGARIAN_EPS:
            return 'done'
        if any(not self.ess_rows[i] and not u[i] for i in range(m)):
            step = d
            for j in range(n):
                if not self.ess_cols[j] and v[j] < step:
                    step = v[j]
            for i in range(m):
                if self.ess_rows[i]:
                    u[i] += step
            for j in range(n):
                if not self.ess_cols[j]:
                    v[j] -= step
        else:
            step = d
            for i in range(m):
                if not self.ess_rows[i] and u[i] < step:
                    step = u[i]
            for i in range(m):
                if not self.ess_rows[i]:
                    u[i] -= step
            for j in range(n):
                if self.ess_cols[j]:
                    v[j] += step
        for i in range(m):
            for j in range(n):
                if u[i] + v[j] - r[i][j] < -HUNGARIAN_EPS:
                    raise InfeasibleAssignmentError(f'negative slack at ({i}, {j}) after moving the cover')
        self.build_q()
        return 'one'

    def feasible(self) -> bool:
        m, n, q = self.m, self.n, self.q
        for i in range(m):
            stars = sum(1 for j in range(n) if q[i][j] == _STAR)
            if stars > 1 or (m <= n and stars == 0):
                return False
        for j in range(n):
            stars = sum(1 for i in range(m) if q[i][j] == _STAR)
            if stars > 1 or (n <= m and stars == 0):
                return False
        return True


def hungarian_official(rating: Sequence[Sequence[float]]) -> List[int]:
    """The column assigned to each row of the ``m x n`` rating matrix (``m <= n``), maximising, as ``Hungarian.cpp``
    assigns it (``hungarian_init`` / ``hungarian_solve``, ``HUNGARIAN_MAX``).

    Raises:
        ValueError: more rows than columns (the program transposes before calling it).
        InfeasibleAssignmentError: the program would stop on an assertion.
    """
    problem = _Problem(rating)
    if problem.m > problem.n:
        raise ValueError(f'expected at most as many rows as columns, got {problem.m} x {problem.n}')
    problem.make_cover()
    problem.build_q()
    problem.add_stars()
    state = 'one'
    while state != 'done':
        state = problem.routine_one() if state == 'one' else problem.routine_two()
    if not problem.feasible():
        raise InfeasibleAssignmentError('no starred zero in some row: the program stops on an assertion here')
    assignment = []
    for i in range(problem.m):
        assignment.append(next((j for j in range(problem.n) if problem.q[i][j] == _STAR), 0))
    return assignment
