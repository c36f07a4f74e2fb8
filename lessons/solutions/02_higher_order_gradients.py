"""The solutions to the exercises of lessons/02_higher_order_gradients.ipynb.

Lesson 2 — Gradients of gradients. One section per exercise: the whole code cell of the lesson
with the answer filled in, under the same `# YOUR ANSWER` comments as the cell you complete. Try
the exercise first. If you are stuck, compare your cell with its section, or paste the section
over it, and run the check that follows it in the lesson. The code runs inside the lesson, after
the cells above the exercise: it uses the names they define.
"""


# %% Exercise 1 — third derivatives
def third_derivative(f, x):
    # YOUR ANSWER: a Tensor like x; differentiate three times, recording all but the last pass
    x = x.detach().requires_grad_()
    (d1,) = tinygan.grad(f(x).sum(), x, create_graph=True)
    (d2,) = tinygan.grad(d1.sum(), x, create_graph=True)
    (d3,) = tinygan.grad(d2.sum(), x)
    return d3


# %% Exercise 2 — a `Function` that can be differentiated twice
class LogCosh(tinygan.Function):
    def forward(self, x):
        # YOUR ANSWER: on the ndarray x, stable for large |x|
        a = np.abs(x)
        return a + np.log1p(np.exp(-2.0 * a)) - np.log(2.0)

    def backward(self, gy):
        # YOUR ANSWER: with tinygan ops on Tensors
        (x,) = self.inputs
        return gy * x.tanh()


# %% Exercise 3 — the gradient penalty of a linear critic, by hand
w_np = np.array([0.6, -1.3, 0.4])
# YOUR ANSWER: dGP/dw for GP = (||w||_2 - 1)^2, a NumPy array of shape (3,)
norm_w = np.linalg.norm(w_np)
dgp_dw = 2 * (norm_w - 1) * w_np / norm_w
