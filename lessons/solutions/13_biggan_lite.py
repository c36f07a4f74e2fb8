"""The solutions to the exercises of lessons/13_biggan_lite.ipynb.

Lesson 13 — BigGAN-lite: spectral norm, hinge loss, conditional BatchNorm, self-attention,
truncation. One section per exercise: the whole code cell of the lesson with the answer filled
in, under the same `# YOUR ANSWER` comments as the cell you complete. Try the exercise first. If
you are stuck, compare your cell with its section, or paste the section over it, and run the
check that follows it in the lesson. The code runs inside the lesson, after the cells above the
exercise: it uses the names they define.
"""


# %% Exercise 1 — one power-iteration step and sigma
def power_iteration(W, u, eps=1e-12):
    # YOUR ANSWER: (u_new (rows,), v (cols,), sigma) after one step from u
    v = W.T @ u
    v = v / max(np.linalg.norm(v), eps)           # v <- W^T u / ||W^T u||
    u_new = W @ v
    u_new = u_new / max(np.linalg.norm(u_new), eps)   # u <- W v / ||W v||
    return u_new, v, u_new @ W @ v                # sigma ~= u^T W v (Algorithm 1)


# %% Exercise 2 — the hinge losses
def hinge_losses(real_out, fake_out):
    # YOUR ANSWER: (L_D, L_G), two floats
    real_out, fake_out = np.asarray(real_out), np.asarray(fake_out)
    l_d = np.maximum(0, 1 - real_out).mean() + np.maximum(0, 1 + fake_out).mean()
    l_g = -fake_out.mean()
    return float(l_d), float(l_g)


# %% Exercise 3 — truncation by resampling
def truncate_by_resampling(z, t, rng):
    # YOUR ANSWER: z with every |z_i| > t redrawn until inside
    z = np.array(z, dtype=float)
    outside = np.abs(z) > t
    while outside.any():
        z[outside] = rng.standard_normal(int(outside.sum()))
        outside = np.abs(z) > t
    return z
