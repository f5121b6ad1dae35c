// The simulated board's heap as an ESP32 without PSRAM has it (MicroPython >= 1.21): a small
// Python heap that grows on demand from the ESP-IDF heap, which NimBLE also takes from.
//
// MicroPython's own growth code runs unchanged: the build sets MICROPY_GC_SPLIT_HEAP_AUTO, as
// ports/esp32/mpconfigport.h does, so py/gc.c's gc_try_add_heap() adds an area when an
// allocation fails after a collection, at least doubling the heap, capped by
// gc_get_max_new_split(); gc.mem_free() adds that cap (py/modgc.c). This file is the port's
// side: gc_get_max_new_split() and MP_PLAT_ALLOC_HEAP/FREE_HEAP (ankletwork_hooks.h) over a
// model of the ESP-IDF heap, a few free regions, each allocation best-fit (TLSF is a good-fit
// allocator) and its largest free block reported as ESP-IDF's TLSF reports it; and NimBLE's
// share of that heap taken at ble.active(True) (the linker wraps mp_bluetooth_init/deinit).
//
// The emulated hardware lives in the interpreter's first area, which an ESP32 does not have to
// carry: heap_begin() adds the firmware's own first area beside it, as large as a fresh ESP32's.
// From then on each allocates only in its own areas (hardware(), below): the hardware's area
// never grows, its free blocks are not counted in gc.mem_free(), and its blocks are left out of
// the size the growth rule doubles.
// Off until heap_begin(): a plain interpreter keeps its fixed -X heapsize.
#include <stdlib.h>

#include "py/gc.h"
#include "py/mpstate.h"
#include "py/runtime.h"
#include "py/mperrno.h"

#define MAX_REGIONS (8)
#define MAX_AREAS (32)
#define BLOCK_BYTES (MICROPY_BYTES_PER_GC_BLOCK)

static bool active;
static size_t region_free[MAX_REGIONS];
static size_t n_regions;
static size_t nimble_bytes;
static size_t nimble_taken[MAX_REGIONS];
static bool nimble_up;
static size_t hardware_blocks;  // blocks of the first area: the emulated hardware's
static unsigned growing;  // inside gc_alloc/gc_realloc: a growth is being decided
static size_t growth_request;  // ... for an allocation of this many bytes
static struct { void *ptr; size_t size; size_t region; } areas[MAX_AREAS];

MP_REGISTER_ROOT_POINTER(void *ankletwork_ballast);

// Who allocates: the firmware, in its own areas, or the emulated hardware (between the CPU
// model's enter() and leave(), anklet_sim/mpy/cpu.py), in the interpreter's first area: the
// emulator's garbage (the motion model's floats, at every sample) does not exist on an ESP32 and
// must not collect the firmware's heap. gc.c looks for free blocks in an area from its
// gc_last_free_atb_index on, which a collection or a free moves back: an area is closed by
// setting it past the end, and reopened where it was.
static bool in_hardware;
static size_t hardware_index;  // the hardware area's search start while it is closed
static size_t firmware_index[MAX_AREAS + 1];  // ... the firmware areas' while they are closed

static void close_area(mp_state_mem_area_t *area, size_t *saved) {
    if (area->gc_last_free_atb_index < area->gc_alloc_table_byte_len) {
        // a free or a collection moved it back: the earlier of the two is still a valid start
        *saved = MIN(*saved, area->gc_last_free_atb_index);
        area->gc_last_free_atb_index = area->gc_alloc_table_byte_len;
    }
}

// After gc.c has run: the areas of whoever is not allocating stay closed.
static void close_other_areas(void) {
    if (!active) {
        return;
    }
    if (!in_hardware) {
        close_area(&MP_STATE_MEM(area), &hardware_index);
        return;
    }
    size_t i = 0;
    for (mp_state_mem_area_t *area = MP_STATE_MEM(area).next; area != NULL; area = area->next) {
        close_area(area, &firmware_index[i++]);
    }
}

