"""Evaluation rounds of a learning cycle (SOOS: try, evaluate, improve in rounds).

A round is a named as-of date with its own frozen data, estimates and report:

* ``freeze.py``: the rule for what was known at the as-of date, the frozen copy of the
  published marts kept in schema ``rounds`` of the warehouse, and a warehouse-shaped view
  of one round for the analysis and the report;
* ``registry.py``: ``results.rounds`` (name, pilot, as-of, created_at, run_id, input and
  plan hash), immutability, the previous round of a pilot;
* ``create.py``: ``pilotmonitor round create``: freeze, run the pre-registered plan on the
  frozen data, keep the estimates in ``results.effect_estimates_history`` under the
  round's run id, register the round (one transaction), under the run lock;
* ``compare.py``: what changed since the previous round (estimates side by side, data
  added, plan changes), which the round's report shows.
"""
