"""scikit-learn estimators on risklake's learners.

They follow scikit-learn's rules (parameters only stored by ``__init__``, ``fit`` returns
``self``, fitted attributes end in ``_``), so they clone, pickle, and work in
``Pipeline``, ``GridSearchCV`` and ``cross_val_score``. They take pandas, polars,
pyarrow and numpy inputs; Arrow data reaches the learners without a copy. Parameters left
at ``None`` keep the library's defaults (the same the CLI uses). Inside
``risklake.track(...)`` every fit is recorded as a run of the project store.
"""

import json
import warnings
from typing import Any, Dict, List, Optional, Sequence, Union

import numpy as np
import pyarrow as pa
from sklearn.base import BaseEstimator, ClassifierMixin, RegressorMixin, TransformerMixin
from sklearn.utils.multiclass import check_classification_targets
from sklearn.utils.validation import check_is_fitted

from . import _data, _native, tracking

LABEL = "__risklake_label__"
WEIGHT = "__risklake_weight__"

__all__ = [
    "GBDTClassifier",
    "GBDTRegressor",
    "RandomForestClassifier",
    "LogisticRegression",
    "Binner",
    "WoETransformer",
    "Scorecard",
]


def _is_frame(X: Any) -> bool:
    module = type(X).__module__ or ""
    return (
        isinstance(X, (pa.Table, pa.RecordBatch))
        or module.startswith("pandas")
        or module.startswith("polars")
        or (hasattr(X, "__arrow_c_stream__") and not isinstance(X, np.ndarray))
    )


def _numeric_array(X: Any) -> np.ndarray:
    """A 2-D float array from array-like input, NaN kept (missing), other values checked."""
    from sklearn.utils.validation import check_array

    return check_array(X, dtype=np.float64, ensure_all_finite="allow-nan", ensure_min_samples=1, accept_sparse=False)


class _Frames:
    """Input handling shared by every estimator: feature names, counts and Arrow tables."""

    def _features(self, X: Any, *, reset: bool) -> pa.Table:
        if _is_frame(X):
            table = _data.to_table(X)
            names = [str(n) for n in table.column_names]
            if table.num_rows == 0:
                raise ValueError(f"Found array with 0 sample(s) (shape=(0, {len(names)})) while a minimum of 1 is required.")
            if reset:
                self.feature_names_in_ = np.asarray(names, dtype=object)
                self.n_features_in_ = len(names)
            else:
                known = getattr(self, "feature_names_in_", None)
                if known is None:
                    warnings.warn(
                        f"X has feature names, but {type(self).__name__} was fitted without feature names",
                        UserWarning,
                    )
                    self._check_width(len(names))
                    table = pa.table({n: table.column(i) for i, n in enumerate(self._names())})
                else:
                    missing = [n for n in known if n not in names]
                    if missing:
                        raise ValueError(f"X lacks the feature(s) the model was fitted with: {', '.join(missing)}")
                    table = table.select(list(known))
            return table
        array = _numeric_array(X)
        if reset:
            if hasattr(self, "feature_names_in_"):
                del self.feature_names_in_
            self.n_features_in_ = array.shape[1]
        else:
            if getattr(self, "feature_names_in_", None) is not None:
                warnings.warn(
                    f"X does not have valid feature names, but {type(self).__name__} was fitted with feature names",
                    UserWarning,
                )
            self._check_width(array.shape[1])
        return _data.to_table(array, names=self._names())

    _label = LABEL

    def _name_label(self, y: Any, table: Optional[pa.Table] = None) -> None:
        """Names the label column after y (a pandas / polars Series' name, else ``y``),
        as it shows in summaries and runs, unless a feature has that name."""
        name = getattr(y, "name", None)
        name = name if isinstance(name, str) and name else "y"
        taken = set(table.column_names) if table is not None else set(self._names())
        self._label = name if name not in taken and name != WEIGHT else LABEL

    def _check_width(self, width: int) -> None:
        if width != self.n_features_in_:
            raise ValueError(
                f"X has {width} features, but {type(self).__name__} is expecting {self.n_features_in_} features as input."
            )

    def _names(self) -> List[str]:
        known = getattr(self, "feature_names_in_", None)
        if known is not None:
            return [str(n) for n in known]
        return [f"x{i}" for i in range(self.n_features_in_)]

    def _with_columns(self, table: pa.Table, y: Optional[np.ndarray], weight: Optional[Any]) -> pa.Table:
        if y is not None:
            if len(y) != table.num_rows:
                raise ValueError(f"X has {table.num_rows} rows but y has {len(y)}")
            table = table.append_column(self._label, pa.array(np.asarray(y, dtype=np.float64)))
        if weight is not None:
            w = np.asarray(weight, dtype=np.float64).reshape(-1)
            if len(w) != table.num_rows:
                raise ValueError(f"sample_weight has {len(w)} values for {table.num_rows} rows")
            if not np.all(np.isfinite(w)) or np.any(w < 0):
                raise ValueError("sample_weight: every weight must be finite and >= 0")
            if not np.any(w > 0):
                raise ValueError("sample_weight: every weight is zero; nothing to fit")
            if y is not None and hasattr(self, "classes_") and len(np.unique(np.asarray(y)[w > 0])) < 2:
                raise ValueError("the rows with weight > 0 hold one class only: a classifier needs both")
            table = table.append_column(WEIGHT, pa.array(w))
        return table

    # Pickling: the native model travels as its JSON.
    def __getstate__(self) -> Dict[str, Any]:
        state = dict(self.__dict__)
        for key in ("_model", "_plan"):
            native = state.get(key)
            if native is not None:
                state[key] = ("json", native.to_json())
        return state

    def __setstate__(self, state: Dict[str, Any]) -> None:
        for key, cls in (("_model", _native.Model), ("_plan", _native.BinningPlan)):
            value = state.get(key)
            if isinstance(value, tuple) and value and value[0] == "json":
                state[key] = cls.from_json(value[1])
        self.__dict__.update(state)


