"""The compiled kernels of the ledger readers (plain C, loaded with ctypes; see genesis_payments/native)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "genesis_payments.native._kernels",
            sources=["genesis_payments/native/flat_lines.c", "genesis_payments/native/id_codes.c"],
            depends=["genesis_payments/native/native.h", "genesis_payments/native/bytes.h"],
            extra_compile_args=["-O3", "-std=gnu11", "-Wall", "-Wextra"],
        )
    ]
)
