"""The solutions to the exercises of lessons/04_mnist_classifier.ipynb.

Lesson 4 — Training an MNIST classifier. One section per exercise: the whole code cell of the
lesson with the answer filled in, under the same `# YOUR ANSWER` comments as the cell you
complete. Try the exercise first. If you are stuck, compare your cell with its section, or paste
the section over it, and run the check that follows it in the lesson. The code runs inside the
lesson, after the cells above the exercise: it uses the names they define.
"""


# %% Exercise 1 — did it learn?
def predict(model, images):
    # YOUR ANSWER: images float32 (N, 1, 28, 28) in [-1, 1] -> int array (N,)
    model.eval()
    with tinygan.no_grad():
        out = [model(tinygan.tensor(images[a:a + 1000])).numpy().argmax(axis=1)
               for a in range(0, len(images), 1000)]
    model.train()
    return np.concatenate(out)


my_accuracy = float(np.mean(predict(model, test_images) == test_labels))


# %% Exercise 2 — Adam by hand
def adam_steps(p0, grads, lr=0.1, betas=(0.9, 0.999), eps=1e-8):
    # YOUR ANSWER: the parameter after len(grads) Adam steps, a NumPy array like p0
    beta1, beta2 = betas
    p, m, v = p0.astype(np.float64).copy(), np.zeros_like(p0), np.zeros_like(p0)
    for t, g in enumerate(grads, start=1):
        m = beta1 * m + (1 - beta1) * g
        v = beta2 * v + (1 - beta2) * g * g
        m_hat, v_hat = m / (1 - beta1 ** t), v / (1 - beta2 ** t)
        p = p - lr * m_hat / (np.sqrt(v_hat) + eps)
    return p


# %% Exercise 3 — forgetting `zero_grad`
w0, x0, y0 = 1.5, 2.0, 1.0
# YOUR ANSWER: a float
grad_after_three = 3 * 2 * (w0 * x0 - y0) * x0
