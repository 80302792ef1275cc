"""Runs Step Functions definitions in moto's ASL interpreter (moto 5.2.x, `execute_state_machine`).

Reads one JSON document on stdin and writes one on stdout, so a jest test can run every case of a
construct in one Python process:

    {"cases": [{"name": "...", "definition": "<ASL JSON text>", "input": "<execution input text>",
                "mocks": {"<state name>": [{"Return": <any>} | {"Throw": {"Error": "...", "Cause": "..."}}, ...]}}]}

The interpreter evaluates everything a real execution evaluates (InputPath, Parameters with their
JSONPaths and intrinsic functions, Choice rules, ResultSelector/ResultPath/OutputPath, Retry,
Catch, Map, Parallel, Fail, and JSONata expressions); only the service call of each Task state in
`mocks` is replaced, with the mocked-response semantics of AWS Step Functions Local: the n-th
attempt of a state (0 = first, then one per retry) gets the n-th response. A Task without a mock
is never called: the case fails with an error saying so.

Retry waits are recorded (`retryWaits`) instead of slept, so a run takes milliseconds. JSONata
expressions are evaluated with `jsonata-python` (a port of the jsonata-java engine that moto's
upstream, LocalStack, runs in a JVM); moto itself ships that hook empty.

Output per case: status, error, cause, output, `entered` (state names in the order they were
entered, nested states included), `taskInputs` (state name -> list of the parameters each attempt
sent to the service, after Parameters/Arguments evaluation), `retryWaits`, `events` (history types).
"""
from __future__ import annotations

import json
import sys
from typing import Any

import boto3
from moto import mock_aws
from moto.stepfunctions.parser.asl.component.common.error_name.error_equals_decl import ErrorEqualsDecl
from moto.stepfunctions.parser.api import HistoryEventType, TaskFailedEventDetails
from moto.stepfunctions.parser.asl.component.common.error_name.failure_event import FailureEvent, FailureEventException
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name import StatesErrorName
from moto.stepfunctions.parser.asl.component.common.error_name.states_error_name_type import StatesErrorNameType
from moto.stepfunctions.parser.asl.component.common.retry import retrier_decl
from moto.stepfunctions.parser.asl.component.common.catch.catch_outcome import CatchOutcome
from moto.stepfunctions.parser.asl.component.common.retry.retry_outcome import RetryOutcome
from moto.stepfunctions.parser.asl.component.state.exec.execute_state import ExecutionState
from moto.stepfunctions.parser.asl.component.state.exec.state_task import mock_eval_utils
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.resource import ResourceCondition
from moto.stepfunctions.parser.asl.component.state.exec.state_task.service.state_task_service_unsupported import (
    StateTaskServiceUnsupported,
)
from moto.stepfunctions.parser.asl.eval.event.event_detail import EventDetails
from moto.stepfunctions.parser.asl.utils.json_path import NoSuchJsonPathError
from moto.stepfunctions.parser.asl.jsonata import jsonata as moto_jsonata
from moto.stepfunctions.parser.backend import execution as moto_execution
from moto.stepfunctions.parser.backend.execution_worker import ExecutionWorker
from moto.stepfunctions.parser.models import stepfunctions_parser_backends
from moto.stepfunctions.parser.utils import TMP_THREADS
from moto.stepfunctions.parser.mocking.mock_config import (
    MockedResponseReturn,
    MockedResponseThrow,
    MockTestCase,
    StateMockedResponses,
)

ROLE_ARN = "arn:aws:iam::123456789012:role/workflow"
_MOCKS: dict[str, MockTestCase] = {}
_RETRY_WAITS: list[float] = []


class _RecordingClock:
    """Stands in for `time` in the retrier: records each wait instead of sleeping."""

    @staticmethod
    def sleep(seconds: float) -> None:
        _RETRY_WAITS.append(seconds)


retrier_decl.time = _RecordingClock  # type: ignore[assignment]


# AWS's rule, which moto 5.2.1 does not apply: "States.ALL ... cannot catch States.DataLimitExceeded
# terminal errors or Runtime error types" and "A States.Runtime error isn't retriable, and will always
# cause the execution to fail" (Step Functions developer guide, "Handling errors in Step Functions
# workflows"). moto turns a JSONPath missing from a Lambda task's payload into a catchable
# "Exception", and lets States.ALL catch States.Runtime; here both end the execution as on AWS.
_TERMINAL = {StatesErrorNameType.StatesRuntime, StatesErrorNameType.StatesStatesDataLimitExceeded}


