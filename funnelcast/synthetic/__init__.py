"""Synthetic CRM data with a known ground truth, for tests, the demo and benchmarks.

`generate` is vectorised (numpy, no per-row Python loops) and reproducible: the same arguments
give byte-identical files. The true probabilities it used go to `ground_truth/`, which the loader
and the features never read.
"""

from funnelcast.synthetic.generator import SyntheticCRM, generate, write_dataset

__all__ = ["SyntheticCRM", "generate", "write_dataset"]
