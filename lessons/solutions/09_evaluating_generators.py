"""The solutions to the exercises of lessons/09_evaluating_generators.ipynb.

Lesson 9 — Evaluating generators: FID, the classifier score, and what they miss. One section per
exercise: the whole code cell of the lesson with the answer filled in, under the same
`# YOUR ANSWER` comments as the cell you complete. Try the exercise first. If you are stuck,
compare your cell with its section, or paste the section over it, and run the check that follows
it in the lesson. The code runs inside the lesson, after the cells above the exercise: it uses
the names they define.
"""


# %% Exercise 1 — FID of a set with itself
def fid_features(f1, f2):
    # YOUR ANSWER: a float
    return frechet_by_hand(*metrics.feature_statistics(f1), *metrics.feature_statistics(f2))


# %% Exercise 2 — the classifier score by hand
def score(probs):
    # YOUR ANSWER: a float
    probs = np.asarray(probs, dtype=np.float64)
    return float(np.exp(entropy(probs.mean(0)) - entropy(probs).mean()))


# %% Exercise 3 — FID grows when the set is shifted
def shift_right(images, d):
    # YOUR ANSWER: an array like images
    out = np.full_like(images, -1.0)
    out[..., d:] = images[..., :images.shape[-1] - d]
    return out


# %% Exercise 4 — the Fréchet distance of diagonal covariances
def frechet_diagonal(mu1, a, mu2, b):
    # YOUR ANSWER: a float; a and b are the variances (the diagonals)
    return float(np.sum((mu1 - mu2) ** 2) + np.sum((np.sqrt(a) - np.sqrt(b)) ** 2))
