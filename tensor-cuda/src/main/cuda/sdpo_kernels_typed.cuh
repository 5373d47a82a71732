// The kernels for one element type T, named SFX(name): included by sdpo_kernels.cu once with
// T = float (name_f32) and once with T = double (name_f64). Shape legends as in Backend.java:
// N elements, R rows, C or K or V the last axis, B batch, H heads, T time, D head size.

// ------------------------------------------------------------------ elementwise over views

// out (operand 0) = op(a (operand 1)), s the scalar of a ScalarOp.
extern "C" __global__ void SFX(map)(int op, double s, Dims d, const T* a, T* out) {
  ILP_LOOP(base, d.n) {
    T v[ILP];
    int to[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < d.n) {
        int o[4];
        locate(d, (int) i, o);
        to[q] = o[0];
        v[q] = a[o[1]];
      }
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      if (ILP_AT(base, q) < d.n) out[to[q]] = (T) apply_map(op, (double) v[q], s);
    }
  }
}

// out (operand 0: the slice at offset 0) = a (operand 1), written start[0] * step elements
// further: a copy into a slice whose start is read on the device (the KV cache's write position,
// which a recorded decode step reads at each replay). Writes nothing if start[0] is outside
// [0, limit].
extern "C" __global__ void SFX(copy_at)(Dims d, const int* start, int step, int limit,
    const T* a, T* out) {
  int s = start[0];
  if (s < 0 || s > limit) return;
  long long shift = (long long) s * step;
  GRID_STRIDE(i, d.n) {
    int o[4];
    locate(d, i, o);
    out[shift + o[0]] = a[o[1]];
  }
}

// out (operand 0) = a (1) op b (2), broadcasting by zero strides.
extern "C" __global__ void SFX(binary)(int op, Dims d, const T* a, const T* b, T* out) {
  ILP_LOOP(base, d.n) {
    T u[ILP];
    T v[ILP];
    int to[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < d.n) {
        int o[4];
        locate(d, (int) i, o);
        to[q] = o[0];
        u[q] = a[o[1]];
        v[q] = b[o[2]];
      }
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      if (ILP_AT(base, q) < d.n) out[to[q]] = (T) apply_binary(op, (double) u[q], (double) v[q]);
    }
  }
}

// out (0) = cond (1) != 0 ? a (2) : b (3).
extern "C" __global__ void SFX(where)(Dims d, const T* cond, const T* a, const T* b, T* out) {
  GRID_STRIDE(i, d.n) {
    int o[4];
    locate(d, i, o);
    out[o[0]] = cond[o[1]] != 0 ? a[o[2]] : b[o[3]];
  }
}

// out (0) = value.
extern "C" __global__ void SFX(fill)(Dims d, double value, T* out) {
  GRID_STRIDE(i, d.n) {
    int o[4];
    locate(d, i, o);
    out[o[0]] = (T) value;
  }
}

// fill over many tensors (a table row per tensor: x, -, -, -, n, -), one chunk a block.
extern "C" __global__ void SFX(fill_many)(int tensors, const long long* table, double value) {
  MANY_BLOCK(table, tensors, te, start, end)
  T* x = (T*) te[0];
  for (long long i = start + threadIdx.x; i < end; i += blockDim.x) x[i] = (T) value;
}

// y (0) += alpha x (1).
extern "C" __global__ void SFX(axpy)(Dims d, double alpha, const T* x, T* y) {
  ILP_LOOP(base, d.n) {
    T u[ILP];
    T v[ILP];
    int to[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < d.n) {
        int o[4];
        locate(d, (int) i, o);
        to[q] = o[0];
        u[q] = y[o[0]];
        v[q] = x[o[1]];
      }
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      if (ILP_AT(base, q) < d.n) y[to[q]] = (T) ((double) u[q] + alpha * (double) v[q]);
    }
  }
}

// ------------------------------------------------------------------ reductions

// One block per output element: outer is the output's index space (operand 0 the output's
// strides, 1 the input's over the kept axes), inner the reduced axes (operand 1 the input's
// strides over them). op: 0 sum, 1 mean, 2 max.
extern "C" __global__ void SFX(reduce)(int op, Dims outer, Dims inner, const T* a, T* out) {
  __shared__ double sh[THREADS];
  for (int r = blockIdx.x; r < outer.n; r += gridDim.x) {
    int oo[4];
    locate(outer, r, oo);
    double acc = op == 2 ? -INFINITY : 0.0;
    for (int j = threadIdx.x; j < inner.n; j += blockDim.x) {
      int io[4];
      locate(inner, j, io);
      double v = (double) a[oo[1] + io[1]];
      acc = op == 2 ? ((v != v || acc != acc) ? v + acc : fmax(acc, v)) : acc + v;
    }
    acc = op == 2 ? block_max(acc, sh) : block_sum(acc, sh);
    if (threadIdx.x == 0) out[oo[0]] = (T) (op == 1 ? acc / inner.n : acc);
  }
}

// Column sums of a (R, C) matrix, deterministic, in two launches: col_partial then col_finish.
// Block b covers COL_TILE columns (tile b % tiles) of the rowsPerChunk rows of chunk b / tiles;
// row lane l (a warp: COL_TILE consecutive columns, coalesced) adds rows l, l + ROW_LANES, ... of
// the chunk in order, then lane 0 adds the ROW_LANES lane sums in lane order into
// partial[k][chunk][c]. What is summed (mode): 0 g; 1 layer norm's {g xhat, g} with
// xhat = (x - mean) rstd (partial has 2 planes); 2 RMS norm's g x rstd.
extern "C" __global__ void SFX(col_partial)(int mode, int rows, int C, int rowsPerChunk,
    const T* g, const T* x, const double* mean, const double* rstd, double* partial) {
  __shared__ double sh[2][ROW_LANES][COL_TILE];
  int tiles = (C + COL_TILE - 1) / COL_TILE;
  int chunks = (rows + rowsPerChunk - 1) / rowsPerChunk;
  int lane = threadIdx.x % COL_TILE;
  int rl = threadIdx.x / COL_TILE;
  for (int b = blockIdx.x; b < tiles * chunks; b += gridDim.x) {
    int c = (b % tiles) * COL_TILE + lane;
    int chunk = b / tiles;
    int r0 = chunk * rowsPerChunk;
    int r1 = min(rows, r0 + rowsPerChunk);
    double a0 = 0.0;
    double a1 = 0.0;
    if (c < C) {
      for (int r = r0 + rl; r < r1; r += ROW_LANES) {
        long long o = (long long) r * C + c;
        double dy = (double) g[o];
        if (mode == 0) {
          a0 += dy;
        } else if (mode == 1) {
          a0 += dy * ((double) x[o] - mean[r]) * rstd[r];
          a1 += dy;
        } else {
          a0 += dy * (double) x[o] * rstd[r];
        }
      }
    }
    sh[0][rl][lane] = a0;
    sh[1][rl][lane] = a1;
    __syncthreads();
    if (rl == 0 && c < C) {
      double s0 = 0.0;
      double s1 = 0.0;
      for (int k = 0; k < ROW_LANES; k++) {
        s0 += sh[0][k][lane];
        s1 += sh[1][k][lane];
      }
      partial[(long long) chunk * C + c] = s0;
      if (mode == 1) partial[(long long) (chunks + chunk) * C + c] = s1;
    }
    __syncthreads();
  }
}

