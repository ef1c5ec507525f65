"""AutoML on a table with numbers, categories, dates and missing values: the best model in 30 seconds.

    python examples/automl_churn.py            # 30 s; python examples/automl_churn.py 2m for two minutes

The same from the command line, on a CSV file:

    autotune automl churn.csv --target churn --time 30s --test churn_test.csv
    autotune predict churn-churn new_rows.csv -o predictions.csv

Running it again continues the study (``churn`` in ``automl.db``) with the time given.
"""

import sys

import numpy as np
import pandas as pd

import autotune as at


def churn_table(n: int, seed: int = 0) -> pd.DataFrame:
    """Customers: age, income (15% missing), city, membership, sign-up date; whether they left (the target)."""
    rng = np.random.default_rng(seed)
    frame = pd.DataFrame({
        "customer_id": [f"c{seed}-{i}" for i in range(n)],  # an identifier: dropped, with a note
        "age": rng.integers(18, 80, n).astype(float),
        "income": rng.lognormal(10, 0.8, n),
        "city": rng.choice(["paris", "lyon", "nice", "lille", None], n),
        "member": rng.choice([True, False], n),
        "since": pd.Timestamp("2020-01-01") + pd.to_timedelta(rng.integers(0, 1500, n), unit="D"),
    })
    frame.loc[rng.random(n) < 0.15, "income"] = np.nan
    months = (pd.Timestamp("2024-06-01") - frame["since"]).dt.days / 30
    score = ((frame["age"] - 45) / 15 + (frame["city"] == "paris") * 1.2 - frame["member"] * 0.8
             + np.log(frame["income"].fillna(22000)) - 10 - months / 20 + rng.normal(0, 1, n))
    frame["churn"] = np.where(score > -0.5, "yes", "no")
    return frame


if __name__ == "__main__":  # (worker processes import this file: parallelism > 1 needs the guard)
    budget = sys.argv[1] if len(sys.argv) > 1 else "30s"
    train, test = churn_table(2000, seed=0), churn_table(500, seed=1)
    model = at.AutoML(time_budget=budget, storage="sqlite:///automl.db", name="churn", ensemble=True)
    model.fit(train.drop(columns="churn"), train["churn"])
    print(model.leaderboard.to_string(index=False))
    print(f"final model: {model.best_estimator_.describe()} (validation {model.metric_} {model.best_score_:.4f}, "
          f"{model.validation_}); fit in {model.elapsed_:.1f} s")
    print(f"test accuracy: {model.score(test.drop(columns='churn'), test['churn']):.4f}")
    for note in model.notes_:
        print("note:", note)
