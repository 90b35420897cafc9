"""Hidden tests: the public checks bound to the reference. Instructor-side only; never released."""
