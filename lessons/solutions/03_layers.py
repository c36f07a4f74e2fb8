"""The solutions to the exercises of lessons/03_layers.ipynb.

Lesson 3 — Layers: convolution, transposed convolution, BatchNorm. One section per exercise: the
whole code cell of the lesson with the answer filled in, under the same `# YOUR ANSWER` comments
as the cell you complete. Try the exercise first. If you are stuck, compare your cell with its
section, or paste the section over it, and run the check that follows it in the lesson. The code
runs inside the lesson, after the cells above the exercise: it uses the names they define.
"""


# %% Exercise 1 — output sizes
# YOUR ANSWER: four ints
size_a = (28 + 2 * 2 - 5) // 2 + 1
size_b = (32 - 2 * (3 - 1) - 1) // 1 + 1
size_c = (7 - 1) * 2 - 2 * 1 + (4 - 1) + 1
size_d = (4 - 1) * 2 - 2 * 2 + (5 - 1) + 1 + 1


# %% Exercise 2 — the backward of a 1-D convolution
class Conv1d(tinygan.Function):
    # y = conv1d(x, w): x (L,), w (K,) -> y (L - K + 1,), no padding, stride 1.

    def forward(self, x, w):
        K = len(w)
        T = len(x) - K + 1
        return sum(w[k] * x[k:k + T] for k in range(K))

    def backward(self, gy):
        # YOUR ANSWER: (dL/dx, dL/dw) with tinygan ops
        x, w = self.inputs
        L, K = x.shape[0], w.shape[0]
        T = L - K + 1
        gx = sum(tinygan.pad(gy * w[k], (k, K - 1 - k)) for k in range(K))
        gw = tinygan.stack([(gy * x[k:k + T]).sum() for k in range(K)])
        return gx, gw


# %% Exercise 3 — what BatchNorm promises, and its evaluation formula
xe = tinygan.tensor((rng.standard_normal((16, 4, 5, 5)) * [[[[5.0]], [[0.5]], [[1.0]], [[30.0]]]]
                     + [[[[-3.0]], [[8.0]], [[0.0]], [[100.0]]]]).astype(np.float32))
layer = nn.BatchNorm2d(4)

# YOUR ANSWER (a): per-channel mean and variance of layer(xe), shape (4,)
ye = layer(xe).detach().numpy()
channel_mean = ye.mean(axis=(0, 2, 3))
channel_var = ye.var(axis=(0, 2, 3))


# YOUR ANSWER (b)
def bn_eval(x, layer):
    shape = (1, -1, 1, 1)
    scale = layer.weight.detach().numpy() / np.sqrt(layer.running_var.numpy() + layer.eps)
    return ((x - layer.running_mean.numpy().reshape(shape)) * scale.reshape(shape)
            + layer.bias.detach().numpy().reshape(shape))


# %% Exercise 4 — a 4x4 upsampling kernel without checkerboards
# YOUR ANSWER: a (4, 4) NumPy array
my_kernel = np.ones((4, 4), dtype=np.float32) / 4       # each 2x2 sub-kernel sums to 1
