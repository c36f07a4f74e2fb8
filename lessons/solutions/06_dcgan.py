"""The solutions to the exercises of lessons/06_dcgan.ipynb.

Lesson 6 — DCGAN. One section per exercise: the whole code cell of the lesson with the answer
filled in, under the same `# YOUR ANSWER` comments as the cell you complete. Try the exercise
first. If you are stuck, compare your cell with its section, or paste the section over it, and
run the check that follows it in the lesson. The code runs inside the lesson, after the cells
above the exercise: it uses the names they define.
"""


# %% Exercise 1 — transposed convolution sizes
def conv_transpose_out(h, k, s=1, p=0, output_padding=0):
    # YOUR ANSWER
    return (h - 1) * s - 2 * p + k + output_padding


def conv_out(h, k, s=1, p=0):
    # YOUR ANSWER
    return (h + 2 * p - k) // s + 1


# %% Exercise 2 — check DCGAN's initialization
def init_report(model):
    # YOUR ANSWER: {parameter name: (mean, std)} for conv / transposed conv / linear weights
    report = {}
    for name, module in model.named_modules():
        if isinstance(module, (nn.Conv2d, nn.ConvTranspose2d, nn.Linear)):
            w = module.weight.detach().numpy()
            report[f"{name}.weight"] = (float(w.mean()), float(w.std()))
    return report


# %% Exercise 3 — count the parameters
def count_g():
    # YOUR ANSWER
    linear = 100 * 128 * 7 * 7 + 128 * 7 * 7
    bn1 = 2 * 128
    up1 = 128 * 64 * 4 * 4 + 64
    bn2 = 2 * 64
    up2 = 64 * 1 * 4 * 4 + 1
    return linear + bn1 + up1 + bn2 + up2


def count_d():
    # YOUR ANSWER
    conv1 = 1 * 64 * 4 * 4 + 64
    conv2 = 64 * 128 * 4 * 4 + 128
    bn = 2 * 128
    linear = 128 * 7 * 7 + 1
    return conv1 + conv2 + bn + linear


# %% Exercise 4 — a collapse detector
def looks_collapsed(images, real, threshold=0.2):
    # YOUR ANSWER
    def mean_pairwise(a):
        a = np.asarray(a, dtype=np.float64).reshape(len(a), -1)
        d = np.sqrt(((a[:, None, :] - a[None, :, :]) ** 2).sum(-1))
        return d.sum() / (len(a) * (len(a) - 1))
    return bool(mean_pairwise(images) < threshold * mean_pairwise(real))
