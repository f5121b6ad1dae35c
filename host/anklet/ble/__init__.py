"""BLE support for the host: a bleak backend over bumble (`bumble_backend`)."""