// out0 (C) = column sums / divisor; out1 (C) = layer norm's dbeta (mode 1). See col_finish_at.
extern "C" __global__ void SFX(col_finish)(int mode, int chunks, int C, double divisor,
    const double* partial, T* out0, T* out1) {
  GRID_STRIDE(c, C) {
    double s0;
    double s1;
    col_finish_at(c, mode, chunks, C, partial, &s0, &s1);
    out0[c] = (T) (s0 / divisor);
    if (mode == 1) out1[c] = (T) s1;
  }
}

// Sum of squares of x (N): block b's share into partial[b] (the host adds the partials in order).
extern "C" __global__ void SFX(sum_squares)(int n, const T* x, double* partial) {
  __shared__ double sh[THREADS];
  double acc = 0.0;
  GRID_STRIDE(i, n) {
    double v = (double) x[i];
    acc += v * v;
  }
  acc = block_sum(acc, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// sum_squares over many tensors (a table row per tensor: x, -, -, -, n, -): block b's chunk's sum
// of squares into partial[b]; clip_norm adds the partials in block order.
extern "C" __global__ void SFX(sum_squares_many)(int tensors, const long long* table,
    double* partial) {
  __shared__ double sh[THREADS];
  MANY_BLOCK(table, tensors, te, start, end)
  const T* x = (const T*) te[0];
  double acc = 0.0;
  for (long long i = start + threadIdx.x; i < end; i += blockDim.x) {
    double v = (double) x[i];
    acc += v * v;
  }
  acc = block_sum(acc, sh);
  if (threadIdx.x == 0) partial[blockIdx.x] = acc;
}

// clip_scale over many tensors (the table of sum_squares_many), one chunk a block.
extern "C" __global__ void SFX(clip_scale_many)(int tensors, const long long* table,
    const double* clip) {
  if (clip[0] == 0.0) return;
  double s = clip[1];
  MANY_BLOCK(table, tensors, te, start, end)
  T* x = (T*) te[0];
  for (long long base = start + threadIdx.x; base < end; base += ILP * blockDim.x) {
    T xs[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = base + q * (long long) blockDim.x;
      if (i < end) xs[q] = x[i];
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = base + q * (long long) blockDim.x;
      if (i < end) x[i] = (T) ((double) xs[q] * s);
    }
  }
}

// Gradient clipping's scaling: x *= clip[1] when clip[0] != 0 (clip_norm's decision): x (N).
extern "C" __global__ void SFX(clip_scale)(int n, const double* clip, T* x) {
  if (clip[0] == 0.0) return;
  double s = clip[1];
  ILP_LOOP(base, n) {
    T xs[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      if (ILP_AT(base, q) < n) xs[q] = x[ILP_AT(base, q)];
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      if (ILP_AT(base, q) < n) x[ILP_AT(base, q)] = (T) ((double) xs[q] * s);
    }
  }
}

// flag = 1 if some element of x (N) is NaN or infinite (flag was zeroed before).
extern "C" __global__ void SFX(is_finite)(int n, const T* x, int* flag) {
  GRID_STRIDE(i, n) {
    if (!isfinite((double) x[i])) *flag = 1;
  }
}

// ------------------------------------------------------------------ row kernels (R, C)

// y = softmax(x) per row: x, y (R, C).
extern "C" __global__ void SFX(softmax)(int rows, int C, const T* x, T* y) {
  __shared__ double sh[THREADS];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + (long long) r * C;
    T* yr = y + (long long) r * C;
    double m = -INFINITY;
    for (int c = threadIdx.x; c < C; c += blockDim.x) m = fmax(m, (double) xr[c]);
    m = block_max(m, sh);
    double s = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) s += exp((double) xr[c] - m);
    s = block_sum(s, sh);
    for (int c = threadIdx.x; c < C; c += blockDim.x) yr[c] = (T) (exp((double) xr[c] - m) / s);
  }
}

// y = log softmax(x) per row = x - (m + log sum_c exp(x_c - m)), m = max_c x_c: x, y (R, C); y may
// be x. Two reads of a row and one write (a composition of max, exp, sum and subtractions takes
// eight passes): the first read keeps each thread's running max m_t and s_t = sum exp(x - m_t) over
// its elements (an online softmax: a new max rescales s_t); the block then takes M = max_t m_t and
// S = sum_t s_t exp(m_t - M), and the second read writes x - (M + log S). An element of -inf adds
// nothing; a row all -inf gives NaN, as the composition does.
extern "C" __global__ void SFX(log_softmax)(int rows, int C, const T* x, T* y) {
  __shared__ double sh[THREADS];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    const T* xr = x + (long long) r * C;
    T* yr = y + (long long) r * C;
    double m = -INFINITY;
    double s = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      double v = (double) xr[c];
      if (v > m) {
        s = s * exp(m - v) + 1.0; // exp(-inf) = 0 for the first element
        m = v;
      } else if (v != -INFINITY) {
        s += exp(v - m); // NaN stays NaN
      }
    }
    double M = block_max(m, sh);
    double S = block_sum(m == -INFINITY ? 0.0 : s * exp(m - M), sh);
    double lse = M + log(S);
    for (int c = threadIdx.x; c < C; c += blockDim.x) yr[c] = (T) ((double) xr[c] - lse);
  }
}

// dx = scale y (g - rowsum(g y)): y, g, dx (R, K). A row of up to THREADS * ROW_REGS elements is
// read once into registers (element j = threadIdx.x + k THREADS in slot k); a longer one twice.
// The sums are the same either way: each thread adds its elements in order, then block_sum.
extern "C" __global__ void SFX(softmax_backward)(int rows, int K, double scale, const T* y,
    const T* g, T* dx) {
  __shared__ double sh[THREADS];
  if (K <= THREADS * ROW_REGS) {
    for (int r = blockIdx.x; r < rows; r += gridDim.x) {
      long long o = (long long) r * K;
      double yv[ROW_REGS];
      double gv[ROW_REGS];
      double dot = 0.0;
#pragma unroll
      for (int k = 0; k < ROW_REGS; k++) {
        int j = threadIdx.x + k * THREADS;
        yv[k] = j < K ? (double) y[o + j] : 0.0;
        gv[k] = j < K ? (double) g[o + j] : 0.0;
        if (j < K) dot += gv[k] * yv[k];
      }
      dot = block_sum(dot, sh);
#pragma unroll
      for (int k = 0; k < ROW_REGS; k++) {
        int j = threadIdx.x + k * THREADS;
        if (j < K) dx[o + j] = (T) (scale * yv[k] * (gv[k] - dot));
      }
    }
    return;
  }
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    long long o = (long long) r * K;
    double dot = 0.0;
    for (int j = threadIdx.x; j < K; j += blockDim.x) dot += (double) g[o + j] * (double) y[o + j];
    dot = block_sum(dot, sh);
    for (int j = threadIdx.x; j < K; j += blockDim.x) {
      dx[o + j] = (T) (scale * (double) y[o + j] * ((double) g[o + j] - dot));
    }
  }
}

