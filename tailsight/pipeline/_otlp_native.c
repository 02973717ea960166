/* OTLP ExportTraceServiceRequest payloads -> one ClickHouse Native block of otel_traces rows.
 *
 * Renders every column exactly as tailsight/storage/otlp_protobuf.py does in SQL (which
 * follows the OpenTelemetry Collector's ClickHouse exporter), so the store only reads
 * Native and writes. Walks the protobuf wire format directly: no allocations per span,
 * every length and varint bounds-checked. Malformed data raises ValueError; what this
 * encoder does not render (array/map attribute values, groups, repeated singular fields,
 * known fields with another wire type) returns None so the caller takes the SQL path.
 * count_trace_spans() lets the receiver count a plainly well-formed request's spans
 * without parsing it in upb (see "the receiver's check" below).
 *
 * Native layout (format 'Native', no block info): varint columns, varint rows, then per
 * column: name, type (varint-length strings) and the column's data. String = varint length
 * + bytes per row; UInt64/DateTime64(9) = 8 bytes little-endian; Array(T) = cumulative
 * UInt64 offsets for every row, then T's data; Map(K, V) = Array(Tuple(K, V)) = offsets,
 * then all keys, then all values.
 */
#define PY_SSIZE_T_CLEAN
#include <Python.h>

#include <math.h>
#include <stddef.h>
#include <stdint.h>
#include <stdio.h>
#include <stdlib.h>
#include <string.h>
#include <fcntl.h>
#include <unistd.h>

enum { OK = 0, E_MALFORMED = 1, E_UNSUPPORTED = 2, E_NOMEM = 3 };

/* ---- growable byte buffers ---------------------------------------------------------- */

typedef struct {
    char *p;
    size_t len, cap;
} Buf;

static int buf_grow(Buf *b, size_t n) {
    size_t cap = b->cap ? b->cap : 4096;
    while (cap - b->len < n) {
        if (cap > SIZE_MAX / 2) return E_NOMEM;
        cap *= 2;
    }
    char *p = realloc(b->p, cap);
    if (!p) return E_NOMEM;
    b->p = p;
    b->cap = cap;
    return OK;
}

#define RESERVE(b, n) \
    do { \
        if ((b)->cap - (b)->len < (size_t)(n) && buf_grow((b), (n))) return E_NOMEM; \
    } while (0)

static int put(Buf *b, const void *s, size_t n) {
    RESERVE(b, n);
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    return OK;
}

static inline void raw_varint(Buf *b, uint64_t v) {
    while (v >= 0x80) {
        b->p[b->len++] = (char)(v | 0x80);
        v >>= 7;
    }
    b->p[b->len++] = (char)v;
}

static int put_varint(Buf *b, uint64_t v) {
    RESERVE(b, 10);
    raw_varint(b, v);
    return OK;
}

#if defined(__BYTE_ORDER__) && __BYTE_ORDER__ == __ORDER_LITTLE_ENDIAN__
#define LITTLE_ENDIAN_HOST 1
#else
#define LITTLE_ENDIAN_HOST 0
#endif

static int put_u64(Buf *b, uint64_t v) {
    RESERVE(b, 8);
    if (LITTLE_ENDIAN_HOST) {
        memcpy(b->p + b->len, &v, 8);
        b->len += 8;
    } else {
        for (int i = 0; i < 8; i++) b->p[b->len++] = (char)(v >> (8 * i));
    }
    return OK;
}

static int put_str(Buf *b, const void *s, size_t n) {
    RESERVE(b, n + 10);
    raw_varint(b, n);
    if (n) memcpy(b->p + b->len, s, n);
    b->len += n;
    return OK;
}

#define TRY(x) \
    do { \
        int rc_ = (x); \
        if (rc_) return rc_; \
    } while (0)

/* ---- protobuf wire reading ----------------------------------------------------------- */

typedef struct {
    const uint8_t *p, *end;
} Rd;

typedef struct {
    uint32_t num, wt;
    uint64_t v;          /* varint / fixed64 / fixed32 value */
    const uint8_t *s;    /* LEN payload */
    size_t n;
} Field;

static inline int rd_varint(Rd *r, uint64_t *out) {
    if (r->p < r->end && *r->p < 0x80) { /* one byte: most tags and lengths */
        *out = *r->p++;
        return OK;
    }
    uint64_t v = 0;
    for (int shift = 0; shift < 70; shift += 7) {
        if (r->p >= r->end) return E_MALFORMED;
        uint8_t c = *r->p++;
        if (shift == 63 && c > 1) return E_MALFORMED;
        v |= (uint64_t)(c & 0x7F) << shift;
        if (!(c & 0x80)) {
            *out = v;
            return OK;
        }
    }
    return E_MALFORMED;
}

#if defined(__GNUC__)
#define HOT static inline __attribute__((always_inline)) /* the inner loop of everything */
#else
#define HOT static inline
#endif

/* The next field of the message in r: OK, -1 at the message's end, or an error code. */
HOT int rd_field(Rd *r, Field *f) {
    if (r->p >= r->end) return -1;
    f->v = 0;
    f->s = NULL;
    f->n = 0;
    uint64_t tag;
    TRY(rd_varint(r, &tag));
    if (tag >> 32 || (tag >> 3) == 0) return E_MALFORMED;
    f->num = (uint32_t)(tag >> 3);
    f->wt = (uint32_t)(tag & 7);
    switch (f->wt) {
    case 0:
        return rd_varint(r, &f->v);
    case 1:
        if (r->end - r->p < 8) return E_MALFORMED;
        if (LITTLE_ENDIAN_HOST) {
            memcpy(&f->v, r->p, 8);
        } else {
            f->v = 0;
            for (int i = 0; i < 8; i++) f->v |= (uint64_t)r->p[i] << (8 * i);
        }
        r->p += 8;
        return OK;
    case 2: {
        uint64_t n;
        TRY(rd_varint(r, &n));
        if (n > (uint64_t)(r->end - r->p)) return E_MALFORMED;
        f->s = r->p;
        f->n = (size_t)n;
        r->p += n;
        return OK;
    }
    case 5:
        if (r->end - r->p < 4) return E_MALFORMED;
        f->v = (uint64_t)r->p[0] | (uint64_t)r->p[1] << 8 | (uint64_t)r->p[2] << 16 |
               (uint64_t)r->p[3] << 24;
        r->p += 4;
        return OK;
    case 3:
    case 4:
        return E_UNSUPPORTED; /* groups: left to the store's parser */
    default:
        return E_MALFORMED;
    }
}

/* Iterate the fields of a message: `FOR_FIELDS(r, f, rc) { ... }` then check rc. */
#define FOR_FIELDS(r, f, rc) for (; ((rc) = rd_field((r), &(f))) == OK;)
#define END_FIELDS(rc) \
    do { \
        if ((rc) != -1) return (rc); \
    } while (0)

/* A known singular field: its wire type as declared and seen once, else not ours. */
static inline int expect(const Field *f, uint32_t wt, uint32_t *seen) {
    uint32_t bit = 1u << (f->num & 31);
    if (f->wt != wt || (*seen & bit)) return E_UNSUPPORTED;
    *seen |= bit;
    return OK;
}

static inline Rd sub(const Field *f) {
    Rd r = {f->s, f->s + f->n};
    return r;
}

/* ---- value rendering ----------------------------------------------------------------- */

static const char HEX[] = "0123456789abcdef";
static const char B64[] = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/";

/* Lower-case hex of an id; an empty or all-zero id is ''. */
static int put_hex_id(Buf *b, const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n && s[i] == 0) i++;
    if (i == n) return put_varint(b, 0);
    RESERVE(b, 2 * n + 10);
    raw_varint(b, 2 * (uint64_t)n);
    for (i = 0; i < n; i++) {
        b->p[b->len++] = HEX[s[i] >> 4];
        b->p[b->len++] = HEX[s[i] & 15];
    }
    return OK;
}

