/* The compiled pass of `flat_lines.py`: see its docstring for what a flat line is and what is
 * accepted. This file only ever *accepts* a line; anything else is left to the general path.
 *
 * `starts`, `ends` and `numbers` are indexed [row * lines + line], a kept field's row (each
 * field's values contiguous, as the Python side reads them out as columns).
 */
#include <stdint.h>
#include <string.h>

#include "bytes.h"
#include "native.h"

#if defined(__SSE2__)
#include <emmintrin.h>
#endif

enum { KIND_ID, KIND_STR, KIND_TIME, KIND_USD, KIND_CAIP2, KIND_ENUM };
enum { MAX_ID = 256 };

static const int64_t DAYS_BEFORE_MONTH[13] = {0, 0, 31, 59, 90, 120, 151, 181, 212, 243, 273, 304, 334};
static const int64_t DAYS_IN_MONTH[13] = {0, 31, 28, 31, 30, 31, 30, 31, 31, 30, 31, 30, 31};
static const int64_t UNIX_EPOCH_ORDINAL = 719163; /* date(1970, 1, 1).toordinal() */

/* Per byte, inside a JSON string: 0 plain, 1 the closing quote, 2 not plain (a control byte,
 * non-ASCII or a backslash: the line's newline is one, so a string never runs past its line). */
static const uint8_t in_string[256] = {[0 ... 0x1F] = 2, ['"'] = 1, ['\\'] = 2, [0x80 ... 0xFF] = 2};

static inline int is_digit(uint8_t c) { return c >= '0' && c <= '9'; }

/* The closing quote of a plain string starting at `p`, or -1 at a byte that is not plain.
 * Sixteen bytes at a time where the block has them (`end`: the block's end, never read past). */
static inline int64_t string_end(const uint8_t *buffer, int64_t p, int64_t end) {
#if defined(__SSE2__)
    const __m128i quote = _mm_set1_epi8('"'), backslash = _mm_set1_epi8('\\'), space = _mm_set1_epi8(0x20);
    for (; p + 16 <= end; p += 16) {
        __m128i bytes = _mm_loadu_si128((const __m128i *)(buffer + p));
        int quotes = _mm_movemask_epi8(_mm_cmpeq_epi8(bytes, quote));
        /* Signed bytes: below 0x20 is a control byte or (negative) one of 0x80-0xFF. */
        int others = _mm_movemask_epi8(_mm_or_si128(_mm_cmplt_epi8(bytes, space), _mm_cmpeq_epi8(bytes, backslash)));
        if (quotes | others) {
            int first = __builtin_ctz((unsigned)(quotes | others));
            return (quotes >> first) & 1 ? p + first : -1;
        }
    }
#endif
    (void)end;
    for (;;) {
        uint8_t kind = in_string[buffer[p]];
        if (kind) return kind == 1 ? p : -1;
        p++;
    }
}

/* The row of the word buffer[start:end] in a table of `count` words, or -1; tried from row
 * `first` on (a line's keys usually come in the table's order), wrapping round. */
static inline int64_t which(const uint8_t *buffer, int64_t start, int64_t end, const uint8_t *table,
                            int64_t width, const int64_t *lengths, int64_t count, int64_t first) {
    int64_t length = end - start;
    int64_t k = first;
    for (int64_t tried = 0; tried < count; tried++, k++) {
        if (k >= count) k = 0;
        if (lengths[k] == length && same_bytes(buffer + start, table + k * width, length)) return k;
    }
    return -1;
}

/* `[0-9]{1,10}(.[0-9]{1,6})?` within the limit, as micro-USDC. */
static inline int money(const uint8_t *buffer, int64_t start, int64_t end, int64_t max_micro, int64_t *out) {
    int64_t whole = 0, fraction = 0, places = 0, p = start;
    while (p < end && is_digit(buffer[p])) whole = whole * 10 + (buffer[p++] - '0');
    if (p == start || p - start > 10) return 0;
    if (p < end) {
        if (buffer[p] != '.') return 0;
        p++;
        while (p < end && is_digit(buffer[p])) {
            fraction = fraction * 10 + (buffer[p++] - '0');
            places++;
        }
        if (p < end || places < 1 || places > 6) return 0;
    }
    for (int64_t k = places; k < 6; k++) fraction *= 10;
    int64_t micro = whole * 1000000 + fraction;
    if (micro > max_micro) return 0;
    *out = micro;
    return 1;
}