def _params_of(estimator: BaseEstimator, names: Sequence[str], extra: Optional[Dict[str, Any]]) -> str:
    params: Dict[str, Any] = {}
    for name in names:
        value = getattr(estimator, name)
        if value is None:
            continue
        if isinstance(value, (list, tuple, dict)):
            value = _list_param(name, value)
        params[name] = value
    for k, v in (extra or {}).items():
        params[k] = _list_param(k, v) if isinstance(v, (list, tuple, dict)) else v
    return json.dumps(params)


def _list_param(name: str, value: Any) -> str:
    if isinstance(value, dict):
        return ",".join(f"{k}:{v}" for k, v in value.items())
    return ",".join(str(v) for v in value)


def _target(estimator: Any, y: Any) -> np.ndarray:
    """y as a 1-D array, checked as scikit-learn checks it (None, 2-D columns, NaN)."""
    from sklearn.utils.validation import check_array, column_or_1d

    if y is None:
        raise ValueError(f"{type(estimator).__name__} requires y to be passed, but the target y is None")
    y = column_or_1d(y, warn=True)
    if y.dtype.kind in "fc":
        check_array(y, ensure_2d=False, dtype=None, ensure_all_finite=True, input_name="y")
    return y


def _binary_labels(estimator: Any, y: Any) -> np.ndarray:
    y = _target(estimator, y)
    check_classification_targets(y)
    classes = np.unique(y)
    if len(classes) > 2:
        raise ValueError(
            f"{type(estimator).__name__} is a binary classifier (good / bad); y has {len(classes)} classes: "
            f"{list(classes)[:10]}"
        )
    if len(classes) < 2:
        raise ValueError(f"y has one class only ({classes[0]!r}): a classifier needs both")
    estimator.classes_ = classes
    return (y == classes[1]).astype(np.float64)