static int put_base64(Buf *b, const uint8_t *s, size_t n) {
    size_t out = (n + 2) / 3 * 4;
    RESERVE(b, out + 10);
    raw_varint(b, out);
    char *d = b->p + b->len;
    size_t i = 0;
    for (; i + 3 <= n; i += 3) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8 | s[i + 2];
        *d++ = B64[v >> 18];
        *d++ = B64[(v >> 12) & 63];
        *d++ = B64[(v >> 6) & 63];
        *d++ = B64[v & 63];
    }
    if (n - i == 1) {
        uint32_t v = (uint32_t)s[i] << 16;
        *d++ = B64[v >> 18];
        *d++ = B64[(v >> 12) & 63];
        *d++ = '=';
        *d++ = '=';
    } else if (n - i == 2) {
        uint32_t v = (uint32_t)s[i] << 16 | (uint32_t)s[i + 1] << 8;
        *d++ = B64[v >> 18];
        *d++ = B64[(v >> 12) & 63];
        *d++ = B64[(v >> 6) & 63];
        *d++ = '=';
    }
    b->len += out;
    return OK;
}

static size_t fmt_int(char *out, int64_t x) {
    char tmp[24];
    size_t n = 0, k = 0;
    uint64_t u = x < 0 ? (uint64_t)0 - (uint64_t)x : (uint64_t)x;
    do {
        tmp[n++] = (char)('0' + u % 10);
        u /= 10;
    } while (u);
    if (x < 0) out[k++] = '-';
    while (n) out[k++] = tmp[--n];
    return k;
}

/* Does digits[0..p) × 10^(e - p + 1) read back as x? */
static int reads_back(double x, const char *digits, int p, int e) {
    char s[48];
    memcpy(s, digits, (size_t)p);
    snprintf(s + p, sizeof s - (size_t)p, "e%d", e - p + 1);
    return strtod(s, NULL) == x;
}

/* The p significant digits of positive x that read back as x, if any: the correctly
 * rounded ones ("%.*e"), or their neighbour one unit up or down in the last place, which
 * can be the only one inside x's rounding interval where that interval is lopsided (x a
 * power of two) or the rounding was a tie. */
static int digits_at(double x, int p, char *digits, int *e) {
    char s[40];
    snprintf(s, sizeof s, "%.*e", p - 1, x);
    int k = 0;
    const char *c = s;
    for (; *c && *c != 'e'; c++)
        if (*c >= '0' && *c <= '9') digits[k++] = *c;
    *e = atoi(c + 1);
    if (reads_back(x, digits, p, *e)) return 1;
    char d[20];
    for (int step = 1; step >= -1; step -= 2) {
        memcpy(d, digits, (size_t)p);
        int ed = *e, i = p - 1;
        if (step > 0) {
            while (i >= 0 && d[i] == '9') d[i--] = '0';
            if (i < 0) { /* 99…9 + 1 = 100…0, one decade up */
                d[0] = '1';
                ed++;
            } else {
                d[i]++;
            }
        } else {
            while (i >= 0 && d[i] == '0') d[i--] = '9';
            if (i < 0) continue; /* never: the leading digit is not 0 */
            d[i]--;
            if (d[0] == '0') { /* 100…0 - 1 = 99…9, one decade down */
                memset(d, '9', (size_t)p);
                ed--;
            }
        }
        if (reads_back(x, d, p, ed)) {
            memcpy(digits, d, (size_t)p);
            *e = ed;
            return 1;
        }
    }
    return 0;
}

/* Shortest digits that read back as x (what ClickHouse prints): a precision with such
 * digits makes every longer one have them too, so search the precision. */
static int shortest(double x, char *digits, int *exp10) {
    char d[20];
    int e, lo = 1, hi = 17, best = 17;
    while (lo <= hi) {
        int p = lo <= 3 ? lo : (lo + hi) / 2; /* short numbers are the common case */
        if (digits_at(x, p, d, &e)) {
            best = p;
            hi = p - 1;
        } else {
            lo = p + 1;
        }
    }
    (void)digits_at(x, best, digits, exp10); /* found above, or 17 digits: they always read back */
    int k = best;
    while (k > 1 && digits[k - 1] == '0') k--;
    return k;
}

/* A double as the SQL path prints it: JavaScript's Number::toString layout, with "-0",
 * and Go's JSON error text for NaN and infinities (what the exporter stores). */
static size_t fmt_double(char *out, double x) {
    if (isnan(x)) return (size_t)sprintf(out, "json: unsupported value: NaN");
    if (isinf(x)) return (size_t)sprintf(out, "json: unsupported value: %cInf", x > 0 ? '+' : '-');
    size_t o = 0;
    if (signbit(x)) {
        out[o++] = '-';
        x = -x;
    }
    if (x == 0) {
        out[o++] = '0';
        return o;
    }
    char d[20];
    int e;
    int k = shortest(x, d, &e);
    int n = e + 1; /* x = 0.d1d2…dk × 10^n */
    if (k <= n && n <= 21) {
        memcpy(out + o, d, (size_t)k);
        o += (size_t)k;
        for (int i = k; i < n; i++) out[o++] = '0';
    } else if (0 < n && n <= 21) {
        memcpy(out + o, d, (size_t)n);
        o += (size_t)n;
        out[o++] = '.';
        memcpy(out + o, d + n, (size_t)(k - n));
        o += (size_t)(k - n);
    } else if (-6 < n && n <= 0) {
        out[o++] = '0';
        out[o++] = '.';
        for (int i = 0; i < -n; i++) out[o++] = '0';
        memcpy(out + o, d, (size_t)k);
        o += (size_t)k;
    } else {
        out[o++] = d[0];
        if (k > 1) {
            out[o++] = '.';
            memcpy(out + o, d + 1, (size_t)(k - 1));
            o += (size_t)(k - 1);
        }
        o += (size_t)sprintf(out + o, "e%c%d", n - 1 < 0 ? '-' : '+', abs(n - 1));
    }
    return o;
}

/* Rendered doubles, remembered: the same values recur span after span. */
#define DCACHE 256
typedef struct {
    uint64_t bits;
    uint8_t len, used;
    char s[38];
} DEntry;

typedef struct {
    DEntry dcache[DCACHE];
} Ctx;

static int put_double(Ctx *ctx, Buf *b, uint64_t bits) {
    DEntry *e = &ctx->dcache[(bits ^ bits >> 29 ^ bits >> 47) & (DCACHE - 1)];
    if (!e->used || e->bits != bits) {
        double x;
        memcpy(&x, &bits, 8);
        e->len = (uint8_t)fmt_double(e->s, x);
        e->bits = bits;
        e->used = 1;
    }
    return put_str(b, e->s, e->len);
}

/* An AnyValue (a LEN payload) as a String into b. */
static int put_any(Ctx *ctx, Buf *b, const Field *value) {
    Rd r = sub(value);
    Field f, v = {0};
    int rc, kinds = 0;
    FOR_FIELDS(&r, f, rc) {
        if (f.num >= 1 && f.num <= 7) {
            kinds++;
            v = f;
        }
    }
    END_FIELDS(rc);
    if (kinds == 0) return put_varint(b, 0);
    if (kinds > 1) return E_UNSUPPORTED;
    char tmp[40];
    switch (v.num) {
    case 1:
        if (v.wt != 2) return E_UNSUPPORTED;
        return put_str(b, v.s, v.n);
    case 2:
        if (v.wt != 0) return E_UNSUPPORTED;
        return v.v ? put_str(b, "true", 4) : put_str(b, "false", 5);
    case 3:
        if (v.wt != 0) return E_UNSUPPORTED;
        return put_str(b, tmp, fmt_int(tmp, (int64_t)v.v));
    case 4:
        if (v.wt != 1) return E_UNSUPPORTED;
        return put_double(ctx, b, v.v);
    case 7:
        if (v.wt != 2) return E_UNSUPPORTED;
        return put_base64(b, v.s, v.n);
    default:
        return E_UNSUPPORTED; /* arrays and maps: the SQL path renders their JSON */
    }
}

