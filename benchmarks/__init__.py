"""Side-by-side benchmarks of this provider against an Amazon-provider-style baseline (``make bench``)."""
