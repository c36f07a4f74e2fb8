"""The solutions to the exercises of lessons/10_vae.ipynb.

Lesson 10 — Variational autoencoders: from autoencoder to VAE, the ELBO, and what β trades. One
section per exercise: the whole code cell of the lesson with the answer filled in, under the
same `# YOUR ANSWER` comments as the cell you complete. Try the exercise first. If you are
stuck, compare your cell with its section, or paste the section over it, and run the check that
follows it in the lesson. The code runs inside the lesson, after the cells above the exercise:
it uses the names they define.
"""


# %% Exercise 1 — the KL between two diagonal Gaussians
def kl_two_gaussians(mu1, logvar1, mu2, logvar2):
    # YOUR ANSWER: (N,) in nats
    mu1, logvar1, mu2, logvar2 = (np.asarray(a, np.float64) for a in (mu1, logvar1, mu2, logvar2))
    return 0.5 * np.sum(logvar2 - logvar1 + (np.exp(logvar1) + (mu1 - mu2) ** 2) * np.exp(-logvar2) - 1, axis=1)


# %% Exercise 2 — log-mean-exp, and the IWAE bound by hand
def log_mean_exp(a, axis=0):
    # YOUR ANSWER: the log of the mean of exp(a) along axis, without overflow or underflow
    a = np.asarray(a, dtype=np.float64)
    top = a.max(axis=axis, keepdims=True)
    return np.squeeze(top, axis) + np.log(np.mean(np.exp(a - top), axis=axis))


# %% Exercise 3 — the Gaussian decoder
def gaussian_log_lik(mean, x, logvar):
    # YOUR ANSWER: (N,) nats, summed over all but the first dim
    d = np.asarray(x, np.float64) - np.asarray(mean, np.float64)
    per = -0.5 * (np.log(2 * np.pi) + logvar + d ** 2 * np.exp(-np.asarray(logvar, np.float64)))
    per = np.broadcast_to(per, d.shape)
    return per.reshape(len(d), -1).sum(1)


def best_logvar(mean, x):
    # YOUR ANSWER: the shared log-variance l* that maximizes log p(x|z) for one image
    return float(np.log(np.mean((np.asarray(x, np.float64) - np.asarray(mean, np.float64)) ** 2)))
