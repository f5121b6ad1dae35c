ANKLETWORK_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(ANKLETWORK_DIR)/ankletwork.c
LDFLAGS_USERMOD += -Wl,--wrap=mp_call_function_n_kw -Wl,--wrap=mp_call_method_n_kw
# hci_socket.c: MICROPYBTUART=unix:... is a unix socket, not a serial device.
SRC_USERMOD_C += $(ANKLETWORK_DIR)/hci_socket.c
LDFLAGS_USERMOD += -Wl,--wrap=open64 -Wl,--wrap=open -Wl,--wrap=tcgetattr -Wl,--wrap=tcsetattr
# heap_model.c: the ESP32's growable heap; the wraps note allocations and NimBLE's start and stop.
SRC_USERMOD_C += $(ANKLETWORK_DIR)/heap_model.c
LDFLAGS_USERMOD += -Wl,--wrap=gc_alloc -Wl,--wrap=gc_realloc -Wl,--wrap=gc_free -Wl,--wrap=gc_info -Wl,--wrap=gc_collect_end -Wl,--wrap=mp_bluetooth_init -Wl,--wrap=mp_bluetooth_deinit -Wl,--wrap=mp_bluetooth_hci_poll
