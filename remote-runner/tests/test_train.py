"""`train` mode end to end: a real shell command under the harness, every line checked against
the schema."""

import os
import signal
import subprocess
import sys
import tempfile
import time
import unittest

from tests.helpers import harness_cmd, harness_env, of_type, parse_events, pid_alive, run_harness


def _audit(events, check):
    found = [e for e in of_type(events, "audit") if e["check"] == check]
    if len(found) != 1:
        raise AssertionError("expected one %s audit, got %r" % (check, of_type(events, "audit")))
    return found[0]


def _read_int(path):
    with open(path) as handle:
        return int(handle.read())


class TrainModeTest(unittest.TestCase):
    def setUp(self):
        self.tmp = tempfile.TemporaryDirectory()
        self.dir = self.tmp.name

    def tearDown(self):
        self.tmp.cleanup()

    def write(self, name, text):
        path = os.path.join(self.dir, name)
        with open(path, "w") as handle:
            handle.write(text)
        return path

    def train(self, command, *extra, budget="30", timeout=60):
        return run_harness("train", "--experiment-id", "exp-t", "--budget-seconds", budget,
                           "--cwd", self.dir, *extra, "--", command, timeout=timeout,
                           experiment_id="exp-t")

    def test_summary_block_metrics_are_reported_and_run_ends_ok(self):
        self.write("train.py", "print('---')\nprint('val_bpb:   0.9979')\n"
                               "print('peak_vram_mb: 1024.5')\n")
        proc, events = self.train("%s train.py" % sys.executable)
        self.assertEqual(proc.returncode, 0)
        self.assertEqual(events[0]["type"], "start")
        metrics = {e["name"]: e["value"] for e in of_type(events, "metric")}
        self.assertEqual(metrics, {"val_bpb": 0.9979, "peak_vram_mb": 1024.5})
        end = events[-1]
        self.assertEqual((end["type"], end["reason"], end["exit_code"]), ("end", "ok", 0))
        self.assertEqual(len(of_type(events, "resource")), 1)

    def test_raw_output_of_both_streams_is_kept_as_log_events(self):
        _, events = self.train("echo out; echo err >&2")
        logs = {(e["stream"], e["text"]) for e in of_type(events, "log")}
        self.assertIn(("stdout", "out"), logs)
        self.assertIn(("stderr", "err"), logs)

    def test_failing_command_ends_failed_with_its_exit_status(self):
        _, events = self.train("exit 3")
        self.assertEqual((events[-1]["reason"], events[-1]["exit_code"]), ("failed", 3))

    def test_non_utf8_output_is_decoded_with_replacement_characters(self):
        _, events = self.train("printf 'caf\\351 ok\\n'")
        texts = [e["text"] for e in of_type(events, "log")]
        self.assertIn("caf\ufffd ok", texts)

    def test_log_cap_drops_lines_but_still_reads_the_final_metric(self):
        _, events = self.train("seq 1 5000; echo 'val_bpb: 1.25'", "--max-log-bytes", "1000")
        logs = of_type(events, "log")
        self.assertLess(sum(len(e["text"]) for e in logs), 1500)
        self.assertTrue(any(e["stream"] == "harness" for e in logs))
        self.assertEqual([e["value"] for e in of_type(events, "metric")
                          if e["name"] == "val_bpb"], [1.25])
        self.assertGreater(of_type(events, "resource")[0]["dropped_log_lines"], 0)

    def test_overlong_line_is_split_and_not_parsed_as_a_metric(self):
        _, events = self.train("%s -c \"print('x: 1' + ' ' * 40000)\"" % sys.executable)
        self.assertTrue(any(e.get("partial") for e in of_type(events, "log")))
        self.assertEqual(of_type(events, "metric"), [])

    def test_over_budget_run_is_stopped_with_its_whole_process_group(self):
        pidfile = os.path.join(self.dir, "grandchild.pid")
        command = "sleep 60 & echo $! > %s; sleep 60" % pidfile
        started = time.monotonic()
        _, events = self.train(command, "--kill-grace-seconds", "1", budget="1.5")
        self.assertLess(time.monotonic() - started, 20)
        self.assertEqual(events[-1]["reason"], "timeout")
        grandchild = _read_int(pidfile)
        time.sleep(0.2)
        self.assertFalse(pid_alive(grandchild), "background child outlived the budget")

    def test_child_ignoring_sigterm_is_killed_after_the_grace_period(self):
        _, events = self.train("trap '' TERM; sleep 60", "--kill-grace-seconds", "0.5",
                               budget="1")
        self.assertEqual(events[-1]["reason"], "timeout")
        self.assertIn("SIGKILL", events[-1]["message"])

    def test_background_process_left_by_a_finished_run_is_stopped(self):
        pidfile = os.path.join(self.dir, "left.pid")
        _, events = self.train("sleep 60 > /dev/null 2>&1 & echo $! > %s" % pidfile)
        self.assertEqual(events[-1]["reason"], "ok")
        time.sleep(0.2)
        self.assertFalse(pid_alive(_read_int(pidfile)))

    def test_sigterm_to_harness_cancels_run_and_still_reports_end(self):
        pidfile = os.path.join(self.dir, "child.pid")
        proc = subprocess.Popen(
            harness_cmd("train", "--experiment-id", "exp-c", "--budget-seconds", "60",
                        "--cwd", self.dir, "--kill-grace-seconds", "1", "--",
                        "echo started; sleep 60 & echo $! > %s; wait" % pidfile),
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, env=harness_env())
        deadline = time.monotonic() + 20
        while not os.path.exists(pidfile) and time.monotonic() < deadline:
            time.sleep(0.05)
        time.sleep(0.2)
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=30)
        events = parse_events(out, "exp-c")
        self.assertEqual(events[-1]["type"], "end", err)
        self.assertEqual(events[-1]["reason"], "cancelled")
        self.assertFalse(pid_alive(_read_int(pidfile)))

    def test_protected_file_edited_by_the_run_fails_the_audit(self):
        self.write("prepare.py", "EVAL_TOKENS = 100\n")
        _, events = self.train("echo 'EVAL_TOKENS = 1' > prepare.py", "--protect", "prepare.py")
        audit = _audit(events, "protected_files")
        self.assertEqual(audit["verdict"], "fail")
        self.assertEqual(audit["evidence"]["changed"], ["prepare.py"])

    def test_protected_folder_untouched_passes_and_new_file_inside_fails(self):
        os.mkdir(os.path.join(self.dir, "data"))
        self.write("data/val.bin", "abc")
        _, events = self.train("true", "--protect", "data")
        self.assertEqual(_audit(events, "protected_files")["verdict"], "pass")
        _, events = self.train("echo x > data/extra.bin", "--protect", "data")
        audit = _audit(events, "protected_files")
        self.assertEqual(audit["verdict"], "fail")
        self.assertEqual(audit["evidence"]["added"], [os.path.join("data", "extra.bin")])

    def test_protected_file_missing_at_start_is_a_warning(self):
        _, events = self.train("true", "--protect", "nope.py")
        self.assertEqual(_audit(events, "protected_files")["verdict"], "warn")

    def test_seed_and_experiment_id_reach_the_command_environment(self):
        _, events = self.train('echo "seed: $RATCHET_SEED"; echo "id=$RATCHET_EXPERIMENT_ID"',
                               "--seed", "42")
        self.assertEqual([e["value"] for e in of_type(events, "metric")], [42.0])
        self.assertIn("id=exp-t", [e["text"] for e in of_type(events, "log")])
        self.assertEqual(events[0]["seed"], 42)

    def test_train_without_a_command_is_refused(self):
        proc = subprocess.run(harness_cmd("train", "--experiment-id", "x", "--budget-seconds",
                                          "1"), capture_output=True, text=True,
                              env=harness_env(), timeout=30)
        self.assertEqual(proc.returncode, 2)
        self.assertEqual(proc.stdout, "")


if __name__ == "__main__":
    unittest.main()
