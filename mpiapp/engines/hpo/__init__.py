"""The search engine (DESIGN §6, `hpo`): an Optuna study owned by rank 0, trials evaluated by groups.

    space.py       search space from YAML -> Optuna suggestions
    objectives.py  objective registry (scan, train, optbench, demo, MODULE:FUNCTION)
    evaluate.py    one trial on one group: TrialContext (map, report), the outcome
    driver.py      the study loop: rank 0 asks/tells and evaluates; async and reproducible modes
    study.py       journal storage, sampler, pruner, resume repairs
    output.py      results/hpo.h5 and the best-parameters YAML
    job.py         the job: output claim, groups, loop, files, exit codes
    report.py      tables and Optuna's matplotlib charts from results/hpo.h5

Optuna is imported only inside functions, so importing this package stays light.
"""