/* A KeyValue: its key into keys, its rendered value into vals. */
static int put_kv(Ctx *ctx, Buf *keys, Buf *vals, const Field *kv) {
    Rd r = sub(kv);
    Field f, key = {0}, value = {0};
    uint32_t seen = 0;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        if (f.num == 1) {
            TRY(expect(&f, 2, &seen));
            key = f;
        } else if (f.num == 2) {
            TRY(expect(&f, 2, &seen));
            value = f;
        }
    }
    END_FIELDS(rc);
    TRY(put_str(keys, key.s, key.n));
    if (!(seen & 4)) return put_varint(vals, 0);
    return put_any(ctx, vals, &value);
}

/* ---- the columns ---------------------------------------------------------------------- */

typedef struct {
    Buf ts, trace, span, parent, tstate, name, kind, svc, ra_off, ra_k, ra_v, sname, sver, sa_off,
        sa_k, sa_v, dur, scode, smsg, ev_off, ev_ts, ev_name, ev_aoff, ev_k, ev_v, ln_off, ln_trace,
        ln_span, ln_state, ln_aoff, ln_k, ln_v;
} Cols;

#define NBUFS (sizeof(Cols) / sizeof(Buf))

typedef struct {
    Cols c;
    uint64_t rows, ra_n, sa_n, ev_n, ev_an, ln_n, ln_an; /* running offsets */
} Block;

/* A resource's rendered attributes, copied into every span row under it. */
typedef struct {
    Buf k, v, svc;
    uint64_t n;
} Resource;

static const char *KINDS[] = {"Unspecified", "Internal", "Server", "Client", "Producer", "Consumer"};
static const char *CODES[] = {"Unset", "Ok", "Error"};

static int put_name(Buf *b, int64_t i, const char **names, int64_t count) {
    if (i < 0 || i >= count) return put_varint(b, 0);
    return put_str(b, names[i], strlen(names[i]));
}

static int put_event(Ctx *ctx, Block *blk, const Field *ev) {
    Rd r = sub(ev);
    Field f, name = {0};
    uint64_t t = 0;
    uint32_t seen = 0;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        if (f.num == 1) {
            TRY(expect(&f, 1, &seen));
            t = f.v;
        } else if (f.num == 2) {
            TRY(expect(&f, 2, &seen));
            name = f;
        } else if (f.num == 3) {
            if (f.wt != 2) return E_UNSUPPORTED;
            TRY(put_kv(ctx, &blk->c.ev_k, &blk->c.ev_v, &f));
            blk->ev_an++;
        }
    }
    END_FIELDS(rc);
    TRY(put_u64(&blk->c.ev_ts, t));
    TRY(put_str(&blk->c.ev_name, name.s, name.n));
    blk->ev_n++;
    return put_u64(&blk->c.ev_aoff, blk->ev_an);
}

static int put_link(Ctx *ctx, Block *blk, const Field *ln) {
    Rd r = sub(ln);
    Field f, trace = {0}, span = {0}, state = {0};
    uint32_t seen = 0;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        if (f.num == 1) {
            TRY(expect(&f, 2, &seen));
            trace = f;
        } else if (f.num == 2) {
            TRY(expect(&f, 2, &seen));
            span = f;
        } else if (f.num == 3) {
            TRY(expect(&f, 2, &seen));
            state = f;
        } else if (f.num == 4) {
            if (f.wt != 2) return E_UNSUPPORTED;
            TRY(put_kv(ctx, &blk->c.ln_k, &blk->c.ln_v, &f));
            blk->ln_an++;
        }
    }
    END_FIELDS(rc);
    TRY(put_hex_id(&blk->c.ln_trace, trace.s, trace.n));
    TRY(put_hex_id(&blk->c.ln_span, span.s, span.n));
    TRY(put_str(&blk->c.ln_state, state.s, state.n));
    blk->ln_n++;
    return put_u64(&blk->c.ln_aoff, blk->ln_an);
}

static int put_status(Field *st, Field *msg, int64_t *code) {
    Rd r = sub(st);
    Field f;
    uint32_t seen = 0;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        if (f.num == 2) {
            TRY(expect(&f, 2, &seen));
            *msg = f;
        } else if (f.num == 3) {
            TRY(expect(&f, 0, &seen));
            *code = (int32_t)(uint32_t)f.v;
        }
    }
    END_FIELDS(rc);
    return OK;
}

/* One span: its attributes, events and links go straight into their columns, undone
 * when the span turns out to have no trace or span id (the SQL path skips it). */
static int put_span(Ctx *ctx, Block *blk, const Resource *res, const Field *scope_name,
                    const Field *scope_version, const Field *sp) {
    size_t lens[NBUFS];
    Buf *bufs = (Buf *)&blk->c;
    for (size_t i = 0; i < NBUFS; i++) lens[i] = bufs[i].len;
    uint64_t sa_n = blk->sa_n, ev_n = blk->ev_n, ev_an = blk->ev_an, ln_n = blk->ln_n,
             ln_an = blk->ln_an;

    Rd r = sub(sp);
    Field f, trace = {0}, span = {0}, parent = {0}, tstate = {0}, name = {0}, msg = {0};
    uint64_t start = 0, end = 0;
    int64_t kind = 0, code = 0;
    uint32_t seen = 0;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        switch (f.num) {
        case 1: TRY(expect(&f, 2, &seen)); trace = f; break;
        case 2: TRY(expect(&f, 2, &seen)); span = f; break;
        case 3: TRY(expect(&f, 2, &seen)); tstate = f; break;
        case 4: TRY(expect(&f, 2, &seen)); parent = f; break;
        case 5: TRY(expect(&f, 2, &seen)); name = f; break;
        case 6: TRY(expect(&f, 0, &seen)); kind = (int32_t)(uint32_t)f.v; break;
        case 7: TRY(expect(&f, 1, &seen)); start = f.v; break;
        case 8: TRY(expect(&f, 1, &seen)); end = f.v; break;
        case 9:
            if (f.wt != 2) return E_UNSUPPORTED;
            TRY(put_kv(ctx, &blk->c.sa_k, &blk->c.sa_v, &f));
            blk->sa_n++;
            break;
        case 11:
            if (f.wt != 2) return E_UNSUPPORTED;
            TRY(put_event(ctx, blk, &f));
            break;
        case 13:
            if (f.wt != 2) return E_UNSUPPORTED;
            TRY(put_link(ctx, blk, &f));
            break;
        case 15:
            TRY(expect(&f, 2, &seen));
            TRY(put_status(&f, &msg, &code));
            break;
        default:
            break; /* fields the exporter does not store */
        }
    }
    END_FIELDS(rc);
    if (trace.n == 0 || span.n == 0) {
        for (size_t i = 0; i < NBUFS; i++) bufs[i].len = lens[i];
        blk->sa_n = sa_n, blk->ev_n = ev_n, blk->ev_an = ev_an, blk->ln_n = ln_n;
        blk->ln_an = ln_an;
        return OK;
    }
    Cols *c = &blk->c;
    TRY(put_u64(&c->ts, start));
    TRY(put_hex_id(&c->trace, trace.s, trace.n));
    TRY(put_hex_id(&c->span, span.s, span.n));
    TRY(put_hex_id(&c->parent, parent.s, parent.n));
    TRY(put_str(&c->tstate, tstate.s, tstate.n));
    TRY(put_str(&c->name, name.s, name.n));
    TRY(put_name(&c->kind, kind, KINDS, 6));
    TRY(put(&c->svc, res->svc.p, res->svc.len));
    blk->ra_n += res->n;
    TRY(put_u64(&c->ra_off, blk->ra_n));
    TRY(put(&c->ra_k, res->k.p, res->k.len));
    TRY(put(&c->ra_v, res->v.p, res->v.len));
    TRY(put_str(&c->sname, scope_name->s, scope_name->n));
    TRY(put_str(&c->sver, scope_version->s, scope_version->n));
    TRY(put_u64(&c->sa_off, blk->sa_n));
    TRY(put_u64(&c->dur, end - start)); /* UInt64 wraps when end < start, as in SQL */
    TRY(put_name(&c->scode, code, CODES, 3));
    TRY(put_str(&c->smsg, msg.s, msg.n));
    TRY(put_u64(&c->ev_off, blk->ev_n));
    TRY(put_u64(&c->ln_off, blk->ln_n));
    blk->rows++;
    return OK;
}

