"""Assignment 3's hidden tests: each public check id, run against the reference layers."""
from source_layers import layers as reference

from grader.nncheck import a3 as public


def evaluate(check_id, namespace):
    return public.evaluate(check_id, namespace, reference=reference)


def run(check_id, namespace):
    public.run(check_id, namespace, reference=reference, hidden=True)