/* The decimal number of `digits` digits at `start`, or -1 if one is not a digit. */
static inline int64_t number(const uint8_t *buffer, int64_t start, int digits) {
    int64_t value = 0;
    for (int64_t p = start; p < start + digits; p++) {
        if (!is_digit(buffer[p])) return -1;
        value = value * 10 + (buffer[p] - '0');
    }
    return value;
}

/* The last date read (its ten bytes `YYYY-MM-DD`) and its day number: a ledger's lines are in time
 * order, so a line's dates are nearly always the line before's, and are not parsed again. */
typedef struct {
    uint64_t head;
    uint16_t tail;
    int64_t days; /* NO_DATE: none yet */
} date_memo;

#define NO_DATE INT64_MIN

/* `YYYY-MM-DD` at `s`, a real date from year 1, as days since the epoch; NO_DATE if it is not one. */
static inline int64_t date_days(const uint8_t *s, date_memo *memo) {
    uint64_t head = load64(s);
    uint16_t tail;
    memcpy(&tail, s + 8, 2);
    if (memo->days != NO_DATE && head == memo->head && tail == memo->tail) return memo->days;
    if (!(s[4] == '-' && s[7] == '-')) return NO_DATE;
    int64_t year = number(s, 0, 4), month = number(s, 5, 2), day = number(s, 8, 2);
    if ((year | month | day) < 0) return NO_DATE; /* a non-digit */
    if (year < 1 || month < 1 || month > 12 || day < 1) return NO_DATE;
    int leap = year % 4 == 0 && (year % 100 != 0 || year % 400 == 0);
    if (day > DAYS_IN_MONTH[month] + (leap && month == 2)) return NO_DATE;
    int64_t previous = year - 1;
    int64_t ordinal = previous * 365 + previous / 4 - previous / 100 + previous / 400 + DAYS_BEFORE_MONTH[month] +
                      (leap && month > 2) + day;
    memo->head = head;
    memo->tail = tail;
    memo->days = ordinal - UNIX_EPOCH_ORDINAL;
    return memo->days;
}

/* `YYYY-MM-DDTHH:MM:SS[.ffffff](+00:00|Z)`, a real date from year 1, as µs since the epoch. */
static inline int timestamp(const uint8_t *buffer, int64_t start, int64_t end, int64_t *out, date_memo *memo) {
    int64_t length = end - start, body;
    if (length == 20 || length == 27) {
        if (buffer[end - 1] != 'Z') return 0;
        body = length - 1;
    } else if (length == 25 || length == 32) {
        if (memcmp(buffer + end - 6, "+00:00", 6) != 0) return 0;
        body = length - 6;
    } else {
        return 0;
    }
    const uint8_t *s = buffer + start;
    if (!(s[10] == 'T' && s[13] == ':' && s[16] == ':')) return 0;
    int64_t days = date_days(s, memo);
    if (days == NO_DATE) return 0;
    int64_t hour = number(s, 11, 2), minute = number(s, 14, 2), second = number(s, 17, 2), micro = 0;
    if (body == 26) {
        if (s[19] != '.') return 0;
        micro = number(s, 20, 6);
    }
    if ((hour | minute | second | micro) < 0) return 0; /* a non-digit */
    if (hour > 23 || minute > 59 || second > 59) return 0;
    *out = ((days * 24 + hour) * 60 + minute) * 60000000 + second * 1000000 + micro;
    return 1;
}

