"""Run by ``coldstart.py`` in a fresh interpreter (as ``python -c``): time one cold start.

argv: VARIANT EVENT_JSON. Prints one JSON line: seconds for ``import boto3``, for the
library imports a handler module makes, and for the first invocation (create the DynamoDB
client, build the handler, handle one record against canned DynamoDB answers), plus the
canned calls made and the number of modules loaded. Only the standard library and what
``import boto3`` loads are used outside the timed sections.
"""

import sys
import time

t0 = time.perf_counter()
import boto3  # noqa: E402

t1 = time.perf_counter()
VARIANT = sys.argv[1]
if VARIANT == "sqstask":
    import sqstask  # noqa: F401
    from sqstask import Task, batch_handler  # noqa: F401
elif VARIANT == "powertools":
    from aws_lambda_powertools.utilities.batch import SqsFifoPartialProcessor, process_partial_response
    from aws_lambda_powertools.utilities.idempotency import (
        DynamoDBPersistenceLayer,
        IdempotencyConfig,
        idempotent_function,
    )
t2 = time.perf_counter()

import json  # noqa: E402  (already loaded by boto3)

from botocore.awsrequest import AWSResponse  # noqa: E402  (already loaded by boto3)

EVENT = json.loads(sys.argv[2])
CALLS = {}


class _Body:
    def __init__(self, data):
        self._data = data

    def stream(self, **_):
        yield self._data


def _answer(request, event_name, **_):
    operation = event_name.rsplit(".", 1)[-1]
    CALLS[operation] = CALLS.get(operation, 0) + 1
    body = json.loads(request.body or b"{}")
    answer = {}
    if operation == "UpdateItem" and body.get("ReturnValues", "NONE") != "NONE":
        answer = {"Attributes": {**body["Key"], "status": {"S": "IN_PROGRESS"}, "attempt": {"N": "1"}}}
    data = json.dumps(answer).encode()
    return AWSResponse(request.url, 200, {"Content-Type": "application/x-amz-json-1.0"}, _Body(data))


class Context:
    function_name = "bench-handler"
    memory_limit_in_mb = 1024
    invoked_function_arn = "arn:aws:lambda:us-east-1:123456789012:function:bench-handler"
    aws_request_id = "00000000-0000-0000-0000-000000000000"

    def get_remaining_time_in_millis(self):
        return 600_000


def render(payload):
    return {"rendered": payload["n"]}


t3 = time.perf_counter()
result = None
if VARIANT != "boto3":
    client = boto3.client("dynamodb", region_name="us-east-1")
    client.meta.events.register("before-send", _answer)
    if VARIANT == "sqstask":
        queue = sqstask.TaskQueue(
            queue_url="https://sqs.us-east-1.amazonaws.com/123456789012/bench.fifo",
            idempotency_table="bench-tasks",
            dynamodb_client=client,
        )

        @batch_handler(queue)
        def handle(task):
            return render(task.payload)

        result = handle(EVENT, Context())
    else:
        persistence = DynamoDBPersistenceLayer(table_name="bench-idempotency", boto3_client=client)
        config = IdempotencyConfig(event_key_jmespath="powertools_json(body).id")
        processor = SqsFifoPartialProcessor()

        @idempotent_function(data_keyword_argument="record", persistence_store=persistence, config=config)
        def record_handler(record):
            return render(json.loads(record["body"])["payload"])

        def handler(event, context):
            config.register_lambda_context(context)
            return process_partial_response(event=event, record_handler=record_handler, processor=processor,
                                            context=context)

        result = handler(EVENT, Context())
t4 = time.perf_counter()

print(json.dumps({
    "variant": VARIANT,
    "import_boto3": t1 - t0,
    "import_library": t2 - t1,
    "first_invocation": t4 - t3,
    "calls": CALLS,
    "failures": len((result or {}).get("batchItemFailures", [])),
    "modules": len(sys.modules),
}))