class _TreeModel(_Frames, BaseEstimator):
    _learner = "gbdt"
    _param_names: Sequence[str] = ()

    def _fit(self, X: Any, y: Any, encode: Any, sample_weight: Any, eval_set: Any, extra: Dict[str, Any]) -> "Any":
        # X is checked before y, as scikit-learn's own estimators do.
        features = self._features(X, reset=True)
        self._name_label(y, features)
        table = self._with_columns(features, encode(self, y), sample_weight)
        valid: List[pa.RecordBatch] = []
        if eval_set:
            if len(eval_set) != 1:
                raise ValueError("eval_set takes one (X, y) pair: the rows early stopping watches")
            Xv, yv = eval_set[0]
            yv = self._encode_eval(yv)
            valid = _data.batches(self._with_columns(self._features(Xv, reset=False), yv, None))
        self._model = _native.fit_trees(
            self._learner,
            _data.batches(table),
            valid,
            self._label,
            WEIGHT if sample_weight is not None else None,
            _params_of(self, self._param_names, {**(self.params or {}), **extra}),
            tracking.active_workspace(),
            tracking.dataset_name(X),
            tracking.progress(),
        )
        tracking.note_fit(self._model.run)
        return self

    def _encode_eval(self, y: Any) -> np.ndarray:
        return np.asarray(y, dtype=np.float64)

    def _raw(self, X: Any, raw: bool) -> np.ndarray:
        check_is_fitted(self, "_model")
        table = self._features(X, reset=False)
        return _data.numpy_of(self._model.predict(_data.batches(table), raw))

    @property
    def feature_importances_(self) -> np.ndarray:
        """Splits per feature (LightGBM's ``importance_type="split"``), in input order."""
        check_is_fitted(self, "_model")
        by_name = {name: splits for name, splits, _gain in self._model.importance()}
        return np.asarray([by_name.get(n, 0) for n in self._names()], dtype=np.float64)

    @property
    def feature_gains_(self) -> np.ndarray:
        """Total split gain per feature, in input order."""
        check_is_fitted(self, "_model")
        by_name = {name: gain for name, _splits, gain in self._model.importance()}
        return np.asarray([by_name.get(n, 0.0) for n in self._names()], dtype=np.float64)

    @property
    def run_(self) -> Optional[int]:
        """The run that recorded the fit (inside ``risklake.track``), else None."""
        check_is_fitted(self, "_model")
        return self._model.run

    def shap_values(self, X: Any) -> np.ndarray:
        """SHAP values (TreeSHAP) of the raw score: rows x features; the expected value
        (the same for every row) is ``expected_value_`` after the call."""
        check_is_fitted(self, "_model")
        table = self._features(X, reset=False)
        flat, width = self._model.shap(_data.batches(table))
        values = _data.numpy_of(flat).reshape(-1, width)
        self.expected_value_ = float(values[0, -1]) if len(values) else 0.0
        # The model's inputs are its own feature order; return them in the input's.
        order = self._model.input_columns
        pos = {n: i for i, n in enumerate(order)}
        cols = [pos[n] for n in self._names() if n in pos]
        return values[:, cols]

    @property
    def booster_(self) -> Any:
        """The native model (``to_json()`` gives what ``risklake model export`` reads)."""
        check_is_fitted(self, "_model")
        return self._model

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        return tags


_GBDT_PARAMS = (
    "n_estimators",
    "learning_rate",
    "num_leaves",
    "max_depth",
    "min_child_samples",
    "min_child_weight",
    "subsample",
    "subsample_freq",
    "colsample_bytree",
    "reg_alpha",
    "reg_lambda",
    "min_split_gain",
    "max_bin",
    "categorical_feature",
    "monotone_constraints",
    "early_stopping_rounds",
    "metric",
    "boosting_type",
    "random_state",
    "n_jobs",
)


