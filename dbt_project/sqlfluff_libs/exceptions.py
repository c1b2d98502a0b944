"""dbt's `exceptions`: a compile error stops rendering, as it stops dbt."""


def raise_compiler_error(message):
    raise RuntimeError(message)


def warn(message):
    return ""
