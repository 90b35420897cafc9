"""Hidden tests: the public checks bound to the reference. Instructor-side only; never released."""


def with_extra_cases(public, extra):
    """(cases, evaluate, run) for an assignment whose hidden tests are the public checks on the
    public cases plus `extra` ones (no reference implementation: assignments 1 and 2)."""
    def cases(check_id):
        return tuple(public.CASES[check_id]) + extra[check_id]

    def evaluate(check_id, namespace):
        return public.evaluate(check_id, namespace, cases=cases(check_id))

    def run(check_id, namespace):
        public.run(check_id, namespace, cases=cases(check_id), hidden=True)

    return cases, evaluate, run
