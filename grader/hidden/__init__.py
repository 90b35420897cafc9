"""Hidden tests: the public checks bound to the reference. Instructor-side only; never released."""


def with_extra_cases(public, extra, reference=None):
    """(cases, evaluate, run) for an assignment whose hidden tests are the public checks on the
    public cases plus `extra` ones (and, for assignment 3, next to the `reference`)."""
    def cases(check_id):
        if check_id not in public.CASES and check_id not in extra:
            return None
        return tuple(public.CASES.get(check_id, ())) + tuple(extra.get(check_id, ()))

    def evaluate(check_id, namespace):
        return public.evaluate(check_id, namespace, reference=reference, cases=cases(check_id),
                               cases_for=cases)

    def run(check_id, namespace):
        public.run(check_id, namespace, reference=reference, cases=cases(check_id), hidden=True,
                   cases_for=cases)

    return cases, evaluate, run
