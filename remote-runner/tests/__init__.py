"""Tests of the harness; run from the repo root:
python3 -m unittest discover -s remote-runner/tests -t remote-runner"""
