/* takefit's onnxruntime kernels for Kokoro's decoder (engine/kokoro/native.py, snake.py).
 *
 * takefit.Snake: y = x + sin²(αx)/α per channel, in one pass. Kokoro's generator applies this
 * activation 48 times; as graph ops it is Mul, Sin, Pow, Mul, Add: five passes over the tensor, and
 * onnxruntime's Sin is not vectorised. Here sin² comes from a branch-free polynomial the compiler
 * vectorises, built for AVX-512, AVX2+FMA and plain x86-64 and picked at load time (target_clones), so
 * one build runs on any x86-64 CPU.
 * Inputs: x float [N, C, T]; alpha and inv_alpha float with C values (the graph's own initializers,
 * so 1/α is the exporter's rounding, not ours). Output: y, the shape of x.
 *
 * takefit.SnakeColumns: the Snake, then what the VNNI decoder (int8.py) does before each convolution's
 * matrix product — DynamicQuantizeLinear, Transpose to [T, C], Pad with the zero point, one Slice per
 * tap, Concat — as one node, without the float output, the transposed copy and the k slices between.
 * Attributes kernel, dilation, pad. Inputs as Snake with N = 1. Outputs: the uint8 columns
 * [1, T, kernel·C] (row t: the taps t, t + dilation, … of the padded signal, each C wide), the scale and
 * the zero point, computed as onnxruntime's DynamicQuantizeLinear does, so the bytes are the graph's.
 *
 * takefit.NormSnakeColumns: SnakeColumns after the AdaIN before every Snake of the generator — instance
 * norm over time (the graph's ReduceMean, Sub, Mul, ReduceMean, Add ε, Sqrt, Div), times the style's
 * scale, plus its shift — with the norm's sums in double. Inputs x, scale, shift, alpha, inv_alpha;
 * attributes as SnakeColumns plus epsilon and time_major: x is [1, C, T], or with time_major [1, T, C],
 * a matrix product's output read before its transpose (rows are then already the columns' layout).
 */
#include <math.h>
#include <stdlib.h>
#include <string.h>
#include <stddef.h>
#include <stdint.h>

#include "onnxruntime_c_api.h"

static const OrtApi *api;

/* π in three parts (Cephes): k·P1 is exact for |k| < 2^16, so z − kπ keeps float accuracy; sin² has
 * period π, so the reduced argument t ∈ [−π/2, π/2] needs no quadrant logic. */
#define P1 3.140625f
#define P2 9.67502593994140625e-4f
#define P3 1.509957990978376432e-7f
#define INV_PI 0.318309886183790671f

#if defined(__x86_64__) && defined(__GNUC__) && !defined(__clang__)
#define CLONES __attribute__((target_clones("avx512f", "arch=haswell", "default")))
#else
#define CLONES
#endif

/* y = u + sin²(αu)/α */
static inline __attribute__((always_inline)) float snake_of(float u, float a, float inv) {
    float z = a * u;
    float q = z * INV_PI;
    float k = (float)(int32_t)(q + (q >= 0.0f ? 0.5f : -0.5f));
    float t = ((z - k * P1) - k * P2) - k * P3;
    float t2 = t * t;
    /* sin t by its Taylor series to t^13: < 1e-9 off on [−π/2, π/2], below float's step */
    float s = t * (1.0f + t2 * (-1.6666667e-1f + t2 * (8.3333333e-3f + t2 * (-1.9841270e-4f
              + t2 * (2.7557319e-6f + t2 * (-2.5052108e-8f + t2 * 1.6059044e-10f))))));
    return u + inv * (s * s);
}

CLONES
static void snake_row(float *restrict y, const float *restrict x, float a, float inv, int64_t n) {
    for (int64_t i = 0; i < n; i++)
        y[i] = snake_of(x[i], a, inv);
}

typedef struct {
    float *y;
    const float *x, *alpha, *inv;
    int64_t channels, length;
} Rows;

