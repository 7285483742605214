/* The hash table of `id_codes.py`: a `byte_table` (bytes.h) kept by the Python side between
 * calls. The caller makes room in every array first. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "native.h"

/* Codes of the strings values[value_offsets[i]:value_offsets[i + 1]] into `codes`; new ones are
 * appended to the arena. Returns the new count of ids, or -1 if out of memory. */
int64_t gp_encode_ids(const uint8_t *values, const int64_t *value_offsets, int64_t n, int32_t *slots, int64_t slot_count,
                      uint8_t *arena, int64_t *offsets, uint64_t *hashes, int64_t count, int32_t *codes) {
    byte_table table = {slots, (uint64_t)slot_count - 1, arena, offsets, hashes, count};
    /* Every hash first: a hash's chain of multiplies in the same loop as the table's cache misses
     * keeps the CPU from overlapping the misses. */
    uint64_t *wanted = malloc(sizeof(uint64_t) * (size_t)(n ? n : 1));
    if (!wanted) return -1;
    for (int64_t i = 0; i < n; i++) {
        wanted[i] = hash_value(values + value_offsets[i], value_offsets[i + 1] - value_offsets[i]);
    }
    for (int64_t i = 0; i < n; i++) {
        int64_t length = value_offsets[i + 1] - value_offsets[i];
        codes[i] = byte_table_code(&table, values + value_offsets[i], length, wanted[i]);
    }
    free(wanted);
    return table.count;
}

/* Place codes 0…count-1 in an empty table. */
void gp_rehash_ids(const uint64_t *hashes, int64_t count, int32_t *slots, int64_t slot_count) {
    uint64_t mask = (uint64_t)slot_count - 1;
    for (int64_t code = 0; code < count; code++) {
        uint64_t slot = hashes[code] & mask;
        while (slots[slot]) slot = (slot + 1) & mask;
        slots[slot] = (int32_t)(code + 1);
    }
}