def _is_terminal(error_name: Any) -> bool:
    return isinstance(error_name, StatesErrorName) and error_name.typ in _TERMINAL


def _error_equals(self: ErrorEqualsDecl, env: Any) -> None:
    error_name = env.stack[-1]
    if _is_terminal(error_name):
        env.stack.pop()
        env.stack.append(False)
        return
    _original_error_equals(self, env)


_original_error_equals = ErrorEqualsDecl._eval_body
ErrorEqualsDecl._eval_body = _error_equals  # type: ignore[method-assign]


def _eval_state(self: ExecutionState, env: Any) -> None:
    """moto's ExecutionState._eval_state with AWS's terminal errors left uncaught and unretried."""
    env.states.context_object.context_object_data["State"]["RetryCount"] = 0
    while env.is_running():
        try:
            self._evaluate_with_timeout(env)
            break
        except Exception as ex:
            if isinstance(ex, NoSuchJsonPathError):
                failure_event = ExecutionState._from_error(self, env, ex)  # States.Runtime, as AWS names it
            else:
                failure_event = self._from_error(env=env, ex=ex)
            env.event_manager.add_event(
                context=env.event_history_context,
                event_type=failure_event.event_type,
                event_details=failure_event.event_details,
            )
            error_output = self._construct_error_output_value(failure_event=failure_event)
            env.states.set_error_output(error_output)
            env.states.set_result(error_output)
            if _is_terminal(failure_event.error_name):
                raise FailureEventException(failure_event=failure_event)
            if self.retry:
                if self._handle_retry(env=env, failure_event=failure_event) == RetryOutcome.CanRetry:
                    continue
            if self.catch:
                self._handle_catch(env=env, failure_event=failure_event)
                if env.stack[-1] == CatchOutcome.Caught:
                    break
            self._handle_uncaught(env=env, failure_event=failure_event)


ExecutionState._eval_state = _eval_state  # type: ignore[method-assign]


def _mocked_throw(env: Any, mocked_response: MockedResponseThrow) -> None:
    """A stubbed error; a `States.*` name (e.g. a Glue job run that FAILED: `States.TaskFailed`) is the built-in error."""
    if not mocked_response.error.startswith("States."):
        return _original_mocked_throw(env, mocked_response)
    error_name = StatesErrorName(typ=StatesErrorNameType.from_name(mocked_response.error))
    raise FailureEventException(failure_event=FailureEvent(
        env=env,
        error_name=error_name,
        event_type=HistoryEventType.TaskFailed,
        event_details=EventDetails(taskFailedEventDetails=TaskFailedEventDetails(error=mocked_response.error, cause=mocked_response.cause)),
    ))


_original_mocked_throw = mock_eval_utils._eval_mocked_response_throw
mock_eval_utils._eval_mocked_response_throw = _mocked_throw


def _assert_pattern(self: StateTaskServiceUnsupported) -> None:
    # moto lists Athena among the services whose optimised integrations it does not run, and its
    # check refuses `athena:startQueryExecution.sync` before the mocked response is looked up. A
    # mocked .sync response is the finished job's result (as in Step Functions Local); an unmocked
    # Athena .sync task still fails (moto has no resolver for it).
    if self.resource.condition == ResourceCondition.Sync:
        return
    _original_assert_pattern(self)


_original_assert_pattern = StateTaskServiceUnsupported._assert_integration_pattern_is_supported
StateTaskServiceUnsupported._assert_integration_pattern_is_supported = _assert_pattern  # type: ignore[method-assign]


def _jsonata(expression: str) -> Any:
    import jsonata  # jsonata-python

    return jsonata.Jsonata(expression).evaluate(None)


moto_jsonata._eval_jsonata = _jsonata  # moto leaves the JSONata engine hook empty


def _start_worker(self: moto_execution.Execution) -> ExecutionWorker:
    worker = _original_start_worker(self)
    worker._mock_test_case = _MOCKS.get(self.name)
    make_env = worker._get_evaluation_environment

    def environment() -> Any:
        env = make_env()
        # AWS's context object holds the start time as an ISO-8601 string (moto keeps a datetime,
        # which States.JsonToString cannot serialise).
        execution = env.states.context_object.context_object_data["Execution"]
        start = execution["StartTime"]
        if not isinstance(start, str):
            execution["StartTime"] = start.strftime("%Y-%m-%dT%H:%M:%S.") + f"{start.microsecond // 1000:03d}Z"
        return env

    worker._get_evaluation_environment = environment
    return worker


_original_start_worker = moto_execution.Execution._get_start_execution_worker
moto_execution.Execution._get_start_execution_worker = _start_worker  # type: ignore[method-assign]


