"""The benchmarks behind ``tailorcast bench …``: each one's code beside its dated results.

``render``, ``campaign``, ``imports``, ``analytics``, ``voice`` and ``pageweight`` each measure the
product against the baseline they name; ``harness`` holds what they share (the quiet environment,
the local stack, machine facts, the JSON result, the full re-encode baseline) and ``listener`` is
an independent pocketsphinx ear for the voice bench and tests. Results are in ``results/``.

Imports: anything (chalicelib, devstack, tailorcast_cli). A benchmark imports the harness, never
another benchmark; nothing outside benchmarks and tests imports this package.
"""
