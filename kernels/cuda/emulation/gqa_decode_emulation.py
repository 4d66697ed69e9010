# Host emulation of kernels/cuda/decode_attention_gqa.cu (per-warp online softmax, shared-memory
# merge, split combine) against float64. Run: python3 gqa_decode_emulation.py
import numpy as np, math
rng = np.random.default_rng(1)
WARPS, HT, PL = 4, 4, 8
def run(lens, qh, kvh, hd, vd, chunk, bs=64, scale=0.1):
    B = len(lens); group = qh//kvh; tiles = (group+HT-1)//HT
    maxb = max((l+bs-1)//bs for l in lens); nb = sum((l+bs-1)//bs for l in lens)+1
    perm = rng.permutation(nb); table = np.zeros((B, maxb), int); k = 0
    for b, l in enumerate(lens):
        for j in range((l+bs-1)//bs): table[b, j] = perm[k]; k += 1
    row = kvh*(hd+vd)
    pool = rng.uniform(-1, 1, (nb*bs*row,)).astype(np.float32)
    k_block, k_token, k_head = row*bs, row, hd
    v_base = kvh*hd; v_block, v_token, v_head = row*bs, row, vd
    q = rng.uniform(-1, 1, (B, qh, hd)).astype(np.float32)
    ms = max((l+chunk-1)//chunk for l in lens)
    opart = np.full((B, ms, qh, vd), np.nan); lpart = np.full((B, ms, qh), np.nan)
    sl2 = scale*1.4426950408889634
    for b in range(B):
      for split in range(ms):
        for y in range(kvh*tiles):
          kv = y//tiles; tile = y % tiles; L = lens[b]; begin = split*chunk
          if begin >= L: continue
          end = min(L, begin+chunk); h_first = kv*group + tile*HT; nh = min(HT, (kv+1)*group - h_first)
          s_acc = np.zeros((WARPS, HT, 256)); s_m = np.zeros((WARPS, HT)); s_l = np.zeros((WARPS, HT))
          for w in range(WARPS):
              m = [-math.inf]*HT; l = [0.0]*HT; acc = np.zeros((HT, 256))
              qq = np.zeros((HT, 256))
              for h in range(nh): qq[h, :hd] = q[b, h_first+h]
              for t in range(begin+w, end, WARPS):
                  page = table[b, t//bs]; slot = t % bs
                  kr = pool[page*k_block + slot*k_token + kv*k_head:][:hd]
                  vr = pool[v_base + page*v_block + slot*v_token + kv*v_head:][:vd]
                  kvv = np.zeros(256); kvv[:hd] = kr
                  s = [float(qq[h] @ kvv)*sl2 for h in range(HT)]
                  vv = np.zeros(256); vv[:vd] = vr
                  for h in range(HT):
                      mn = max(m[h], s[h]); al = 2**(m[h]-mn) if m[h] != -math.inf else 0.0
                      p = 2**(s[h]-mn); l[h] = l[h]*al + p; acc[h] = acc[h]*al + p*vv; m[h] = mn
              s_acc[w] = acc; s_m[w] = m; s_l[w] = l
          for h in range(nh):
              mx = max(s_m[:, h]); ls = 0; o = np.zeros(vd)
              for w in range(WARPS):
                  if s_m[w, h] == -math.inf: continue
                  f = 2**(s_m[w, h]-mx); ls += s_l[w, h]*f; o += s_acc[w, h, :vd]*f
              opart[b, split, h_first+h] = o/ls; lpart[b, split, h_first+h] = mx + math.log2(ls)
    out = np.zeros((B, qh, vd))
    for b in range(B):
        n = (lens[b]+chunk-1)//chunk
        for h in range(qh):
            mx = max(lpart[b, :n, h]); ws = 2**(lpart[b, :n, h]-mx)
            out[b, h] = (ws[:, None]*opart[b, :n, h]).sum(0)/ws.sum()
    ref = np.zeros_like(out)
    for b in range(B):
        for h in range(qh):
            kv = h//group; K = []; V = []
            for t in range(lens[b]):
                page = table[b, t//bs]; slot = t % bs
                K.append(pool[page*k_block + slot*k_token + kv*k_head:][:hd]); V.append(pool[v_base + page*v_block + slot*v_token + kv*v_head:][:vd])
            K = np.array(K, np.float64); V = np.array(V, np.float64)
            sc = K @ q[b, h]*scale; p = np.exp(sc-sc.max()); p /= p.sum(); ref[b, h] = p @ V
    err = np.abs(out-ref).max()/np.abs(ref).max(); print(lens, qh, kvh, hd, vd, chunk, err); return err
assert run([1, 77, 300], 10, 1, 64, 96, 64) < 1e-5
assert run([5, 130], 6, 3, 192, 128, 64) < 1e-5
assert run([70], 8, 8, 32, 32, 256) < 1e-5
print("OK")