/* ---- the spans in the table's order --------------------------------------------------- */

/* The engine sorts every inserted block by otel_traces' ORDER BY (ServiceName, SpanName,
 * toDateTime(Timestamp), Timestamp) unless it finds the block sorted already, and sorting
 * costs it a permutation and a copy of every column: a fifth of its insert, and fresh
 * memory. So spans are rendered in that order. The engine checks the order itself: a
 * block this gets wrong (timestamps outside DateTime's range, say) is sorted again by
 * the engine, never stored wrong.
 *
 * A first pass renders each resource once and notes every span (its bytes, resource,
 * scope, name and start); (service, name) pairs are interned and ranked, the spans sorted
 * by (rank, start), and put_span renders them in that order. */

typedef struct {
    Field sp;            /* the Span message */
    int64_t ts;          /* its start as the engine's Int64 DateTime64(9) */
    const uint8_t *name; /* its name's bytes */
    size_t namen;
    uint32_t res, scope; /* indexes into Order.res and Order.scopes */
} SpanRef;

typedef struct {
    size_t k, kn, v, vn, svc, svcn; /* slices of Order.arena's buffers */
    uint64_t n;
} ResRef;

typedef struct {
    Field name, version;
} ScopeRef;

typedef struct {
    const uint8_t *svc, *name; /* raw bytes, as the engine compares them */
    size_t svcn, namen;
    uint64_t hash;
    uint32_t id;
} Group;

typedef struct {
    uint64_t key; /* rank and start packed, for the radix sort */
    int64_t ts;
    uint32_t rank, span;
} Key;

typedef struct {
    Resource arena; /* every resource's rendered attributes, one after another */
    ResRef *res;
    ScopeRef *scopes;
    SpanRef *spans;
    Group *groups;
    Key *keys;
    SpanRef *sorted;  /* the spans in the table's order, their bytes in staged */
    Buf staged;
    uint32_t *slots, *rank_of; /* slots: group index + 1 (0: free), by hash */
    size_t *counts;            /* the radix sort's digit counts */
    size_t nres, nscopes, nspans, ngroups;
    size_t capres, capscopes, capspans, capgroups, capkeys, capslots, caprank, capsorted, capcounts;
} Order;

static int grow_array(void **p, size_t *cap, size_t need, size_t size) {
    if (need <= *cap) return OK;
    size_t n = *cap ? *cap : 256;
    while (n < need) {
        if (n > SIZE_MAX / 2 / size) return E_NOMEM;
        n *= 2;
    }
    void *q = realloc(*p, n * size);
    if (!q) return E_NOMEM;
    *p = q;
    *cap = n;
    return OK;
}

#if defined(__GNUC__)
#define PREFETCH(p) __builtin_prefetch(p)
#else
#define PREFETCH(p) ((void)(p))
#endif

#define ENSURE(arr, need, cap) grow_array((void **)&(arr), &(cap), (need), sizeof *(arr))

static int note_scope_spans(Order *o, uint32_t res, const Field *ss) {
    Rd r = sub(ss);
    Field f, scope = {0}, name = {0}, version = {0};
    uint32_t seen = 0, sc = (uint32_t)o->nscopes; /* noted below, after its spans */
    int rc;
    const uint8_t *fetched = ss->s;
    FOR_FIELDS(&r, f, rc) {
        if (f.num == 1) {
            TRY(expect(&f, 2, &seen));
            scope = f;
            continue;
        }
        if (f.num != 2) continue;
        if (f.wt != 2) return E_UNSUPPORTED;
        /* one pass over the spans, reading only their first fields: keep the lines
         * ahead coming, which the hardware does not guess from this stride */
        for (; fetched < f.s + f.n + 2048 && fetched < ss->s + ss->n; fetched += 64)
            PREFETCH(fetched + 2048);
        TRY(ENSURE(o->spans, o->nspans + 1, o->capspans));
        SpanRef *ref = &o->spans[o->nspans++];
        ref->sp = f;
        ref->res = res;
        ref->scope = sc;
        ref->ts = 0;
        ref->name = NULL;
        ref->namen = 0;
        /* the sort key only (put_span checks the span); senders write fields in number
         * order, so the walk usually stops at the start time, before the attributes */
        Rd sp = sub(&f);
        Field g;
        int rc2, found = 0;
        while (found != 3 && (rc2 = rd_field(&sp, &g)) == OK) {
            if (g.num == 5 && g.wt == 2) {
                ref->name = g.s;
                ref->namen = g.n;
                found |= 1;
            } else if (g.num == 7 && g.wt == 1) {
                ref->ts = (int64_t)g.v;
                found |= 2;
            }
        }
        if (found != 3 && rc2 != -1) return rc2;
    }
    END_FIELDS(rc);
    if (seen) {
        Rd sr = sub(&scope);
        uint32_t sseen = 0;
        FOR_FIELDS(&sr, f, rc) {
            if (f.num == 1) {
                TRY(expect(&f, 2, &sseen));
                name = f;
            } else if (f.num == 2) {
                TRY(expect(&f, 2, &sseen));
                version = f;
            }
        }
        END_FIELDS(rc);
    }
    TRY(ENSURE(o->scopes, o->nscopes + 1, o->capscopes));
    o->scopes[sc].name = name;
    o->scopes[sc].version = version;
    o->nscopes++;
    return OK;
}

static int put_resource(Ctx *ctx, Resource *res, const Field *rf) {
    Rd r = sub(rf);
    Field f;
    int rc;
    int found_service = 0;
    FOR_FIELDS(&r, f, rc) {
        if (f.num != 1) continue;
        if (f.wt != 2) return E_UNSUPPORTED;
        size_t k0 = res->k.len, v0 = res->v.len;
        TRY(put_kv(ctx, &res->k, &res->v, &f));
        res->n++;
        /* ServiceName is the map's first 'service.name' (what map['service.name'] gives) */
        static const char SN[] = "\x0cservice.name";
        if (!found_service && res->k.len - k0 == sizeof SN - 1 &&
            memcmp(res->k.p + k0, SN, sizeof SN - 1) == 0) {
            found_service = 1;
            TRY(put(&res->svc, res->v.p + v0, res->v.len - v0));
        }
    }
    END_FIELDS(rc);
    return OK;
}

static int note_resource_spans(Ctx *ctx, Order *o, const Field *rs) {
    Resource *a = &o->arena;
    ResRef ref = {a->k.len, 0, a->v.len, 0, a->svc.len, 0, a->n};
    Rd r = sub(rs);
    Field f;
    uint32_t seen = 0;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        if (f.num == 1) {
            TRY(expect(&f, 2, &seen));
            TRY(put_resource(ctx, a, &f));
        } else if (f.num == 2 && f.wt != 2) {
            return E_UNSUPPORTED;
        }
    }
    END_FIELDS(rc);
    if (a->svc.len == ref.svc) TRY(put_varint(&a->svc, 0));
    ref.kn = a->k.len - ref.k;
    ref.vn = a->v.len - ref.v;
    ref.svcn = a->svc.len - ref.svc;
    ref.n = a->n - ref.n;
    TRY(ENSURE(o->res, o->nres + 1, o->capres));
    o->res[o->nres] = ref;
    uint32_t res = (uint32_t)o->nres++;
    r = sub(rs);
    FOR_FIELDS(&r, f, rc) {
        if (f.num == 2) TRY(note_scope_spans(o, res, &f));
    }
    END_FIELDS(rc);
    return OK;
}