static void run_row(void *data, size_t row) {
    const Rows *r = data;
    int64_t c = (int64_t)row % r->channels;
    snake_row(r->y + row * r->length, r->x + row * r->length, r->alpha[c], r->inv[c], r->length);
}

#define TRY(expr) do { OrtStatus *status_ = (expr); if (status_) return status_; } while (0)
#define MAX_RANK 8
#define MAX_CHANNELS 1024
#define BLOCK_BYTES 16384             /* a channel-major block's codes, C × times: L1-sized */

static OrtStatus *shape_of(const OrtValue *v, int64_t *dims, size_t *rank, size_t *count) {
    OrtTensorTypeAndShapeInfo *info;
    TRY(api->GetTensorTypeAndShape(v, &info));
    OrtStatus *status = api->GetDimensionsCount(info, rank);
    if (!status && *rank <= MAX_RANK) status = api->GetDimensions(info, dims, *rank);
    if (!status) status = api->GetTensorShapeElementCount(info, count);
    api->ReleaseTensorTypeAndShapeInfo(info);
    return status;
}

static OrtStatusPtr compute(void *kernel, OrtKernelContext *ctx) {
    (void)kernel;
    const OrtValue *xv, *av, *iv;
    OrtValue *yv;
    int64_t dims[MAX_RANK], other[MAX_RANK];
    size_t rank, n, other_rank, count;
    void *p;
    Rows r;
    TRY(api->KernelContext_GetInput(ctx, 0, &xv));
    TRY(api->KernelContext_GetInput(ctx, 1, &av));
    TRY(api->KernelContext_GetInput(ctx, 2, &iv));
    TRY(shape_of(xv, dims, &rank, &n));
    if (rank != 3) return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.Snake: x must be [N, C, T]");
    TRY(shape_of(av, other, &other_rank, &count));
    if ((int64_t)count != dims[1]) return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.Snake: alpha needs C values");
    TRY(shape_of(iv, other, &other_rank, &count));
    if ((int64_t)count != dims[1]) return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.Snake: inv_alpha needs C values");
    TRY(api->KernelContext_GetOutput(ctx, 0, dims, rank, &yv));
    if (n == 0) return NULL;
    TRY(api->GetTensorMutableData((OrtValue *)xv, &p)); r.x = p;
    TRY(api->GetTensorMutableData((OrtValue *)av, &p)); r.alpha = p;
    TRY(api->GetTensorMutableData((OrtValue *)iv, &p)); r.inv = p;
    TRY(api->GetTensorMutableData(yv, &p)); r.y = p;
    r.channels = dims[1];
    r.length = dims[2];
    /* one task per channel row on the session's own intra-op threads */
    return api->KernelContext_ParallelFor(ctx, run_row, (size_t)(dims[0] * dims[1]), 0, &r);
}

/* ---------------------------------------------------------------------------------- SnakeColumns */

/* The convolution's geometry, and for NormSnakeColumns the norm's epsilon and x's layout */
typedef struct { int64_t kernel, dilation, pad, norm, time_major; float epsilon; } Geometry;

/* Per channel: u = (x − mean)·gain + shift, AdaIN's instance norm and style folded (0, 1, 0: no norm),
 * then the Snake with α and 1/α */
typedef struct { float *mean, *gain; const float *shift, *alpha, *inv; } Channels;

typedef struct {
    const float *x;
    Channels p;
    double *sums;                     /* the norm's Σx and Σx² per channel (time-major: per time block) */
    float *low, *high;                /* the Snake's extremes per task */
    uint8_t *padded, *col;            /* [T + 2·pad, C] quantised, then the columns */
    int64_t channels, length, times;  /* times: the rows of one time-major task */
    Geometry g;
    float scale;
    uint8_t zero;
} Columns;

