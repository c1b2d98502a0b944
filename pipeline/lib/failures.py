"""A failed run in lines a person can act on: which step failed, and its root cause in one line.

Dagster wraps user errors ("Error occurred while executing op ..."), a dbt failure says "check the
compute logs", a gate failure says "1 blocking asset check failed". What people need is the
innermost error (file, row, column), the dbt node and its database error, or the gate's
expectation with the observed value against the limit. `run_failures` reads them from a run's
events; the `segments` CLI prints them as the last lines of a failed refresh.
"""

from __future__ import annotations

import re
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

#: Longest cause printed; the full text is in the run log.
MAX_CAUSE = 500
_ANSI = re.compile(r"\x1b\[[0-9;]*[A-Za-z]")
_DBT_ERRORS = "Errors parsed from dbt logs:"
_DBT_NODE = re.compile(r"\b(?:Error|Failure|Warning) in (?:model|test|seed|snapshot|unit_test) ")
#: dbt's own advice lines, noise once the node and the error are known.
_DBT_NOISE = re.compile(
    r"^\s*(?:compiled code at|See test failures:|select \* from|LINE \d+:|\^\s*$)", re.I
)
#: Wrappers whose message only says that something inside failed.
_WRAPPERS = {"DagsterExecutionStepExecutionError", "DagsterUserCodeExecutionError"}


@dataclass(frozen=True)
class Failure:
    """One thing that failed: where (a step, a gate, the run start) and why, one line each."""

    step: str
    cause: str
    #: `gate` (a blocking quality gate), `step` (an exception in a step) or `run`.
    kind: str


def one_line(text: str, limit: int = MAX_CAUSE) -> str:
    """`text` without colour codes, on one line, cut at `limit` characters."""
    flat = " ".join(_ANSI.sub("", text).split())
    return flat if len(flat) <= limit else flat[: limit - 3].rstrip() + "..."


def dbt_cause(message: str) -> str | None:
    """The failing dbt node and its error, from a dagster-dbt failure message (None if none).

    dagster-dbt appends the error lines of dbt's log after "Errors parsed from dbt logs:";
    the first one naming a model, test or seed is the cause, e.g. `Database Error in model
    customer_rfm (models/marts/customer_rfm.sql): Conversion Error: ...`.
    """
    if _DBT_ERRORS not in message:
        return None
    blocks = [
        block
        for block in re.split(r"\n\s*\n", _ANSI.sub("", message.split(_DBT_ERRORS, 1)[1]))
        if block.strip()
    ]
    described = []
    for block in blocks:
        lines = [line.strip() for line in block.splitlines() if line.strip()]
        if lines and _DBT_NODE.search(lines[0]):
            detail = [line for line in lines[1:] if not _DBT_NOISE.match(line)]
            described.append((lines[0], detail))
    # dbt logs "Failure in model X" and, as a separate message, "Runtime Error in model X" with
    # the database error: the first node with details is the cause.
    for header, detail in sorted(described, key=lambda item: not item[1]):
        return one_line(f"dbt {header}" + (": " + " ".join(detail) if detail else ""))
    return one_line(f"dbt: {blocks[0]}") if blocks else None


def root_cause(error: Any) -> str:
    """The innermost error of a Dagster `SerializableErrorInfo` chain, on one line.

    dbt failures are summarised by `dbt_cause`; other errors read `<Class>: <message>` with the
    module path dropped.
    """
    chain = []
    while error is not None:
        chain.append(error)
        error = error.cause or (error.context if error.cls_name in _WRAPPERS else None)
    for item in chain:
        cause = dbt_cause(item.message or "")
        if cause:
            return cause
    inner = next((e for e in reversed(chain) if e.cls_name not in _WRAPPERS), chain[-1])
    text = (inner.message or inner.cls_name or "failed").strip()
    # "pipeline.ingest.extract.MissingColumnError: ..." -> "MissingColumnError: ..."
    text = re.sub(r"^(?:[A-Za-z_][\w]*\.)+(?=[A-Za-z_]\w*(?:Error|Exception|Failure)?:)", "", text)
    return one_line(text)


def _gate_failures(data: Any) -> list[Failure]:
    """One `Failure` per blocking expectation of a failed ERROR check (the quality gates)."""
    asset = data.asset_key.to_user_string()
    step = f"gate {data.check_name} on {asset}"
    entry = data.metadata.get("blocking_failures")
    lines = list(entry.value) if entry is not None else []
    if not lines:
        # Checks that are not quality gates (dbt tests): their description says what failed.
        lines = [(data.description or "check failed").strip().splitlines()[0]]
    return [Failure(step, one_line(re.sub(r"^\[ERROR\]\s*", "", line)), "gate") for line in lines]


def run_failures(events: Iterable[Any]) -> list[Failure]:
    """What failed in a run, from its events: failed blocking gates, failed steps, run errors.

    A step that failed only because its blocking check failed is not repeated: the gate lines
    say more. Run-level errors (e.g. a resource that refused its configuration at run start)
    are reported only when no step or gate failed.
    """
    gates: list[Failure] = []
    steps: list[Failure] = []
    runs: list[Failure] = []
    for event in events:
        kind = event.event_type_value
        data = event.event_specific_data
        if kind == "ASSET_CHECK_EVALUATION" and data is not None and not data.passed:
            if data.severity.value == "ERROR":
                gates.extend(_gate_failures(data))
        elif kind == "STEP_FAILURE" and data is not None:
            error = data.error
            if error is not None and error.cls_name == "DagsterAssetCheckFailedError":
                continue
            steps.append(Failure(f"step {event.step_key}", root_cause(error), "step"))
        elif kind in ("RESOURCE_INIT_FAILURE", "PIPELINE_FAILURE", "RUN_FAILURE"):
            error = getattr(data, "error", None)
            if error is not None:
                where = "run start (resource check)" if kind == "RESOURCE_INIT_FAILURE" else "run"
                runs.append(Failure(where, root_cause(error), "run"))
    return gates + steps if gates or steps else runs[:1]


def skipped_steps(events: Iterable[Any]) -> list[str]:
    """Keys of the steps a run skipped, in the order it skipped them."""
    return [e.step_key for e in events if e.event_type_value == "STEP_SKIPPED"]


def incomplete_run(events: Iterable[Any], asset_layer: Any) -> list[Failure]:
    """What did not run in a run where nothing failed: empty when every step ran.

    Dagster skips a step whose input an earlier step did not produce, and still reports the run
    as a success (seen: a progress bar written into one of dbt's log lines made dagster-dbt miss
    `customer_rfm`, so history, publication and the report were skipped). The step that
    succeeded without an asset comes first, naming the assets it left out, then the skipped
    steps, in the order they were skipped.
    """
    events = list(events)
    skipped = skipped_steps(events)
    if not skipped:
        return []
    made = {e.asset_key for e in events if e.event_type_value == "ASSET_MATERIALIZATION"}
    lost: dict[str, list[str]] = {}
    for key in sorted(asset_layer.selected_asset_keys, key=lambda k: k.to_user_string()):
        step = str(asset_layer.get_op_output_handle(key).node_handle)
        if key not in made and step not in skipped:
            lost.setdefault(step, []).append(key.to_user_string())
    return [
        *(
            Failure(f"step {step}", f"succeeded without producing {', '.join(keys)}", "step")
            for step, keys in lost.items()
        ),
        Failure(
            f"{len(skipped)} skipped step(s)",
            f"{', '.join(skipped)}: an output they read was not produced",
            "step",
        ),
    ]
