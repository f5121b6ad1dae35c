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

#endif