CLONES
static void norm_snake_row(float *restrict y, const float *restrict x, const Channels *p, int64_t c, int64_t n) {
    float mean = p->mean[c], gain = p->gain[c], shift = p->shift[c], a = p->alpha[c], inv = p->inv[c];
    for (int64_t i = 0; i < n; i++)
        y[i] = snake_of((x[i] - mean) * gain + shift, a, inv);
}

/* In sixteen independent lanes: `a < b ? a : b` per lane is one vector min, a single running extreme is a
 * chain the compiler may not reorder */
CLONES
static void extremes(const float *v, int64_t n, float *low, float *high) {
    float lo[16], hi[16];
    for (int k = 0; k < 16; k++) lo[k] = hi[k] = v[0];
    int64_t i = 0;
    for (; i + 16 <= n; i += 16)
        for (int k = 0; k < 16; k++) {
            lo[k] = v[i + k] < lo[k] ? v[i + k] : lo[k];
            hi[k] = v[i + k] > hi[k] ? v[i + k] : hi[k];
        }
    for (; i < n; i++) {
        lo[0] = v[i] < lo[0] ? v[i] : lo[0];
        hi[0] = v[i] > hi[0] ? v[i] : hi[0];
    }
    for (int k = 1; k < 16; k++) {
        lo[0] = lo[k] < lo[0] ? lo[k] : lo[0];
        hi[0] = hi[k] > hi[0] ? hi[k] : hi[0];
    }
    *low = lo[0];
    *high = hi[0];
}

/* Σx and Σx² in double, in eight independent lanes (vectorised without reordering float sums) */
CLONES
static void channel_sums(const float *x, int64_t n, double *sum, double *squares) {
    double s[8] = {0}, q[8] = {0};
    int64_t i = 0;
    for (; i + 8 <= n; i += 8)
        for (int k = 0; k < 8; k++) {
            double v = x[i + k];
            s[k] += v;
            q[k] += v * v;
        }
    for (; i < n; i++) {
        s[0] += x[i];
        q[0] += (double)x[i] * x[i];
    }
    *sum = s[0] + s[1] + s[2] + s[3] + s[4] + s[5] + s[6] + s[7];
    *squares = q[0] + q[1] + q[2] + q[3] + q[4] + q[5] + q[6] + q[7];
}

CLONES
static void row_sums(const float *x, int64_t n, double *restrict sum, double *restrict squares) {
    for (int64_t c = 0; c < n; c++) {
        double v = x[c];
        sum[c] += v;
        squares[c] += v * v;
    }
}

static int64_t rows_of(const Columns *j, size_t block, int64_t *t0) {
    *t0 = (int64_t)block * j->times;
    return *t0 + j->times < j->length ? j->times : j->length - *t0;
}

static void channel_task_sums(void *data, size_t c) {
    Columns *j = data;
    channel_sums(j->x + c * j->length, j->length, &j->sums[c], &j->sums[j->channels + c]);
}

static void time_task_sums(void *data, size_t block) {
    Columns *j = data;
    int64_t t0, n = rows_of(j, block, &t0), C = j->channels;
    double *sum = j->sums + 2 * C * (int64_t)block;
    memset(sum, 0, (size_t)(2 * C) * sizeof(double));
    for (int64_t t = t0; t < t0 + n; t++)
        row_sums(j->x + t * C, C, sum, sum + C);
}

/* The instance norm of each channel over time (AdaIN's ReduceMean, Sub, Mul, ReduceMean, Add ε, Sqrt, Div),
 * its style scale folded in: gain = scale / √(var + ε) */
static OrtStatus *statistics(OrtKernelContext *ctx, Columns *j, const float *scale) {
    int64_t C = j->channels, blocks = (j->length + j->times - 1) / j->times;
    if (j->g.time_major) {
        TRY(api->KernelContext_ParallelFor(ctx, time_task_sums, (size_t)blocks, 0, j));
        for (int64_t b = 1; b < blocks; b++)
            for (int64_t c = 0; c < 2 * C; c++) j->sums[c] += j->sums[2 * C * b + c];
    } else {
        TRY(api->KernelContext_ParallelFor(ctx, channel_task_sums, (size_t)C, 0, j));
    }
    for (int64_t c = 0; c < C; c++) {
        double mean = j->sums[c] / j->length, var = j->sums[C + c] / j->length - mean * mean;
        j->p.mean[c] = (float)mean;
        j->p.gain[c] = (float)(scale[c] / sqrt((var > 0.0 ? var : 0.0) + j->g.epsilon));
    }
    return NULL;
}

