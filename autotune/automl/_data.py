"""Tables as they come: reading CSV or Parquet, checking the target, telling the task, and ``TablePrep``, the first
step of every saved pipeline, which turns raw rows into a numeric matrix the models share.

``TablePrep`` keeps numeric columns (missing values as NaN), turns categorical ones (pandas category, object,
string, bool) into integer codes by frequency (NaN where missing; the rarest levels of a high-cardinality column
share one code), expands date and time columns into parts, and drops constant columns and identifiers (every value
different) with a note saying so. Its fitted state is plain lists, numbers and strings, so that the saved pipeline
loads without unpickling.

>>> import pandas as pd
>>> X = pd.DataFrame({"n": [1.0, None, 3.0, 4.0], "c": ["a", "b", "a", None], "k": [7, 7, 7, 7]})
>>> prep = TablePrep().fit(X)
>>> prep.feature_names_, prep.notes_
(['n', 'c'], ["dropped column 'k': it holds one value (7) in every row"])
>>> prep.transform(X).tolist()
[[1.0, 0.0], [nan, 1.0], [3.0, 0.0], [4.0, nan]]
"""

from __future__ import annotations

import hashlib
import os
from typing import Any

import numpy as np

from autotune.errors import AutotuneError

MAX_LEVELS = 254  # codes 0..253 for the most frequent levels, 254 for the rest: within the 255 bins of HGB
ID_MIN_ROWS = 20  # an all-distinct column is read as an identifier from this many rows on
_DATE_PARTS = ("year", "month", "day", "day_of_week", "hour", "minute")


class DataError(AutotuneError, ValueError):
    """A table, a target or new rows that cannot be used as given."""


# -- reading -----------------------------------------------------------------------------------------------------
def read_table(path: str, what: str = "DATA"):
    """A pandas DataFrame from a CSV or Parquet file; DataError (one message) for anything else."""
    import pandas as pd

    if not os.path.exists(path):
        raise DataError(f"{what} {path!r} does not exist; give the path of a CSV or Parquet file.")
    if os.path.isdir(path):
        raise DataError(f"{what} {path!r} is a folder; give the path of a CSV or Parquet file.")
    with open(path, "rb") as fh:
        head = fh.read(4)
    try:
        if head == b"PAR1" or path.lower().endswith((".parquet", ".pq")):
            frame = pd.read_parquet(path)
        else:
            frame = pd.read_csv(path, low_memory=False)
            if frame.shape[1] == 1:  # a semicolon- or tab-separated file read as one column
                for sep in (";", "\t"):
                    if sep in str(frame.columns[0]):
                        frame = pd.read_csv(path, sep=sep, low_memory=False)
                        break
    except ImportError as exc:
        raise DataError(f"reading {what} {path!r} as Parquet needs pyarrow: pip install pyarrow ({exc}).") from None
    except Exception as exc:  # noqa: BLE001 - pandas raises many kinds for a file that is not a table
        reason = str(exc).splitlines()[0] if str(exc) else type(exc).__name__
        if isinstance(exc, UnicodeDecodeError):
            reason = "it is not text (a binary file that is not Parquet either)"
        raise DataError(f"{what} {path!r} is not a table autotune can read (a CSV file with a header row, or a "
                        f"Parquet file): {reason}.") from None
    if frame.shape[0] == 0 or frame.shape[1] == 0:
        raise DataError(f"{what} {path!r} holds no rows: a CSV file needs a header row and at least one row of "
                        "values.")
    if len(set(map(str, frame.columns))) != frame.shape[1]:
        dup = sorted({str(c) for c in frame.columns if list(map(str, frame.columns)).count(str(c)) > 1})
        raise DataError(f"{what} {path!r} has duplicate column names {dup}; rename them.")
    frame.columns = [str(c) for c in frame.columns]
    return frame


def as_frame(X, columns: list[str] | None = None):
    """A DataFrame from a DataFrame, an array or a list of rows (columns x0, x1, ... when it has no names)."""
    import pandas as pd

    if isinstance(X, pd.DataFrame):
        frame = X.copy()
        frame.columns = [str(c) for c in frame.columns]
        if len(set(frame.columns)) != frame.shape[1]:
            raise DataError("X has duplicate column names; rename them.")
        return frame
    if isinstance(X, pd.Series):
        raise DataError("X must be 2-dimensional (a DataFrame or an array of rows), but got a Series; use "
                        "X.to_frame() for one column.")
    arr = np.asarray(X)
    if arr.ndim != 2:
        raise ValueError(f"Expected 2D array, got {arr.ndim}D array instead. Reshape your data either using "
                         "array.reshape(-1, 1) if your data has a single feature or array.reshape(1, -1) if it "
                         "contains a single sample.")
    names = columns if columns is not None and len(columns) == arr.shape[1] else [f"x{i}" for i in
                                                                                    range(arr.shape[1])]
    return pd.DataFrame(arr, columns=names)


