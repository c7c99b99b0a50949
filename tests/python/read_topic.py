"""Reads a Kafka topic from the beginning with an independent client (kafka-python) and
prints one JSON line per record: {"partition", "offset", "key", "value"}.

usage: read_topic.py BOOTSTRAP TOPIC [IDLE_MS]
Stops after IDLE_MS (default 5000) without a new record.
"""

import json
import sys

from kafka import KafkaConsumer


def main():
    bootstrap, topic = sys.argv[1:3]
    idle_ms = int(sys.argv[3]) if len(sys.argv) > 3 else 5000
    consumer = KafkaConsumer(
        topic,
        bootstrap_servers=bootstrap,
        auto_offset_reset="earliest",
        enable_auto_commit=False,
        consumer_timeout_ms=idle_ms,
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