#define CHUNK 1024

/* The Snake is computed twice, here for the range and again while quantising, rather than kept: on a
 * 2-core machine memory is slower than the polynomial (a float copy of x would be written and read) */
static void channel_task_range(void *data, size_t c) {
    Columns *j = data;
    float y[CHUNK], lo, hi;
    const float *x = j->x + c * j->length;
    j->low[c] = j->high[c] = 0.0f;
    for (int64_t t = 0; t < j->length; t += CHUNK) {
        int64_t n = j->length - t < CHUNK ? j->length - t : CHUNK;
        norm_snake_row(y, x + t, &j->p, (int64_t)c, n);
        extremes(y, n, &lo, &hi);
        j->low[c] = lo < j->low[c] ? lo : j->low[c];
        j->high[c] = hi > j->high[c] ? hi : j->high[c];
    }
}

/* The extremes of the Snake over time-major rows, in sixteen lanes without keeping the values */
CLONES
static void range_across(const float *restrict x, const Channels *p, int64_t rows, int64_t n, float *low, float *high) {
    const float *mean = p->mean, *gain = p->gain, *shift = p->shift, *a = p->alpha, *inv = p->inv;
    float lo[16], hi[16];
    for (int k = 0; k < 16; k++) lo[k] = hi[k] = 0.0f;
    for (int64_t t = 0; t < rows; t++, x += n) {
        int64_t i = 0;
        for (; i + 16 <= n; i += 16)
            for (int k = 0; k < 16; k++) {
                float v = snake_of((x[i + k] - mean[i + k]) * gain[i + k] + shift[i + k], a[i + k], inv[i + k]);
                lo[k] = v < lo[k] ? v : lo[k];
                hi[k] = v > hi[k] ? v : hi[k];
            }
        for (; i < n; i++) {
            float v = snake_of((x[i] - mean[i]) * gain[i] + shift[i], a[i], inv[i]);
            lo[0] = v < lo[0] ? v : lo[0];
            hi[0] = v > hi[0] ? v : hi[0];
        }
    }
    for (int k = 1; k < 16; k++) {
        lo[0] = lo[k] < lo[0] ? lo[k] : lo[0];
        hi[0] = hi[k] > hi[0] ? hi[k] : hi[0];
    }
    *low = lo[0];
    *high = hi[0];
}

/* (the extremes start at 0: quantisation widens the range to hold 0 in any case) */
static void time_task_range(void *data, size_t block) {
    Columns *j = data;
    int64_t t0, n = rows_of(j, block, &t0);
    range_across(j->x + t0 * j->channels, &j->p, n, j->channels, &j->low[block], &j->high[block]);
}

/* onnxruntime's DynamicQuantizeLinear (GetQuantizationParameter): the range widened to hold 0, 255 steps */
static void quantisation(Columns *j, int64_t tasks) {
    float lo = 0.0f, hi = 0.0f;
    for (int64_t i = 0; i < tasks; i++) {
        lo = j->low[i] < lo ? j->low[i] : lo;
        hi = j->high[i] > hi ? j->high[i] : hi;
    }
    j->scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    float zero = 0.0f - lo / j->scale;
    zero = zero < 0.0f ? 0.0f : (zero > 255.0f ? 255.0f : zero);
    j->zero = (uint8_t)nearbyintf(zero);               /* round half to even, as onnxruntime */
}

