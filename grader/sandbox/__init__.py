"""Clean-room grading: student code runs in confined processes that only answer the grader's
questions; every comparison, numerical derivative and accuracy is computed by the grader."""
