"""What every method shares: the block loops that run a compiled step over byte-bounded pieces
(``blocks``), parameter checks (``checks``), random draws (``sampling``), baselines, backgrounds,
masks, segmentations, black-box scoring and input gradients. Private: methods import these, users
reach methods through the registry."""
