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

CLONES
static void snake_row(float *restrict y, const float *restrict x, float a, float inv, int64_t n) {
    for (int64_t i = 0; i < n; i++) {
        float z = a * x[i];
        float q = z * INV_PI;
        float k = (float)(int32_t)(q + (q >= 0.0f ? 0.5f : -0.5f));
        float t = ((z - k * P1) - k * P2) - k * P3;
        float t2 = t * t;
        /* sin t by its Taylor series to t^13: < 1e-9 off on [−π/2, π/2], below float's step */
        float s = t * (1.0f + t2 * (-1.6666667e-1f + t2 * (8.3333333e-3f + t2 * (-1.9841270e-4f
                  + t2 * (2.7557319e-6f + t2 * (-2.5052108e-8f + t2 * 1.6059044e-10f))))));
        y[i] = x[i] + inv * (s * s);
    }
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

typedef struct { int64_t kernel, dilation, pad; } Geometry;

typedef struct {
    const float *x, *alpha, *inv;
    float *low, *high;                /* each channel's extremes */
    uint8_t *padded, *col;            /* [T + 2·pad, C] quantised, then the columns */
    int64_t channels, length;
    Geometry g;
    float scale;
    uint8_t zero;
} Columns;

CLONES
static void extremes(const float *v, int64_t n, float *low, float *high) {
    float lo = v[0], hi = v[0];
    for (int64_t i = 1; i < n; i++) {
        lo = v[i] < lo ? v[i] : lo;
        hi = v[i] > hi ? v[i] : hi;
    }
    *low = lo;
    *high = hi;
}

#define CHUNK 1024

/* The Snake is computed twice, here for the range and again while quantising, rather than kept: on a
 * 2-core machine memory is slower than the polynomial (a float copy of x would be written and read) */
static void snake_channel(void *data, size_t c) {
    Columns *j = data;
    float y[CHUNK], lo, hi;
    const float *x = j->x + c * j->length;
    j->low[c] = j->high[c] = 0.0f;
    for (int64_t t = 0; t < j->length; t += CHUNK) {
        int64_t n = j->length - t < CHUNK ? j->length - t : CHUNK;
        snake_row(y, x + t, j->alpha[c], j->inv[c], n);
        extremes(y, n, &lo, &hi);
        j->low[c] = lo < j->low[c] ? lo : j->low[c];
        j->high[c] = hi > j->high[c] ? hi : j->high[c];
    }
}

/* onnxruntime's DynamicQuantizeLinear (GetQuantizationParameter): the range widened to hold 0, 255 steps */
static void quantisation(Columns *j) {
    float lo = 0.0f, hi = 0.0f;
    for (int64_t c = 0; c < j->channels; c++) {
        lo = j->low[c] < lo ? j->low[c] : lo;
        hi = j->high[c] > hi ? j->high[c] : hi;
    }
    j->scale = hi == lo ? 1.0f : (hi - lo) / 255.0f;
    float zero = 0.0f - lo / j->scale;
    zero = zero < 0.0f ? 0.0f : (zero > 255.0f ? 255.0f : zero);
    j->zero = (uint8_t)nearbyintf(zero);               /* round half to even, as onnxruntime */
}

#define TIME_BLOCK 64

/* MlasQuantizeLinear: x / scale clamped to the codes' range, rounded half to even, plus the zero point;
 * written transposed ([t][c]) after `pad` rows of zero points, one block of times per task */
static void quantise_block(void *data, size_t block) {
    Columns *j = data;
    int64_t t0 = (int64_t)block * TIME_BLOCK, t1 = t0 + TIME_BLOCK < j->length ? t0 + TIME_BLOCK : j->length;
    float lo = 0.0f - j->zero, hi = 255.0f - j->zero, y[TIME_BLOCK];
    for (int64_t c = 0; c < j->channels; c++) {
        snake_row(y, j->x + c * j->length + t0, j->alpha[c], j->inv[c], t1 - t0);
        for (int64_t t = t0; t < t1; t++) {
            float v = y[t - t0] / j->scale;
            v = v < lo ? lo : (v > hi ? hi : v);
            j->padded[(t + j->g.pad) * j->channels + c] = (uint8_t)((int32_t)nearbyintf(v) + j->zero);
        }
    }
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

static OrtStatus *columns_inputs(OrtKernelContext *ctx, Columns *j) {
    const OrtValue *v[3];
    int64_t dims[MAX_RANK];
    size_t rank, n;
    void *p;
    for (size_t i = 0; i < 3; i++) TRY(api->KernelContext_GetInput(ctx, i, &v[i]));
    TRY(shape_of(v[0], dims, &rank, &n));
    if (rank != 3 || dims[0] != 1 || dims[2] < 1)
        return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.SnakeColumns: x must be [1, C, T], T ≥ 1");
    j->channels = dims[1];
    j->length = dims[2];
    for (size_t i = 1; i < 3; i++) {
        TRY(shape_of(v[i], dims, &rank, &n));
        if ((int64_t)n != j->channels)
            return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.SnakeColumns: alpha and inv_alpha need C values");
    }
    TRY(api->GetTensorMutableData((OrtValue *)v[0], &p)); j->x = p;
    TRY(api->GetTensorMutableData((OrtValue *)v[1], &p)); j->alpha = p;
    TRY(api->GetTensorMutableData((OrtValue *)v[2], &p)); j->inv = p;
    return NULL;
}

static OrtStatus *columns_run(OrtKernelContext *ctx, Columns *j) {
    int64_t rows = j->length + 2 * j->g.pad;
    TRY(api->KernelContext_ParallelFor(ctx, snake_channel, (size_t)j->channels, 0, j));
    quantisation(j);
    memset(j->padded, j->zero, (size_t)(j->g.pad * j->channels));
    memset(j->padded + (rows - j->g.pad) * j->channels, j->zero, (size_t)(j->g.pad * j->channels));
    TRY(api->KernelContext_ParallelFor(ctx, quantise_block, (size_t)((j->length + TIME_BLOCK - 1) / TIME_BLOCK), 0, j));
    TRY(columns_outputs(ctx, j));
    return api->KernelContext_ParallelFor(ctx, columns_row, (size_t)j->length, 0, j);
}

static OrtStatusPtr columns_compute(void *kernel, OrtKernelContext *ctx) {
    Columns j = {.g = *(const Geometry *)kernel};
    TRY(columns_inputs(ctx, &j));
    if ((j.g.kernel - 1) * j.g.dilation != 2 * j.g.pad)
        return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.SnakeColumns: only 'same' convolutions");
    j.low = malloc((size_t)j.channels * sizeof(float));
    j.high = malloc((size_t)j.channels * sizeof(float));
    j.padded = malloc((size_t)((j.length + 2 * j.g.pad) * j.channels));
    OrtStatus *status = j.low && j.high && j.padded ? columns_run(ctx, &j)
                        : api->CreateStatus(ORT_RUNTIME_EXCEPTION, "takefit.SnakeColumns: out of memory");
    free(j.low);
    free(j.high);
    free(j.padded);
    return status;
}

static OrtStatusPtr columns_create(const OrtCustomOp *op, const OrtApi *a, const OrtKernelInfo *info, void **kernel) {
    (void)op; (void)a;
    Geometry g;
    TRY(api->KernelInfoGetAttribute_int64(info, "kernel", &g.kernel));
    TRY(api->KernelInfoGetAttribute_int64(info, "dilation", &g.dilation));
    TRY(api->KernelInfoGetAttribute_int64(info, "pad", &g.pad));
    if (g.kernel < 1 || g.dilation < 1 || g.pad < 0)
        return api->CreateStatus(ORT_INVALID_ARGUMENT, "takefit.SnakeColumns: kernel, dilation ≥ 1 and pad ≥ 0");
    Geometry *held = malloc(sizeof(Geometry));
    if (!held) return api->CreateStatus(ORT_RUNTIME_EXCEPTION, "takefit.SnakeColumns: out of memory");
    *held = g;
    *kernel = held;
    return NULL;
}

static void columns_destroy(void *kernel) { free(kernel); }
static const char *columns_name(const OrtCustomOp *op) { (void)op; return "SnakeColumns"; }
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
static size_t outputs(const OrtCustomOp *op) { (void)op; return 1; }
static size_t three_outputs(const OrtCustomOp *op) { (void)op; return 3; }
static OrtCustomOpInputOutputCharacteristic required(const OrtCustomOp *op, size_t i) { (void)op; (void)i; return INPUT_OUTPUT_REQUIRED; }
static OrtMemType on_cpu(const OrtCustomOp *op, size_t i) { (void)op; (void)i; return OrtMemTypeDefault; }
static int one(const OrtCustomOp *op) { (void)op; return 1; }
static int any_version(const OrtCustomOp *op) { (void)op; return 1 << 30; }
static size_t no_pairs(int **in, int **out) { *in = NULL; *out = NULL; return 0; }
static void no_release(int *in, int *out) { (void)in; (void)out; }

/* An operator's table: what both kernels share (float inputs x, alpha, inv_alpha, all required, on the CPU) */
static OrtCustomOp op_table(const char *(*op_name)(const OrtCustomOp *),
                            ONNXTensorElementDataType (*output_type)(const OrtCustomOp *, size_t),
                            size_t (*output_count)(const OrtCustomOp *),
                            OrtStatusPtr (*create_kernel)(const OrtCustomOp *, const OrtApi *, const OrtKernelInfo *, void **),
                            OrtStatusPtr (*compute_kernel)(void *, OrtKernelContext *), void (*destroy_kernel)(void *)) {
    OrtCustomOp op = {
        .version = ORT_API_VERSION, .GetName = op_name, .GetExecutionProviderType = provider,
        .GetInputType = f32, .GetInputTypeCount = inputs, .GetOutputType = output_type, .GetOutputTypeCount = output_count,
        .KernelDestroy = destroy_kernel, .GetInputCharacteristic = required, .GetOutputCharacteristic = required,
        .GetInputMemoryType = on_cpu, .GetVariadicInputMinArity = one, .GetVariadicInputHomogeneity = one,
        .GetVariadicOutputMinArity = one, .GetVariadicOutputHomogeneity = one,
        .CreateKernelV2 = create_kernel, .KernelComputeV2 = compute_kernel, .GetStartVersion = one,
        .GetEndVersion = any_version, .GetMayInplace = no_pairs, .ReleaseMayInplace = no_release,
        .GetAliasMap = no_pairs, .ReleaseAliasMap = no_release,
    };
    return op;
}

static OrtCustomOp snake, columns;     /* filled at registration; onnxruntime keeps pointers to them */

/* onnxruntime calls this when a session registers the library (SessionOptions.register_custom_ops_library).
 * takefit registers it only with an onnxruntime whose API includes this header's version (native.py). */
OrtStatus *ORT_API_CALL RegisterCustomOps(OrtSessionOptions *options, const OrtApiBase *base) {
    OrtCustomOpDomain *domain;
    api = base->GetApi(ORT_API_VERSION);
    snake = op_table(name, f32, outputs, create, compute, destroy);
    columns = op_table(columns_name, columns_type, three_outputs, columns_create, columns_compute, columns_destroy);
    TRY(api->CreateCustomOpDomain("takefit", &domain));
    TRY(api->CustomOpDomain_Add(domain, &snake));
    TRY(api->CustomOpDomain_Add(domain, &columns));
    return api->AddCustomOpDomain(options, domain);
}
