"""The EvoAttention layouts the functional APIs (mfjit.functional, mfjit.jax) accept: one table,
free of torch and jax so that both import it."""

# layout -> (rank of q, whether the keys are the second axis, rank of the bias's own layout,
#            rank of the mask's own layout)
LAYOUTS = {
    "canonical": (5, False, 5, 5),
    "single": (4, False, 4, 2),
    "triangle_start": (5, False, 4, 3),
    "triangle_end": (5, True, 4, 3),
    "msa_row": (5, False, 4, 3),
    "msa_column": (5, True, None, 3),
}