// dx = g - p rowsum(g): p, g, dx (R, K); dx may be p.
extern "C" __global__ void SFX(log_softmax_backward)(int rows, int K, const T* p, const T* g,
    T* dx) {
  __shared__ double sh[THREADS];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    long long o = (long long) r * K;
    double sum = 0.0;
    for (int j = threadIdx.x; j < K; j += blockDim.x) sum += (double) g[o + j];
    sum = block_sum(sum, sh);
    for (int j = threadIdx.x; j < K; j += blockDim.x) {
      dx[o + j] = (T) ((double) g[o + j] - (double) p[o + j] * sum);
    }
  }
}

// rstd = 1 / sqrt(mean_c(x^2) + eps), y = x rstd gamma: x, y (R, C), gamma (C), rstd (R).
extern "C" __global__ void SFX(rms_norm)(int rows, int C, double eps, const T* x, const T* gamma,
    T* y, double* rstd) {
  __shared__ double sh[THREADS];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    long long o = (long long) r * C;
    double ms = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) ms += (double) x[o + c] * (double) x[o + c];
    ms = block_sum(ms, sh);
    double s = 1.0 / sqrt(ms / C + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      y[o + c] = (T) ((double) x[o + c] * s * (double) gamma[c]);
    }
    if (threadIdx.x == 0) rstd[r] = s;
  }
}

// dx = rstd (g gamma - xhat mean_c(g gamma xhat)), xhat = x rstd: x, g, dx (R, C).
extern "C" __global__ void SFX(rms_norm_backward)(int rows, int C, const T* x, const T* gamma,
    const double* rstd, const T* g, T* dx) {
  __shared__ double sh[THREADS];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    long long o = (long long) r * C;
    double s = rstd[r];
    double m = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      m += (double) g[o + c] * (double) gamma[c] * (double) x[o + c] * s;
    }
    m = block_sum(m, sh) / C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      double xhat = (double) x[o + c] * s;
      dx[o + c] = (T) (s * ((double) g[o + c] * (double) gamma[c] - xhat * m));
    }
  }
}

// y = (x - mean) rstd gamma + beta (biased variance): x, y (R, C); gamma, beta (C); mean, rstd (R).
extern "C" __global__ void SFX(layer_norm)(int rows, int C, double eps, const T* x,
    const T* gamma, const T* beta, T* y, double* mean, double* rstd) {
  __shared__ double sh[THREADS];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    long long o = (long long) r * C;
    double m = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) m += (double) x[o + c];
    m = block_sum(m, sh) / C;
    double v = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      double d = (double) x[o + c] - m;
      v += d * d;
    }
    v = block_sum(v, sh);
    double s = 1.0 / sqrt(v / C + eps);
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      y[o + c] = (T) (((double) x[o + c] - m) * s * (double) gamma[c] + (double) beta[c]);
    }
    if (threadIdx.x == 0) {
      mean[r] = m;
      rstd[r] = s;
    }
  }
}

// dx = rstd (dxhat - mean_c(dxhat) - xhat mean_c(dxhat xhat)), dxhat = g gamma: x, g, dx (R, C).
extern "C" __global__ void SFX(layer_norm_backward)(int rows, int C, const T* x, const T* gamma,
    const double* mean, const double* rstd, const T* g, T* dx) {
  __shared__ double sh[THREADS];
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    long long o = (long long) r * C;
    double m = mean[r];
    double s = rstd[r];
    double md = 0.0;
    double mdx = 0.0;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      double xhat = ((double) x[o + c] - m) * s;
      double dxhat = (double) g[o + c] * (double) gamma[c];
      md += dxhat;
      mdx += dxhat * xhat;
    }
    md = block_sum(md, sh) / C;
    mdx = block_sum(mdx, sh) / C;
    for (int c = threadIdx.x; c < C; c += blockDim.x) {
      double xhat = ((double) x[o + c] - m) * s;
      dx[o + c] = (T) (s * ((double) g[o + c] * (double) gamma[c] - md - xhat * mdx));
    }
  }
}

// ------------------------------------------------------------------ elementwise, contiguous (N)

// t = tanh(sqrt(2/pi) (x + 0.044715 x^3)), y = 0.5 x (1 + t).
extern "C" __global__ void SFX(gelu)(int n, const T* x, T* y, T* t) {
  ILP_LOOP(base, n) {
    T xs[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      if (ILP_AT(base, q) < n) xs[q] = x[ILP_AT(base, q)];
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < n) {
        double v = (double) xs[q];
        double th = tanh_cpu(0.7978845608028654 * (v + 0.044715 * v * v * v));
        t[i] = (T) th;
        y[i] = (T) (0.5 * v * (1.0 + (double) (T) th));
      }
    }
  }
}

// dx = g (0.5 (1 + t) + 0.5 x (1 - t^2) sqrt(2/pi) (1 + 3 * 0.044715 x^2)).
extern "C" __global__ void SFX(gelu_backward)(int n, const T* x, const T* t, const T* g, T* dx) {
  ILP_LOOP(base, n) {
    T xs[ILP];
    T ts[ILP];
    T gs[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < n) {
        xs[q] = x[i];
        ts[q] = t[i];
        gs[q] = g[i];
      }
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < n) {
        double v = (double) xs[q];
        double th = (double) ts[q];
        double dudx = 0.7978845608028654 * (1.0 + 3.0 * 0.044715 * v * v);
        dx[i] = (T) ((double) gs[q] * (0.5 * (1.0 + th) + 0.5 * v * (1.0 - th * th) * dudx));
      }
    }
  }
}

// s = sigmoid(x), y = x s.
extern "C" __global__ void SFX(silu)(int n, const T* x, T* y, T* s) {
  GRID_STRIDE(i, n) {
    double v = (double) x[i];
    double sg = 1.0 / (1.0 + exp(-v));
    s[i] = (T) sg;
    y[i] = (T) (v * sg);
  }
}

// dx = g s (1 + x (1 - s)).
extern "C" __global__ void SFX(silu_backward)(int n, const T* x, const T* s, const T* g, T* dx) {
  GRID_STRIDE(i, n) {
    double sg = (double) s[i];
    dx[i] = (T) ((double) g[i] * sg * (1.0 + (double) x[i] * (1.0 - sg)));
  }
}

// y = log(1 - e^x), x < 0: expm1 near 0, log1p far from it.
extern "C" __global__ void SFX(log1mexp)(int n, const T* x, T* y) {
  GRID_STRIDE(i, n) {
    double v = (double) x[i];
    y[i] = (T) (v > -0.6931471805599453 ? log(-expm1(v)) : log1p(-exp(v)));
  }
}

// dx = -g / expm1(-x).
extern "C" __global__ void SFX(log1mexp_backward)(int n, const T* x, const T* g, T* dx) {
  GRID_STRIDE(i, n) { dx[i] = (T) (-(double) g[i] / expm1(-(double) x[i])); }
}

