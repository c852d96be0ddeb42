"""SQL schema migrations, one directory per backend; shipped in the wheel as antigravityd.migrations."""
