"""The compiled kernels of the ledger readers (plain C, loaded with ctypes; see genesis_payments/ledgers/native)."""

from setuptools import Extension, setup

setup(
    ext_modules=[
        Extension(
            "genesis_payments.ledgers.native._kernels",
            sources=["genesis_payments/ledgers/native/flat_lines.c", "genesis_payments/ledgers/native/id_codes.c"],
            depends=["genesis_payments/ledgers/native/native.h", "genesis_payments/ledgers/native/bytes.h"],
            extra_compile_args=["-O3", "-std=gnu11", "-Wall", "-Wextra"],
        )
    ]
)
