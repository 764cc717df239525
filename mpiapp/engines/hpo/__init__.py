"""The search engine (`hpo`, docs/hpo.md): an Optuna study owned by rank 0, trials evaluated by groups.

    space.py       search space from YAML -> Optuna suggestions
    contract.py    what an objective is: Objective, Score (its held-out part), ObjectiveError
    objectives.py  objective registry (scan, train, optbench, demo, MODULE:FUNCTION)
    evaluate.py    one trial on one group: TrialContext (map, report), the outcome, the trial's seed
    driver.py      the roles: rank 0 owns the study and evaluates, the other groups evaluate
    owner.py       rank 0's study loop, shared by the modes: async_owner.py, reproducible_owner.py
    study.py       sampler, pruner, resume repairs, what a journal is; journal.py: its backend
    output.py      results/hpo.h5 and the best-parameters YAML
    job.py         the job: output claim, groups, loop, files, exit codes
    report.py      tables and Optuna's matplotlib charts from results/hpo.h5

Optuna is imported only inside functions, so importing this package stays light.
"""
