"""The solutions to the exercises of lessons/07_conditional_and_infogan.ipynb.

Lesson 7 — Telling the generator what to draw: conditional GANs and InfoGAN. One section per
exercise: the whole code cell of the lesson with the answer filled in, under the same
`# YOUR ANSWER` comments as the cell you complete. Try the exercise first. If you are stuck,
compare your cell with its section, or paste the section over it, and run the check that follows
it in the lesson. The code runs inside the lesson, after the cells above the exercise: it uses
the names they define.
"""


# %% Exercise 1 — the projection discriminator by hand
def projection_logits(D, x, y):
    # YOUR ANSWER: a Tensor (N, 1)
    h = D.body(x)
    return D.linear(h) + (D.embed(y) * h).sum(1, keepdim=True)


# %% Exercise 2 — the information bound in nats
def info_lower_bound(logits, codes):
    # YOUR ANSWER: a float, log K - mean cross-entropy, stable for any logits
    logits = np.asarray(logits, dtype=np.float64)
    m = logits.max(1, keepdims=True)
    log_q = logits - m - np.log(np.exp(logits - m).sum(1, keepdims=True))   # log softmax
    return math.log(logits.shape[1]) + log_q[np.arange(len(codes)), codes].mean()


# %% Exercise 3 — the assignment problem by brute force
def best_mapping_accuracy_bruteforce(codes, digits, K):
    # YOUR ANSWER: a float in [0, 1]
    best = 0
    for perm in itertools.permutations(range(K)):
        best = max(best, int(np.sum(np.asarray(perm)[codes] == digits)))
    return best / len(codes)


# %% Exercise 4 — the continuous code's constant
def gaussian_nll(c, mu, sigma=1.0):
    # YOUR ANSWER: a float
    c, mu = np.asarray(c, np.float64), np.asarray(mu, np.float64)
    per = 0.5 * ((c - mu) / sigma) ** 2 + math.log(sigma) + 0.5 * math.log(2 * math.pi)
    return per.sum(1).mean()