static int note_request(Ctx *ctx, Order *o, const uint8_t *p, size_t n) {
    Rd r = {p, p + n};
    Field f;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        if (f.num != 1) continue;
        if (f.wt != 2) return E_UNSUPPORTED;
        TRY(note_resource_spans(ctx, o, &f));
    }
    END_FIELDS(rc);
    return OK;
}

/* Strings as the engine orders them: bytes, then length. */
static int bytes_cmp(const uint8_t *a, size_t an, const uint8_t *b, size_t bn) {
    int c = memcmp(a, b, an < bn ? an : bn);
    if (c) return c;
    return an < bn ? -1 : an > bn;
}

static int group_cmp(const void *x, const void *y) {
    const Group *a = x, *b = y;
    int c = bytes_cmp(a->svc, a->svcn, b->svc, b->svcn);
    return c ? c : bytes_cmp(a->name, a->namen, b->name, b->namen);
}

static uint64_t fnv(uint64_t h, const uint8_t *s, size_t n) {
    for (size_t i = 0; i < n; i++) h = (h ^ s[i]) * 0x100000001b3ULL;
    return h;
}

/* The (service, name) group of span i, interned in o->slots / o->groups. */
static int group_of(Order *o, size_t nslots, size_t i, uint32_t *out) {
    const SpanRef *s = &o->spans[i];
    const ResRef *rr = &o->res[s->res];
    Rd svc = {(const uint8_t *)o->arena.svc.p + rr->svc,
              (const uint8_t *)o->arena.svc.p + rr->svc + rr->svcn};
    uint64_t len = 0;
    TRY(rd_varint(&svc, &len));
    uint64_t h = fnv(fnv(0xcbf29ce484222325ULL, svc.p, (size_t)len), (const uint8_t *)"", 1);
    h = fnv(h, s->name, s->namen);
    for (size_t slot = (size_t)h & (nslots - 1);; slot = (slot + 1) & (nslots - 1)) {
        uint32_t g = o->slots[slot];
        if (g == 0) {
            Group *ng = &o->groups[o->ngroups];
            ng->svc = svc.p, ng->svcn = (size_t)len, ng->name = s->name;
            ng->namen = s->namen, ng->hash = h, ng->id = (uint32_t)o->ngroups;
            *out = (uint32_t)o->ngroups;
            o->slots[slot] = (uint32_t)++o->ngroups;
            return OK;
        }
        const Group *eg = &o->groups[g - 1];
        if (eg->hash == h && eg->svcn == len && eg->namen == s->namen &&
            memcmp(eg->svc, svc.p, (size_t)len) == 0 &&
            (s->namen == 0 || memcmp(eg->name, s->name, s->namen) == 0)) {
            *out = g - 1;
            return OK;
        }
    }
}

static int bits_for(uint64_t x) {
    int b = 0;
    while (b < 64 && (x >> b)) b++;
    return b;
}

/* Sort keys[0..n) by key, 11 bits at a time from the least significant, through tmp (as
 * long as keys); digits all keys share are skipped. The sorted keys end up in keys. */
#define DIGIT_BITS 11
#define DIGITS (1 << DIGIT_BITS)
#define MAX_PASSES ((64 + DIGIT_BITS - 1) / DIGIT_BITS)
static void radix_sort(Key *keys, Key *tmp, size_t *count, size_t n, int bits) {
    int passes = (bits + DIGIT_BITS - 1) / DIGIT_BITS;
    memset(count, 0, sizeof *count * DIGITS * (size_t)passes);
    for (size_t i = 0; i < n; i++)
        for (int p = 0; p < passes; p++)
            count[p * DIGITS + ((keys[i].key >> (p * DIGIT_BITS)) & (DIGITS - 1))]++;
    Key *from = keys, *to = tmp;
    for (int p = 0; p < passes; p++) {
        int shift = p * DIGIT_BITS;
        size_t *c = count + p * DIGITS;
        if (c[(from[0].key >> shift) & (DIGITS - 1)] == n) continue;
        size_t sum = 0;
        for (int d = 0; d < DIGITS; d++) {
            size_t k = c[d];
            c[d] = sum;
            sum += k;
        }
        for (size_t i = 0; i < n; i++) to[c[(from[i].key >> shift) & (DIGITS - 1)]++] = from[i];
        Key *t = from;
        from = to;
        to = t;
    }
    if (from != keys) memcpy(keys, from, n * sizeof *keys);
}

static int key_cmp(const void *x, const void *y) {
    const Key *a = x, *b = y;
    if (a->rank != b->rank) return a->rank < b->rank ? -1 : 1;
    if (a->ts != b->ts) return a->ts < b->ts ? -1 : 1;
    return 0;
}

/* keys[]: the spans in the table's order. */
static int order_spans(Order *o) {
    size_t n = o->nspans, nslots = 64;
    while (nslots < 2 * n) nslots *= 2;
    TRY(ENSURE(o->keys, 2 * n, o->capkeys));
    TRY(ENSURE(o->groups, n, o->capgroups));
    TRY(ENSURE(o->rank_of, n, o->caprank));
    TRY(ENSURE(o->slots, nslots, o->capslots));
    TRY(ENSURE(o->counts, (size_t)MAX_PASSES * DIGITS, o->capcounts));
    memset(o->slots, 0, nslots * sizeof *o->slots);
    o->ngroups = 0;
    int64_t lo = INT64_MAX, hi = INT64_MIN;
    uint32_t g = 0;
    for (size_t i = 0; i < n; i++) {
        const SpanRef *s = &o->spans[i], *prev = i ? &o->spans[i - 1] : NULL;
        /* spans of one resource often share a name: no hashing for a repeat */
        if (!(prev && prev->res == s->res && prev->namen == s->namen &&
              (s->namen == 0 || memcmp(prev->name, s->name, s->namen) == 0)))
            TRY(group_of(o, nslots, i, &g));
        o->keys[i].ts = s->ts;
        o->keys[i].rank = g;
        o->keys[i].span = (uint32_t)i;
        if (s->ts < lo) lo = s->ts;
        if (s->ts > hi) hi = s->ts;
    }
    qsort(o->groups, o->ngroups, sizeof *o->groups, group_cmp);
    for (size_t r = 0; r < o->ngroups; r++) o->rank_of[o->groups[r].id] = (uint32_t)r;
    int rank_bits = bits_for(o->ngroups ? o->ngroups - 1 : 0);
    int ts_bits = n ? bits_for((uint64_t)hi - (uint64_t)lo) : 0;
    int sorted = 1, packed = rank_bits + ts_bits <= 64;
    for (size_t i = 0; i < n; i++) {
        Key *k = &o->keys[i];
        k->rank = o->rank_of[k->rank];
        if (packed) /* rank, then start since the earliest: one unsigned number */
            k->key = ts_bits == 64 ? (uint64_t)k->ts - (uint64_t)lo
                                   : (uint64_t)k->rank << ts_bits | ((uint64_t)k->ts - (uint64_t)lo);
        if (i && key_cmp(k, k - 1) < 0) sorted = 0;
    }
    if (sorted) return OK;
    if (packed)
        radix_sort(o->keys, o->keys + n, o->counts, n, rank_bits + ts_bits);
    else
        qsort(o->keys, n, sizeof *o->keys, key_cmp);
    return OK;
}

