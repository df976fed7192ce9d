"""examples/basic/producer.py sends one task per invoice, ordered per customer, at most once."""

from __future__ import annotations

import json

INVOICES = [
    {"id": 1, "customer": "acme", "amount_cents": 1200},
    {"id": 2, "customer": "globex", "amount_cents": 300},
    {"id": 3, "customer": "acme", "amount_cents": 4500},
]


def receive_all(aws, queue_url):
    """Every message on the queue, one receive per message group at a time (FIFO)."""
    messages = []
    while True:
        batch = aws("sqs").receive_message(
            QueueUrl=queue_url, MaxNumberOfMessages=10, MessageSystemAttributeNames=["All"], WaitTimeSeconds=0
        ).get("Messages", [])
        if not batch:
            return messages
        messages += batch
        aws("sqs").delete_message_batch(
            QueueUrl=queue_url, Entries=[{"Id": str(i), "ReceiptHandle": m["ReceiptHandle"]} for i, m in enumerate(batch)]
        )


def test_each_invoice_becomes_a_task_in_its_customers_group(load_example):
    producer = load_example("basic/producer.py")
    spec = producer.invoice_task(INVOICES[0])
    assert (spec.task_type, spec.group_id, spec.task_id) == ("send-invoice", "customer-acme", "invoice-1")
    assert spec.payload == {"invoice": 1, "customer": "acme", "amount_cents": 1200}


def test_main_sends_the_invoices_in_the_file_to_the_configured_queue(aws, make_team, load_example, tmp_path, capsys):
    config = make_team("billing")
    producer = load_example("basic/producer.py")
    path = tmp_path / "invoices.json"
    path.write_text(json.dumps(INVOICES))

    assert producer.main([str(path)]) == 0

    assert capsys.readouterr().out.strip() == "sent 3 invoice task(s) to billing.fifo"
    messages = receive_all(aws, config["queue_url"])
    sent = [(m["Attributes"]["MessageGroupId"], json.loads(m["Body"])["id"]) for m in messages]
    assert sorted(sent) == [("customer-acme", "invoice-1"), ("customer-acme", "invoice-3"), ("customer-globex", "invoice-2")]
    acme = [task_id for group, task_id in sent if group == "customer-acme"]
    assert acme == ["invoice-1", "invoice-3"]  # in order within the customer


def test_sending_the_same_invoices_again_queues_nothing_new(aws, make_team, load_example):
    config = make_team("billing")
    producer = load_example("basic/producer.py")
    from sqstask import TaskQueue

    queue = TaskQueue.from_env()
    assert producer.send_invoices(queue, INVOICES).ok
    assert producer.send_invoices(queue, INVOICES).ok

    assert len(receive_all(aws, config["queue_url"])) == 3


def test_main_without_a_file_prints_usage(load_example, capsys):
    producer = load_example("basic/producer.py")
    assert producer.main([]) == 2
    assert "usage: python producer.py INVOICES.json" in capsys.readouterr().err


def test_the_readme_command_sends_the_sample_invoices(aws, make_team, load_example, monkeypatch, capsys):
    """`python producer.py invoices.json`, run in this folder as the README says."""
    make_team("billing")
    producer = load_example("basic/producer.py")
    monkeypatch.chdir(producer.__file__.rsplit("/", 1)[0])
    assert producer.main(["invoices.json"]) == 0
    assert capsys.readouterr().out.strip() == "sent 3 invoice task(s) to billing.fifo"
