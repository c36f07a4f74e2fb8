"""The solutions to the exercises of lessons/05_first_gan.ipynb.

Lesson 5 — A first GAN. One section per exercise: the whole code cell of the lesson with the
answer filled in, under the same `# YOUR ANSWER` comments as the cell you complete. Try the
exercise first. If you are stuck, compare your cell with its section, or paste the section over
it, and run the check that follows it in the lesson. The code runs inside the lesson, after the
cells above the exercise: it uses the names they define.
"""


# %% Exercise 1 — the optimal discriminator, numerically
x_grid = np.linspace(-3, 3, 61)


def d_star_numeric(x, pdf_data, pdf_g):
    # YOUR ANSWER: D*(x) for each x, by maximizing pdf_data log d + pdf_g log(1 - d) over d
    d = np.linspace(1e-4, 1 - 1e-4, 20_001)[None, :]                  # candidates
    a, b = pdf_data(x)[:, None], pdf_g(x)[:, None]
    objective = a * np.log(d) + b * np.log1p(-d)
    return d[0, objective.argmax(axis=1)]


my_d_star = d_star_numeric(x_grid, lambda x: normal_pdf(x, 1.0), lambda x: normal_pdf(x, -1.0))


# %% Exercise 2 — the Jensen–Shannon divergence, and its flat top
def jsd(p, q, dx):
    # YOUR ANSWER: JSD(p || q) = 1/2 KL(p || m) + 1/2 KL(q || m), m = (p + q) / 2
    m = (p + q) / 2
    with np.errstate(divide="ignore", invalid="ignore"):
        kl_p = np.where(p > 0, p * np.log(p / m), 0.0)
        kl_q = np.where(q > 0, q * np.log(q / m), 0.0)
    return float(0.5 * (kl_p.sum() + kl_q.sum()) * dx)


# %% Exercise 3 — where is the non-saturating gradient larger?
def logit_grads(d_values):
    # YOUR ANSWER: (minimax gradients, non-saturating gradients), per sample, w.r.t. the logits
    logits = np.log(d_values) - np.log1p(-d_values)
    out = []
    for g_loss in (losses.minimax_g_loss, losses.nonsaturating_g_loss):
        l = tinygan.tensor(logits, dtype=f64, requires_grad=True)
        (g,) = tinygan.grad(g_loss(l), l)
        out.append(len(d_values) * g.numpy())      # the losses are means over the batch
    return tuple(out)


# %% Exercise 4 — a stable binary cross-entropy in NumPy
def bce_with_logits_np(logits, targets):
    # YOUR ANSWER: a float; softplus(l) = max(l, 0) + log1p(exp(-|l|)), and
    # -[y log s(l) + (1 - y) log(1 - s(l))] = y softplus(-l) + (1 - y) softplus(l)
    l = np.asarray(logits, dtype=np.float32)
    y = np.asarray(targets, dtype=np.float32)
    softplus = lambda v: np.maximum(v, 0) + np.log1p(np.exp(-np.abs(v)))
    return float(np.mean(y * softplus(-l) + (1 - y) * softplus(l)))
