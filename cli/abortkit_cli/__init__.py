"""abortkit-cli: the ``abortkit`` command (``demo``, ``probe``, ``chat``) and the baselines it measures.

A distribution of its own because it needs the providers (``abortkit-providers``) and the
mock server, while the library needs neither: the core ``abortkit`` never imports this
package. The benchmarks (``python -m benchmarks``) use two of its modules, so that the demo
and the benchmarks measure the same way:

* ``abortkit_cli.baselines``: the strategies abortkit is measured against (the seed's
  close-only pattern, a 100 ms polling worker, the bare shutdown floor) and the stopwatch
  ``measure_unwind``;
* ``abortkit_cli.trials``: one abort trial of a provider at a phase of the call.
"""

__all__: list[str] = []
