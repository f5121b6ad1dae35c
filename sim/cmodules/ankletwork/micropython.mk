ANKLETWORK_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(ANKLETWORK_DIR)/ankletwork.c
LDFLAGS_USERMOD += -Wl,--wrap=mp_call_function_n_kw -Wl,--wrap=mp_call_method_n_kw
# hci_socket.c: MICROPYBTUART=unix:... is a unix socket, not a serial device.
SRC_USERMOD_C += $(ANKLETWORK_DIR)/hci_socket.c
LDFLAGS_USERMOD += -Wl,--wrap=open64 -Wl,--wrap=open -Wl,--wrap=tcgetattr -Wl,--wrap=tcsetattr