/* Rounding by adding and taking away 1.5·2^23 is round-half-even (as onnxruntime's quantiser) for |v| < 2^22
 * in the default rounding mode, and it vectorises: nearbyintf is a libm call on plain x86-64 */
#define ROUNDER 12582912.0f

/* MlasQuantizeLinear: x / scale clamped to the codes' range, rounded half to even, plus the zero point */
CLONES
static void quantise_row(uint8_t *restrict q, const float *restrict y, int64_t n, float scale, int32_t zero) {
    float lo = 0.0f - (float)zero, hi = 255.0f - (float)zero;
    for (int64_t i = 0; i < n; i++) {
        float v = y[i] / scale;
        v = v < lo ? lo : (v > hi ? hi : v);
        q[i] = (uint8_t)((int32_t)((v + ROUNDER) - ROUNDER) + zero);
    }
}

/* Channel-major: one block of times, each channel's codes along time (contiguous, vectorised), then the
 * block written transposed ([t][c]) after `pad` rows of zero points; the block's codes stay in L1 */
static void channel_task_quantise(void *data, size_t block) {
    Columns *j = data;
    int64_t t0, n = rows_of(j, block, &t0);
    float y[CHUNK];
    uint8_t codes[BLOCK_BYTES], *out = j->padded + (t0 + j->g.pad) * j->channels;
    for (int64_t c = 0; c < j->channels; c++) {
        norm_snake_row(y, j->x + c * j->length + t0, &j->p, c, n);
        quantise_row(codes + c * j->times, y, n, j->scale, j->zero);
    }
    for (int64_t t = 0; t < n; t++)
        for (int64_t c = 0; c < j->channels; c++)
            out[t * j->channels + c] = codes[c * j->times + t];
}

/* Time-major rows, the Snake and its codes in one loop: the rows are already the columns' layout */
CLONES
static void quantise_across(uint8_t *restrict q, const float *restrict x, const Channels *p, int64_t rows, int64_t n,
                            float scale, int32_t zero) {
    const float *mean = p->mean, *gain = p->gain, *shift = p->shift, *a = p->alpha, *inv = p->inv;
    float lo = 0.0f - (float)zero, hi = 255.0f - (float)zero;
    for (int64_t t = 0; t < rows; t++, x += n, q += n)
        for (int64_t i = 0; i < n; i++) {
            float v = snake_of((x[i] - mean[i]) * gain[i] + shift[i], a[i], inv[i]) / scale;
            v = v < lo ? lo : (v > hi ? hi : v);
            q[i] = (uint8_t)((int32_t)((v + ROUNDER) - ROUNDER) + zero);
        }
}

static void time_task_quantise(void *data, size_t block) {
    Columns *j = data;
    int64_t t0, n = rows_of(j, block, &t0);
    quantise_across(j->padded + (t0 + j->g.pad) * j->channels, j->x + t0 * j->channels, &j->p, n, j->channels,
                    j->scale, j->zero);
}

static void columns_row(void *data, size_t t) {
    Columns *j = data;
    uint8_t *row = j->col + t * j->g.kernel * j->channels;
    for (int64_t k = 0; k < j->g.kernel; k++)
        memcpy(row + k * j->channels, j->padded + (t + k * j->g.dilation) * j->channels, (size_t)j->channels);
}

static OrtStatus *columns_outputs(OrtKernelContext *ctx, Columns *j) {
    int64_t shape[3] = {1, j->length, j->g.kernel * j->channels};
    OrtValue *v;
    void *p;
    TRY(api->KernelContext_GetOutput(ctx, 0, shape, 3, &v));
    TRY(api->GetTensorMutableData(v, &p)); j->col = p;
    TRY(api->KernelContext_GetOutput(ctx, 1, NULL, 0, &v));
    TRY(api->GetTensorMutableData(v, &p)); *(float *)p = j->scale;
    TRY(api->KernelContext_GetOutput(ctx, 2, NULL, 0, &v));
    TRY(api->GetTensorMutableData(v, &p)); *(uint8_t *)p = j->zero;
    return NULL;
}