static void switch_allocator(bool hardware) {
    if (!active || hardware == in_hardware) {
        return;
    }
    mp_state_mem_area_t *first = &MP_STATE_MEM(area);
    size_t i = 0;
    if (hardware) {
        for (mp_state_mem_area_t *area = first->next; area != NULL; area = area->next, i++) {
            firmware_index[i] = area->gc_last_free_atb_index;
            area->gc_last_free_atb_index = area->gc_alloc_table_byte_len;
        }
        first->gc_last_free_atb_index = hardware_index;
    } else {
        hardware_index = first->gc_last_free_atb_index;
        first->gc_last_free_atb_index = first->gc_alloc_table_byte_len;
        for (mp_state_mem_area_t *area = first->next; area != NULL; area = area->next, i++) {
            area->gc_last_free_atb_index = firmware_index[i];
        }
    }
    // gc_alloc() searches from the area it last allocated in: from the first, both find theirs
    MP_STATE_MEM(gc_last_free_area) = first;
    in_hardware = hardware;
}

// hardware(on): the emulated hardware starts (True) or stops (False) running; no allocation.
static mp_obj_t ankletwork_hardware(mp_obj_t on) {
    switch_allocator(mp_obj_is_true(on));
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_1(ankletwork_hardware_obj, ankletwork_hardware);

static size_t hardware_free_blocks(void) {
    mp_state_mem_area_t *area = &MP_STATE_MEM(area);
    size_t free_blocks = 0;
    for (size_t i = 0; i < area->gc_alloc_table_byte_len; i++) {
        byte a = area->gc_alloc_table_start[i];
        for (int b = 0; b < 8; b += 2) {
            free_blocks += ((a >> b) & 3) == 0;
        }
    }
    return free_blocks;
}

void __real_gc_collect_end(void);
void __real_gc_free(void *ptr);
void __real_gc_info(gc_info_t *info);

void __wrap_gc_collect_end(void) {
    __real_gc_collect_end();
    close_other_areas();
}

void __wrap_gc_free(void *ptr) {
    __real_gc_free(ptr);
    close_other_areas();
}

// gc.mem_free() and mem_info(): the hardware area's free blocks are not the firmware's.
void __wrap_gc_info(gc_info_t *info) {
    __real_gc_info(info);
    if (active) {
        size_t hidden = hardware_free_blocks() * BLOCK_BYTES;
        info->free -= MIN(info->free, hidden);
    }
}

// ESP-IDF's largest_free_block as its TLSF allocator reports it: rounded down to the start of
// the block's second-level size class, 16 classes per power of two. Every published figure
// fits: 57344, 110592, 139264, 65536, 30720 (docs/HIL.md, "The heap model").
static size_t tlsf_reported(size_t n) {
    if (n < 256) {
        return n;
    }
    int fl = 31 - __builtin_clz((unsigned)n);
    size_t granule = (size_t)1 << (fl - 4);
    return n & ~(granule - 1);
}

static size_t largest_region(void) {
    size_t best = 0;
    for (size_t i = 0; i < n_regions; i++) {
        if (region_free[i] > best) {
            best = region_free[i];
        }
    }
    return best;
}

// What py/gc.c's gc_try_add_heap() takes as the heap's size, over the firmware's blocks only.
static size_t firmware_heap_bytes(void) {
    size_t blocks = 0;
    for (mp_state_mem_area_t *area = &MP_STATE_MEM(area); area != NULL; area = area->next) {
        blocks += area->gc_alloc_table_byte_len * 4;
    }
    blocks -= hardware_blocks;
    size_t bytes = blocks / 4 + blocks / 8 + blocks * BLOCK_BYTES + 1 + sizeof(mp_state_mem_area_t);
    return (bytes + BLOCK_BYTES - 1) & ~(BLOCK_BYTES - 1);
}

size_t gc_get_max_new_split(void) {
    if (!active || in_hardware) {
        return 0;  // the emulated hardware's area does not grow: an ESP32 has no such area
    }
    size_t avail = tlsf_reported(largest_region());
    if (growing) {
        // gc.c adds MIN(avail, MAX(its heap size, needed)): with the hardware's blocks in its
        // size it would add more than an ESP32 does, so the cap says what the ESP32 would.
        size_t needed = growth_request + MAX(2048, growth_request * 13 / 512);
        size_t want = MAX(firmware_heap_bytes(), needed);
        if (want < avail) {
            avail = want;
        }
    }
    return avail;
}

void *ankletwork_sys_alloc(size_t size) {
    size_t best = MAX_REGIONS;
    for (size_t i = 0; i < n_regions; i++) {
        if (region_free[i] >= size && (best == MAX_REGIONS || region_free[i] < region_free[best])) {
            best = i;
        }
    }
    size_t slot = 0;
    while (slot < MAX_AREAS && areas[slot].ptr != NULL) {
        slot++;
    }
    if (best == MAX_REGIONS || slot == MAX_AREAS) {
        return NULL;
    }
    void *ptr = malloc(size);
    if (ptr != NULL) {
        region_free[best] -= size;
        areas[slot].ptr = ptr;
        areas[slot].size = size;
        areas[slot].region = best;
    }
    return ptr;
}

void ankletwork_sys_free(void *ptr) {
    for (size_t i = 0; i < MAX_AREAS; i++) {
        if (areas[i].ptr == ptr) {
            region_free[areas[i].region] += areas[i].size;
            areas[i].ptr = NULL;
            break;
        }
    }
    free(ptr);
}

// Allocations that may grow the heap: note the request for gc_get_max_new_split().
void *__real_gc_alloc(size_t n_bytes, unsigned int alloc_flags);
void *__real_gc_realloc(void *ptr, size_t n_bytes, bool allow_move);

void *__wrap_gc_alloc(size_t n_bytes, unsigned int alloc_flags) {
    size_t outer = growth_request;
    growing++;
    growth_request = n_bytes;
    void *ptr = __real_gc_alloc(n_bytes, alloc_flags);
    close_other_areas();
    growing--;
    growth_request = outer;
    return ptr;
}

void *__wrap_gc_realloc(void *ptr, size_t n_bytes, bool allow_move) {
    size_t outer = growth_request;
    growing++;
    growth_request = n_bytes;
    void *moved = __real_gc_realloc(ptr, n_bytes, allow_move);
    close_other_areas();
    growing--;
    growth_request = outer;
    return moved;
}

// NimBLE's host (and, on the ESP32, the controller's heap part) allocate at ble.active(True):
// many small blocks, which a good-fit allocator puts in the smallest free regions first. Taken
// even when the simulated board has no controller to bring up (a serial-only simulation): a
// DevKitC's radio comes up and takes it.
int __real_mp_bluetooth_init(void);
int __real_mp_bluetooth_deinit(void);

static void nimble_give_back(void) {
    for (size_t i = 0; i < n_regions; i++) {
        region_free[i] += nimble_taken[i];
        nimble_taken[i] = 0;
    }
    nimble_up = false;
}

int __wrap_mp_bluetooth_init(void) {
    if (active && !nimble_up) {
        size_t total = 0;
        for (size_t i = 0; i < n_regions; i++) {
            total += region_free[i];
        }
        if (total < nimble_bytes) {
            // A real ESP32 panics here (micropython#14293); the model says why instead.
            mp_printf(&mp_plat_print, "heap model: ble.active(True) needs %u bytes of the ESP-IDF "
                "heap for NimBLE, %u are free (the Python heap took the rest)\n",
                (unsigned)nimble_bytes, (unsigned)total);
            return MP_ENOMEM;
        }
        size_t left = nimble_bytes;
        while (left > 0) {
            size_t smallest = MAX_REGIONS;
            for (size_t i = 0; i < n_regions; i++) {
                if (region_free[i] > 0 && (smallest == MAX_REGIONS || region_free[i] < region_free[smallest])) {
                    smallest = i;
                }
            }
            size_t take = MIN(left, region_free[smallest]);
            region_free[smallest] -= take;
            nimble_taken[smallest] += take;
            left -= take;
        }
        nimble_up = true;
    }
    return __real_mp_bluetooth_init();
}

int __wrap_mp_bluetooth_deinit(void) {
    int err = __real_mp_bluetooth_deinit();
    if (nimble_up) {
        nimble_give_back();
    }
    return err;
}

// NimBLE's events reach the firmware's irq handler from a task the scheduler runs, which may be
// inside a hardware call (a poll, a sleep): on an ESP32 it is the firmware's code, so it allocates
// from the firmware's heap.
bool __real_mp_bluetooth_hci_poll(void);

bool __wrap_mp_bluetooth_hci_poll(void) {
    bool was_hardware = in_hardware;
    switch_allocator(false);
    bool more = __real_mp_bluetooth_hci_poll();
    switch_allocator(was_hardware);
    return more;
}

// heap_begin(area_bytes, used, regions, nimble_bytes): from now on the heap is an ESP32's. The
// firmware gets a first area of `area_bytes` (a fresh ESP32's initial area, taken from the
// system before the ESP-IDF heap's `regions` were measured), `used` of it taken as MicroPython
// itself takes it at boot; the interpreter's own first area stays the emulated hardware's.
// `nimble_bytes`: what ble.active(True) takes from the regions.
static mp_obj_t ankletwork_heap_begin(size_t n_args, const mp_obj_t *args) {
    size_t area_bytes = mp_obj_get_int(args[0]);
    size_t used = mp_obj_get_int(args[1]);
    size_t n;
    mp_obj_t *items;
    mp_obj_get_array(args[2], &n, &items);
    if (n == 0 || n > MAX_REGIONS || MP_STATE_MEM(area).next != NULL || active) {
        mp_raise_ValueError(MP_ERROR_TEXT("heap_begin: 1 to 8 regions, once, on one area"));
    }
    for (size_t i = 0; i < n; i++) {
        region_free[i] = mp_obj_get_int(items[i]);
    }
    n_regions = n;
    nimble_bytes = mp_obj_get_int(args[3]);
    byte *first = malloc(area_bytes);
    if (first == NULL) {
        mp_raise_msg(&mp_type_MemoryError, MP_ERROR_TEXT("heap_begin: no memory for the area"));
    }
    gc_collect();
    hardware_blocks = MP_STATE_MEM(area).gc_alloc_table_byte_len * 4;
    gc_add(first, first + area_bytes);
    active = true;
    close_other_areas();
    if (used >= BLOCK_BYTES) {
        void **boot = gc_alloc(used, 0);  // what MicroPython holds at boot on the board
        if (boot != NULL) {
            boot[0] = MP_STATE_VM(ankletwork_ballast);
            MP_STATE_VM(ankletwork_ballast) = boot;
        }
    }
    return mp_const_none;
}
MP_DEFINE_CONST_FUN_OBJ_VAR_BETWEEN(ankletwork_heap_begin_obj, 4, 4, ankletwork_heap_begin);

// heap_state() -> (active, the firmware's areas, firmware heap bytes, regions' free bytes tuple,
// NimBLE up): for tests and the bench; allocates.
static mp_obj_t ankletwork_heap_state(void) {
    size_t n_areas = 0;
    for (mp_state_mem_area_t *area = &MP_STATE_MEM(area); area != NULL; area = area->next) {
        n_areas++;
    }
    if (active) {
        n_areas--;  // the first is the emulated hardware's
    }
    mp_obj_t regions[MAX_REGIONS];
    for (size_t i = 0; i < n_regions; i++) {
        regions[i] = mp_obj_new_int_from_uint(region_free[i]);
    }
    mp_obj_t items[5] = {
        mp_obj_new_bool(active),
        mp_obj_new_int_from_uint(n_areas),
        mp_obj_new_int_from_uint(active ? firmware_heap_bytes() : 0),
        mp_obj_new_tuple(n_regions, regions),
        mp_obj_new_bool(nimble_up),
    };
    return mp_obj_new_tuple(5, items);
}
MP_DEFINE_CONST_FUN_OBJ_0(ankletwork_heap_state_obj, ankletwork_heap_state);
