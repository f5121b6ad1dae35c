ANKLETWORK_DIR := $(USERMOD_DIR)
SRC_USERMOD_C += $(ANKLETWORK_DIR)/ankletwork.c
LDFLAGS_USERMOD += -Wl,--wrap=mp_call_function_n_kw -Wl,--wrap=mp_call_method_n_kw
