"""One budget, end to end (`harness run`): plan -> search in rungs of epochs -> ranking over seeds ->
the winner trained over seeds -> the test split once -> model folder, ONNX, run.html.

    plan     BudgetPlan, plan_budget, parse_budget: the budget's shares and the stages' fitting
    probe    epoch_seconds: one epoch of a typical network of the space, measured before the plan
    state    RunState (state.json) and BudgetClock: the seconds spent, across interruptions
    run      run_budget, BudgetConfig, BudgetResult: the stages
    outputs  the test split once, the kept model and ONNX, fidelity.csv
    page     run.html
"""
