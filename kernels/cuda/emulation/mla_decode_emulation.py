# Host emulation of kernels/cuda/mla_decode_absorbed.cu, lane by lane, with the PTX ISA fragment
# layouts of mma.m16n8k16 and ldmatrix.trans; checks the kernel's indexing, masking, online
# softmax and split combine against float64 without a GPU. Run: python3 mla_decode_emulation.py
import numpy as np
rng = np.random.default_rng(0)
D, DV, TILE, HEADS, WARPS = 576, 512, 32, 16, 4
def bf16(x):
    x = np.asarray(x, dtype=np.float32)
    u = x.view(np.uint32).astype(np.uint64)
    u = (u + 0x7fff + ((u >> 16) & 1)) & 0xffff0000
    return u.astype(np.uint32).view(np.float32)

def mma(d, A, B):  # d: dict lane->[4]; A: 16x16 matrix from lanes' a regs; B: 16x8
    C = A.astype(np.float64) @ B.astype(np.float64)
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        d[lane][0] += C[g, 2*t]; d[lane][1] += C[g, 2*t+1]
        d[lane][2] += C[g+8, 2*t]; d[lane][3] += C[g+8, 2*t+1]

def a_from_lanes(get):  # get(lane) -> (a0pair,a1pair,a2pair,a3pair) each 2 values; build A 16x16
    A = np.zeros((16, 16), np.float32)
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        r = get(lane)
        A[g, 2*t:2*t+2] = r[0]; A[g+8, 2*t:2*t+2] = r[1]
        A[g, 2*t+8:2*t+10] = r[2]; A[g+8, 2*t+8:2*t+10] = r[3]
    return A

def b_from_lanes(get):  # get(lane) -> (b0pair, b1pair); B 16x8 with b0 = B[2t..2t+1][g]
    B = np.zeros((16, 8), np.float32)
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        r = get(lane)
        B[2*t:2*t+2, g] = r[0]; B[2*t+8:2*t+10, g] = r[1]
    return B

def ldmatrix_x4_trans(addr_of_lane, smem):  # returns per-lane (r0..r3) each pair
    mats = []
    for m in range(4):
        rows = [smem[addr_of_lane(m*8 + i)] for i in range(8)]  # each row: 8 values
        mats.append(np.array(rows))  # 8x8 stored matrix
    out = {}
    for lane in range(32):
        g, t = lane >> 2, lane & 3
        # trans: lane gets [row 2t, 2t+1][col g]
        out[lane] = [np.array([mats[m][2*t, g], mats[m][2*t+1, g]]) for m in range(4)]
    return out