class GBDTClassifier(ClassifierMixin, _TreeModel):
    """Gradient-boosted trees for a binary target (good / bad), LightGBM's parameters.

    Parameters left ``None`` keep risklake's defaults (LightGBM's). ``categorical_feature``
    names integer columns to treat as categories (text and boolean columns always are);
    ``monotone_constraints`` is ``{"feature": 1 | -1}``; with ``eval_set=[(X, y)]`` in
    ``fit``, ``early_stopping_rounds`` stops when the validation metric (``metric``: auc,
    ks or binary_logloss) has not improved for that many rounds. ``params`` passes any
    other LightGBM-named parameter.
    """

    _learner = "gbdt"
    _param_names = _GBDT_PARAMS

    def __init__(
        self,
        n_estimators: Optional[int] = None,
        learning_rate: Optional[float] = None,
        num_leaves: Optional[int] = None,
        max_depth: Optional[int] = None,
        min_child_samples: Optional[int] = None,
        min_child_weight: Optional[float] = None,
        subsample: Optional[float] = None,
        subsample_freq: Optional[int] = None,
        colsample_bytree: Optional[float] = None,
        reg_alpha: Optional[float] = None,
        reg_lambda: Optional[float] = None,
        min_split_gain: Optional[float] = None,
        max_bin: Optional[int] = None,
        categorical_feature: Optional[List[str]] = None,
        monotone_constraints: Optional[Dict[str, int]] = None,
        early_stopping_rounds: Optional[int] = None,
        metric: Optional[str] = None,
        boosting_type: Optional[str] = None,
        random_state: Optional[int] = None,
        n_jobs: Optional[int] = None,
        params: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.learning_rate = learning_rate
        self.num_leaves = num_leaves
        self.max_depth = max_depth
        self.min_child_samples = min_child_samples
        self.min_child_weight = min_child_weight
        self.subsample = subsample
        self.subsample_freq = subsample_freq
        self.colsample_bytree = colsample_bytree
        self.reg_alpha = reg_alpha
        self.reg_lambda = reg_lambda
        self.min_split_gain = min_split_gain
        self.max_bin = max_bin
        self.categorical_feature = categorical_feature
        self.monotone_constraints = monotone_constraints
        self.early_stopping_rounds = early_stopping_rounds
        self.metric = metric
        self.boosting_type = boosting_type
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.params = params

    def fit(self, X: Any, y: Any, sample_weight: Any = None, eval_set: Any = None) -> "GBDTClassifier":
        """Fits on X (frame or array) and binary labels y (any two values; the larger is bad)."""
        return self._fit(X, y, _binary_labels, sample_weight, eval_set, {"objective": "binary"})

    def _encode_eval(self, y: Any) -> np.ndarray:
        return (np.asarray(y) == self.classes_[1]).astype(np.float64)

    def predict_proba(self, X: Any) -> np.ndarray:
        """Probabilities of [class 0, class 1] per row."""
        p = self._raw(X, False)
        return np.column_stack([1.0 - p, p])

    def decision_function(self, X: Any) -> np.ndarray:
        """The raw score (log-odds) per row."""
        return self._raw(X, True)

    def predict(self, X: Any) -> np.ndarray:
        """The more likely class per row."""
        check_is_fitted(self, "_model")
        return self.classes_[(self._raw(X, False) > 0.5).astype(int)]

    @property
    def best_iteration_(self) -> Optional[int]:
        """The iteration with the best validation metric (with an ``eval_set``)."""
        check_is_fitted(self, "_model")
        return self._model.best_iteration

    @property
    def evals_result_(self) -> List[Dict[str, Any]]:
        """Per-iteration training loss and validation metric."""
        check_is_fitted(self, "_model")
        return json.loads(self._model.history)


class GBDTRegressor(RegressorMixin, _TreeModel):
    """Gradient-boosted trees for a numeric target (squared error); the same parameters
    as :class:`GBDTClassifier`."""

    _learner = "gbdt"
    _param_names = _GBDT_PARAMS
    __init__ = GBDTClassifier.__init__  # type: ignore[assignment]

    def fit(self, X: Any, y: Any, sample_weight: Any = None, eval_set: Any = None) -> "GBDTRegressor":
        extra: Dict[str, Any] = {"objective": "regression"}
        if self.metric is None:
            extra["metric"] = "rmse"
        return self._fit(X, y, lambda est, y: _target(est, y).astype(np.float64), sample_weight, eval_set, extra)

    def predict(self, X: Any) -> np.ndarray:
        return self._raw(X, False)


class RandomForestClassifier(ClassifierMixin, _TreeModel):
    """A random forest for a binary target, scikit-learn's parameters (on binned features)."""

    _learner = "rf"
    _param_names = (
        "n_estimators",
        "max_depth",
        "min_samples_leaf",
        "max_leaf_nodes",
        "max_features",
        "bootstrap",
        "max_samples",
        "min_impurity_decrease",
        "max_bin",
        "random_state",
        "n_jobs",
    )

    def __init__(
        self,
        n_estimators: Optional[int] = None,
        max_depth: Optional[int] = None,
        min_samples_leaf: Optional[int] = None,
        max_leaf_nodes: Optional[int] = None,
        max_features: Optional[Union[str, float]] = None,
        bootstrap: Optional[bool] = None,
        max_samples: Optional[float] = None,
        min_impurity_decrease: Optional[float] = None,
        max_bin: Optional[int] = None,
        random_state: Optional[int] = None,
        n_jobs: Optional[int] = None,
        params: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.n_estimators = n_estimators
        self.max_depth = max_depth
        self.min_samples_leaf = min_samples_leaf
        self.max_leaf_nodes = max_leaf_nodes
        self.max_features = max_features
        self.bootstrap = bootstrap
        self.max_samples = max_samples
        self.min_impurity_decrease = min_impurity_decrease
        self.max_bin = max_bin
        self.random_state = random_state
        self.n_jobs = n_jobs
        self.params = params

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "RandomForestClassifier":
        return self._fit(X, y, _binary_labels, sample_weight, None, {"objective": "binary"})

    def predict_proba(self, X: Any) -> np.ndarray:
        p = self._raw(X, False)
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "_model")
        return self.classes_[(self._raw(X, False) > 0.5).astype(int)]


class LogisticRegression(ClassifierMixin, _Frames, BaseEstimator):
    """Logistic regression by Newton's method (IRLS), with the statistics statsmodels
    reports (standard errors, z, p-values, VIF) and stepwise selection.

    ``penalty``: ``"none"`` (default: the unpenalized fit a scorecard needs), ``"l2"``,
    ``"l1"`` or ``"elasticnet"`` with ``C`` and ``l1_ratio`` as scikit-learn's.
    ``stepwise``: ``"forward"``, ``"backward"`` or ``"both"`` selects features by
    ``criterion`` (``"aic"``, ``"bic"`` or ``"pvalue"`` with ``p_enter`` / ``p_remove``).
    """

    def __init__(
        self,
        penalty: Optional[str] = None,
        C: Optional[float] = None,
        l1_ratio: Optional[float] = None,
        max_iter: Optional[int] = None,
        tol: Optional[float] = None,
        collinear: Optional[str] = None,
        stepwise: Optional[str] = None,
        criterion: str = "aic",
        p_enter: float = 0.05,
        p_remove: float = 0.10,
        positive_coefficients: bool = False,
    ) -> None:
        self.penalty = penalty
        self.C = C
        self.l1_ratio = l1_ratio
        self.max_iter = max_iter
        self.tol = tol
        self.collinear = collinear
        self.stepwise = stepwise
        self.criterion = criterion
        self.p_enter = p_enter
        self.p_remove = p_remove
        self.positive_coefficients = positive_coefficients

    def _stepwise_json(self) -> Optional[str]:
        if self.stepwise is None:
            return None
        return json.dumps(
            dict(
                direction=self.stepwise,
                criterion=self.criterion,
                p_enter=self.p_enter,
                p_remove=self.p_remove,
                positive_coefficients=self.positive_coefficients,
            )
        )

    def fit(self, X: Any, y: Any, sample_weight: Any = None, plan: Any = None) -> "LogisticRegression":
        """Fits on X and binary y. With ``plan`` (a fitted :class:`Binner` or its native
        plan) X holds raw features and the model is fitted on their WoE values, keeping
        the plan so that it scores raw rows."""
        features = self._features(X, reset=True)
        y01 = _binary_labels(self, y)
        self._name_label(y, features)
        table = self._with_columns(features, y01, sample_weight)
        native_plan = plan._plan if isinstance(plan, Binner) else plan
        self._model = _native.fit_lr(
            _data.batches(table),
            self._label,
            WEIGHT if sample_weight is not None else None,
            _params_of(self, ("penalty", "C", "l1_ratio", "max_iter", "tol", "collinear"), None),
            self._stepwise_json(),
            native_plan,
            tracking.active_workspace(),
            tracking.dataset_name(X),
            tracking.progress(),
        )
        tracking.note_fit(self._model.run)
        fitted = json.loads(self._model.lr_json())
        coefs = {c["name"]: c["coef"] for c in fitted["coefficients"]}
        self.intercept_ = np.asarray([coefs.get("const", 0.0)])
        self.coef_ = np.asarray([[coefs.get(n, 0.0) for n in self._names()]])
        return self

    def decision_function(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "_model")
        return _data.numpy_of(self._model.predict(_data.batches(self._features(X, reset=False)), True))

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "_model")
        p = _data.numpy_of(self._model.predict(_data.batches(self._features(X, reset=False)), False))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "_model")
        return self.classes_[(self.decision_function(X) > 0).astype(int)]

    def summary(self) -> "Summary":
        """The fit's table as statsmodels' ``Logit(...).fit().summary()`` shows it."""
        check_is_fitted(self, "_model")
        return Summary(self._model.summary())

    @property
    def coefficients_(self) -> List[Dict[str, Any]]:
        """Every coefficient with its standard error, z, p-value, interval and VIF."""
        check_is_fitted(self, "_model")
        return json.loads(self._model.lr_json())["coefficients"]

    @property
    def steps_(self) -> List[Dict[str, Any]]:
        """The stepwise selection's steps (feature entered or removed, criterion)."""
        check_is_fitted(self, "_model")
        return json.loads(self._model.lr_json()).get("stepwise", [])

    @property
    def run_(self) -> Optional[int]:
        check_is_fitted(self, "_model")
        return self._model.run

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = False
        return tags


