"""The solutions to the exercises of lessons/01_autograd.ipynb.

Lesson 1 — Autograd from scratch. One section per exercise: the whole code cell of the lesson
with the answer filled in, under the same `# YOUR ANSWER` comments as the cell you complete. Try
the exercise first. If you are stuck, compare your cell with its section, or paste the section
over it, and run the check that follows it in the lesson. The code runs inside the lesson, after
the cells above the exercise: it uses the names they define.
"""


# %% Exercise 1 — the sigmoid as a `Function`
class MySigmoid(tinygan.Function):
    def forward(self, x):
        # YOUR ANSWER: sigma(x) on the ndarray x
        return 1.0 / (1.0 + np.exp(-x))

    def backward(self, gy):
        # YOUR ANSWER: dL/dx from gy = dL/dy, with tinygan ops on Tensors (self.output is y)
        y = self.output
        return gy * y * (1.0 - y)


# %% Exercise 2 — a gradient by hand
x0, y0 = 0.5, -1.0
# YOUR ANSWER: the two partial derivatives at (x0, y0), as Python floats
df_dx = math.exp(x0 * y0) * (1 + x0 * y0)
df_dy = x0 ** 2 * math.exp(x0 * y0)


# %% Exercise 3 — teach `Value` a new operation
def value_relu(self):
    # YOUR ANSWER: the output Value (self is its parent) and its _backward closure
    out = Value(max(self.data, 0.0), (self,), "relu")

    def _backward():
        self.grad += (1.0 if self.data > 0 else 0.0) * out.grad
    out._backward = _backward
    return out


Value.relu = value_relu


# %% Exercise 4 — predict a broadcast gradient
A_np = np.array([[0.1, -0.2, 0.3], [0.5, 0.0, -1.0]])
B_np = np.array([0.2, 0.4, -0.1])
# YOUR ANSWER: dL/dB, a NumPy array of shape (3,)
dL_dB = (1 - np.tanh(A_np + B_np) ** 2).sum(axis=0)