// Element i of AdamW's update from its loaded g, m, v, p: m = b1 m + (1 - b1) g,
// v = b2 v + (1 - b2) g^2, p = p - lr (m / bc1) / (sqrt(v / bc2) + eps) - lr wd p. Shared by
// adamw and adamw_many, so both compile the same arithmetic.
__device__ __forceinline__ void SFX(adamw_at)(long long i, T g, T m0, T v0, T p0, double lr,
    double bc1, double bc2, double beta1, double beta2, double eps, double wd, T* p, T* m, T* v) {
  double gi = (double) g;
  double mi = beta1 * (double) m0 + (1.0 - beta1) * gi;
  double vi = beta2 * (double) v0 + (1.0 - beta2) * gi * gi;
  m[i] = (T) mi;
  v[i] = (T) vi;
  double pi = (double) p0;
  p[i] = (T) (pi - lr * (mi / bc1) / (sqrt(vi / bc2) + eps) - lr * wd * pi);
}

// adamw over many tensors in one launch (a table row per tensor: p, g, m, v, n, its weight decay
// as bits), one chunk a block; each element's update is adamw's (adamw_at).
extern "C" __global__ void SFX(adamw_many)(int tensors, const long long* table,
    const double* step, double beta1, double beta2, double eps) {
  MANY_BLOCK(table, tensors, te, start, end)
  T* p = (T*) te[0];
  const T* g = (const T*) te[1];
  T* m = (T*) te[2];
  T* v = (T*) te[3];
  double wd = __longlong_as_double(te[5]);
  double lr = step[0];
  double bc1 = step[1];
  double bc2 = step[2];
  for (long long base = start + threadIdx.x; base < end; base += ILP * blockDim.x) {
    T gs[ILP];
    T ms[ILP];
    T vs[ILP];
    T ps[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = base + q * (long long) blockDim.x;
      if (i < end) {
        gs[q] = g[i];
        ms[q] = m[i];
        vs[q] = v[i];
        ps[q] = p[i];
      }
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = base + q * (long long) blockDim.x;
      if (i < end) {
        SFX(adamw_at)(i, gs[q], ms[q], vs[q], ps[q], lr, bc1, bc2, beta1, beta2, eps, wd, p, m, v);
      }
    }
  }
}

// In place on p, m, v (N): m = b1 m + (1 - b1) g, v = b2 v + (1 - b2) g^2,
// p = p - lr (m / bc1) / (sqrt(v / bc2) + eps) - lr wd p.
extern "C" __global__ void SFX(adamw)(int n, const double* step, double beta1, double beta2,
    double eps, double wd, T* p, const T* g, T* m, T* v) {
  double lr = step[0];
  double bc1 = step[1];
  double bc2 = step[2];
  ILP_LOOP(base, n) {
    T gs[ILP];
    T ms[ILP];
    T vs[ILP];
    T ps[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < n) {
        gs[q] = g[i];
        ms[q] = m[i];
        vs[q] = v[i];
        ps[q] = p[i];
      }
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < n) {
        SFX(adamw_at)(i, gs[q], ms[q], vs[q], ps[q], lr, bc1, bc2, beta1, beta2, eps, wd, p, m, v);
      }
    }
  }
}

// t = (1 - rate) t + rate s, in place (N).
extern "C" __global__ void SFX(ema)(int n, double rate, T* t, const T* s) {
  GRID_STRIDE(i, n) { t[i] = (T) ((1.0 - rate) * (double) t[i] + rate * (double) s[i]); }
}

// (B, H, T, D) rotate-half: y1 = x1 cos - x2 sin', y2 = x2 cos + x1 sin', sin' = sign sin;
// cos, sin (B, T, D/2). One thread per (b, h, t, j < D/2).
extern "C" __global__ void SFX(rope)(int B, int H, int Tn, int D, int sign, const T* x,
    const T* cos, const T* sin, T* y) {
  int half = D / 2;
  GRID_STRIDE(i, B * H * Tn * half) {
    int j = i % half;
    int row = i / half; // (b, h, t)
    int t = row % Tn;
    int b = row / (H * Tn);
    long long o = (long long) row * D;
    int a = (b * Tn + t) * half + j;
    double c = (double) cos[a];
    double sn = sign * (double) sin[a];
    double x1 = (double) x[o + j];
    double x2 = (double) x[o + half + j];
    y[o + j] = (T) (x1 * c - x2 * sn);
    y[o + half + j] = (T) (x2 * c + x1 * sn);
  }
}

// ------------------------------------------------------------------ losses and gathers

// picked[r] = logp[r, targets[r]], or 0 where the target is ignoreIndex: logp (R, V).
extern "C" __global__ void SFX(nll_pick)(int rows, int V, int ignoreIndex, const T* logp,
    const int* targets, double* picked) {
  GRID_STRIDE(r, rows) {
    int t = targets[r];
    picked[r] = t == ignoreIndex ? 0.0 : (double) logp[(long long) r * V + t];
  }
}

// dx = scale (p - onehot(target)) on rows not ignored, 0 on ignored rows: p, dx (R, V); dx may be p.
// scale = g / valid (0 when no row is valid): g the loss's gradient, stats = {loss, valid}.
extern "C" __global__ void SFX(cross_entropy_backward)(int rows, int V, int ignoreIndex,
    const T* g, const double* stats, const T* p, const int* targets, T* dx) {
  double valid = stats[1];
  double scale = valid == 0.0 ? 0.0 : (double) g[0] / valid;
  long long n = (long long) rows * V;
  ILP_LOOP(base, n) {
    T ps[ILP];
    int ts[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < n) {
        ps[q] = p[i];
        ts[q] = targets[i / V];
      }
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < n) {
        long long r = i / V;
        if (ts[q] == ignoreIndex) {
          dx[i] = (T) 0.0;
        } else {
          double d = (double) (T) (scale * (double) ps[q]);
          dx[i] = (T) (i - r * V == ts[q] ? d - scale : d);
        }
      }
    }
  }
}

// c (N, V) = (1 - lambda) p a + (j == tokens[n] ? term[n] : 0), a = max(-clip, min(clip, lq - lp)):
// the advantage-level blend's coefficients (Backend.blendCoefficients), in double, stored once.
extern "C" __global__ void SFX(blend_coefficients)(int N, int V, double lambda, double clip,
    const T* lp, const T* p, const T* lq, const int* tokens, const double* term, T* c) {
  GRID_STRIDE(i, N * V) {
    const int n = i / V;
    const double x = (double) lq[i] - (double) lp[i];
    const double a = x != x ? x : x < -clip ? -clip : x > clip ? clip : x; // NaN stays, as in Java
    const double d = (1.0 - lambda) * (double) p[i] * a;
    c[i] = (T) (d + (i - n * V == tokens[n] ? term[n] : 0.0));
  }
}

// dx (N, K) = 0 except dx[n, idx[n*J + j]] = the g[n*J + j] picking it, in order of j: the
// first stored, repeats added (each addition rounded to T, as on the CPU).
extern "C" __global__ void SFX(pick_backward)(int N, int J, int K, const T* g, const int* idx,
    T* dx) {
  GRID_STRIDE(i, N * K) {
    const int r = i / K;
    const int col = i - r * K;
    T acc = (T) 0.0;
    bool hit = false;
    for (int j = 0; j < J; j++) {
      if (idx[r * J + j] == col) {
        acc = hit ? (T) ((double) acc + (double) g[r * J + j]) : g[r * J + j];
        hit = true;
      }
    }
    dx[i] = acc;
  }
}

