// Forced into every file of the simulated board's interpreter (-include): MicroPython's VM
// hooks (py/mpconfig.h: MICROPY_VM_HOOK_INIT, _LOOP, _RETURN, defined empty unless a port
// sets them) count what the interpreter does, for the CPU model (ankletwork.c).
#ifndef ANKLETWORK_HOOKS_H
#define ANKLETWORK_HOOKS_H

// [0] frames entered or resumed (a call, a generator or coroutine resumed, a caught
// exception), [1] branches taken (loops, ifs: the VM's pending-exception check), [2] returns.
extern unsigned long ankletwork_events[3];

#define MICROPY_VM_HOOK_INIT ankletwork_events[0]++;
#define MICROPY_VM_HOOK_LOOP ankletwork_events[1]++;
#define MICROPY_VM_HOOK_RETURN ankletwork_events[2]++;


// The heap as an ESP32's (heap_model.c): MicroPython's own split heap that grows on demand, as
// ports/esp32/mpconfigport.h sets it, its new areas from the model of the ESP-IDF heap.
#include <stddef.h>
#define MICROPY_GC_SPLIT_HEAP (1)
#define MICROPY_GC_SPLIT_HEAP_AUTO (1)
void *ankletwork_sys_alloc(size_t size);
void ankletwork_sys_free(void *ptr);
#define MP_PLAT_ALLOC_HEAP(size) ankletwork_sys_alloc(size)
#define MP_PLAT_FREE_HEAP(ptr) ankletwork_sys_free(ptr)

#endif