static int put_requests(Ctx *ctx, Block *blk, Order *o, const Py_buffer *views, Py_ssize_t count) {
    Resource *a = &o->arena;
    a->k.len = a->v.len = a->svc.len = 0;
    a->n = 0;
    o->nres = o->nscopes = o->nspans = 0;
    for (Py_ssize_t i = 0; i < count; i++)
        TRY(note_request(ctx, o, views[i].buf, (size_t)views[i].len));
    TRY(order_spans(o));
    /* Copy the spans into one buffer in the table's order, so that rendering reads memory
     * front to back: a copy streams with the next spans fetched ahead, where rendering
     * them in place would stall on each. */
    size_t n = o->nspans, total = 0;
    for (size_t i = 0; i < n; i++) total += o->spans[i].sp.n;
    TRY(ENSURE(o->sorted, n, o->capsorted));
    o->staged.len = 0;
    RESERVE(&o->staged, total);
    total = 0;
    for (size_t j = 0; j < n; j++) {
        if (j + 8 < n) PREFETCH(&o->spans[o->keys[j + 8].span]);
        if (j + 4 < n) {
            const SpanRef *ahead = &o->spans[o->keys[j + 4].span];
            for (size_t off = 0; off < ahead->sp.n; off += 64) PREFETCH(ahead->sp.s + off);
        }
        SpanRef *s = &o->sorted[j];
        *s = o->spans[o->keys[j].span];
        if (s->sp.n) memcpy(o->staged.p + total, s->sp.s, s->sp.n);
        s->sp.s = (const uint8_t *)o->staged.p + total; /* staged is reserved: it stays put */
        total += s->sp.n;
    }
    for (size_t j = 0; j < n; j++) {
        const SpanRef *s = &o->sorted[j];
        const ResRef *rr = &o->res[s->res];
        Resource view = {{a->k.p + rr->k, rr->kn, rr->kn},
                         {a->v.p + rr->v, rr->vn, rr->vn},
                         {a->svc.p + rr->svc, rr->svcn, rr->svcn},
                         rr->n};
        const ScopeRef *sc = &o->scopes[s->scope];
        TRY(put_span(ctx, blk, &view, &sc->name, &sc->version, &s->sp));
    }
    return OK;
}

/* ---- the receiver's check ------------------------------------------------------------- */

/* Counting a request's spans without building it in upb: only for requests made of the
 * OTLP trace fields this file knows, each with its declared wire type and valid UTF-8 in
 * every string, so that upb would surely accept it too. Anything else (unknown fields,
 * array/map values, wrong id lengths, bad data) is E_UNSUPPORTED: upb parses it and the
 * receiver answers exactly as it always did. */

static int utf8_valid(const uint8_t *s, size_t n) {
    size_t i = 0;
    while (i < n) {
        if (i + 8 <= n) {
            uint64_t w;
            memcpy(&w, s + i, 8);
            if (!(w & 0x8080808080808080ULL)) {
                i += 8;
                continue;
            }
        }
        uint8_t c = s[i];
        if (c < 0x80) {
            i++;
            continue;
        }
        size_t more;
        uint8_t lo = 0x80, hi = 0xBF; /* the second byte's range */
        if (c >= 0xC2 && c <= 0xDF) {
            more = 1;
        } else if (c >= 0xE0 && c <= 0xEF) {
            more = 2;
            if (c == 0xE0) lo = 0xA0;       /* overlong */
            else if (c == 0xED) hi = 0x9F;  /* surrogates */
        } else if (c >= 0xF0 && c <= 0xF4) {
            more = 3;
            if (c == 0xF0) lo = 0x90;       /* overlong */
            else if (c == 0xF4) hi = 0x8F;  /* past U+10FFFF */
        } else {
            return 0;
        }
        if (n - i - 1 < more) return 0;
        if (s[i + 1] < lo || s[i + 1] > hi) return 0;
        for (size_t k = 2; k <= more; k++)
            if ((s[i + k] & 0xC0) != 0x80) return 0;
        i += more + 1;
    }
    return 1;
}

/* Wire types: 0 varint, 1 fixed64, 2 LEN, 5 fixed32. A field spec: its wire type, and
 * for LEN whether it is a string (UTF-8 checked), bytes, or a message checked by `sub`. */
enum { BYTES = 0, STR = 1, MSG = 2 };

static inline int known(const Field *f, uint32_t wt) {
    return f->wt == wt ? OK : E_UNSUPPORTED;
}

static inline int str_field(const Field *f) {
    TRY(known(f, 2));
    return utf8_valid(f->s, f->n) ? OK : E_UNSUPPORTED;
}

static int check_any(const Field *v) {
    TRY(known(v, 2));
    Rd r = sub(v);
    Field f;
    int rc, members = 0;
    FOR_FIELDS(&r, f, rc) {
        /* two oneof members: upb keeps the last, the store's parser refuses; upb's to judge */
        if (++members > 1) return E_UNSUPPORTED;
        switch (f.num) {
        case 1: TRY(str_field(&f)); break;
        case 2: case 3: TRY(known(&f, 0)); break;
        case 4: TRY(known(&f, 1)); break;
        case 7: TRY(known(&f, 2)); break;
        default: return E_UNSUPPORTED; /* arrays, maps and the unknown: upb's to judge */
        }
    }
    END_FIELDS(rc);
    return OK;
}

/* The usual KeyValue, one-byte lengths throughout: key (1) then value (2), the value empty
 * or one scalar. 1 when it is that and well formed; 0 sends it to check_kv's general walk,
 * which decides every other shape (so both agree wherever this one answers). */
static inline int plain_kv(const uint8_t *p, size_t n) {
    if (n < 4 || p[0] != 0x0A || p[1] >= 0x80) return 0;
    size_t kn = p[1];
    if (kn + 4 > n) return 0;
    const uint8_t *q = p + 2 + kn;
    if (q[0] != 0x12 || q[1] >= 0x80 || kn + 4 + q[1] != n) return 0;
    size_t vn = q[1];
    const uint8_t *v = q + 2;
    if (!utf8_valid(p + 2, kn)) return 0;
    if (vn == 0) return 1;
    switch (v[0]) {
    case 0x0A: /* string_value (its length byte is inside the value only when vn >= 2) */
        return vn >= 2 && v[1] < 0x80 && (size_t)v[1] + 2 == vn && utf8_valid(v + 2, v[1]);
    case 0x10: /* bool_value */
    case 0x18: /* int_value: at most 9 bytes, so no overflow to judge */
        if (vn < 2 || vn > 10 || v[vn - 1] >= 0x80) return 0;
        for (size_t i = 1; i + 1 < vn; i++)
            if (v[i] < 0x80) return 0;
        return 1;
    case 0x21: /* double_value */
        return vn == 9;
    default:
        return 0;
    }
}

static int check_kv(const Field *kv) {
    TRY(known(kv, 2));
    if (plain_kv(kv->s, kv->n)) return OK;
    Rd r = sub(kv);
    Field f;
    int rc;
    uint32_t seen = 0;
    FOR_FIELDS(&r, f, rc) {
        if (seen & (1u << (f.num & 31))) return E_UNSUPPORTED; /* a repeated key or value */
        if (f.num == 1) TRY(str_field(&f));
        else if (f.num == 2) TRY(check_any(&f));
        else return E_UNSUPPORTED;
        seen |= 1u << (f.num & 31);
    }
    END_FIELDS(rc);
    return OK;
}

/* Fields of Resource, InstrumentationScope, Event, Link, Status: number -> kind. */
typedef struct {
    uint8_t wt, kind; /* kind: STR, BYTES, MSG (a KeyValue), or 0xFF: not a field */
} Spec;
#define NONE {0, 0xFF}
static const Spec RESOURCE[] = {NONE, {2, MSG}, {0, 0}};
static const Spec SCOPE[] = {NONE, {2, STR}, {2, STR}, {2, MSG}, {0, 0}};
static const Spec EVENT[] = {NONE, {1, 0}, {2, STR}, {2, MSG}, {0, 0}};
static const Spec LINK[] = {NONE, {2, BYTES}, {2, BYTES}, {2, STR}, {2, MSG}, {0, 0}, {5, 0}};
static const Spec STATUS[] = {NONE, NONE, {2, STR}, {0, 0}};

