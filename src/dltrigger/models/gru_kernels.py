"""The GRU of the particle networks on CPU: each step one matrix product (BLAS, called from numba) and one
compiled loop over the gates, forwards and, written out, backwards.

torch's CPU GRU runs a step as a dozen small operators, and autograd as many again backwards; at 50 units
their dispatch costs more than their arithmetic (on the 2-core development machine, one thread, batch 64
of 560 rows: 267 µs per step for forward, backward and Adam, against 82 here). The equations, the gate order
(r, z, n) and the weights are ``nn.GRU``'s: the module keeps its parameters, exports to ONNX and runs on
GPUs as before. The sigmoid and tanh use a float32 exp (Cephes' polynomial) written so that the gate
loops vectorise: states and gradients agree with ``nn.GRU`` to ~1e-7 relative, not bit for bit.

Compiled once per machine, cached like the event path's kernels (``cache=True``; ``NUMBA_CACHE_DIR``
overrides the place).
"""

from __future__ import annotations

import functools

import numba
import numpy as np
import scipy.linalg.cython_blas  # noqa: F401  numba's np.dot calls its BLAS; loaded before the thread limit below sees it
import torch
from threadpoolctl import ThreadpoolController

COMPILE = {"cache": True, "nogil": True, "error_model": "numpy"}

f32 = np.float32
LOG2E, LN2_HIGH, LN2_LOW = f32(1.4426950408889634), f32(0.693359375), f32(-2.12194440e-4)
C0, C1, C2, C3, C4, C5 = (f32(c) for c in (1.9875691500e-4, 1.3981999507e-3, 8.3334519073e-3, 4.1665795894e-2, 1.6666665459e-1, 5.0000001201e-1))
EXP_LOW, EXP_HIGH = f32(-87.0), f32(88.0)  # exp's float32 range, where 2^n stays a normal number
ONE, HALF, TWO = f32(1.0), f32(0.5), f32(2.0)


@numba.njit(**COMPILE)
def exp_into(x, mantissa, exponent_bits, out):
    """``out = exp(x)`` in float32 to ~1e-7 relative: 2^n times a polynomial of the remainder, in two plain
    loops that LLVM vectorises (a call to the C library's expf per element would not be)."""
    for i in range(x.size):
        v = min(max(x[i], EXP_LOW), EXP_HIGH)
        n = np.floor(v * LOG2E + HALF)
        r = v - n * LN2_HIGH - n * LN2_LOW
        p = ((((C0 * r + C1) * r + C2) * r + C3) * r + C4) * r + C5
        mantissa[i] = p * r * r + r + ONE
        exponent_bits[i] = (np.int32(n) + np.int32(127)) << np.int32(23)
    scale = exponent_bits.view(np.float32)
    for i in range(x.size):
        out[i] = mantissa[i] * scale[i]


@numba.njit(**COMPILE)
def gru_forward(rows, last_step, w_ih_t, b_ih, w_hh_t, b_hh, last, states, gates, n_hidden):
    """Run the steps of ``rows`` (steps, events, features; time-major) from a zero state; ``last[b]`` is
    event b's state after step ``last_step[b]`` (zero for -1). For the backward pass, ``states`` (steps + 1,
    events, H) keeps the state before each step, ``gates`` (steps, events, 3H) r, z, n and ``n_hidden``
    (steps, events, H) W_hn h + b_hn; without one, they have 2, 1 and 1 entries, reused every step."""
    steps, events, _ = rows.shape
    width = w_hh_t.shape[1]
    units = width // 3
    projected = np.empty((events, width), dtype=np.float32)
    recurrent = np.empty((events, width), dtype=np.float32)
    pre = np.empty(events * width, dtype=np.float32)
    exps = np.empty(events * width, dtype=np.float32)
    mantissa = np.empty(events * width, dtype=np.float32)
    bits = np.empty(events * width, dtype=np.int32)
    states[0] = 0
    last[:] = 0
    for t in range(steps):
        h, out = states[t % states.shape[0]], states[(t + 1) % states.shape[0]]
        g, hn = gates[t % gates.shape[0]], n_hidden[t % n_hidden.shape[0]]
        np.dot(rows[t], w_ih_t, projected)
        np.dot(h, w_hh_t, recurrent)
        for b in range(events):  # r and z: sigmoid(W_i x + b_i + W_h h + b_h)
            for j in range(2 * units):
                pre[b * 2 * units + j] = -(projected[b, j] + b_ih[j] + recurrent[b, j] + b_hh[j])
        exp_into(pre[: events * 2 * units], mantissa, bits, exps)
        for b in range(events):  # n = tanh(W_in x + b_in + r * (W_hn h + b_hn)) = 2 sigmoid(2 .) - 1
            for j in range(2 * units):
                g[b, j] = ONE / (ONE + exps[b * 2 * units + j])
            for k in range(units):
                hn[b, k] = recurrent[b, 2 * units + k] + b_hh[2 * units + k]
                pre[b * units + k] = -TWO * (projected[b, 2 * units + k] + b_ih[2 * units + k] + g[b, k] * hn[b, k])
        exp_into(pre[: events * units], mantissa, bits, exps)
        for b in range(events):  # h' = (1 - z) n + z h
            for k in range(units):
                n = TWO / (ONE + exps[b * units + k]) - ONE
                z = g[b, units + k]
                g[b, 2 * units + k] = n
                out[b, k] = (ONE - z) * n + z * h[b, k]
            if last_step[b] == t:
                last[b] = out[b]


