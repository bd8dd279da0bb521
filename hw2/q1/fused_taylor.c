/* Linear attention with the degree-2 McLaurin feature map, fused: one pass over the keys,
 * one over the queries, features never stored for more than a block of positions.
 *
 *   out_i = sum_j phi(q_i).phi(k_j) v_j / sum_j phi(q_i).phi(k_j),
 *   phi(x).phi(y) = 1 + x.y + (x.y)^2 / 2   (symmetric monomials, weights 1/sqrt(a!))
 *
 * Pass 1 (keys): S = Phi(K)^T [V 1], an (M x Dv+1) matrix, M = 1 + D + D(D+1)/2.
 *   Blocks of BLOCK keys: the unweighted monomials of each key are written position-major
 *   (BLOCK x Mpad, in L1/L2), then an outer-product micro-kernel adds Phi_blk^T V'_blk into S:
 *   16 monomials per vector register, a tile of up to 3 x 8 accumulators stays in registers
 *   while it streams over the block.  Each thread sums its own share of the keys; the shares
 *   are added, and the squared weights (1/2 for x_a^2, 1 otherwise) are applied once.
 * Pass 2 (queries): 32 queries per tile (two vector registers), monomials formed on the fly
 *   (one multiply each), up to 12 columns of S per tile broadcast from memory; numerators
 *   and the denominator land in a small buffer, then out = numerator / denominator.
 *
 * float32, contiguous (B, L, D) inputs.  Threads: OpenMP, the runtime torch itself uses
 * (libgomp.so.1 is already loaded with torch, so this library binds to the same copy).
 * Built by hw2/q1/fused.py with the machine's compiler; GCC vector extensions, so the
 * same source compiles to AVX-512, AVX2 or SSE.
 */
#include <string.h>
#include <omp.h>

#define VL 16
typedef float vf __attribute__((vector_size(64)));
typedef float vfu __attribute__((vector_size(64), aligned(4)));

#define BLOCK 64          /* keys per monomial block */
#define QT 2              /* query vectors per tile in pass 2 */
#define CT 12             /* columns of S per tile in pass 2 */

static inline long pad16(long n) { return (n + VL - 1) / VL * VL; }

/* unweighted monomials of one key x (length D) into u (length >= M): 1, x, x_a x_b (a <= b) */
static inline void monomials(const float *x, long D, float *u)
{
    u[0] = 1.0f;
    for (long a = 0; a < D; a++) u[1 + a] = x[a];
    float *o = u + 1 + D;
    for (long a = 0; a < D; a++) {
        const float xa = x[a];
        for (long b = a; b < D; b++) *o++ = xa * x[b];
    }
}

/* Every monomial is x'_i x'_j with x' = [1, x, 0, ...] in two vector registers (32 lanes; lane 31 stays
   zero for D <= 30): I and J hold, per vector of 16 monomials, the lanes of their two factors. */
typedef int vi __attribute__((vector_size(64)));
#define VEC_MAX_D 30

static void factor_lanes(long D, long mpad, int *I, int *J)
{
    long m = 0;
    I[m] = 0; J[m] = 0; m++;                                   /* 1 */
    for (long a = 0; a < D; a++, m++) { I[m] = 0; J[m] = 1 + (int)a; }     /* x_a */
    for (long a = 0; a < D; a++)
        for (long b = a; b < D; b++, m++) { I[m] = 1 + (int)a; J[m] = 1 + (int)b; }  /* x_a x_b */
    for (; m < mpad; m++) { I[m] = 31; J[m] = 31; }             /* padding: 0 */
}

/* the same monomials as monomials(), 16 at a time by two lane permutations and a product */
static inline void monomials_vec(const float *x, long D, long nvec, const vi *I, const vi *J, float *u)
{
    float buf[32] __attribute__((aligned(64)));
    *(vf *)buf = (vf){0};
    *(vf *)(buf + VL) = (vf){0};
    buf[0] = 1.0f;
    memcpy(buf + 1, x, sizeof(float) * (size_t)D);
    const vf lo = *(const vf *)buf, hi = *(const vf *)(buf + VL);
    for (long v = 0; v < nvec; v++)
        *(vf *)(u + VL * v) = __builtin_shuffle(lo, hi, I[v]) * __builtin_shuffle(lo, hi, J[v]);
}

/* S[c][m-vectors] += sum_p phi[p][m] * v[p][c] for MV m-vectors and NC columns, n positions */
static inline __attribute__((always_inline)) void
tile1(const float *phi, long mpad, const float *v, long vstride, long n, float *S, long sstride,
      const int MV, const int NC)
{
    vf acc[3 * 9];
    for (int i = 0; i < MV * NC; i++) acc[i] = (vf){0};
    for (long p = 0; p < n; p++) {
        vf u[3];
        for (int i = 0; i < MV; i++) u[i] = *(const vf *)(phi + p * mpad + VL * i);
        const float *vp = v + p * vstride;
        for (int j = 0; j < NC; j++) {
            const float b = vp[j];
            for (int i = 0; i < MV; i++) acc[i * NC + j] += u[i] * b;
        }
    }
    for (int j = 0; j < NC; j++)
        for (int i = 0; i < MV; i++) *(vf *)(S + j * sstride + VL * i) += acc[i * NC + j];
}