static int check_flat(const Field *m, const Spec *spec, size_t count) {
    TRY(known(m, 2));
    Rd r = sub(m);
    Field f;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        if (f.num >= count || spec[f.num].kind == 0xFF) return E_UNSUPPORTED;
        TRY(known(&f, spec[f.num].wt));
        if (f.wt != 2) continue;
        if (spec[f.num].kind == STR) TRY(str_field(&f));
        else if (spec[f.num].kind == MSG) TRY(check_kv(&f));
    }
    END_FIELDS(rc);
    return OK;
}
#define CHECK_FLAT(f, spec) check_flat((f), (spec), sizeof(spec) / sizeof(spec[0]))

/* The first time the store does not hold (2106-02-07T06:28:16Z, 2^32 s in ns): requests
 * with a time at or past it, or a span ending before it starts, are left to upb and
 * pipeline/times.py, which refuse or fix them. */
#define MAX_NS (4294967296ULL * 1000000000ULL)

static int check_event(const Field *ev) {
    TRY(CHECK_FLAT(ev, EVENT));
    Rd r = sub(ev);
    Field f;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        if (f.num == 1 && f.v >= MAX_NS) return E_UNSUPPORTED;
    }
    END_FIELDS(rc);
    return OK;
}

static int check_span(const Field *sp, uint64_t *rejected) {
    TRY(known(sp, 2));
    Rd r = sub(sp);
    Field f;
    size_t ids[3] = {0, 0, 0}; /* trace, span, parent id lengths */
    uint64_t start = 0, end = 0;
    uint32_t seen = 0;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        switch (f.num) {
        case 1: TRY(expect(&f, 2, &seen)); ids[0] = f.n; break;
        case 2: TRY(expect(&f, 2, &seen)); ids[1] = f.n; break;
        case 4: TRY(expect(&f, 2, &seen)); ids[2] = f.n; break;
        case 3: case 5: TRY(str_field(&f)); break;
        case 6: case 10: case 12: case 14: TRY(known(&f, 0)); break;
        case 7: TRY(known(&f, 1)); start = f.v; break;
        case 8: TRY(known(&f, 1)); end = f.v; break;
        case 9: TRY(check_kv(&f)); break;
        case 11: TRY(check_event(&f)); break;
        case 13: TRY(CHECK_FLAT(&f, LINK)); break;
        case 15: TRY(CHECK_FLAT(&f, STATUS)); break;
        case 16: TRY(known(&f, 5)); break;
        default: return E_UNSUPPORTED;
        }
    }
    END_FIELDS(rc);
    /* ids of a wrong length are refused by check_traces, with the span's name */
    if ((ids[0] && ids[0] != 16) || (ids[1] && ids[1] != 8) || (ids[2] && ids[2] != 8))
        return E_UNSUPPORTED;
    if (start >= MAX_NS || end >= MAX_NS || end < start) return E_UNSUPPORTED;
    if (!ids[0] || !ids[1]) (*rejected)++;
    return OK;
}

static int check_request(const uint8_t *p, size_t n, uint64_t *spans, uint64_t *rejected) {
    Rd r = {p, p + n};
    Field f, g, h;
    int rc;
    FOR_FIELDS(&r, f, rc) {
        if (f.num != 1 || f.wt != 2) return E_UNSUPPORTED;
        Rd rs = sub(&f);
        FOR_FIELDS(&rs, g, rc) {
            if (g.num == 1) {
                TRY(CHECK_FLAT(&g, RESOURCE));
            } else if (g.num == 3) {
                TRY(str_field(&g));
            } else if (g.num == 2 && g.wt == 2) {
                Rd ss = sub(&g);
                FOR_FIELDS(&ss, h, rc) {
                    if (h.num == 1) {
                        TRY(CHECK_FLAT(&h, SCOPE));
                    } else if (h.num == 2) {
                        TRY(check_span(&h, rejected));
                        (*spans)++;
                    } else if (h.num == 3) {
                        TRY(str_field(&h));
                    } else {
                        return E_UNSUPPORTED;
                    }
                }
                END_FIELDS(rc);
            } else {
                return E_UNSUPPORTED;
            }
        }
        END_FIELDS(rc);
    }
    END_FIELDS(rc);
    return OK;
}

PyDoc_STRVAR(count_trace_spans_doc,
             "count_trace_spans(body, /)\n--\n\n"
             "(spans, spans without a trace or span id) of a serialized ExportTraceServiceRequest\n"
             "made only of the OTLP fields this module knows, each well formed (so upb accepts\n"
             "it too); None for any other body: parse it with upb.");

static PyObject *count_trace_spans(PyObject *self, PyObject *arg) {
    (void)self;
    Py_buffer view;
    if (PyObject_GetBuffer(arg, &view, PyBUF_SIMPLE) < 0) return NULL;
    uint64_t spans = 0, rejected = 0;
    int rc;
    Py_BEGIN_ALLOW_THREADS
    rc = check_request(view.buf, (size_t)view.len, &spans, &rejected);
    Py_END_ALLOW_THREADS
    PyBuffer_Release(&view);
    if (rc != OK) Py_RETURN_NONE;
    return Py_BuildValue("(KK)", (unsigned long long)spans, (unsigned long long)rejected);
}

/* ---- the block ------------------------------------------------------------------------ */

typedef struct {
    const char *name, *type;
    int bufs[4]; /* indexes into Cols, -1 ends */
} Column;

#define IX(field) ((int)(offsetof(Cols, field) / sizeof(Buf)))
#define MAP "Map(String, String)"

static const Column COLUMNS[] = {
    {"Timestamp", "DateTime64(9)", {IX(ts), -1, -1, -1}},
    {"TraceId", "String", {IX(trace), -1, -1, -1}},
    {"SpanId", "String", {IX(span), -1, -1, -1}},
    {"ParentSpanId", "String", {IX(parent), -1, -1, -1}},
    {"TraceState", "String", {IX(tstate), -1, -1, -1}},
    {"SpanName", "String", {IX(name), -1, -1, -1}},
    {"SpanKind", "String", {IX(kind), -1, -1, -1}},
    {"ServiceName", "String", {IX(svc), -1, -1, -1}},
    {"ResourceAttributes", MAP, {IX(ra_off), IX(ra_k), IX(ra_v), -1}},
    {"ScopeName", "String", {IX(sname), -1, -1, -1}},
    {"ScopeVersion", "String", {IX(sver), -1, -1, -1}},
    {"SpanAttributes", MAP, {IX(sa_off), IX(sa_k), IX(sa_v), -1}},
    {"Duration", "UInt64", {IX(dur), -1, -1, -1}},
    {"StatusCode", "String", {IX(scode), -1, -1, -1}},
    {"StatusMessage", "String", {IX(smsg), -1, -1, -1}},
    {"Events.Timestamp", "Array(DateTime64(9))", {IX(ev_off), IX(ev_ts), -1, -1}},
    {"Events.Name", "Array(String)", {IX(ev_off), IX(ev_name), -1, -1}},
    {"Events.Attributes", "Array(" MAP ")", {IX(ev_off), IX(ev_aoff), IX(ev_k), IX(ev_v)}},
    {"Links.TraceId", "Array(String)", {IX(ln_off), IX(ln_trace), -1, -1}},
    {"Links.SpanId", "Array(String)", {IX(ln_off), IX(ln_span), -1, -1}},
    {"Links.TraceState", "Array(String)", {IX(ln_off), IX(ln_state), -1, -1}},
    {"Links.Attributes", "Array(" MAP ")", {IX(ln_off), IX(ln_aoff), IX(ln_k), IX(ln_v)}},
};
#define NCOLUMNS (sizeof COLUMNS / sizeof COLUMNS[0])

/* The block's header and columns, written to out, or to f (both NULL: only counted); its
 * size, or 0 when writing to f failed. */
