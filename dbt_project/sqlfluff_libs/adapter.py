"""dbt's `adapter.dispatch`: the duckdb__ implementation, else default__ (as dbt-duckdb)."""

import jinja2


def dispatch(macro_name, macro_namespace=None):
    @jinja2.pass_context
    def _call(context, *args, **kwargs):
        for prefix in ("duckdb__", "default__"):
            macro = context.get(prefix + macro_name)
            if macro is not None:
                return macro(*args, **kwargs)
        raise KeyError(f"no duckdb__ or default__ implementation of {macro_name}")

    return _call