def run(lens, heads, chunk, block=64, scale=0.07):
    B = len(lens)
    maxb = max((l + block - 1)//block for l in lens)
    nblocks = sum((l + block - 1)//block for l in lens) + 2
    perm = rng.permutation(nblocks)
    table = np.zeros((B, maxb), int); k = 0
    for b, l in enumerate(lens):
        for j in range((l+block-1)//block): table[b, j] = perm[k]; k += 1
    cache = bf16(rng.uniform(-1, 1, (nblocks*block, D)))
    q = bf16(rng.uniform(-1, 1, (B, heads, D)))
    max_splits = max((l + chunk - 1)//chunk for l in lens)
    o_part = np.full((B, max_splits, heads, DV), np.nan); lse_part = np.full((B, max_splits, heads), np.nan)
    scale_log2 = np.float32(scale * 1.4426950408889634)
    hgroups = (heads + HEADS - 1)//HEADS
    for b in range(B):
      for split in range(max_splits):
        for hg in range(hgroups):
          L = lens[b]; begin = split*chunk
          if begin >= L: continue
          end = min(L, begin+chunk); head0 = hg*HEADS
          sq = np.zeros((HEADS, D), np.float32)
          for h in range(HEADS):
              if head0 + h < heads: sq[h] = q[b, head0+h]
          o = {w: {lane: [[0.0]*4 for _ in range(16)] for lane in range(32)} for w in range(WARPS)}
          m_run = {w: {lane: [-np.inf, -np.inf] for lane in range(32)} for w in range(WARPS)}
          l_run = {w: {lane: [0.0, 0.0] for lane in range(32)} for w in range(WARPS)}
          n_tiles = (end - begin + TILE - 1)//TILE
          for it in range(n_tiles):
              t0 = begin + it*TILE
              page = table[b, t0//block]
              sk = np.zeros((TILE, D), np.float32)
              for r in range(TILE):
                  if t0 + r < end: sk[r] = cache[page*block + t0 % block + r]
              max_part = np.zeros((WARPS, HEADS)); sum_part = np.zeros((WARPS, HEADS))
              S = {}
              for w in range(WARPS):
                  s = {lane: [0.0]*4 for lane in range(32)}
                  for ks in range(D//16):
                      A = a_from_lanes(lambda lane: (lambda g, t: (sq[g, ks*16+2*t:ks*16+2*t+2], sq[g+8, ks*16+2*t:ks*16+2*t+2], sq[g, ks*16+8+2*t:ks*16+10+2*t], sq[g+8, ks*16+8+2*t:ks*16+10+2*t]))(lane>>2, lane&3))
                      Bm = b_from_lanes(lambda lane: (lambda g, t: (sk[w*8+g, ks*16+2*t:ks*16+2*t+2], sk[w*8+g, ks*16+8+2*t:ks*16+10+2*t]))(lane>>2, lane&3))
                      mma(s, A, Bm)
                  for lane in range(32):
                      g, t = lane >> 2, lane & 3; tcol = w*8 + 2*t
                      for j in range(4):
                          s[lane][j] = np.float32(s[lane][j])*scale_log2 if t0 + tcol + (j & 1) < end else -np.inf
                  for g in range(8):
                      lanes = [g*4 + t for t in range(4)]
                      max_part[w, g] = max(max(s[l][0], s[l][1]) for l in lanes)
                      max_part[w, g+8] = max(max(s[l][2], s[l][3]) for l in lanes)
                  S[w] = s
              sp = np.zeros((HEADS, TILE + 8), np.float32)
              alphas = {}
              for w in range(WARPS):
                  for lane in range(32):
                      g, t = lane >> 2, lane & 3; tcol = w*8 + 2*t
                      al = [0, 0]; mu = [0, 0]
                      for r in range(2):
                          row = g + 8*r
                          mt = max(max_part[:, row]); m_new = max(m_run[w][lane][r], mt)
                          mu[r] = 0.0 if m_new == -np.inf else m_new
                          al[r] = 2.0**(m_run[w][lane][r] - mu[r]); m_run[w][lane][r] = m_new
                      s = S[w][lane]
                      p0 = bf16([2.0**(s[0]-mu[0]), 2.0**(s[1]-mu[0])]); p1 = bf16([2.0**(s[2]-mu[1]), 2.0**(s[3]-mu[1])])
                      sp[g, tcol:tcol+2] = p0; sp[g+8, tcol:tcol+2] = p1
                      alphas[(w, lane)] = al
                  for g in range(8):
                      sum_part[w, g] = sum(sp[g, w*8:w*8+8]); sum_part[w, g+8] = sum(sp[g+8, w*8:w*8+8])
              for w in range(WARPS):
                  for lane in range(32):
                      g = lane >> 2; al = alphas[(w, lane)]
                      for r in range(2):
                          l_run[w][lane][r] = l_run[w][lane][r]*al[r] + sum(sum_part[:, g+8*r])
                      for j in range(16):
                          o[w][lane][j][0] *= al[0]; o[w][lane][j][1] *= al[0]; o[w][lane][j][2] *= al[1]; o[w][lane][j][3] *= al[1]
                  for ks in range(TILE//16):
                      A = a_from_lanes(lambda lane: (lambda g, t: (sp[g, ks*16+2*t:ks*16+2*t+2], sp[g+8, ks*16+2*t:ks*16+2*t+2], sp[g, ks*16+8+2*t:ks*16+10+2*t], sp[g+8, ks*16+8+2*t:ks*16+10+2*t]))(lane>>2, lane&3))
                      for pair in range(8):
                          def addr(lane):
                              return (ks*16 + (lane & 15), w*128 + (lane >> 4)*8 + pair*16)
                          regs = ldmatrix_x4_trans(lambda L: addr(L), _Rows(sk))
                          for nt, (ra, rb) in enumerate([(0, 1), (2, 3)]):
                              Bm = b_from_lanes(lambda lane: (regs[lane][ra], regs[lane][rb]))
                              acc = {lane: o[w][lane][2*pair+nt] for lane in range(32)}
                              mma(acc, A, Bm)
          for w in range(WARPS):
              for lane in range(32):
                  g, t = lane >> 2, lane & 3
                  for r in range(2):
                      head = head0 + g + 8*r
                      if head >= heads: continue
                      lr = l_run[w][lane][r]; inv = 1/lr if lr > 0 else 0
                      for j in range(16):
                          c = w*128 + t*2 + j*8
                          o_part[b, split, head, c] = o[w][lane][j][2*r]*inv
                          o_part[b, split, head, c+1] = o[w][lane][j][2*r+1]*inv
                      if w == 0 and t == 0:
                          lse_part[b, split, head] = m_run[w][lane][r] + np.log2(lr) if lr > 0 else -np.inf
    out = np.zeros((B, heads, DV))
    for b in range(B):
        n = min((lens[b] + chunk - 1)//chunk, max_splits)
        for h in range(heads):
            mx = max(lse_part[b, s, h] for s in range(n))
            ws = [2.0**(lse_part[b, s, h]-mx) for s in range(n)]
            out[b, h] = sum(ws[s]*o_part[b, s, h] for s in range(n))/sum(ws)
    # reference
    ref = np.zeros_like(out)
    for b in range(B):
        rows = np.array([cache[table[b, t//block]*block + t % block] for t in range(lens[b])], np.float64)
        for h in range(heads):
            sc = rows @ q[b, h].astype(np.float64) * scale
            p = np.exp(sc - sc.max()); p /= p.sum()
            ref[b, h] = p @ rows[:, :DV]
    err = np.abs(out - ref).max()/np.abs(ref).max()
    print("lens", lens, "heads", heads, "chunk", chunk, "rel err", err)
    return err

class _Rows:
    def __init__(self, sk): self.sk = sk
    def __getitem__(self, a):
        r, c = a
        return self.sk[r, c:c+8]

assert run([5, 70], 16, 64) < 2e-2
assert run([40, 100], 20, 64) < 2e-2
print("OK")
