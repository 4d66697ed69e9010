#!/usr/bin/env python3
"""Emulates the device engine's index math (engine/cuda/cuda_model.cpp, ops.cu) in plain Python
over flat arrays, against direct formulas of the CPU engine (engine/src/attention.cpp):

- the two strided-batched cuBLAS calls (column-major semantics, exactly the arguments the engine
  passes) for q_nope . W_UK and o_lat . W_UV^T over the row-major kv_b;
- the host's block allocation, the uploaded metadata layout (ids, pos, slot, table, lens, rows),
  the cache-write kernel and the generic latent-attention kernel (warps over tokens, online
  softmax, merge through shared memory) for a batch that mixes prefill chunks and decode rows
  over sequences already holding tokens, with causal lengths per query token.

Run: python3 engine/cuda/emulation/forward_index_emulation.py   (no dependencies; prints the
largest errors and exits non-zero on a mismatch). The device tests remain the authority.
"""
import math
import random
import sys

rng = random.Random(7)


def rnd(n):
    return [rng.uniform(-1, 1) for _ in range(n)]


def gemm_strided_batched(opA, m, n, k, A, lda, sA, B, ldb, sB, C, ldc, sC, batch, a_off=0):
    """cuBLAS column-major C_b = op(A_b) B_b (alpha 1, beta 0), op(B) = N."""
    for b in range(batch):
        for i in range(m):
            for j in range(n):
                acc = 0.0
                for p in range(k):
                    a = A[a_off + b * sA + (i + p * lda if opA == "N" else p + i * lda)]
                    acc += a * B[b * sB + p + j * ldb]
                C[b * sC + i + j * ldc] = acc


def check(name, got, want, tol=1e-9):
    err = max(abs(g - w) for g, w in zip(got, want)) if want else 0.0
    print(f"{name}: max abs error {err:.2e}")
    if not err <= tol:
        print(f"MISMATCH in {name}")
        sys.exit(1)