/* `[-a-z0-9]{3,8}:[-_a-zA-Z0-9]{1,32}` */
static inline int caip2(const uint8_t *buffer, int64_t start, int64_t end) {
    int64_t p = start;
    while (p < end && (buffer[p] == '-' || (buffer[p] >= 'a' && buffer[p] <= 'z') || is_digit(buffer[p]))) p++;
    if (p - start < 3 || p - start > 8 || p == end || buffer[p] != ':') return 0;
    int64_t reference = ++p;
    for (; p < end; p++) {
        uint8_t c = buffer[p];
        if (!(c == '-' || c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z') || is_digit(c))) return 0;
    }
    return p - reference >= 1 && p - reference <= 32;
}

static inline int check(const uint8_t *buffer, int64_t start, int64_t end, int64_t field, const gp_record *record,
                        int64_t *number_out, date_memo *memo) {
    int64_t length = end - start;
    switch (record->kinds[field]) {
        case KIND_ID:
            if (length < 1 || length > MAX_ID) return 0;
            for (int64_t p = start; p < end; p++) {
                if (buffer[p] != ' ') return 1;
            }
            return 0; /* only spaces: the exact validator words the reason */
        case KIND_STR:
            return 1;
        case KIND_USD:
            return money(buffer, start, end, record->max_micro, number_out);
        case KIND_TIME:
            return timestamp(buffer, start, end, number_out, memo);
        case KIND_CAIP2:
            return caip2(buffer, start, end);
        default: {
            int64_t code = which(buffer, start, end, record->enum_bytes, record->enum_width, record->enum_lengths,
                                 record->enum_count, 0);
            if (code < 0 || record->enum_field[2 * code] != field) return 0;
            *number_out = record->enum_field[2 * code + 1];
            return 1;
        }
    }
}

/* The code of the value buffer[from:to] among the distinct values of code field j so far, giving
 * a new value the next code. */
static inline int32_t intern(const uint8_t *buffer, int32_t from, int32_t to, int64_t j, gp_scan *out) {
    byte_table table = {out->slots + j * out->slot_count, (uint64_t)out->slot_count - 1,
                        out->dict_bytes + j * out->copied_stride, out->dict_offsets + j * (out->lines + 1),
                        out->hashes + j * out->lines, out->dict_counts[j]};
    int32_t code = byte_table_code(&table, buffer + from, to - from, hash_value(buffer + from, to - from));
    out->dict_counts[j] = table.count;
    return code;
}

/* The line starting at `start`: the offset of its newline if it is flat and every value is
 * canonical, else -1 (where it stopped reading is no guide to where the line ends).
 * follows[r] is the key row that came after row r in the last line (row `key_count`: a line's
 * first key): lines from one writer repeat their key order, so it is tried first. */
static int64_t scan_line(const uint8_t *buffer, int64_t start, int64_t end, int64_t i, const gp_record *record, gp_scan *out,
                         int64_t *follows, int64_t *seen_out, date_memo *memo) {
    if (buffer[start] != '{') return -1;
    int64_t p = start + 1, seen = 0, row = record->key_count, lines = out->lines;
    for (;;) {
        if (buffer[p] != '"') return -1;
        int64_t key_start = p + 1;
        p = string_end(buffer, key_start, end);
        if (p < 0) return -1;
        int64_t found = which(buffer, key_start, p, record->key_bytes, record->key_width, record->key_lengths,
                              record->key_count, follows[row]);
        if (found < 0) return -1; /* a field the record does not have */
        follows[row] = found;
        row = found;
        int64_t field = record->key_field[row];
        if (seen & ((int64_t)1 << field)) return -1; /* a repeated field */
        seen |= (int64_t)1 << field;
        if (buffer[p + 1] != ':' || buffer[p + 2] != '"') return -1;
        int64_t value_start = p + 3;
        p = string_end(buffer, value_start, end);
        if (p < 0) return -1;
        int64_t number = 0;
        if (!check(buffer, value_start, p, field, record, &number, memo)) return -1;
        int64_t kept_row = out->rows[field];
        if (kept_row >= 0) {
            out->starts[kept_row * lines + i] = (int32_t)value_start;
            out->ends[kept_row * lines + i] = (int32_t)p;
            out->numbers[kept_row * lines + i] = number;
        }
        p++;
        if (buffer[p] == ',') {
            p++;
        } else if (buffer[p] == '}' && buffer[p + 1] == '\n') {
            *seen_out = seen;
            return (seen & record->required) == record->required ? p + 1 : -1;
        } else {
            return -1;
        }
    }
}

int64_t gp_scan_lines(const uint8_t *buffer, int64_t start, int64_t end, const gp_record *record, int64_t max_line,
                      gp_scan *out) {
    /* Local copies: the kernel's stores through int64/int32 pointers could otherwise be taken to
     * change the tables' fields, which would then be read again from memory after every store. */
    const gp_record tables = *record;
    gp_scan scan = *out;
    record = &tables;
    out = &scan;
    int64_t follows[GP_MAX_FIELDS + 1] = {0};
    date_memo memo = {0, 0, NO_DATE};
    int64_t line_start = start, accepted = 0, lines = out->lines;
    for (int64_t i = 0; i < lines; i++) {
        /* A flat line ends right after its `}`: its newline is found by the scan itself. */
        int64_t seen = 0;
        int64_t line_end = scan_line(buffer, line_start, end, i, record, out, follows, &seen, &memo);
        if (line_end >= 0 && line_end - line_start <= max_line) {
            out->ok[i] = 1;
            for (int64_t k = 0; k < out->kept_count; k++) { /* an absent field: -1, not what a line before left */
                if (!(seen & ((int64_t)1 << out->kept[k]))) {
                    out->starts[k * lines + i] = -1;
                    out->ends[k * lines + i] = -1;
                    out->numbers[k * lines + i] = 0;
                }
            }
            /* The strings asked for are copied while the line is still in the CPU's cache. */
            for (int64_t j = 0; j < out->copy_count; j++) {
                int64_t kept_row = out->rows[out->copy_fields[j]];
                int32_t *offsets = out->copied_offsets + j * (lines + 1);
                int32_t at = offsets[accepted];
                int32_t from = out->starts[kept_row * lines + i];
                if (from >= 0) {
                    int32_t length = out->ends[kept_row * lines + i] - from;
                    memcpy(out->copied + j * out->copied_stride + at, buffer + from, (size_t)length);
                    at += length;
                }
                offsets[accepted + 1] = at;
            }
            for (int64_t j = 0; j < out->code_count; j++) {
                int64_t kept_row = out->rows[out->code_fields[j]];
                int32_t from = out->starts[kept_row * lines + i];
                out->codes[j * lines + accepted] =
                    from < 0 ? -1 : intern(buffer, from, out->ends[kept_row * lines + i], j, out);
            }
            accepted++;
        } else {
            const uint8_t *newline = memchr(buffer + line_start, '\n', (size_t)(end - line_start));
            line_end = newline - buffer;
        }
        out->line_ends[i] = line_end;
        line_start = line_end + 1;
    }
    return accepted;
}

int64_t gp_count_lines(const uint8_t *buffer, int64_t start, int64_t end) {
    int64_t count = 0, p = start;
#if defined(__SSE2__)
    /* Per byte lane, a counter of the newlines seen (subtracting the all-ones of a match), summed
     * before it can wrap at 255: two instructions per 16 bytes, against a widening add per byte. */
    const __m128i newline = _mm_set1_epi8('\n'), zero = _mm_setzero_si128();
    while (p + 16 <= end) {
        int64_t stop = end - p > 16 * 255 ? p + 16 * 255 : end;
        __m128i lanes = zero;
        for (; p + 16 <= stop; p += 16) {
            lanes = _mm_sub_epi8(lanes, _mm_cmpeq_epi8(_mm_loadu_si128((const __m128i *)(buffer + p)), newline));
        }
        __m128i sums = _mm_sad_epu8(lanes, zero); /* two 64-bit lanes of at most 8 * 255 */
        count += _mm_cvtsi128_si32(sums) + _mm_extract_epi16(sums, 4);
    }
#endif
    for (; p < end; p++) count += buffer[p] == '\n';
    return count;
}