class Summary(str):
    """A text table that prints as itself in a notebook."""

    def __repr__(self) -> str:
        return str(self)


class Binner(TransformerMixin, _Frames, BaseEstimator):
    """Bins every feature against a binary target: fine classing, then optimal (or
    chi-merge, tree, quantile, ...) coarse bins with WoE and IV, as ``risklake features
    bin`` does. ``transform`` gives each feature's bin index; :class:`WoETransformer`
    its WoE.

    Options left ``None`` keep the library's defaults. ``per_feature`` gives one feature
    settings of its own (``{"age": {"method": "quantile", "max_bins": 4}}``: method,
    max_bins, monotonic, min_bin_size, min_bad, min_good); ``edges`` fixes a feature's split
    points (``{"income": [2000, 5000]}``). ``fine`` and ``binning`` pass any other option of
    the binning request by name.
    """

    _output = "bin"

    def __init__(
        self,
        method: Optional[str] = None,
        max_bins: Optional[int] = None,
        min_bin_size: Optional[float] = None,
        monotonic: Optional[str] = None,
        special_values: Optional[List[float]] = None,
        columns: Optional[List[str]] = None,
        per_feature: Optional[Dict[str, Dict[str, Any]]] = None,
        edges: Optional[Dict[str, List[float]]] = None,
        unseen: str = "neutral",
        fine: Optional[Dict[str, Any]] = None,
        binning: Optional[Dict[str, Any]] = None,
    ) -> None:
        self.method = method
        self.max_bins = max_bins
        self.min_bin_size = min_bin_size
        self.monotonic = monotonic
        self.special_values = special_values
        self.columns = columns
        self.per_feature = per_feature
        self.edges = edges
        self.unseen = unseen
        self.fine = fine
        self.binning = binning

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> "Binner":
        features = self._features(X, reset=True)
        y01 = _binary_labels(self, y)
        self._name_label(y, features)
        table = self._with_columns(features, y01, sample_weight)
        fine = dict(self.fine or {})
        if self.special_values is not None:
            fine["special_values"] = list(self.special_values)
        if self.columns is not None:
            fine["columns"] = list(self.columns)
        binning = dict(self.binning or {})
        for k in ("method", "max_bins", "min_bin_size", "monotonic", "per_feature", "edges"):
            v = getattr(self, k)
            if v is not None:
                binning[k] = v
        target = {"label": self._label}
        if sample_weight is not None:
            target["weight"] = WEIGHT
        self._plan = _native.bin(
            _data.batches(table),
            json.dumps(target),
            json.dumps(fine),
            json.dumps(binning),
            tracking.active_workspace(),
            tracking.dataset_name(X),
            tracking.progress(),
        )
        tracking.note_fit(self._plan.run)
        return self

    @classmethod
    def _from_plan(cls, plan: Any) -> "Binner":
        b = cls()
        b._plan = plan
        b.feature_names_in_ = np.asarray(plan.features, dtype=object)
        b.n_features_in_ = len(plan.features)
        return b

    @property
    def plan_(self) -> Any:
        """The native binning plan (``to_json()`` is what ``risklake features bin`` stores)."""
        check_is_fitted(self, "_plan")
        return self._plan

    @property
    def iv_(self) -> Dict[str, float]:
        """Information value per feature."""
        check_is_fitted(self, "_plan")
        return {name: iv for name, iv, _ks, _auc, _miss, _bins in self._plan.metrics()}

    @property
    def metrics_(self) -> Any:
        """IV, KS, AUC, missing rate and bins per feature (a pandas DataFrame when pandas
        is installed, else a list of dicts), by IV descending."""
        check_is_fitted(self, "_plan")
        rows = [
            dict(feature=n, iv=iv, ks=ks, auc=auc, missing_rate=miss, bins=bins)
            for n, iv, ks, auc, miss, bins in self._plan.metrics()
        ]
        rows.sort(key=lambda r: -r["iv"])
        return _frame(rows)

    def binning_table(self, feature: str) -> Any:
        """One feature's bins: label, counts, event rate, WoE and IV (a DataFrame when
        pandas is installed, else a list of dicts)."""
        check_is_fitted(self, "_plan")
        plan = json.loads(self._plan.feature(feature))
        rows = []
        for b in plan["bins"]:
            row = {k: v for k, v in b.items() if not isinstance(v, (list, dict))}
            rows.append(row)
        return _frame(rows)

    def transform(self, X: Any) -> Any:
        check_is_fitted(self, "_plan")
        frame_in = _is_frame(X)
        table = self._features(X, reset=False)
        out = self._plan.transform(_data.batches(table), self._output, self.unseen, None).read_all()
        if frame_in and (type(X).__module__ or "").startswith("pandas"):
            return out.to_pandas()
        if frame_in:
            return out
        return np.column_stack([out.column(i).to_numpy(zero_copy_only=False) for i in range(out.num_columns)])

    def get_feature_names_out(self, input_features: Any = None) -> np.ndarray:
        check_is_fitted(self, "_plan")
        return np.asarray(self._names(), dtype=object)

    def __sklearn_tags__(self):  # type: ignore[no-untyped-def]
        tags = super().__sklearn_tags__()
        tags.input_tags.allow_nan = True
        tags.target_tags.required = True
        return tags


