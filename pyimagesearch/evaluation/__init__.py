"""Evaluation: rank-k accuracy and per-class figures (`metrics`), text reports (`reports`),
every figure (`figures`), a history's reader (`history`), its diagnosis (`diagnosis`) and
the four questions (`questions`), the learning-rate range test's reading (`lr_range`),
flip test-time augmentation (`tta`), and the HTML pages (`html`): a run's report
(`run_report`) and the comparison of runs (`comparison`)."""