def _mock_case(name: str, mocks: dict[str, list[dict[str, Any]]]) -> MockTestCase:
    states = []
    for state_name, responses in mocks.items():
        built = []
        for i, response in enumerate(responses):
            if "Throw" in response:
                built.append(MockedResponseThrow(i, i, response["Throw"]["Error"], response["Throw"].get("Cause", "")))
            else:
                built.append(MockedResponseReturn(i, i, response["Return"]))
        states.append(StateMockedResponses(state_name, f"{name}:{state_name}", built))
    return MockTestCase(state_machine_name=name, test_case_name=name, state_mocked_responses_list=states)


def _summarise(backend: Any, arn: str, retry_waits: list[float]) -> dict[str, Any]:
    # Read from the backend's objects: the same records DescribeExecution and GetExecutionHistory
    # serialise, without moto's response serialiser (most of a run's time otherwise).
    execution = backend.describe_execution(execution_arn=arn)
    described = json.loads(json.dumps(execution.to_describe_output(), default=str))
    events = json.loads(json.dumps(execution.to_history_output()["events"], default=str))
    entered: list[str] = []
    task_inputs: dict[str, list[Any]] = {}
    current: dict[int, str] = {}
    for event in events:
        details = event.get("stateEnteredEventDetails")
        if details:
            entered.append(details["name"])
            current[event["id"]] = details["name"]
        # The task belongs to the state entered most recently on its own path (previousEventId chain).
        scheduled = event.get("taskScheduledEventDetails")
        if scheduled:
            task_inputs.setdefault(_state_of(event, events, current), []).append(json.loads(scheduled["parameters"]))
        invoked = event.get("lambdaFunctionScheduledEventDetails")
        if invoked:
            task_inputs.setdefault(_state_of(event, events, current), []).append(json.loads(invoked["input"]))
    return {
        "status": described["status"],
        "error": described.get("error"),
        "cause": described.get("cause"),
        "output": json.loads(described["output"]) if described.get("output") else None,
        "entered": entered,
        "taskInputs": task_inputs,
        "retryWaits": retry_waits,
        "events": [e["type"] for e in events],
    }


def _state_of(event: dict[str, Any], events: list[dict[str, Any]], entered_by_id: dict[int, str]) -> str:
    by_id = {e["id"]: e for e in events}
    previous = event.get("previousEventId")
    while previous:
        if previous in entered_by_id:
            return entered_by_id[previous]
        previous = by_id[previous].get("previousEventId")
    return "?"


def run(cases: list[dict[str, Any]], timeout_seconds: float = 30.0) -> list[dict[str, Any]]:
    results = []
    machines: dict[str, str] = {}  # definition -> state machine ARN (parsing a definition is the slow part)
    with mock_aws(config={"stepfunctions": {"execute_state_machine": True}}):
        client = boto3.client("stepfunctions", region_name="us-east-1")
        backend = stepfunctions_parser_backends["123456789012"]["us-east-1"]
        for i, case in enumerate(cases):
            exec_name = f"case-{i}"
            _MOCKS[exec_name] = _mock_case(exec_name, case.get("mocks", {}))
            _RETRY_WAITS.clear()
            try:
                if case["definition"] not in machines:
                    machines[case["definition"]] = client.create_state_machine(
                        name=f"sm-{len(machines)}", definition=case["definition"], roleArn=ROLE_ARN,
                    )["stateMachineArn"]
                machine = machines[case["definition"]]
            except Exception as ex:  # an invalid definition is a result too
                results.append({"name": case["name"], "status": "INVALID_DEFINITION", "error": type(ex).__name__, "cause": str(ex)})
                continue
            started = len(TMP_THREADS)
            arn = client.start_execution(stateMachineArn=machine, name=exec_name, input=case["input"])["executionArn"]
            TMP_THREADS[started].join(timeout_seconds)  # the execution's own thread (not polling: that starves it)
            result = _summarise(backend, arn, list(_RETRY_WAITS))
            result["name"] = case["name"]
            results.append(result)
            # moto 5.2.1 deep-copies the state machine (and, through its backend, every machine with its
            # finished executions, whose locks cannot be copied) at each start: forget finished executions.
            for state_machine in backend.state_machines:
                state_machine.executions.clear()
    return results


def main() -> None:
    request = json.load(sys.stdin)
    json.dump({"results": run(request["cases"], request.get("timeoutSeconds", 30.0))}, sys.stdout, default=str)


if __name__ == "__main__":
    main()
