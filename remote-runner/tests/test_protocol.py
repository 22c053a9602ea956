"""The event writer and the schema both sides of the protocol validate against."""

import io
import json
import math
import unittest

from ratchet_harness import PROTOCOL_VERSION, schema
from ratchet_harness.protocol import Emitter


class ProtocolTest(unittest.TestCase):
    def setUp(self):
        self.schema = schema.load()

    def emit_one(self, type_, **fields):
        out = io.StringIO()
        Emitter("exp-1", stream=out).emit(type_, **fields)
        return json.loads(out.getvalue())

    def test_every_event_carries_version_type_experiment_id_and_sequence(self):
        out = io.StringIO()
        emitter = Emitter("exp-7", stream=out)
        emitter.log("stdout", "hello")
        emitter.end("ok", exit_code=0, wall_seconds=1.0)
        lines = [json.loads(line) for line in out.getvalue().splitlines()]
        self.assertEqual([line["seq"] for line in lines], [0, 1])
        for line in lines:
            self.assertEqual(line["protocol"], PROTOCOL_VERSION)
            self.assertEqual(line["experiment_id"], "exp-7")
            schema.validate_event(line, self.schema)

    def test_non_finite_numbers_become_null_so_every_line_is_strict_json(self):
        event = self.emit_one("metric", name="loss", value=math.nan, source="output")
        self.assertIsNone(event["value"])
        schema.validate_event(event, self.schema)

    def test_schema_rejects_event_without_experiment_id(self):
        event = self.emit_one("log", stream="stdout", text="x")
        del event["experiment_id"]
        self.assertTrue(schema.errors(event, self.schema))

    def test_schema_rejects_unknown_end_reason(self):
        event = self.emit_one("end", reason="ok", exit_code=0, signal=None, wall_seconds=1.0)
        event["reason"] = "crashed"
        self.assertTrue(schema.errors(event, self.schema))

    def test_schema_rejects_unknown_event_type(self):
        event = self.emit_one("log", stream="stdout", text="x")
        event["type"] = "chatter"
        self.assertTrue(schema.errors(event, self.schema))

    def test_schema_rejects_timing_without_round_medians(self):
        event = self.emit_one("timing", shape="s", role="candidate", median_ms=1.0,
                              rounds_ms=[1.0], iterations=10)
        schema.validate_event(event, self.schema)
        del event["rounds_ms"]
        self.assertTrue(schema.errors(event, self.schema))

    def test_emitter_refuses_unknown_types_and_verdicts(self):
        emitter = Emitter("e", stream=io.StringIO())
        with self.assertRaises(ValueError):
            emitter.emit("chatter")
        with self.assertRaises(ValueError):
            emitter.audit("x", "maybe", "m")

    def test_validator_refuses_schema_keywords_outside_its_subset(self):
        with self.assertRaises(ValueError):
            schema.errors({}, {"patternProperties": {}})


if __name__ == "__main__":
    unittest.main()
