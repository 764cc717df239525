"""A two-value user objective for the hpo tests (NSGA-II): minimise distance, maximise spread."""

SPACE = {"x": {"type": "float", "low": 0.0, "high": 1.0}, "y": {"type": "float", "low": 0.0, "high": 1.0}}
DIRECTIONS = ("minimize", "maximize")


def pair(params, ctx):
    return (params["x"] ** 2 + params["y"] ** 2, params["x"] + 0.5 * params["y"])