// out[i] = x[i / J, idx[i]]: x (N, K), M = N * J ids, J a row.
extern "C" __global__ void SFX(pick)(int M, int J, int K, const T* x, const int* idx, T* out) {
  GRID_STRIDE(i, M) { out[i] = x[(long long) (i / J) * K + idx[i]]; }
}

// ids (N, K): the columns of the K largest entries of each row of x (N, V), largest first, equal
// values by increasing column (Backend.topK; keys in sdpo_kernels.cu). One block a row: a search
// over the keys finds t, the K-th largest key; if more entries have key t than the places left
// for them, a search over their columns finds the last one taken. Each thread then copies the
// entries it takes into shared memory (at places given by the threads' counts before it), and
// each entry's place in the output is the number of taken entries ranked before it. K <= TOPK_MAX.
extern "C" __global__ void SFX(top_k)(int N, int V, int K, const T* x, int* ids) {
  __shared__ unsigned long long shw[THREADS / 32 * (SAMPLE_WAYS - 1)];
  __shared__ unsigned long long keys[TOPK_MAX];
  __shared__ int cols[TOPK_MAX];
  __shared__ int at[THREADS];
  for (int r = blockIdx.x; r < N; r += gridDim.x) {
    const T* z = x + (long long) r * V;
    const unsigned long long t =
        topk_search<T, false>(z, V, 0, 0, TOPK_KEY_MAX, (unsigned long long) (K - 1), shw);
    unsigned long long n[2] = {0, 0}; // entries above t, and at t
    for (int c = threadIdx.x; c < V; c += blockDim.x) {
      const unsigned long long key = topk_key((double) z[c]);
      n[0] += key > t ? 1 : 0;
      n[1] += key == t ? 1 : 0;
    }
    block_totals(n, shw);
    const int need = K - (int) n[0]; // 1 <= need <= n[1]
    const int lastCol = (unsigned long long) need == n[1] ? V - 1
        : V - 1 - (int) topk_search<T, true>(z, V, t, 0, V - 1, (unsigned long long) (need - 1),
              shw);
    int mine = 0;
    for (int c = threadIdx.x; c < V; c += blockDim.x) {
      const unsigned long long key = topk_key((double) z[c]);
      mine += key > t || (key == t && c <= lastCol) ? 1 : 0;
    }
    at[threadIdx.x] = mine;
    __syncthreads();
    if (threadIdx.x == 0) { // exclusive prefix of the threads' counts
      int sum = 0;
      for (int k = 0; k < THREADS; k++) {
        const int m = at[k];
        at[k] = sum;
        sum += m;
      }
    }
    __syncthreads();
    int to = at[threadIdx.x];
    for (int c = threadIdx.x; c < V; c += blockDim.x) {
      const unsigned long long key = topk_key((double) z[c]);
      if (key > t || (key == t && c <= lastCol)) {
        keys[to] = key;
        cols[to] = c;
        to++;
      }
    }
    __syncthreads();
    for (int i = threadIdx.x; i < K; i += blockDim.x) {
      int rank = 0;
      for (int j = 0; j < K; j++) {
        rank += keys[j] > keys[i] || (keys[j] == keys[i] && cols[j] < cols[i]) ? 1 : 0;
      }
      ids[(long long) r * K + rank] = cols[i];
    }
    __syncthreads();
  }
}

// out[i] = table[ids[i]]: table (N, C), out (M, C).
extern "C" __global__ void SFX(gather_rows)(int M, int C, const T* table, const int* ids, T* out) {
  long long n = (long long) M * C;
  ILP_LOOP(base, n) {
    T v[ILP];
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      long long i = ILP_AT(base, q);
      if (i < n) {
        long long r = i / C;
        v[q] = table[(long long) ids[r] * C + (i - r * C)];
      }
    }
#pragma unroll
    for (int q = 0; q < ILP; q++) {
      if (ILP_AT(base, q) < n) out[ILP_AT(base, q)] = v[q];
    }
  }
}

// table[ids[i]] += src[i] for i in order: src (M, C), table (N, C). Block b owns THREADS columns
// (tile b % tiles) of the table rows [k0, k0 + rangeRows) (range b / tiles) and reads every id
// in order, through shared memory, adding the rows whose id it owns: each table element gets
// its additions in the order of i, as on the CPU, with no atomics and no two threads writing
// one element.
extern "C" __global__ void SFX(scatter_add_rows)(int M, int C, int N, int rangeRows,
    const T* src, const int* ids, T* table) {
  __shared__ int sid[THREADS];
  int tiles = (C + THREADS - 1) / THREADS;
  int ranges = (N + rangeRows - 1) / rangeRows;
  for (int b = blockIdx.x; b < tiles * ranges; b += gridDim.x) {
    int c = (b % tiles) * THREADS + threadIdx.x;
    int k0 = (b / tiles) * rangeRows;
    int k1 = min(N, k0 + rangeRows);
    for (int i0 = 0; i0 < M; i0 += THREADS) {
      __syncthreads();
      if (i0 + threadIdx.x < M) sid[threadIdx.x] = ids[i0 + threadIdx.x];
      __syncthreads();
      int n = min(THREADS, M - i0);
      if (c < C) {
        for (int j = 0; j < n; j++) {
          int id = sid[j];
          if (id >= k0 && id < k1) {
            long long to = (long long) id * C + c;
            table[to] = (T) ((double) table[to] + (double) src[(long long) (i0 + j) * C + c]);
          }
        }
      }
    }
  }
}

