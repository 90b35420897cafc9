"""The one source of the course's student-completed code.

Each module is the instructor's reference, with the parts students write fenced by nbgrader's
``### BEGIN SOLUTION`` / ``### END SOLUTION`` markers. The fences are comments, so the module
imports as the reference; ``grader.stubs`` turns it into the student's stub at release.
"""
