/* The compiled kernels of the ledger readers, called through ctypes (`genesis_payments/native/__init__.py`
 * declares the same structs and signatures: keep the two in step). ctypes lets go of the GIL for each
 * call, so several threads can read blocks at once. */
#ifndef GENESIS_NATIVE_H
#define GENESIS_NATIVE_H

#include <stdint.h>

#define GP_MAX_FIELDS 62 /* which fields a line has is kept as bits of one int64 */

/* A record kind as the flat pass needs it (see `flat_lines.FlatRecord.tables`). */
typedef struct {
    const uint8_t *key_bytes; /* key_count rows of key_width bytes, in the order `canonical_json` writes them */
    int64_t key_width;
    const int64_t *key_lengths;
    const int64_t *key_field; /* the field of each key row */
    int64_t key_count;
    const int64_t *kinds; /* per field */
    int64_t required;     /* bit k: field k must be there */
    const uint8_t *enum_bytes;
    int64_t enum_width;
    const int64_t *enum_lengths;
    const int64_t *enum_field; /* per enum value: (field, code) */
    int64_t enum_count;
    int64_t max_micro;
} gp_record;

/* What the flat pass writes for one block of `lines` lines (see `flat_lines.FlatScan`). */
typedef struct {
    int64_t lines;
    int64_t *line_ends;
    uint8_t *ok;
    /* Only the fields asked for are kept (every field is still checked): field f's values are row
     * rows[f] of these arrays, [row * lines + line], or nowhere when rows[f] is -1. */
    const int64_t *rows;
    const int64_t *kept; /* the kept fields, kept_count of them (rows[kept[k]] == k) */
    int64_t kept_count;
    int32_t *starts; /* -1 where an accepted line lacks the field */
    int32_t *ends;
    int64_t *numbers; /* 0 where an accepted line lacks the field */
    const int64_t *copy_fields;
    int64_t copy_count;
    uint8_t *copied; /* [j * copied_stride + byte] */
    int64_t copied_stride;
    int32_t *copied_offsets; /* [j * (lines + 1) + accepted row] */
    /* Fields given as codes into the distinct values of the block (first seen, first coded). */
    const int64_t *code_fields;
    int64_t code_count;
    int32_t *codes;        /* [j * lines + accepted row]; -1 where the field is absent */
    /* Field j's distinct values: a `byte_table` (bytes.h) of these arrays' j-th rows. */
    int32_t *slots;        /* [j * slot_count + slot]; zeroed by the caller */
    int64_t slot_count;    /* a power of two, more than 1.5 times `lines` */
    uint64_t *hashes;      /* [j * lines + code] */
    int64_t *dict_offsets; /* [j * (lines + 1) + code] */
    uint8_t *dict_bytes;   /* [j * copied_stride + byte] */
    int64_t *dict_counts;  /* [j] */
} gp_scan;

int64_t gp_scan_lines(const uint8_t *buffer, int64_t start, int64_t end, const gp_record *record, int64_t max_line,
                      gp_scan *out);

/* How many newlines buffer[start:end] holds. */
int64_t gp_count_lines(const uint8_t *buffer, int64_t start, int64_t end);

int64_t gp_encode_ids(const uint8_t *values, const int64_t *value_offsets, int64_t n, int32_t *slots, int64_t slot_count,
                      uint8_t *arena, int64_t *offsets, uint64_t *hashes, int64_t count, int32_t *codes);

void gp_rehash_ids(const uint64_t *hashes, int64_t count, int32_t *slots, int64_t slot_count);

#endif