// Attention probabilities: p = softmax over the keys query i sees of x_j = (T) (scale s_j), per
// row of s, p (B, H, Tq, Tk); p may be s. Query i sees key j when j <= queryOffset + i (causal)
// and keyMask (B, Tk) is nonzero there (or absent). Hidden keys get 0 and are never
// exponentiated; a query that sees no key gets a row of 0. Three passes over the row (max, sum,
// write). A row of up to WARP_ROW keys is one warp's (warp_max, warp_sum), THREADS / 32 rows to a
// block, many rows in flight, the later passes mostly from the cache; a longer row is one
// block's (block_max, block_sum). The same formulas either way; only the order of the sums
// differs.
extern "C" __global__ void SFX(attention_softmax)(int rows, int H, int Tq, int Tk, int causal,
    int queryOffset, double scale, int hasKeyMask, const T* keyMask, const T* s, T* p) {
  __shared__ double sh[THREADS];
  if (Tk <= WARP_ROW) {
    int lane = threadIdx.x & 31;
    int warps = blockDim.x >> 5;
    for (int r = blockIdx.x * warps + (threadIdx.x >> 5); r < rows; r += gridDim.x * warps) {
      long long mo = (long long) (r / (H * Tq)) * Tk;
      int last = causal ? queryOffset + r % Tq : Tk - 1;
      const T* sr = s + (long long) r * Tk;
      T* pr = p + (long long) r * Tk;
      double m = -INFINITY;
      for (int j = lane; j <= last; j += 32) {
        if (!hasKeyMask || keyMask[mo + j] != 0) m = fmax(m, (double) (T) (scale * (double) sr[j]));
      }
      m = warp_max(m);
      double sum = 0.0;
      for (int j = lane; j <= last; j += 32) {
        if (!hasKeyMask || keyMask[mo + j] != 0) sum += exp((double) (T) (scale * (double) sr[j]) - m);
      }
      sum = warp_sum(sum);
      for (int j = lane; j < Tk; j += 32) {
        bool visible = j <= last && (!hasKeyMask || keyMask[mo + j] != 0) && m != -INFINITY;
        pr[j] = visible ? (T) (exp((double) (T) (scale * (double) sr[j]) - m) / sum) : (T) 0.0;
      }
    }
    return;
  }
  for (int r = blockIdx.x; r < rows; r += gridDim.x) {
    long long mo = (long long) (r / (H * Tq)) * Tk; // the batch row of keyMask
    int last = causal ? queryOffset + r % Tq : Tk - 1;
    const T* sr = s + (long long) r * Tk;
    T* pr = p + (long long) r * Tk;
    double m = -INFINITY;
    for (int j = threadIdx.x; j <= last; j += blockDim.x) {
      if (!hasKeyMask || keyMask[mo + j] != 0) m = fmax(m, (double) (T) (scale * (double) sr[j]));
    }
    m = block_max(m, sh);
    double sum = 0.0;
    for (int j = threadIdx.x; j <= last; j += blockDim.x) {
      if (!hasKeyMask || keyMask[mo + j] != 0) sum += exp((double) (T) (scale * (double) sr[j]) - m);
    }
    sum = block_sum(sum, sh);
    for (int j = threadIdx.x; j < Tk; j += blockDim.x) {
      bool visible = j <= last && (!hasKeyMask || keyMask[mo + j] != 0) && m != -INFINITY;
      pr[j] = visible ? (T) (exp((double) (T) (scale * (double) sr[j]) - m) / sum) : (T) 0.0;
    }
  }
}

// ------------------------------------------------------------------ flash attention
// q (B, H, Tq, D), k and v (B, Hkv, Tk, D) and the outputs and gradients of their shapes, each
// where it lies (FaHeads hs), keyMask (B, Tk) when hasKeyMask, lse and delta (B, H, Tq),
// contiguous; query head h reads key head h / (H / Hkv). Query i sees key j when j <= qoff + i
// (causal) and keyMask[b, j] != 0. Tiles and thread layout: FA_* in sdpo_kernels.cu.

// out, lse: a block per FA_BR queries of one (b, h). For each tile of FA_BC keys, S = scale Q Kᵀ,
// then the online softmax per row: m' = max(m, max_j s_j), l = l e^(m - m') + sum_j e^(s_j - m'),
// O = O e^(m - m') + P V; at the end out = O / l and lse = m + log l (-inf and 0 for a query
// that sees no key).
extern "C" __global__ void SFX(flash_forward)(int B, int H, int Hkv, int Tq, int Tk, int D,
    int causal, int qoff, double scale, int hasKeyMask, const T* keyMask, FaHeads hs, const T* q,
    const T* k, const T* v, T* lse, T* out) {
  __shared__ T qs[FA_BR][FA_DC + 1];
  __shared__ T ks[FA_BC][FA_DC + 1]; // a chunk of K, then of V
  __shared__ T ps[FA_BR][FA_BC + 1];
  const int tx = threadIdx.x & 15;
  const int ty = threadIdx.x >> 4;
  const T sc = (T) scale;
  const int tiles = (Tq + FA_BR - 1) / FA_BR;
  for (int blk = blockIdx.x; blk < B * H * tiles; blk += gridDim.x) {
    const FaQueryTile t = fa_query_tile(blk, tiles, H, Hkv, Tq, Tk, causal, qoff);
    const int i0 = t.i0;
    const T* qh = q + fa_head(hs, FA_Q, t.b, t.h);
    const T* kh = k + fa_head(hs, FA_K, t.b, t.hk);
    const T* vh = v + fa_head(hs, FA_V, t.b, t.hk);
    const T* mrow = fa_mask_row(hasKeyMask, keyMask, t.b, Tk);
    T m[4], l[4], o[4][2 * FA_CH];
#pragma unroll
    for (int r = 0; r < 4; r++) {
      m[r] = -INFINITY;
      l[r] = 0;
#pragma unroll
      for (int c = 0; c < 2 * FA_CH; c++) o[r][c] = 0;
    }
    for (int j0 = 0; j0 < t.kEnd; j0 += FA_BC) {
      T s[4][2] = {};
      for (int d0 = 0; d0 < D; d0 += FA_DC) {
        fa_load<T, FA_BR>(qs, qh, Tq, hs.s[FA_Q][2], D, i0, d0);
        fa_load<T, FA_BC>(ks, kh, Tk, hs.s[FA_K][2], D, j0, d0);
        __syncthreads();
        fa_dots(s, qs, ks, ty, tx);
        __syncthreads();
      }
#pragma unroll
      for (int r = 0; r < 4; r++) {
        const int i = i0 + ty + 16 * r;
        T x[2];
        T mx = -INFINITY;
#pragma unroll
        for (int c = 0; c < 2; c++) {
          x[c] = fa_sees(i, j0 + tx + 16 * c, Tq, Tk, causal, qoff, mrow) ? sc * s[r][c] : -INFINITY;
          mx = x[c] > mx ? x[c] : mx;
        }
        mx = half_max(mx);
        const T mNew = mx > m[r] ? mx : m[r];
        const T alpha = m[r] == -INFINITY ? (T) 0 : fa_exp(m[r] - mNew);
        T sum = 0;
#pragma unroll
        for (int c = 0; c < 2; c++) {
          const T p = x[c] == -INFINITY ? (T) 0 : fa_exp(x[c] - mNew);
          ps[ty + 16 * r][tx + 16 * c] = p;
          sum += p;
        }
        l[r] = l[r] * alpha + half_sum(sum);
        m[r] = mNew;
#pragma unroll
        for (int c = 0; c < 2 * FA_CH; c++) o[r][c] *= alpha;
      }
      fa_product(o, ps, ks, vh, Tk, hs.s[FA_V][2], j0, D, ty, tx); // O += P V
    }
    T inv[4];
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const int i = i0 + ty + 16 * r;
      inv[r] = l[r] > 0 ? (T) 1 / l[r] : (T) 0;
      if (i < Tq && tx == 0) {
        lse[(long long) t.bh * Tq + i] = l[r] > 0 ? m[r] + fa_log(l[r]) : (T) -INFINITY;
      }
    }
    fa_store(out + fa_head(hs, FA_O, t.b, t.h), o, inv, i0, Tq, hs.s[FA_O][2], D, ty,
        tx); // out = O / l
  }
}

