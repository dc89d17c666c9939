"""The emulator's own tests, split as the emulator is, one module per concern."""
