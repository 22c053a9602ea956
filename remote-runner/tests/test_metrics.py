"""Reading metrics out of a training script's output."""

import unittest

from ratchet_harness.metrics import parse_line


class MetricParsingTest(unittest.TestCase):
    def test_name_colon_number_line_is_a_metric(self):
        self.assertEqual(parse_line("val_bpb:          0.997900"),
                         [("val_bpb", 0.9979, "0.997900")])

    def test_scientific_notation_and_equals_sign_are_accepted(self):
        self.assertEqual(parse_line("lr = 3e-4")[0][:2], ("lr", 3e-4))

    def test_prose_with_several_numbers_is_ignored(self):
        self.assertEqual(parse_line("step 10: loss 3.2 lr 1e-3"), [])
        self.assertEqual(parse_line("---"), [])

    def test_nan_value_is_reported_as_missing(self):
        self.assertEqual(parse_line("val_loss: nan"), [("val_loss", None, "nan")])

    def test_json_object_line_yields_its_numeric_fields_only(self):
        found = parse_line('{"step": 5, "loss": 2.5, "tag": "x", "ok": true}')
        self.assertEqual([(n, v) for n, v, _ in found], [("step", 5.0), ("loss", 2.5)])

    def test_malformed_json_is_ignored(self):
        self.assertEqual(parse_line("{not json}"), [])


if __name__ == "__main__":
    unittest.main()