// delta (B, H, Tq) = sum over d of g * out, row by row: a warp per row, warp_sum's fixed tree.
// g and out where they lie (hs: FA_G, FA_O).
extern "C" __global__ void SFX(flash_delta)(int B, int H, int Tq, int D, FaHeads hs, const T* g,
    const T* out, T* delta) {
  const int lane = threadIdx.x & 31;
  const int warps = blockDim.x >> 5;
  const int rows = B * H * Tq;
  for (int r = blockIdx.x * warps + (threadIdx.x >> 5); r < rows; r += gridDim.x * warps) {
    const int b = r / (H * Tq);
    const int h = r / Tq % H;
    const long long i = r % Tq;
    const T* gr = g + fa_head(hs, FA_G, b, h) + i * hs.s[FA_G][2];
    const T* outr = out + fa_head(hs, FA_O, b, h) + i * hs.s[FA_O][2];
    double acc = 0.0;
    for (int d = lane; d < D; d += 32) {
      acc += (double) gr[d] * (double) outr[d];
    }
    acc = warp_sum(acc);
    if (lane == 0) delta[r] = (T) acc;
  }
}

// dq: a block per FA_BR queries of one (b, h), walking the keys it sees in tiles of FA_BC:
// P = exp(scale Q Kᵀ - lse), dS = P ∘ (G Vᵀ - delta), dq += scale dS K.
extern "C" __global__ void SFX(flash_backward_dq)(int B, int H, int Hkv, int Tq, int Tk, int D,
    int causal, int qoff, double scale, int hasKeyMask, const T* keyMask, FaHeads hs, const T* q,
    const T* k, const T* v, const T* g, const T* lse, const T* delta, T* dq) {
  __shared__ T qs[FA_BR][FA_DC + 1]; // a chunk of Q, then of G
  __shared__ T ks[FA_BC][FA_DC + 1]; // a chunk of K, then of V, then of K
  __shared__ T ds[FA_BR][FA_BC + 1];
  const int tx = threadIdx.x & 15;
  const int ty = threadIdx.x >> 4;
  const T sc = (T) scale;
  const int tiles = (Tq + FA_BR - 1) / FA_BR;
  for (int blk = blockIdx.x; blk < B * H * tiles; blk += gridDim.x) {
    const FaQueryTile t = fa_query_tile(blk, tiles, H, Hkv, Tq, Tk, causal, qoff);
    const int i0 = t.i0;
    const T* qh = q + fa_head(hs, FA_Q, t.b, t.h);
    const T* gh = g + fa_head(hs, FA_G, t.b, t.h);
    const T* kh = k + fa_head(hs, FA_K, t.b, t.hk);
    const T* vh = v + fa_head(hs, FA_V, t.b, t.hk);
    const T* mrow = fa_mask_row(hasKeyMask, keyMask, t.b, Tk);
    T rl[4], rd[4], acc[4][2 * FA_CH];
#pragma unroll
    for (int r = 0; r < 4; r++) {
      const int i = i0 + ty + 16 * r;
      rl[r] = i < Tq ? lse[(long long) t.bh * Tq + i] : (T) -INFINITY;
      rd[r] = i < Tq ? delta[(long long) t.bh * Tq + i] : (T) 0;
#pragma unroll
      for (int c = 0; c < 2 * FA_CH; c++) acc[r][c] = 0;
    }
    for (int j0 = 0; j0 < t.kEnd; j0 += FA_BC) {
      T s[4][2] = {};
      T dp[4][2] = {};
      fa_two_products<FA_BR, FA_BC>(s, dp, qs, ks, qh, hs.s[FA_Q][2], gh, hs.s[FA_G][2], Tq, i0,
          kh, hs.s[FA_K][2], vh, hs.s[FA_V][2], Tk, j0, D, ty, tx); // Q Kᵀ, G Vᵀ
#pragma unroll
      for (int r = 0; r < 4; r++) {
        const int i = i0 + ty + 16 * r;
#pragma unroll
        for (int c = 0; c < 2; c++) {
          const bool seen = rl[r] != -INFINITY
              && fa_sees(i, j0 + tx + 16 * c, Tq, Tk, causal, qoff, mrow);
          const T p = seen ? fa_exp(sc * s[r][c] - rl[r]) : (T) 0;
          ds[ty + 16 * r][tx + 16 * c] = p * (dp[r][c] - rd[r]);
        }
      }
      fa_product(acc, ds, ks, kh, Tk, hs.s[FA_K][2], j0, D, ty, tx); // dq += dS K
    }
    const T scales[4] = {sc, sc, sc, sc};
    fa_store(dq + fa_head(hs, FA_DQ, t.b, t.h), acc, scales, i0, Tq, hs.s[FA_DQ][2], D, ty,
        tx); // dq = scale dS K
  }
}

// dk, dv: a block per FA_BC keys of one (b, key head), walking the group's query heads in order
// and, in each, the query tiles of FA_BQ that see the keys: with Pᵀ = exp(scale K Qᵀ - lse) and
// dSᵀ = Pᵀ ∘ (V Gᵀ - delta), dv += Pᵀ G and dk += scale dSᵀ Q (no atomics: a block owns its keys).
extern "C" __global__ void SFX(flash_backward_dkdv)(int B, int H, int Hkv, int Tq, int Tk, int D,
    int causal, int qoff, double scale, int hasKeyMask, const T* keyMask, FaHeads hs, const T* q,
    const T* k, const T* v, const T* g, const T* lse, const T* delta, T* dk, T* dv) {
  __shared__ T ks[FA_BC][FA_DC + 1]; // a chunk of K, then of V
  __shared__ T qs[FA_BQ][FA_DC + 1]; // a chunk of Q, then of G, then of G and Q again
  __shared__ T pt[FA_BC][FA_BQ + 1];
  __shared__ T dst[FA_BC][FA_BQ + 1];
  const int tx = threadIdx.x & 15;
  const int ty = threadIdx.x >> 4;
  const T sc = (T) scale;
  const int rep = H / Hkv;
  const int tiles = (Tk + FA_BC - 1) / FA_BC;
  for (int blk = blockIdx.x; blk < B * Hkv * tiles; blk += gridDim.x) {
    const int bg = blk / tiles; // b * Hkv + key head
    const int j0 = blk % tiles * FA_BC;
    const int b = bg / Hkv;
    const int hk = bg % Hkv;
    const T* kh = k + fa_head(hs, FA_K, b, hk);
    const T* vh = v + fa_head(hs, FA_V, b, hk);
    const T* mrow = fa_mask_row(hasKeyMask, keyMask, b, Tk);
    T ak[2][2 * FA_CH], av[2][2 * FA_CH];
#pragma unroll
    for (int r = 0; r < 2; r++) {
#pragma unroll
      for (int c = 0; c < 2 * FA_CH; c++) {
        ak[r][c] = 0;
        av[r][c] = 0;
      }
    }
    // the first query that can see key j0: i >= j0 - qoff when causal
    const int iStart = causal ? max(0, j0 - qoff) / FA_BQ * FA_BQ : 0;
    for (int h = hk * rep; h < (hk + 1) * rep; h++) {
      const long long bh = (long long) b * H + h;
      const T* qh = q + fa_head(hs, FA_Q, b, h);
      const T* gh = g + fa_head(hs, FA_G, b, h);
      for (int i0 = iStart; i0 < Tq; i0 += FA_BQ) {
        T s[2][2] = {};
        T dp[2][2] = {};
        fa_two_products<FA_BC, FA_BQ>(s, dp, ks, qs, kh, hs.s[FA_K][2], vh, hs.s[FA_V][2], Tk, j0,
            qh, hs.s[FA_Q][2], gh, hs.s[FA_G][2], Tq, i0, D, ty, tx); // K Qᵀ, V Gᵀ
#pragma unroll
        for (int c = 0; c < 2; c++) {
          const int i = i0 + tx + 16 * c;
          const T li = i < Tq ? lse[bh * Tq + i] : (T) -INFINITY;
          const T di = i < Tq ? delta[bh * Tq + i] : (T) 0;
#pragma unroll
          for (int r = 0; r < 2; r++) {
            const bool seen = li != -INFINITY
                && fa_sees(i, j0 + ty + 16 * r, Tq, Tk, causal, qoff, mrow);
            const T p = seen ? fa_exp(sc * s[r][c] - li) : (T) 0;
            pt[ty + 16 * r][tx + 16 * c] = p;
            dst[ty + 16 * r][tx + 16 * c] = p * (dp[r][c] - di);
          }
        }
        fa_product(av, pt, qs, gh, Tq, hs.s[FA_G][2], i0, D, ty, tx); // dv += Pᵀ G
        fa_product(ak, dst, qs, qh, Tq, hs.s[FA_Q][2], i0, D, ty, tx); // dk += dSᵀ Q
      }
    }
    const T scales[2] = {sc, sc};
    const T ones[2] = {1, 1};
    fa_store(dk + fa_head(hs, FA_DK, b, hk), ak, scales, j0, Tk, hs.s[FA_DK][2], D, ty,
        tx); // dk = scale dSᵀ Q
    fa_store(dv + fa_head(hs, FA_DV, b, hk), av, ones, j0, Tk, hs.s[FA_DV][2], D, ty,
        tx); // dv = Pᵀ G
  }
}

