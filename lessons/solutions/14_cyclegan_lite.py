"""The solutions to the exercises of lessons/14_cyclegan_lite.ipynb.

Lesson 14 — CycleGAN-lite: unpaired translation, the cycle, PatchGAN, LSGAN, the identity loss,
the image pool. One section per exercise: the whole code cell of the lesson with the answer
filled in, under the same `# YOUR ANSWER` comments as the cell you complete. Try the exercise
first. If you are stuck, compare your cell with its section, or paste the section over it, and
run the check that follows it in the lesson. The code runs inside the lesson, after the cells
above the exercise: it uses the names they define.
"""


# %% Exercise 1 — the cycle and identity losses
def cycle_identity_losses(G_AB, G_BA, a, b, lambda_cyc=LAMBDA_CYC, lambda_id=LAMBDA_ID):
    # YOUR ANSWER: lambda_cyc * (cycle_a + cycle_b) + lambda_id * (idt_a + idt_b), a 0-d Tensor
    cycle_a = F.l1_loss(G_BA(G_AB(a)), a)          # a -> B -> back to A (eq. 2)
    cycle_b = F.l1_loss(G_AB(G_BA(b)), b)          # b -> A -> back to B
    loss = lambda_cyc * (cycle_a + cycle_b)
    if lambda_id > 0:                              # sec. 5.2: each G leaves its own domain alone
        loss = loss + lambda_id * (F.l1_loss(G_AB(b), b) + F.l1_loss(G_BA(a), a))
    return loss


# %% Exercise 2 — the image pool's query
def pool_query(stored, images, coins, picks, pool_size):
    # YOUR ANSWER: the images D is shown, (N, C, H, W); `stored` updated in place
    out = np.array(images, copy=True)
    if pool_size == 0:
        return out
    for i in range(len(out)):
        if len(stored) < pool_size:                # not full yet: keep it and show it
            stored.append(np.array(images[i], copy=True))
        elif coins[i] > 0.5:                       # full: show an old one, keep the fresh one
            j = int(picks[i])
            out[i] = stored[j]
            stored[j] = np.array(images[i], copy=True)
    return out


# %% Exercise 3 — a PatchGAN's receptive field
def receptive_field(layers):
    # YOUR ANSWER: an int, the receptive field of the stack (kernel, stride), input to output
    r = 1                                          # one output of the last layer
    for kernel, stride in reversed(layers):
        r = (r - 1) * stride + kernel              # r outputs read (r - 1) s + k inputs
    return r
