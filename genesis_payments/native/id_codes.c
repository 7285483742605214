/* The hash table of `id_codes.py`: `slots` holds code + 1 (0 is an empty slot) at the position of
 * the id's hash, probing linearly; the ids themselves are arena[offsets[c]:offsets[c + 1]] for code
 * c, and hashes[c] their hashes. The caller makes room in every array first. */
#include <stdint.h>
#include <stdlib.h>
#include <string.h>

#include "bytes.h"
#include "native.h"

/* Codes of the strings values[value_offsets[i]:value_offsets[i + 1]] into `codes`; new ones are
 * appended to the arena. Returns the new count of ids, or -1 if out of memory. */
int64_t gp_encode_ids(const uint8_t *values, const int64_t *value_offsets, int64_t n, int32_t *slots, int64_t slot_count,
                      uint8_t *arena, int64_t *offsets, uint64_t *hashes, int64_t count, int32_t *codes) {
    uint64_t mask = (uint64_t)slot_count - 1;
    /* Every hash first: a hash's chain of multiplies in the same loop as the table's cache misses
     * keeps the CPU from overlapping the misses. */
    uint64_t *wanted = malloc(sizeof(uint64_t) * (size_t)(n ? n : 1));
    if (!wanted) return -1;
    for (int64_t i = 0; i < n; i++) {
        wanted[i] = hash_value(values + value_offsets[i], value_offsets[i + 1] - value_offsets[i]);
    }
    for (int64_t i = 0; i < n; i++) {
        const uint8_t *id = values + value_offsets[i];
        int64_t length = value_offsets[i + 1] - value_offsets[i];
        uint64_t h = wanted[i];
        for (uint64_t slot = h & mask;; slot = (slot + 1) & mask) {
            int64_t code = (int64_t)slots[slot] - 1;
            if (code < 0) { /* an id not seen before */
                memcpy(arena + offsets[count], id, (size_t)length);
                offsets[count + 1] = offsets[count] + length;
                hashes[count] = h;
                slots[slot] = (int32_t)(count + 1);
                codes[i] = (int32_t)count++;
                break;
            }
            if (hashes[code] == h && offsets[code + 1] - offsets[code] == length &&
                same_bytes(arena + offsets[code], id, length)) {
                codes[i] = (int32_t)code;
                break;
            }
        }
    }
    free(wanted);
    return count;
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