// One token per active row of logits (B, V), as Backend.sampleRows says, from u (B) in [0, 1):
// tokens and logprobs (B) written for active rows only. A block takes rows blockIdx.x,
// blockIdx.x + gridDim.x, ..., with THREADS threads, and keeps a row's probabilities in its V
// doubles of p (gridDim.x rows of scratch). The probabilities are the CPU's: p = exp((z - max) /
// temperature) / sum (the sum in block_sum's order). The draw, top-k and top-p each find a token
// with sample_pick (no sort, exact integer sums): top-k the topK-th in the order, top-p the first
// at which the mass reaches topP; the kept tokens are those up to the earlier of the two. The
// draw is the first token at which the kept tokens' cumulative mass passes floor(u 2^53) * kept /
// 2^53 (u's 53 bits times the kept mass, exactly), so it is always a kept token. A row whose
// logits are not all finite or -infinity (a NaN, +infinity) draws its first largest logit with
// log-probability NaN. Greedy: the first largest logit and its log-softmax.
extern "C" __global__ void SFX(sample_rows)(int B, int V, double temperature, int topK,
    double topP, int greedy, const T* logits, const int* active, const double* u, double* p,
    int* tokens, double* logprobs) {
  __shared__ double sh[THREADS];
  __shared__ int shi[THREADS];
  __shared__ unsigned long long shw[THREADS / 32 * (SAMPLE_WAYS - 1)];
  double* pr = p + (long long) blockIdx.x * V;
  for (int b = blockIdx.x; b < B; b += gridDim.x) {
    if (!active[b]) continue;
    const T* z = logits + (long long) b * V;
    double m = -INFINITY;
    int at = V;
    for (int c = threadIdx.x; c < V; c += blockDim.x) {
      const double x = (double) z[c];
      if (x > m) {
        m = x;
        at = c;
      }
    }
    block_argmax(m, at, sh, shi);
    if (at == V) at = 0; // no value above -infinity: token 0, as the CPU's first largest
    if (greedy) {
      double s = 0.0;
      for (int c = threadIdx.x; c < V; c += blockDim.x) s += exp((double) z[c] - m);
      const double S = block_sum(s, sh);
      if (threadIdx.x == 0) {
        tokens[b] = at;
        logprobs[b] = ((double) z[at] - m) - log(S);
      }
      continue;
    }
    double s = 0.0;
    for (int c = threadIdx.x; c < V; c += blockDim.x) {
      const double e = exp(((double) z[c] - m) / temperature);
      pr[c] = e;
      s += e;
    }
    const double S = block_sum(s, sh);
    if (!isfinite(S)) { // a NaN or +infinity among the logits (or only -infinity)
      if (threadIdx.x == 0) {
        tokens[b] = at;
        logprobs[b] = NAN;
      }
      continue;
    }
    unsigned long long total[1] = {0};
    double all = 0.0;
    for (int c = threadIdx.x; c < V; c += blockDim.x) {
      const double q = pr[c] / S;
      pr[c] = q;
      total[0] += sample_mass(q);
      all += q;
    }
    block_totals(total, shw); // its barriers also publish p to the block
    const double pSum = block_sum(all, sh);
    const long long top = __double_as_longlong(pr[at]);
    // the last kept token (cutKey, cutId), where top-k or top-p cuts, and the kept mass
    bool cut = false;
    long long cutKey = 0;
    int cutId = 0;
    unsigned long long kept = total[0];
    if (topK > 0 && topK < V) {
      const SamplePick k = sample_pick<SAMPLE_COUNT>(pr, V, top, (unsigned long long) topK - 1, shw);
      cut = true;
      cutKey = k.key;
      cutId = k.token;
      kept = k.massBefore + sample_mass(pr[k.token]);
    }
    if (topP < 1.0) {
      const unsigned long long need = (unsigned long long) ceil(topP * SAMPLE_FIXED);
      if (need >= 1 && total[0] >= need) { // else the mass never reaches topP: nothing to cut
        const SamplePick q = sample_pick<SAMPLE_MASS>(pr, V, top, need - 1, shw);
        if (!cut || q.key > cutKey || (q.key == cutKey && q.token < cutId)) {
          cut = true;
          cutKey = q.key;
          cutId = q.token;
          kept = q.massBefore + sample_mass(pr[q.token]);
        }
      }
    }
    double keptP = pSum;
    if (cut) {
      double k = 0.0;
      for (int c = threadIdx.x; c < V; c += blockDim.x) {
        const long long key = __double_as_longlong(pr[c]);
        if (key > cutKey || (key == cutKey && c <= cutId)) k += pr[c];
      }
      keptP = block_sum(k, sh);
    }
    const unsigned long long m53 = (unsigned long long) (u[b] * 9007199254740992.0); // u 2^53
    const unsigned long long target = (__umul64hi(m53, kept) << 11) | ((m53 * kept) >> 53);
    const SamplePick d = sample_pick<SAMPLE_MASS>(pr, V, top, target, shw);
    if (threadIdx.x == 0) {
      tokens[b] = d.token;
      logprobs[b] = log(pr[d.token] / keptP);
    }
    __syncthreads(); // every thread is done with pr before the block's next row
  }
}