#define T1(mv, nc) case (mv) * 16 + (nc): tile1(phi + m0, mpad, v + c0, vstride, n, S + c0 * sstride + m0, sstride, mv, nc); break;
#define T1ROW(mv) T1(mv, 1) T1(mv, 2) T1(mv, 3) T1(mv, 4) T1(mv, 5) T1(mv, 6) T1(mv, 7) T1(mv, 8) T1(mv, 9)

/* S (Dc x mpad, m contiguous) += Phi_blk^T V'_blk over n positions */
static void block_product(const float *phi, long mpad, const float *v, long vstride, long Dc, long n,
                          float *S)
{
    const long sstride = mpad;
    const long mv_total = mpad / VL;
    /* columns in tiles of 8, or one of 9 when 9 are left (Dv = 8: all of [V 1] in one pass) */
    for (long c0 = 0; c0 < Dc;) {
        const int nc = (int)(Dc - c0 == 9 ? 9 : Dc - c0 < 8 ? Dc - c0 : 8);
        for (long mvi = 0; mvi < mv_total; mvi += 3) {
            const int mv = (int)(mv_total - mvi < 3 ? mv_total - mvi : 3);
            const long m0 = mvi * VL;
            switch (mv * 16 + nc) {
                T1ROW(1) T1ROW(2) T1ROW(3)
            }
        }
        c0 += nc;
    }
}

/* pass 2 tile: nd[c][0..32) for NC columns starting at c0, queries xT (D x 32, feature-major) */
static inline __attribute__((always_inline)) void
tile2(const float *xT, long D, const float *W, long wstride, long c0, float *nd, const int NC)
{
    vf acc[QT * CT];
    const float *w = W + c0;             /* W[m][c]: row m of the weighted S, c contiguous */
    for (int j = 0; j < NC; j++)
        for (int i = 0; i < QT; i++) acc[i * CT + j] = (vf){0} + w[j];
    w += wstride;
    for (long a = 0; a < D; a++, w += wstride) {
        vf u[QT];
        for (int i = 0; i < QT; i++) u[i] = *(const vf *)(xT + a * QT * VL + i * VL);
        for (int j = 0; j < NC; j++)
            for (int i = 0; i < QT; i++) acc[i * CT + j] += u[i] * w[j];
    }
    for (long a = 0; a < D; a++) {
        vf xa[QT];
        for (int i = 0; i < QT; i++) xa[i] = *(const vf *)(xT + a * QT * VL + i * VL);
        for (long b = a; b < D; b++, w += wstride) {
            vf u[QT];
            for (int i = 0; i < QT; i++) u[i] = xa[i] * *(const vf *)(xT + b * QT * VL + i * VL);
            for (int j = 0; j < NC; j++)
                for (int i = 0; i < QT; i++) acc[i * CT + j] += u[i] * w[j];
        }
    }
    for (int j = 0; j < NC; j++)
        for (int i = 0; i < QT; i++) *(vf *)(nd + (c0 + j) * QT * VL + i * VL) = acc[i * CT + j];
}

#define T2(nc) case nc: tile2(xT, D, W, wstride, c0, nd, nc); break;

static void query_tile(const float *xT, long D, const float *W, long wstride, long Dc, float *nd)
{
    for (long c0 = 0; c0 < Dc; c0 += CT) {
        const int nc = (int)(Dc - c0 < CT ? Dc - c0 : CT);
        switch (nc) {
            T2(1) T2(2) T2(3) T2(4) T2(5) T2(6) T2(7) T2(8) T2(9) T2(10) T2(11) T2(12)
        }
    }
}

/* Keys per monomial block of pass 1. */
long taylor2_block(void) { return BLOCK; }

/* Floats of workspace taylor2_linear needs (the caller allocates it, 64-byte aligned). */
long taylor2_workspace(long D, long Dv, int nthreads)
{
    const long M = 1 + D + D * (D + 1) / 2, mpad = pad16(M), Dc = Dv + 1, wstride = pad16(Dc);
    const long per_thread = Dc * mpad + BLOCK * mpad + BLOCK * wstride + D * QT * VL + Dc * QT * VL;
    return (nthreads < 1 ? 1 : nthreads) * per_thread + M * wstride + 2 * mpad;
}

/* out (B, L, Dv) = linear Taylor attention of Q (B, L, D), K (B, Lk, D), V (B, Lk, Dv);
   mem: taylor2_workspace(D, Dv, nthreads) floats, 64-byte aligned.  Returns 0. */