/* x, then C values each: [scale, shift,] alpha, inv_alpha; `params` points at the float inputs after x */
static OrtStatus *columns_inputs(OrtKernelContext *ctx, Columns *j, const float **params, size_t count) {
    const OrtValue *v;
    int64_t dims[MAX_RANK];
    size_t rank, n;
    void *p;
    TRY(api->KernelContext_GetInput(ctx, 0, &v));
    TRY(shape_of(v, dims, &rank, &n));
    if (rank != 3 || dims[0] != 1 || dims[1] < 1 || dims[2] < 1)
        return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.SnakeColumns: x must be [1, C, T] (time_major: [1, T, C])");
    j->channels = j->g.time_major ? dims[2] : dims[1];
    j->length = j->g.time_major ? dims[1] : dims[2];
    if (j->channels > MAX_CHANNELS)
        return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.SnakeColumns: at most 1024 channels");
    TRY(api->GetTensorMutableData((OrtValue *)v, &p)); j->x = p;
    for (size_t i = 0; i < count; i++) {
        TRY(api->KernelContext_GetInput(ctx, i + 1, &v));
        TRY(shape_of(v, dims, &rank, &n));
        if ((int64_t)n != j->channels)
            return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.SnakeColumns: its parameters need C values each");
        TRY(api->GetTensorMutableData((OrtValue *)v, &p)); params[i] = p;
    }
    return NULL;
}

/* Rows per time-major task, or times per channel-major block (whose codes, C × times, fill BLOCK_BYTES) */
static int64_t task_rows(const Columns *j) {
    if (j->g.time_major) return 256;
    int64_t times = BLOCK_BYTES / j->channels;
    return times < 16 ? 16 : (times > CHUNK ? CHUNK : times);      /* a task's Snake values fit y[CHUNK] */
}

static OrtStatus *columns_run(OrtKernelContext *ctx, Columns *j, const float *scale) {
    int64_t rows = j->length + 2 * j->g.pad, blocks = (j->length + j->times - 1) / j->times;
    int64_t range_tasks = j->g.time_major ? blocks : j->channels;
    if (j->g.norm) TRY(statistics(ctx, j, scale));
    TRY(api->KernelContext_ParallelFor(ctx, j->g.time_major ? time_task_range : channel_task_range,
                                       (size_t)range_tasks, 0, j));
    quantisation(j, range_tasks);
    memset(j->padded, j->zero, (size_t)(j->g.pad * j->channels));
    memset(j->padded + (rows - j->g.pad) * j->channels, j->zero, (size_t)(j->g.pad * j->channels));
    TRY(api->KernelContext_ParallelFor(ctx, j->g.time_major ? time_task_quantise : channel_task_quantise,
                                       (size_t)blocks, 0, j));
    TRY(columns_outputs(ctx, j));
    return api->KernelContext_ParallelFor(ctx, columns_row, (size_t)j->length, 0, j);
}

/* The work memory of one run: the norm's parameters and sums, the extremes, the padded codes */
static OrtStatus *columns_compute_with(OrtKernelContext *ctx, Columns *j, const float *scale) {
    int64_t C = j->channels, blocks = (j->length + j->times - 1) / j->times;
    int64_t tasks = blocks > C ? blocks : C;
    float *floats = malloc((size_t)(2 * C + 2 * tasks) * sizeof(float));
    double *sums = malloc((size_t)(2 * C * (j->g.time_major ? blocks : 1)) * sizeof(double));
    uint8_t *padded = malloc((size_t)((j->length + 2 * j->g.pad) * C));
    OrtStatus *status = NULL;
    if (!floats || !sums || !padded) {
        status = api->CreateStatus(ORT_RUNTIME_EXCEPTION, "takefit.SnakeColumns: out of memory");
    } else {
        j->p.mean = floats;
        j->p.gain = floats + C;
        j->low = floats + 2 * C;
        j->high = floats + 2 * C + tasks;
        j->sums = sums;
        j->padded = padded;
        for (int64_t c = 0; c < C; c++) j->p.mean[c] = 0.0f, j->p.gain[c] = 1.0f;
        status = columns_run(ctx, j, scale);
    }
    free(floats);
    free(sums);
    free(padded);
    return status;
}