static size_t assemble(Block *blk, char *out, FILE *f) {
    Buf *bufs = (Buf *)&blk->c;
    char head[64];
    Buf h = {head, 0, sizeof head};
    size_t n = 0;
#define EMIT(src, len) \
    do { \
        if (out) memcpy(out + n, (src), (len)); \
        if (f && fwrite((src), 1, (len), f) != (len)) return 0; \
        n += (len); \
    } while (0)
    raw_varint(&h, NCOLUMNS);
    raw_varint(&h, blk->rows);
    EMIT(head, h.len);
    for (size_t i = 0; i < NCOLUMNS; i++) {
        const Column *col = &COLUMNS[i];
        const char *names[2] = {col->name, col->type};
        for (int j = 0; j < 2; j++) {
            h.len = 0;
            raw_varint(&h, strlen(names[j]));
            EMIT(head, h.len);
            EMIT(names[j], strlen(names[j]));
        }
        for (int j = 0; j < 4 && col->bufs[j] >= 0; j++)
            if (bufs[col->bufs[j]].len) EMIT(bufs[col->bufs[j]].p, bufs[col->bufs[j]].len);
    }
#undef EMIT
    return n;
}

static void free_all(Block *blk, Order *o) {
    Buf *bufs = (Buf *)&blk->c;
    for (size_t i = 0; i < NBUFS; i++) free(bufs[i].p);
    free(o->arena.k.p);
    free(o->arena.v.p);
    free(o->arena.svc.p);
    free(o->res);
    free(o->scopes);
    free(o->spans);
    free(o->groups);
    free(o->keys);
    free(o->slots);
    free(o->rank_of);
    free(o->counts);
    free(o->sorted);
    free(o->staged.p);
    memset(blk, 0, sizeof *blk);
    memset(o, 0, sizeof *o);
}

static size_t capacity(Block *blk) {
    Buf *bufs = (Buf *)&blk->c;
    size_t cap = 0;
    for (size_t i = 0; i < NBUFS; i++) cap += bufs[i].cap;
    return cap;
}

static void reset(Block *blk) {
    Buf *bufs = (Buf *)&blk->c;
    for (size_t i = 0; i < NBUFS; i++) bufs[i].len = 0;
    blk->rows = blk->ra_n = blk->sa_n = blk->ev_n = blk->ev_an = blk->ln_n = blk->ln_an = 0;
}

/* Buffers kept from one call to the next (the writer renders a segment at a time): fresh
 * memory costs page faults, a third of the time otherwise. One call at a time uses them. */
static Block kept_blk;
static Order kept_ord;
static PyThread_type_lock kept_lock;
#define KEEP_AT_MOST ((size_t)256 << 20)

/* Render payloads; write the block to path when given (result: rows), else return it
 * (result: (bytes, rows)). None for what only the SQL path renders. */
static PyObject *render(PyObject *payloads, PyObject *path) {
    PyObject *seq = PySequence_Fast(payloads, "payloads must be a sequence of bytes");
    if (!seq) return NULL;
    Py_ssize_t count = PySequence_Fast_GET_SIZE(seq);
    PyObject **items = PySequence_Fast_ITEMS(seq);
    Py_buffer *views = PyMem_Calloc((size_t)count + 1, sizeof(Py_buffer));
    Ctx *ctx = PyMem_Calloc(1, sizeof(Ctx));
    Py_ssize_t held = 0;
    PyObject *result = NULL;
    Block own_blk;
    Order own_ord;
    memset(&own_blk, 0, sizeof own_blk);
    memset(&own_ord, 0, sizeof own_ord);
    int kept = PyThread_acquire_lock(kept_lock, NOWAIT_LOCK);
    Block *blk = kept ? &kept_blk : &own_blk;
    Order *ord = kept ? &kept_ord : &own_ord;
    reset(blk);
    if (!views || !ctx) {
        PyErr_NoMemory();
        goto done;
    }
    for (; held < count; held++)
        if (PyObject_GetBuffer(items[held], &views[held], PyBUF_SIMPLE) < 0) goto done;

    int rc = OK;
    Py_BEGIN_ALLOW_THREADS
    rc = put_requests(ctx, blk, ord, views, count);
    Py_END_ALLOW_THREADS
    if (rc == E_UNSUPPORTED) {
        result = Py_NewRef(Py_None);
    } else if (rc == E_NOMEM) {
        PyErr_NoMemory();
    } else if (rc != OK) {
        PyErr_SetString(PyExc_ValueError, "trace request is not valid OTLP protobuf");
    } else if (path) {
        int written = 0;
        Py_BEGIN_ALLOW_THREADS
        /* written over in place, then cut to size: a file rewritten for every segment
         * keeps its pages in the page cache instead of freeing and allocating them */
        int fd = open(PyBytes_AS_STRING(path), O_WRONLY | O_CREAT | O_CLOEXEC, 0600);
        FILE *f = fd >= 0 ? fdopen(fd, "wb") : NULL;
        if (fd >= 0 && !f) close(fd);
        if (f) {
            size_t size = assemble(blk, NULL, f);
            written = size != 0 && fflush(f) == 0 && ftruncate(fileno(f), (off_t)size) == 0;
            written = (fclose(f) == 0) && written;
        }
        Py_END_ALLOW_THREADS
        if (written)
            result = PyLong_FromUnsignedLongLong(blk->rows);
        else
            PyErr_SetFromErrnoWithFilenameObject(PyExc_OSError, path);
    } else {
        PyObject *bytes = PyBytes_FromStringAndSize(NULL, (Py_ssize_t)assemble(blk, NULL, NULL));
        if (bytes) {
            assemble(blk, PyBytes_AS_STRING(bytes), NULL);
            result = Py_BuildValue("(NK)", bytes, (unsigned long long)blk->rows);
        }
    }
done:
    if (!kept || capacity(blk) > KEEP_AT_MOST) free_all(blk, ord);
    if (kept) PyThread_release_lock(kept_lock);
    for (Py_ssize_t i = 0; i < held; i++) PyBuffer_Release(&views[i]);
    PyMem_Free(views);
    PyMem_Free(ctx);
    Py_DECREF(seq);
    return result;
}

PyDoc_STRVAR(traces_to_native_doc,
             "traces_to_native(payloads, /)\n--\n\n"
             "Render serialized ExportTraceServiceRequest messages as one ClickHouse Native block\n"
             "of otel_traces rows: (block bytes, rows). None when a request holds what only the\n"
             "SQL path renders (array or map attribute values, groups, repeated singular fields);\n"
             "ValueError when a request is not valid protobuf.");

static PyObject *traces_to_native(PyObject *self, PyObject *arg) {
    (void)self;
    return render(arg, NULL);
}

PyDoc_STRVAR(write_traces_native_doc,
             "write_traces_native(payloads, path, /)\n--\n\n"
             "As traces_to_native, but the block is written to the file at path (over what it held,\n"
             "then cut to size): the rows, or None.");

static PyObject *write_traces_native(PyObject *self, PyObject *const *args, Py_ssize_t nargs) {
    (void)self;
    if (nargs != 2) {
        PyErr_SetString(PyExc_TypeError, "write_traces_native takes (payloads, path)");
        return NULL;
    }
    PyObject *path = NULL;
    if (!PyUnicode_FSConverter(args[1], &path)) return NULL;
    PyObject *result = render(args[0], path);
    Py_DECREF(path);
    return result;
}

static PyMethodDef methods[] = {
    {"traces_to_native", traces_to_native, METH_O, traces_to_native_doc},
    {"write_traces_native", (PyCFunction)(void (*)(void))write_traces_native, METH_FASTCALL,
     write_traces_native_doc},
    {"count_trace_spans", count_trace_spans, METH_O, count_trace_spans_doc},
    {NULL, NULL, 0, NULL},
};

static struct PyModuleDef module = {
    PyModuleDef_HEAD_INIT, "_otlp_native",
    "OTLP trace requests rendered as ClickHouse Native blocks of otel_traces rows.", -1, methods,
    NULL, NULL, NULL, NULL,
};

PyMODINIT_FUNC PyInit__otlp_native(void) {
    kept_lock = PyThread_allocate_lock();
    if (!kept_lock) return PyErr_NoMemory();
    return PyModule_Create(&module);
}
