"""The solutions to the exercises of lessons/12_stylegan_lite.ipynb.

Lesson 12 — StyleGAN-lite: styles, modulation, noise, and the tricks that train it. One section
per exercise: the whole code cell of the lesson with the answer filled in, under the same
`# YOUR ANSWER` comments as the cell you complete. Try the exercise first. If you are stuck,
compare your cell with its section, or paste the section over it, and run the check that follows
it in the lesson. The code runs inside the lesson, after the cells above the exercise: it uses
the names they define.
"""


# %% Exercise 1 — demodulation
def demodulate(weight, styles, eps=1e-8):
    # YOUR ANSWER: w'' (N, O, I, k, k) from weight (O, I, k, k) and styles (N, I)
    w_mod = weight[None] * styles[:, None, :, None, None]            # eq. 1: w' = s_i w
    sq = (w_mod ** 2).sum(axis=(2, 3, 4), keepdims=True)             # sum over i and the taps
    return w_mod / np.sqrt(sq + eps)                                  # eq. 3


# %% Exercise 2 — the truncation formula
def truncate(ws, w_avg, psi, cutoff=None):
    # YOUR ANSWER: an array like ws
    ws = np.asarray(ws)
    out = ws.copy()
    n = ws.shape[1] if cutoff is None else cutoff
    out[:, :n] = w_avg + psi * (ws[:, :n] - w_avg)
    return out


# %% Exercise 3 — the lazy-regularization correction of Adam
def lazy_adam(lr, betas, interval):
    # YOUR ANSWER: (lr', (beta1', beta2'))
    if interval is None:
        return lr, tuple(betas)
    c = interval / (interval + 1)
    return lr * c, (betas[0] ** c, betas[1] ** c)