static const float zeros[MAX_CHANNELS];

static OrtStatusPtr columns_compute(void *kernel, OrtKernelContext *ctx) {
    Columns j = {.g = *(const Geometry *)kernel};
    const float *params[4];
    size_t count = j.g.norm ? 4 : 2;
    TRY(columns_inputs(ctx, &j, params, count));
    j.p.shift = j.g.norm ? params[1] : zeros;
    j.p.alpha = params[count - 2];
    j.p.inv = params[count - 1];
    j.times = task_rows(&j);
    return columns_compute_with(ctx, &j, params[0]);
}

static OrtStatus *geometry_of(const OrtKernelInfo *info, Geometry *g) {
    TRY(api->KernelInfoGetAttribute_int64(info, "kernel", &g->kernel));
    TRY(api->KernelInfoGetAttribute_int64(info, "dilation", &g->dilation));
    TRY(api->KernelInfoGetAttribute_int64(info, "pad", &g->pad));
    if (g->kernel < 1 || g->dilation < 1 || g->pad < 0 || (g->kernel - 1) * g->dilation != 2 * g->pad)
        return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.SnakeColumns: a 'same' convolution: kernel, "
                                 "dilation ≥ 1 and pad = (kernel − 1)·dilation / 2");
    if (g->norm) {
        TRY(api->KernelInfoGetAttribute_float(info, "epsilon", &g->epsilon));
        TRY(api->KernelInfoGetAttribute_int64(info, "time_major", &g->time_major));
    }
    return NULL;
}

static OrtStatus *kernel_of(const OrtKernelInfo *info, int64_t norm, void **kernel) {
    Geometry g = {.norm = norm};
    TRY(geometry_of(info, &g));
    Geometry *held = malloc(sizeof(Geometry));
    if (!held) return api->CreateStatus(ORT_RUNTIME_EXCEPTION, "takefit.SnakeColumns: out of memory");
    *held = g;
    *kernel = held;
    return NULL;
}

static OrtStatusPtr columns_create(const OrtCustomOp *op, const OrtApi *a, const OrtKernelInfo *info, void **kernel) {
    (void)op; (void)a;
    return kernel_of(info, 0, kernel);
}

static OrtStatusPtr norm_create(const OrtCustomOp *op, const OrtApi *a, const OrtKernelInfo *info, void **kernel) {
    (void)op; (void)a;
    return kernel_of(info, 1, kernel);
}

static void columns_destroy(void *kernel) { free(kernel); }
static const char *columns_name(const OrtCustomOp *op) { (void)op; return "SnakeColumns"; }
static const char *norm_name(const OrtCustomOp *op) { (void)op; return "NormSnakeColumns"; }
static ONNXTensorElementDataType columns_type(const OrtCustomOp *op, size_t i) {
    (void)op;
    return i == 1 ? ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT : ONNX_TENSOR_ELEMENT_DATA_TYPE_UINT8;
}

/* ------------------------------------------------------------------------------- registration */

