"""Reads a Kafka topic from the beginning with an independent client (kafka-python) and
prints one JSON line per record: {"partition", "offset", "key", "value"}.

usage: read_topic.py BOOTSTRAP TOPIC
Stops after 5 s without a new record.
"""

import json
import sys

from kafka import KafkaConsumer


def main():
    bootstrap, topic = sys.argv[1:3]
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=5000,
    )
    for record in consumer:
        print(json.dumps({
            "partition": record.partition,
            "offset": record.offset,
            "key": record.key.decode() if record.key is not None else None,
            "value": record.value.decode(),
        }))


if __name__ == "__main__":
    main()
