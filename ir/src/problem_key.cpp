// Implemented in issue 2 by the IR work: see mf/ir/problem_key.h.
