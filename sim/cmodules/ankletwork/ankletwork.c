// The simulated board's work counter: how much MicroPython code the interpreter has run,
// counted by the VM hooks of ankletwork_hooks.h and, through the linker (--wrap), every call
// the VM makes to a function (bytecode or native). The CPU model (anklet_sim/mpy/cpu.py)
// converts the count into ESP32 time, every event at the same cost; counting work rather than
// reading this PC's CPU clock makes the model independent of the PC's caches and load.
#include "py/runtime.h"
#include "py/smallint.h"

unsigned long ankletwork_events[3];
static unsigned long calls;

// The VM calls a function with mp_call_function_n_kw and a method with mp_call_method_n_kw
// (py/vm.c); the second calls the first inside py/runtime.c, which --wrap does not see, so each
// call counts once.
mp_obj_t __real_mp_call_function_n_kw(mp_obj_t fun_in, size_t n_args, size_t n_kw, const mp_obj_t *args);
mp_obj_t __real_mp_call_method_n_kw(size_t n_args, size_t n_kw, const mp_obj_t *args);

mp_obj_t __wrap_mp_call_function_n_kw(mp_obj_t fun_in, size_t n_args, size_t n_kw, const mp_obj_t *args) {
    calls++;
    return __real_mp_call_function_n_kw(fun_in, n_args, n_kw, args);
}

mp_obj_t __wrap_mp_call_method_n_kw(size_t n_args, size_t n_kw, const mp_obj_t *args) {
    calls++;
    return __real_mp_call_method_n_kw(n_args, n_kw, args);
}

// counts() -> (entries, branches, returns, calls): allocates, for calibration only.
static mp_obj_t ankletwork_counts(void) {
    mp_obj_t items[4] = {
        mp_obj_new_int_from_ull(ankletwork_events[0]),
        mp_obj_new_int_from_ull(ankletwork_events[1]),
        mp_obj_new_int_from_ull(ankletwork_events[2]),
        mp_obj_new_int_from_ull(calls),
    };
    return mp_obj_new_tuple(4, items);
}
static MP_DEFINE_CONST_FUN_OBJ_0(ankletwork_counts_obj, ankletwork_counts);

// events() -> every event so far, a small int (no allocation: the CPU model reads it at every
// hardware call).
static mp_obj_t ankletwork_events_total(void) {
    unsigned long total = ankletwork_events[0] + ankletwork_events[1] + ankletwork_events[2] + calls;
    return MP_OBJ_NEW_SMALL_INT((mp_int_t)(total & MP_SMALL_INT_POSITIVE_MASK));
}
static MP_DEFINE_CONST_FUN_OBJ_0(ankletwork_events_obj, ankletwork_events_total);

extern const mp_obj_fun_builtin_var_t ankletwork_heap_begin_obj;
extern const mp_obj_fun_builtin_fixed_t ankletwork_heap_state_obj;
extern const mp_obj_fun_builtin_fixed_t ankletwork_hardware_obj;

static const mp_rom_map_elem_t ankletwork_globals_table[] = {
    { MP_ROM_QSTR(MP_QSTR___name__), MP_ROM_QSTR(MP_QSTR_ankletwork) },
    { MP_ROM_QSTR(MP_QSTR_counts), MP_ROM_PTR(&ankletwork_counts_obj) },
    { MP_ROM_QSTR(MP_QSTR_events), MP_ROM_PTR(&ankletwork_events_obj) },
    { MP_ROM_QSTR(MP_QSTR_heap_begin), MP_ROM_PTR(&ankletwork_heap_begin_obj) },
    { MP_ROM_QSTR(MP_QSTR_heap_state), MP_ROM_PTR(&ankletwork_heap_state_obj) },
    { MP_ROM_QSTR(MP_QSTR_hardware), MP_ROM_PTR(&ankletwork_hardware_obj) },
};
static MP_DEFINE_CONST_DICT(ankletwork_globals, ankletwork_globals_table);

const mp_obj_module_t ankletwork_module = {
    .base = { &mp_type_module },
    .globals = (mp_obj_dict_t *)&ankletwork_globals,
};

MP_REGISTER_MODULE(MP_QSTR_ankletwork, ankletwork_module);
