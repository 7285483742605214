/* Short byte strings compared and hashed a word at a time, and coded in a hash table: the flat
 * pass's keys and coded values, and the id table's ids, are 1 to a few dozen bytes, where a call to
 * memcmp or a hash that takes one byte per step costs more than the work itself. */
#ifndef GENESIS_BYTES_H
#define GENESIS_BYTES_H

#include <stdint.h>
#include <string.h>

static inline uint64_t load64(const uint8_t *p) {
    uint64_t value;
    memcpy(&value, p, 8);
    return value;
}

static inline uint32_t load32(const uint8_t *p) {
    uint32_t value;
    memcpy(&value, p, 4);
    return value;
}

/* a[0:length] == b[0:length], by words that never reach past either end (keys are short, and a
 * call to memcmp per key cost more than the comparison). */
static inline int same_bytes(const uint8_t *a, const uint8_t *b, int64_t length) {
    if (length >= 8) {
        for (int64_t k = 0; k + 8 < length; k += 8) {
            if (load64(a + k) != load64(b + k)) return 0;
        }
        return load64(a + length - 8) == load64(b + length - 8);
    }
    if (length >= 4) return load32(a) == load32(b) && load32(a + length - 4) == load32(b + length - 4);
    for (int64_t k = 0; k < length; k++) {
        if (a[k] != b[k]) return 0;
    }
    return 1;
}

/* A hash of short strings, eight bytes at a time, the last eight overlapping the word before
 * (the length is hashed too, so which bytes overlap is fixed), then mixed. */
static inline uint64_t hash_value(const uint8_t *bytes, int64_t length) {
    const uint64_t multiplier = 0xFF51AFD7ED558CCDULL;
    uint64_t value = 0x9E3779B97F4A7C15ULL ^ (uint64_t)length;
    if (length >= 8) {
        for (int64_t k = 0; k + 8 < length; k += 8) value = (value ^ load64(bytes + k)) * multiplier;
        value = (value ^ load64(bytes + length - 8)) * multiplier;
    } else if (length >= 4) {
        value = (value ^ ((uint64_t)load32(bytes) << 32 | load32(bytes + length - 4))) * multiplier;
    } else {
        uint64_t word = 0;
        for (int64_t k = 0; k < length; k++) word = word << 8 | bytes[k];
        value = (value ^ word) * multiplier;
    }
    value ^= value >> 33;
    value *= 0xFF51AFD7ED558CCDULL;
    return value ^ (value >> 33);
}

/* Distinct byte strings, coded 0, 1, 2... in order of first sight: `slots` holds code + 1 (0 is
 * empty) at the position of the string's hash, probing linearly; the strings themselves are
 * arena[offsets[c]:offsets[c + 1]] for code c, and hashes[c] their hashes. Whoever fills it makes
 * room in every array first, and keeps it at most two thirds full so that a probe ends soon. */
typedef struct {
    int32_t *slots;
    uint64_t mask; /* the slot count (a power of two) - 1 */
    uint8_t *arena;
    int64_t *offsets;
    uint64_t *hashes;
    int64_t count;
} byte_table;

/* The code of `value` (whose hash is `h`), giving it the next code if it is new. */
static inline int32_t byte_table_code(byte_table *table, const uint8_t *value, int64_t length, uint64_t h) {
    for (uint64_t slot = h & table->mask;; slot = (slot + 1) & table->mask) {
        int64_t code = (int64_t)table->slots[slot] - 1;
        if (code < 0) {
            code = table->count++;
            memcpy(table->arena + table->offsets[code], value, (size_t)length);
            table->offsets[code + 1] = table->offsets[code] + length;
            table->hashes[code] = h;
            table->slots[slot] = (int32_t)(code + 1);
            return (int32_t)code;
        }
        if (table->hashes[code] == h && table->offsets[code + 1] - table->offsets[code] == length &&
            same_bytes(table->arena + table->offsets[code], value, length)) {
            return (int32_t)code;
        }
    }
}

#endif