static OrtStatusPtr create(const OrtCustomOp *op, const OrtApi *a, const OrtKernelInfo *info, void **kernel) {
    (void)op; (void)a; (void)info;
    *kernel = (void *)&api;   /* stateless: any non-null handle */
    return NULL;
}
static void destroy(void *kernel) { (void)kernel; }
static const char *name(const OrtCustomOp *op) { (void)op; return "Snake"; }
static const char *provider(const OrtCustomOp *op) { (void)op; return "CPUExecutionProvider"; }
static ONNXTensorElementDataType f32(const OrtCustomOp *op, size_t i) { (void)op; (void)i; return ONNX_TENSOR_ELEMENT_DATA_TYPE_FLOAT; }
static size_t inputs(const OrtCustomOp *op) { (void)op; return 3; }
static size_t five_inputs(const OrtCustomOp *op) { (void)op; return 5; }
static size_t outputs(const OrtCustomOp *op) { (void)op; return 1; }
static size_t three_outputs(const OrtCustomOp *op) { (void)op; return 3; }
static OrtCustomOpInputOutputCharacteristic required(const OrtCustomOp *op, size_t i) { (void)op; (void)i; return INPUT_OUTPUT_REQUIRED; }
static OrtMemType on_cpu(const OrtCustomOp *op, size_t i) { (void)op; (void)i; return OrtMemTypeDefault; }
static int one(const OrtCustomOp *op) { (void)op; return 1; }
static int any_version(const OrtCustomOp *op) { (void)op; return 1 << 30; }
static size_t no_pairs(int **in, int **out) { *in = NULL; *out = NULL; return 0; }
static void no_release(int *in, int *out) { (void)in; (void)out; }

/* An operator's table: what both kernels share (float inputs x, alpha, inv_alpha, all required, on the CPU) */
static OrtCustomOp op_table(const char *(*op_name)(const OrtCustomOp *), size_t (*input_count)(const OrtCustomOp *),
                            ONNXTensorElementDataType (*output_type)(const OrtCustomOp *, size_t),
                            size_t (*output_count)(const OrtCustomOp *),
                            OrtStatusPtr (*create_kernel)(const OrtCustomOp *, const OrtApi *, const OrtKernelInfo *, void **),
                            OrtStatusPtr (*compute_kernel)(void *, OrtKernelContext *), void (*destroy_kernel)(void *)) {
    OrtCustomOp op = {
        .version = ORT_API_VERSION, .GetName = op_name, .GetExecutionProviderType = provider,
        .GetInputType = f32, .GetInputTypeCount = input_count, .GetOutputType = output_type, .GetOutputTypeCount = output_count,
        .KernelDestroy = destroy_kernel, .GetInputCharacteristic = required, .GetOutputCharacteristic = required,
        .GetInputMemoryType = on_cpu, .GetVariadicInputMinArity = one, .GetVariadicInputHomogeneity = one,
        .GetVariadicOutputMinArity = one, .GetVariadicOutputHomogeneity = one,
        .CreateKernelV2 = create_kernel, .KernelComputeV2 = compute_kernel, .GetStartVersion = one,
        .GetEndVersion = any_version, .GetMayInplace = no_pairs, .ReleaseMayInplace = no_release,
        .GetAliasMap = no_pairs, .ReleaseAliasMap = no_release,
    };
    return op;
}

static OrtCustomOp snake, columns, norm_columns;     /* filled at registration; onnxruntime keeps pointers to them */

/* onnxruntime calls this when a session registers the library (SessionOptions.register_custom_ops_library).
 * takefit registers it only with an onnxruntime whose API includes this header's version (native.py). */
OrtStatus *ORT_API_CALL RegisterCustomOps(OrtSessionOptions *options, const OrtApiBase *base) {
    OrtCustomOpDomain *domain;
    api = base->GetApi(ORT_API_VERSION);
    snake = op_table(name, inputs, f32, outputs, create, compute, destroy);
    columns = op_table(columns_name, inputs, columns_type, three_outputs, columns_create, columns_compute, columns_destroy);
    norm_columns = op_table(norm_name, five_inputs, columns_type, three_outputs, norm_create, columns_compute,
                            columns_destroy);
    TRY(api->CreateCustomOpDomain("takefit", &domain));
    TRY(api->CustomOpDomain_Add(domain, &snake));
    TRY(api->CustomOpDomain_Add(domain, &columns));
    TRY(api->CustomOpDomain_Add(domain, &norm_columns));
    return api->AddCustomOpDomain(options, domain);
}
