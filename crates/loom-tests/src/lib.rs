//! Loom models of aiosync live in `tests/`; run them with `--cfg loom` (see README).
