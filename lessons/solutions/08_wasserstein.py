"""The solutions to the exercises of lessons/08_wasserstein.ipynb.

Lesson 8 — Wasserstein GANs: a distance that still sees when the supports do not overlap. One
section per exercise: the whole code cell of the lesson with the answer filled in, under the
same `# YOUR ANSWER` comments as the cell you complete. Try the exercise first. If you are
stuck, compare your cell with its section, or paste the section over it, and run the check that
follows it in the lesson. The code runs inside the lesson, after the cells above the exercise:
it uses the names they define.
"""


# %% Exercise 1 — Jensen–Shannon of disjoint distributions
def js_divergence(p, q):
    # YOUR ANSWER: a float
    p, q = np.asarray(p, np.float64), np.asarray(q, np.float64)
    m = (p + q) / 2

    def kl(a, b):
        nz = a > 0
        return np.sum(a[nz] * np.log(a[nz] / b[nz]))

    return 0.5 * kl(p, m) + 0.5 * kl(q, m)


# %% Exercise 2 — the gradient penalty of a linear critic
def gp_linear(w, lam):
    # YOUR ANSWER: a float
    return lam * (np.linalg.norm(w) - 1.0) ** 2


# %% Exercise 3 — how far above 1 the penalty lets the slope go
def optimal_slope(delta, lam):
    # YOUR ANSWER: a float
    return 1.0 + delta / (2.0 * lam)


# %% Exercise 4 — weight clipping
def clip_weights_(module, c):
    # YOUR ANSWER: change the parameters in place, return nothing
    with tinygan.no_grad():
        for p in module.parameters():
            p.data[...] = np.clip(p.data, -c, c)


# %% Exercise 5 — the Earth-Mover distance in one dimension
def w1_sorted(a, b):
    # YOUR ANSWER: a float
    return float(np.mean(np.abs(np.sort(a) - np.sort(b))))
