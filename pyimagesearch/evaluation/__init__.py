"""Evaluation: rank-k accuracy (`metrics`), text reports (`reports`), every figure
(`figures`), a history's reader (`history`) and diagnosis (`diagnosis`), and the
learning-rate range test's reading (`lr_range`)."""