int taylor2_linear(const float *Q, const float *K, const float *V, float *out,
                   long B, long L, long Lk, long D, long Dv, int nthreads, float *mem)
{
    const long M = 1 + D + D * (D + 1) / 2;
    const long mpad = pad16(M);
    const long Dc = Dv + 1;
    const long wstride = pad16(Dc);
    const int nt = nthreads < 1 ? 1 : nthreads;
    const long qtile = QT * VL;

    /* per thread: S share (Dc x mpad), monomial block (BLOCK x mpad), V' block (BLOCK x Dc), query
       tile (D x 32) and its numerators (Dc x 32); shared: W (M x wstride) */
    const long per_thread = Dc * mpad + BLOCK * mpad + BLOCK * wstride + D * qtile + Dc * qtile;
    float *W = mem + nt * per_thread;
    int *I = (int *)(W + M * wstride), *J = I + mpad;  /* 64-byte aligned: M * wstride is a multiple of 16 */
    const int vec = D <= VEC_MAX_D;
    if (vec) factor_lanes(D, mpad, I, J);

    for (long bi = 0; bi < B; bi++) {
        const float *Qb = Q + bi * L * D, *Kb = K + bi * Lk * D, *Vb = V + bi * Lk * Dv;
        float *Ob = out + bi * L * Dv;
#pragma omp parallel num_threads(nt)
        {
            const int t = omp_get_thread_num();
            const int nth = omp_get_num_threads();
            float *S = mem + t * per_thread;
            float *phi = S + Dc * mpad;
            float *vb = phi + BLOCK * mpad;
            float *xT = vb + BLOCK * wstride;
            float *nd = xT + D * qtile;
            memset(S, 0, sizeof(float) * Dc * mpad);
            if (!vec)  /* the scalar build leaves the padding columns alone: they must be zero */
                memset(phi, 0, sizeof(float) * BLOCK * mpad);

            /* pass 1: this thread's keys, in blocks */
            const long nblocks = (Lk + BLOCK - 1) / BLOCK;
            const long b0 = nblocks * t / nth, b1 = nblocks * (t + 1) / nth;
            for (long blk = b0; blk < b1; blk++) {
                const long s = blk * BLOCK;
                const long n = Lk - s < BLOCK ? Lk - s : BLOCK;
                for (long p = 0; p < n; p++) {
                    if (vec)
                        monomials_vec(Kb + (s + p) * D, D, mpad / VL, (const vi *)I, (const vi *)J, phi + p * mpad);
                    else
                        monomials(Kb + (s + p) * D, D, phi + p * mpad);
                    memcpy(vb + p * wstride, Vb + (s + p) * Dv, sizeof(float) * Dv);
                    vb[p * wstride + Dv] = 1.0f;
                }
                block_product(phi, mpad, vb, wstride, Dc, n, S);
            }
#pragma omp barrier
            /* add the shares, weight and transpose: W[m][c] = w_m^2 S[c][m] (m split between threads) */
            {
                const long m0 = M * t / nth, m1 = M * (t + 1) / nth;
                for (long m = m0; m < m1; m++) {
                    /* m -> weight: 1/2 for the squares x_a^2, 1 otherwise */
                    float w2 = 1.0f;
                    if (m > D) {
                        long r = m - 1 - D, a = 0;
                        while (r >= D - a) { r -= D - a; a++; }
                        if (r == 0) w2 = 0.5f;
                    }
                    for (long c = 0; c < Dc; c++) {
                        float sum = 0.0f;
                        for (int u = 0; u < nth; u++) sum += mem[u * per_thread + c * mpad + m];
                        W[m * wstride + c] = w2 * sum;
                    }
                }
            }
#pragma omp barrier
            /* pass 2: this thread's queries, 32 at a time */
            const long ntiles = (L + qtile - 1) / qtile;
            const long q0 = ntiles * t / nth, q1 = ntiles * (t + 1) / nth;
            for (long tile = q0; tile < q1; tile++) {
                const long s = tile * qtile;
                const long n = L - s < qtile ? L - s : qtile;
                for (long a = 0; a < D; a++) {
                    for (long p = 0; p < n; p++) xT[a * qtile + p] = Qb[(s + p) * D + a];
                    for (long p = n; p < qtile; p++) xT[a * qtile + p] = 0.0f;
                }
                query_tile(xT, D, W, wstride, Dc, nd);
                const float *den = nd + Dv * qtile;
                for (long p = 0; p < n; p++) {
                    const float r = 1.0f / den[p];
                    float *o = Ob + (s + p) * Dv;
                    for (long c = 0; c < Dv; c++) o[c] = nd[c * qtile + p] * r;
                }
            }
        }
    }
    return 0;
}