def main():
    nh, dn, dr, dv, kvl = 3, 4, 4, 5, 6
    qk, row = dn + dr, kvl + dr
    T = 7
    kv_b = rnd(nh * (dn + dv) * kvl)  # row-major [nh*(dn+dv), kvl]
    q = rnd(T * nh * qk)              # row-major [T, nh*qk]

    # Absorption: C (kvl x T) = A (kvl x dn) . B (dn x T) per head.
    qlat = [0.0] * (T * nh * row)
    gemm_strided_batched("N", kvl, T, dn, kv_b, kvl, (dn + dv) * kvl, q, nh * qk, qk, qlat, nh * row, row, nh)
    got, want = [], []
    for t in range(T):
        for h in range(nh):
            for c in range(kvl):
                want.append(sum(kv_b[(h * (dn + dv) + d) * kvl + c] * q[t * nh * qk + h * qk + d] for d in range(dn)))
                got.append(qlat[(t * nh + h) * row + c])
    check("absorb q_nope . W_UK", got, want)

    # W_UV: C (dv x T) = op_T(A) . B, A = kv_b from row dn of head 0, read as (kvl x dv, ld kvl).
    ol = rnd(T * nh * kvl)
    attn = [0.0] * (T * nh * dv)
    gemm_strided_batched("T", dv, T, kvl, kv_b, kvl, (dn + dv) * kvl, ol, nh * kvl, kvl, attn, nh * dv, dv, nh,
                         a_off=dn * kvl)
    got, want = [], []
    for t in range(T):
        for h in range(nh):
            for v in range(dv):
                want.append(sum(ol[t * nh * kvl + h * kvl + c] * kv_b[(h * (dn + dv) + dn + v) * kvl + c] for c in range(kvl)))
                got.append(attn[t * nh * dv + h * dv + v])
    check("o_lat . W_UV^T", got, want)

    # ---- cache, metadata, latent attention ----
    bs, num_blocks = 4, 16
    free_blocks = list(range(num_blocks - 1, -1, -1))
    rng.shuffle(free_blocks)                     # any order the free list may reach
    pool = [float("nan")] * (num_blocks * bs * row)  # unwritten rows must never be read
    seqs = {}                                    # id -> [len, blocks]
    history = {}                                 # id -> list of cached rows (reference)
    scale = 0.37

    def forward(batch):  # batch: list of (seq, n, want_logits)
        B = len(batch)
        start, first, t = [], [], 0
        max_blocks = 1
        for (s, n, _) in batch:
            st = seqs[s]
            start.append(st[0]); first.append(t); t += n
            st[0] += n
            while len(st[1]) * bs < st[0]:
                st[1].append(free_blocks.pop())
            max_blocks = max(max_blocks, len(st[1]))
        T = t
        hm = []
        ids = [rng.randrange(100) for _ in range(T)]
        hm += ids
        for i, (s, n, _) in enumerate(batch):
            hm += [start[i] + j for j in range(n)]
        for i, (s, n, _) in enumerate(batch):
            hm += [i] * n
        table_at = len(hm)
        for (s, n, _) in batch:
            blocks = seqs[s][1]
            hm += [blocks[j] if j < len(blocks) else 0 for j in range(max_blocks)]
        lens_at = len(hm)
        hm += [start[i] + batch[i][1] for i in range(B)]
        rows_at = len(hm)
        hm += [first[i] + batch[i][1] - 1 for i in range(B) if batch[i][2]]
        pos, slot = hm[T:2 * T], hm[2 * T:3 * T]
        table = hm[table_at:lens_at]
        kva = rnd(T * row)
        # cache_write_kernel
        for t in range(T):
            p = pos[t]
            blk = table[slot[t] * max_blocks + p // bs]
            for c in range(row):
                pool[(blk * bs + p % bs) * row + c] = kva[t * row + c]
        for i, (s, n, _) in enumerate(batch):
            history.setdefault(s, []).extend(kva[(first[i] + j) * row:(first[i] + j + 1) * row] for j in range(n))
        qv = rnd(T * nh * row)
        out = [0.0] * (T * nh * kvl)
        warps = 4
        for blockIdx in range(T * nh):  # latent_attention_kernel
            t, h = blockIdx // nh, blockIdx % nh
            qs = qv[(t * nh + h) * row:(t * nh + h + 1) * row]
            tb = slot[t] * max_blocks
            L = pos[t] + 1
            wm, wl, wacc = [], [], []
            for w in range(warps):
                m, l, acc = -math.inf, 0.0, [0.0] * kvl
                for j in range(w, L, warps):
                    base = (table[tb + j // bs] * bs + j % bs) * row
                    kr = pool[base:base + row]
                    s = sum(a * b for a, b in zip(qs, kr)) * scale
                    mn = max(m, s)
                    corr = math.exp(m - mn) if m != -math.inf else 0.0
                    p = math.exp(s - mn)
                    l = l * corr + p
                    acc = [a * corr + p * kr[c] for c, a in enumerate(acc)]
                    m = mn
                wm.append(m); wl.append(l); wacc.append(acc)
            mx = max(wm)
            den = sum(wl[w] * (math.exp(wm[w] - mx) if wm[w] != -math.inf else 0.0) for w in range(warps))
            for c in range(kvl):
                num = sum(wacc[w][c] * (math.exp(wm[w] - mx) if wm[w] != -math.inf else 0.0) for w in range(warps))
                out[(t * nh + h) * kvl + c] = num / den
        # Reference: causal softmax over the sequence's rows [0, pos], as the CPU prefill path.
        got, want = [], []
        for i, (s, n, _) in enumerate(batch):
            rows = history[s]
            for j in range(n):
                t = first[i] + j
                L = start[i] + j + 1
                for h in range(nh):
                    qs = qv[(t * nh + h) * row:(t * nh + h + 1) * row]
                    sc = [sum(a * b for a, b in zip(qs, rows[r])) * scale for r in range(L)]
                    mx = max(sc)
                    e = [math.exp(x - mx) for x in sc]
                    z = sum(e)
                    for c in range(kvl):
                        want.append(sum(e[r] * rows[r][c] for r in range(L)) / z)
                        got.append(out[(t * nh + h) * kvl + c])
        assert hm[lens_at:rows_at] == [seqs[s][0] for (s, _, _) in batch]
        assert all(hm[rows_at + r] < T for r in range(len(hm) - rows_at))
        return got, want

    for s in range(4):
        seqs[s] = [0, []]
    steps = [
        [(0, 1, True), (1, 9, True), (2, 4, False), (3, 13, True)],   # prefill, lengths across pages
        [(0, 6, True), (1, 1, True), (2, 1, False), (3, 1, True)],    # mixed chunk + decode rows
        [(0, 1, True), (1, 1, True), (2, 1, True), (3, 1, True)],     # pure decode
        [(3, 1, True), (0, 1, True)],                                 # subset, reordered
    ]
    worst = 0.0
    for k, b in enumerate(steps):
        got, want = forward(b)
        err = max(abs(g - w) for g, w in zip(got, want))
        worst = max(worst, err)
        if not err < 1e-12:
            print(f"MISMATCH in latent attention, forward {k}: {err:.2e}")
            sys.exit(1)
    print(f"latent attention over the paged cache (4 forwards, prefill/mixed/decode): max abs error {worst:.2e}")


if __name__ == "__main__":
    main()