# -- the target and the task ----------------------------------------------------------------------------------------
def split_target(frame, target: str):
    """``(X, y)``: the target column taken out. DataError when it is missing or holds no values."""
    if target not in frame.columns:
        shown = ", ".join(repr(c) for c in list(frame.columns)[:30]) + (", ..." if frame.shape[1] > 30 else "")
        raise DataError(f"the table has no column {target!r}; its columns are: {shown}. Give one of them with "
                        "--target.")
    y = frame[target]
    X = frame.drop(columns=[target])
    if X.shape[1] == 0:
        raise DataError(f"the table holds only the target column {target!r}; it needs at least one column to "
                        "predict it from.")
    return X, y


def detect_task(y, task: str = "auto") -> str:
    """``binary``, ``multiclass`` or ``regression``: from ``task`` (``classification`` picks by the number of
    classes), or read from the target's values: text, categories and booleans are classes, numbers with a
    fractional part or many distinct values are a quantity, a few distinct integers are classes."""
    import pandas as pd

    y = pd.Series(y)
    known = y.dropna()
    if task == "regression":
        if not pd.api.types.is_numeric_dtype(known) or pd.api.types.is_bool_dtype(known):
            bad = next((v for v in known if _not_number(v)), None)
            if bad is not None or not len(known):
                raise DataError(f"task regression needs a numeric target, but it holds {bad!r}; use --task "
                                "classification (or auto), or fix the target column.")
        return "regression"
    n_classes = known.nunique()
    if task in ("binary", "multiclass", "classification"):
        if pd.api.types.is_float_dtype(known) and not np.all(known == np.round(known)):
            sample = next(v for v in known if v != round(v))
            raise DataError(f"Unknown label type: continuous. Task {task} needs class labels, but the target holds "
                            f"real numbers such as {sample!r}; use --task regression (or auto).")
        if task == "binary" and n_classes > 2:
            raise DataError(f"task binary needs a target with two classes, but it has {n_classes}; use --task "
                            "multiclass (or auto).")
        if task == "classification":
            return "binary" if n_classes <= 2 else "multiclass"
        return task
    if not pd.api.types.is_numeric_dtype(known) or pd.api.types.is_bool_dtype(known):
        return "binary" if n_classes <= 2 else "multiclass"
    values = known.to_numpy(dtype=np.float64)
    integral = bool(np.all(np.isfinite(values)) and np.all(values == np.round(values)))
    if integral and (n_classes <= 2 or n_classes <= min(20, max(3, len(values) // 20))):
        return "binary" if n_classes <= 2 else "multiclass"
    return "regression"


def _not_number(v) -> bool:
    try:
        float(v)
        return isinstance(v, bool)
    except (TypeError, ValueError):
        return True


def check_target(y, task: str, target: str = "the target") -> None:
    """Refuse a target with no values, or with one class for a classification task."""
    import pandas as pd

    y = pd.Series(y)
    known = y.dropna()
    if not len(known):
        raise DataError(f"{target} holds no values (every row is missing); give a column with values to predict.")
    if task != "regression" and known.nunique() < 2:
        raise DataError(f"{target} holds one class only ({known.iloc[0]!r} in all {len(known)} rows with a value); "
                        "a classifier needs at least two classes.")
    if task == "regression":
        values = pd.to_numeric(known, errors="coerce")
        if not np.all(np.isfinite(values.to_numpy(dtype=np.float64))):
            raise DataError(f"{target} holds values that are not finite numbers (e.g. "
                            f"{known[~np.isfinite(values.to_numpy(dtype=np.float64))].iloc[0]!r}); a regression "
                            "target must be numbers.")
        if values.nunique() < 2:
            raise DataError(f"{target} holds one value only ({values.iloc[0]!r}); there is nothing to predict.")


def encode_labels(y, task: str) -> tuple[np.ndarray, list[Any]]:
    """``(codes, classes)`` for classification (classes sorted, codes indexing them); ``(values, [])`` for
    regression. Rows with a missing target must be dropped before."""
    import pandas as pd

    if task == "regression":
        return pd.to_numeric(pd.Series(y)).to_numpy(dtype=np.float64), []
    values = np.asarray(pd.Series(y).to_numpy())
    try:
        classes, codes = np.unique(values, return_inverse=True)
    except TypeError:  # mixed types (e.g. 1 and "a"): sorted by their text
        text = np.array([str(v) for v in values], dtype=object)
        classes_text, codes = np.unique(text, return_inverse=True)
        first = {t: v for t, v in zip(text, values, strict=True)}
        classes = np.array([first[t] for t in classes_text], dtype=object)
    return codes.astype(np.int64), [_plain(c) for c in classes]


def _plain(v: Any) -> Any:
    """A numpy scalar as the Python value (so that the saved pipeline holds plain types)."""
    return v.item() if isinstance(v, np.generic) else v


# -- preparing the columns -------------------------------------------------------------------------------------------
class TablePrep:
    """Raw rows -> a float matrix: numbers as they are, categories as codes, dates as parts; see the module doc.

    After ``fit``: ``columns_`` (the input columns it reads, in order), ``feature_names_`` (the output columns),
    ``categorical_`` (for each output column the number of its codes, 0 for a numeric one), ``notes_`` (what it
    dropped or changed, and why) and ``kinds_`` (each input column's kind: numeric, categorical, datetime or
    dropped).
    """

    def fit(self, X) -> TablePrep:
        import pandas as pd

        X = as_frame(X)
        n = len(X)
        self.columns_: list[str] = list(X.columns)
        self.kinds_: dict[str, str] = {}
        self.levels_: dict[str, list[str]] = {}
        self.other_: dict[str, bool] = {}
        self.parts_: dict[str, list[str]] = {}
        self.notes_: list[str] = []
        self.feature_names_: list[str] = []
        self.categorical_: list[int] = []
        for col in self.columns_:
            s = X[col]
            known = s.dropna()
            if pd.api.types.is_bool_dtype(s) or (s.dtype == object and len(known) and known.map(type).eq(bool).all()):
                kind = "categorical"
            elif pd.api.types.is_numeric_dtype(s):
                kind = "numeric"
            elif pd.api.types.is_datetime64_any_dtype(s):
                kind = "datetime"
            elif isinstance(s.dtype, pd.CategoricalDtype):
                kind = "categorical"
            else:
                kind = "datetime" if _looks_like_dates(known) else "categorical"
            if not len(known):
                self._drop(col, "every value is missing")
                continue
            if kind == "numeric":
                values = pd.to_numeric(s, errors="coerce").to_numpy(dtype=np.float64)
                finite = values[np.isfinite(values)]
                if len(finite) and np.all(finite == finite[0]) and len(finite) == n:
                    self._drop(col, f"it holds one value ({_short(known.iloc[0])}) in every row")
                    continue
                if n >= ID_MIN_ROWS and len(finite) == n and np.all(finite == np.round(finite)):
                    distinct = np.unique(finite)
                    if len(distinct) == n and distinct[-1] - distinct[0] == n - 1:
                        self._drop(col, f"its values are the distinct integers {_short(distinct[0])} to "
                                        f"{_short(distinct[-1])}, one per row (a row number or an identifier)")
                        continue
                self.kinds_[col] = "numeric"
                self.feature_names_.append(col)
                self.categorical_.append(0)
            elif kind == "datetime":
                stamps = _to_datetime(s)
                parts = []
                for part in _DATE_PARTS:
                    values = getattr(stamps.dt, part).to_numpy(dtype=np.float64, na_value=np.nan)
                    finite = values[np.isfinite(values)]
                    if len(finite) and not np.all(finite == finite[0]):
                        parts.append(part)
                if not parts and stamps.notna().all():
                    self._drop(col, f"it holds one date ({_short(known.iloc[0])}) in every row")
                    continue
                parts.append("epoch")  # the time itself, as days since 1970: trends
                self.kinds_[col] = "datetime"
                self.parts_[col] = parts
                self.feature_names_.extend(f"{col}.{p}" for p in parts)
                self.categorical_.extend([0] * len(parts))
                self.notes_.append(f"column {col!r} read as dates and times: used as {', '.join(parts)}")
            else:
                text = _as_text(s)[s.notna().to_numpy()]
                counts = pd.Series(text).value_counts(sort=True)
                if len(counts) == 1 and len(known) == n:
                    self._drop(col, f"it holds one value ({_short(known.iloc[0])}) in every row")
                    continue
                if len(known) >= ID_MIN_ROWS and len(counts) == len(known):
                    self._drop(col, f"every one of its {len(known)} values is different (an identifier or free "
                                    "text)")
                    continue
                levels = [str(v) for v in counts.index[:MAX_LEVELS]]
                self.other_[col] = len(counts) > MAX_LEVELS
                if self.other_[col]:
                    self.notes_.append(f"column {col!r} has {len(counts)} distinct values: the {MAX_LEVELS} most "
                                       "frequent kept, the others grouped as one")
                self.kinds_[col] = "categorical"
                self.levels_[col] = levels
                self.feature_names_.append(col)
                self.categorical_.append(len(levels) + self.other_[col])
        if not self.feature_names_:
            raise DataError("no column is left to learn from: " + "; ".join(self.notes_) + ".")
        self.n_features_out_ = len(self.feature_names_)
        return self

    def _drop(self, col: str, why: str) -> None:
        self.kinds_[col] = "dropped"
        self.notes_.append(f"dropped column {col!r}: {why}")

    def check_columns(self, X, what: str = "the new rows") -> None:
        """Refuse rows that lack a column the pipeline reads."""
        missing = [c for c in self.columns_ if c not in X.columns]
        if missing:
            raise DataError(f"{what} lack the column(s) {', '.join(repr(c) for c in missing)} that the model was "
                            f"trained with; the training columns are: {', '.join(repr(c) for c in self.columns_)}.")

    def transform(self, X) -> np.ndarray:
        import pandas as pd

        X = as_frame(X, self.columns_ if not hasattr(X, "columns") else None)
        self.check_columns(X)
        out = np.empty((len(X), self.n_features_out_), dtype=np.float64)
        j = 0
        for col in self.columns_:
            kind = self.kinds_[col]
            if kind == "dropped":
                continue
            s = X[col]
            if kind == "numeric":
                if pd.api.types.is_numeric_dtype(s) and not pd.api.types.is_bool_dtype(s):
                    out[:, j] = s.to_numpy(dtype=np.float64, na_value=np.nan)
                else:
                    values = pd.to_numeric(s, errors="coerce")
                    bad = s.notna() & values.isna()
                    if bad.any():
                        raise DataError(f"column {col!r} was numeric in the training data, but holds "
                                        f"{s[bad].iloc[0]!r} here; give numbers (or leave the cell empty).")
                    out[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
                j += 1
            elif kind == "datetime":
                stamps = _to_datetime(s)
                bad = s.notna() & stamps.isna()
                if bad.any():
                    raise DataError(f"column {col!r} held dates in the training data, but holds "
                                    f"{s[bad].iloc[0]!r} here; give dates (or leave the cell empty).")
                for part in self.parts_[col]:
                    if part == "epoch":
                        values = (stamps - pd.Timestamp("1970-01-01")).dt.total_seconds() / 86400.0
                        out[:, j] = values.to_numpy(dtype=np.float64, na_value=np.nan)
                    else:
                        out[:, j] = getattr(stamps.dt, part).to_numpy(dtype=np.float64, na_value=np.nan)
                    j += 1
            else:
                levels = self.levels_[col]
                codes = pd.Index(levels).get_indexer(_as_text(s)).astype(np.float64)
                unknown = codes < 0
                codes[unknown] = len(levels) if self.other_[col] else np.nan
                codes[s.isna().to_numpy()] = np.nan
                out[:, j] = codes
                j += 1
        return out

    def fit_transform(self, X) -> np.ndarray:
        return self.fit(X).transform(X)


def _as_text(s) -> np.ndarray:
    """A column's values as text (a category's or a boolean's too), the form levels are kept in."""
    return s.astype(object).astype(str).to_numpy(dtype=object)


def _short(v: Any) -> str:
    text = repr(_plain(v))
    return text if len(text) <= 30 else text[:27] + "..."


def _looks_like_dates(known) -> bool:
    """Whether a text column holds dates: most of a sample parse as dates, and they are not plain numbers."""
    import warnings

    import pandas as pd

    sample = known.astype(str).head(200)
    if not len(sample) or pd.to_numeric(sample, errors="coerce").notna().mean() > 0.5:
        return False
    if sample.str.len().max() > 40 or not sample.str.contains(r"\d", regex=True).all():
        return False
    with warnings.catch_warnings():
        warnings.simplefilter("ignore")
        parsed = pd.to_datetime(sample, errors="coerce", format="mixed")
    return bool(parsed.notna().mean() >= 0.95)


def _to_datetime(s):
    import warnings

    import pandas as pd

    if pd.api.types.is_datetime64_any_dtype(s):
        stamps = s
    else:
        with warnings.catch_warnings():
            warnings.simplefilter("ignore")
            stamps = pd.to_datetime(s.astype(object).where(s.notna(), None), errors="coerce", format="mixed")
    if getattr(stamps.dt, "tz", None) is not None:
        stamps = stamps.dt.tz_convert("UTC").dt.tz_localize(None)
    return stamps


def fingerprint(X, y) -> str:
    """A short hash of a table and its target: a study continues only on the data it was started on."""
    import pandas as pd

    h = hashlib.sha256()
    frame = as_frame(X)
    h.update(repr(list(frame.columns)).encode())
    h.update(pd.util.hash_pandas_object(frame, index=False).to_numpy().tobytes())
    h.update(pd.util.hash_pandas_object(pd.Series(np.asarray(y, dtype=object).astype(str)), index=False)
             .to_numpy().tobytes())
    return h.hexdigest()[:16]