@numba.njit(**COMPILE)
def gru_backward(d_last, last_step, rows, w_hh, states, gates, n_hidden, d_w_ih, d_b_ih, d_w_hh, d_b_hh):
    """The gradients of the weights and biases, given ``d_last`` (events, H), the loss's gradient with
    respect to ``last``, and what ``gru_forward`` kept of every step. Each step adds its share to the
    weights' gradients while its terms are in the cache (arrays of every step's terms, summed at the end,
    took longer: their writes, and a transposed operand over all steps, cost OpenBLAS twice the time)."""
    steps, events, features = rows.shape
    width = w_hh.shape[0]
    units = width // 3
    d_input = np.empty((events, width), dtype=np.float32)  # w.r.t. W_i x + b_i, this step
    d_recurrent = np.empty((events, width), dtype=np.float32)  # w.r.t. W_h h + b_h
    d_state = np.zeros((events, units), dtype=np.float32)
    d_through_w = np.empty((events, units), dtype=np.float32)
    step_w_ih, step_w_hh = np.empty_like(d_w_ih), np.empty_like(d_w_hh)
    bias_ih, bias_hh = np.zeros(width), np.zeros(width)  # float64: a sum over every step and event
    d_w_ih[:] = 0
    d_w_hh[:] = 0
    for t in range(steps - 1, -1, -1):
        for b in range(events):
            if last_step[b] == t:
                d_state[b] += d_last[b]
        g, h, hn = gates[t], states[t], n_hidden[t]
        for b in range(events):
            for k in range(units):
                r, z, n = g[b, k], g[b, units + k], g[b, 2 * units + k]
                d_n = d_state[b, k] * (ONE - z) * (ONE - n * n)
                d_z = d_state[b, k] * (h[b, k] - n) * z * (ONE - z)
                d_r = d_n * hn[b, k] * r * (ONE - r)
                d_input[b, k], d_input[b, units + k], d_input[b, 2 * units + k] = d_r, d_z, d_n
                d_recurrent[b, k], d_recurrent[b, units + k], d_recurrent[b, 2 * units + k] = d_r, d_z, d_n * r
                d_state[b, k] *= z
            for j in range(width):
                bias_ih[j] += d_input[b, j]
                bias_hh[j] += d_recurrent[b, j]
        np.dot(d_recurrent, w_hh, d_through_w)
        d_state += d_through_w
        np.dot(d_input.T, rows[t], step_w_ih)
        np.dot(d_recurrent.T, h, step_w_hh)
        d_w_ih += step_w_ih
        d_w_hh += step_w_hh
    d_b_ih[:] = bias_ih
    d_b_hh[:] = bias_hh


@functools.cache
def blas_threads() -> ThreadpoolController:
    """The BLAS libraries loaded, whose threads each call sets to torch's (2 workers x 1 thread on 2 cores:
    OpenBLAS would otherwise start one thread per core in each)."""
    return ThreadpoolController()


class CompiledGRU(torch.autograd.Function):
    """The last states of a single-layer GRU; gradients for its weights and biases (the rows are data)."""

    @staticmethod
    def forward(ctx, rows, last_step, w_ih, b_ih, w_hh, b_hh):
        steps, events, _ = rows.shape
        units, keep = w_hh.shape[1], any(ctx.needs_input_grad)
        x = rows.detach().numpy()
        last = np.empty((events, units), dtype=np.float32)
        states = np.empty((steps + 1 if keep else 2, events, units), dtype=np.float32)
        gates = np.empty((steps if keep else 1, events, 3 * units), dtype=np.float32)
        n_hidden = np.empty((steps if keep else 1, events, units), dtype=np.float32)
        weights = [p.detach().numpy() for p in (w_ih.t().contiguous(), b_ih, w_hh.t().contiguous(), b_hh)]
        with blas_threads().limit(limits=torch.get_num_threads(), user_api="blas"):
            gru_forward(x, last_step.numpy(), *weights, last, states, gates, n_hidden)
        if keep:
            ctx.save_for_backward(rows, last_step, w_hh)
            ctx.kept = states, gates, n_hidden
        return torch.from_numpy(last)

    @staticmethod
    def backward(ctx, d_last):
        rows, last_step, w_hh = ctx.saved_tensors
        width, features = w_hh.shape[0], rows.shape[2]
        gradients = [np.empty(shape, dtype=np.float32) for shape in ((width, features), (width,), tuple(w_hh.shape), (width,))]
        with blas_threads().limit(limits=torch.get_num_threads(), user_api="blas"):
            gru_backward(d_last.contiguous().numpy(), last_step.numpy(), rows.numpy(), w_hh.detach().numpy(), *ctx.kept, *gradients)
        return None, None, *(torch.from_numpy(g) for g in gradients)


def last_states(gru: torch.nn.GRU, rows: torch.Tensor, lengths: torch.Tensor) -> torch.Tensor:
    """The state of ``gru`` (one layer, batch first, float32 on CPU) after each event's first ``lengths``
    rows of ``rows`` (events, steps, features): zero for an event without rows."""
    if rows.requires_grad:
        raise ValueError("the compiled GRU computes no gradient for its input rows")
    time_major = rows.transpose(0, 1).contiguous()
    return CompiledGRU.apply(time_major, lengths.to(torch.int64) - 1, gru.weight_ih_l0, gru.bias_ih_l0, gru.weight_hh_l0, gru.bias_hh_l0)
