"""Ordering the tasks of one DAG so every task runs after the tasks it depends on."""

from typing import Any

from taxifare.trigger.local_runner.errors import InvalidPipeline


def upstream_tasks(task: dict[str, Any]) -> set[str]:
    """The tasks a task waits for: its explicit dependencies and the producers of its inputs."""
    upstream = set(task.get("dependentTasks", []))
    inputs = task.get("inputs", {})
    for spec in [*inputs.get("parameters", {}).values(), *inputs.get("artifacts", {}).values()]:
        for key in ("taskOutputParameter", "taskOutputArtifact"):
            if key in spec:
                upstream.add(spec[key]["producerTask"])
    return upstream


def execution_order(tasks: dict[str, dict[str, Any]]) -> list[str]:
    """Task names in an order that respects dependencies; ties broken by name, so runs repeat exactly."""
    waiting = {name: upstream_tasks(task) for name, task in tasks.items()}
    for name, upstream in waiting.items():
        unknown = upstream - tasks.keys()
        if unknown:
            raise InvalidPipeline(f"task {name!r} depends on unknown task(s) {sorted(unknown)}")
    order: list[str] = []
    done: set[str] = set()
    while waiting:
        ready = sorted(name for name, upstream in waiting.items() if upstream <= done)
        if not ready:
            raise InvalidPipeline(f"dependency cycle among tasks {sorted(waiting)}")
        for name in ready:
            order.append(name)
            done.add(name)
            del waiting[name]
    return order