class WoETransformer(Binner):
    """:class:`Binner` whose ``transform`` gives each feature's WoE (what a scorecard's
    regression is fitted on)."""

    _output = "woe"


def _frame(rows: List[Dict[str, Any]]) -> Any:
    try:
        import pandas as pd
    except ImportError:  # pragma: no cover - pandas comes with scikit-learn installs
        return rows
    return pd.DataFrame(rows)


class Scorecard(ClassifierMixin, _Frames, BaseEstimator):
    """A points scorecard: binning, an LR on the WoE values, points by PDO scaling.

    ``fit(X, y)`` bins X (``binner``, default :class:`Binner()`), fits ``estimator``
    (default :class:`LogisticRegression()`, which may do stepwise selection) on the WoE
    values and scales the coefficients to points: ``base_points`` at good:bad odds
    ``base_odds``, ``pdo`` points doubling the odds.
    """

    def __init__(
        self,
        binner: Optional[Binner] = None,
        estimator: Optional[LogisticRegression] = None,
        base_points: Optional[float] = None,
        base_odds: Optional[float] = None,
        pdo: Optional[float] = None,
        digits: Optional[int] = None,
    ) -> None:
        self.binner = binner
        self.estimator = estimator
        self.base_points = base_points
        self.base_odds = base_odds
        self.pdo = pdo
        self.digits = digits

    def fit(self, X: Any, y: Any) -> "Scorecard":
        from sklearn.base import clone

        binner = clone(self.binner) if self.binner is not None else Binner()
        lr = clone(self.estimator) if self.estimator is not None else LogisticRegression()
        binner.fit(X, y)
        lr.fit(X, y, plan=binner)
        self.binner_ = binner
        self.estimator_ = lr
        self.classes_ = lr.classes_
        self.feature_names_in_ = getattr(lr, "feature_names_in_", None)
        if self.feature_names_in_ is None:
            del self.feature_names_in_
        self.n_features_in_ = lr.n_features_in_
        scaling = {k: getattr(self, k) for k in ("base_points", "base_odds", "pdo", "digits") if getattr(self, k) is not None}
        self._model = _native.build_scorecard(lr._model, binner._plan, json.dumps(scaling) if scaling else None)
        return self

    def score(self, X: Any, y: Any = None, sample_weight: Any = None) -> Any:  # type: ignore[override]
        """Points per row (with ``y``: accuracy, as scikit-learn's ``score`` is)."""
        if y is not None:
            return super().score(X, y, sample_weight)
        check_is_fitted(self, "_model")
        scores, _points = self._model.score(_data.batches(self._features(X, reset=False)))
        return _data.numpy_of(scores)

    def points(self, X: Any) -> Any:
        """Each feature's points per row (a DataFrame when pandas is installed)."""
        check_is_fitted(self, "_model")
        _scores, points = self._model.score(_data.batches(self._features(X, reset=False)))
        cols = {f: _data.numpy_of(p) for f, p in zip(self._model.card_features, points)}
        try:
            import pandas as pd

            return pd.DataFrame(cols)
        except ImportError:  # pragma: no cover
            return cols

    def predict_proba(self, X: Any) -> np.ndarray:
        check_is_fitted(self, "_model")
        p = _data.numpy_of(self._model.predict(_data.batches(self._features(X, reset=False)), False))
        return np.column_stack([1.0 - p, p])

    def predict(self, X: Any) -> np.ndarray:
        return self.classes_[(self.predict_proba(X)[:, 1] > 0.5).astype(int)]

    def points_table(self) -> Any:
        """Feature, bin and points of every bin (a DataFrame when pandas is installed)."""
        check_is_fitted(self, "_model")
        import csv
        import io

        rows = list(csv.DictReader(io.StringIO(self._model.points_csv())))
        return _frame(rows)

    def to_sql(self, table: str) -> str:
        """A SQL query that scores ``table`` with this card (no risklake needed to run it)."""
        check_is_fitted(self, "_model")
        return self._model.to_sql(table)

    def to_json(self) -> str:
        """The card as ``scorecard.json`` holds it (``risklake score --scorecard FILE``)."""
        check_is_fitted(self, "_model")
        return self._model.to_json()


def from_native(model: Any) -> Any:
    """A stored model as the estimator it was fitted as."""
    kind = model.kind
    if kind == "gbdt":
        est: Any = GBDTClassifier()
    elif kind == "rf":
        est = RandomForestClassifier()
    elif kind == "lr":
        est = LogisticRegression()
    else:
        est = Scorecard()
    est._model = model
    names = list(model.input_columns)
    est.feature_names_in_ = np.asarray(names, dtype=object)
    est.n_features_in_ = len(names)
    est.classes_ = np.asarray([0, 1])
    return est
