#!/usr/bin/env python3
"""Checks what `risklake gen credit` promises: a good GBDT reaches AUC ~0.85 and a linear
model on the raw values clearly less (~0.80). Trains LightGBM and scikit-learn's
LogisticRegression on a time split (months 1-9 train, 10-12 test).

Usage: risklake gen credit --rows 200000 --out /tmp/gen.parquet
       python bench/synth_check.py /tmp/gen.parquet
"""

import sys

import lightgbm as lgb
import numpy as np
import pandas as pd
from sklearn.linear_model import LogisticRegression
from sklearn.metrics import roc_auc_score
from sklearn.pipeline import make_pipeline
from sklearn.preprocessing import StandardScaler

df = pd.read_parquet(sys.argv[1])
y = df.pop("bad").to_numpy()
month = df.pop("month")
df = df.drop(columns=["id"])
train = (month <= "2024-09").to_numpy()
cats = [c for c in df.columns if df[c].dtype == object or c.endswith("_code")]
for c in cats:
    df[c] = df[c].astype("category")
print(f"rows {len(df)}, features {df.shape[1]}, bad rate {y.mean():.4f}, train {train.sum()}, test {(~train).sum()}")

gbm = lgb.LGBMClassifier(n_estimators=300, learning_rate=0.05, num_leaves=31, verbose=-1, n_jobs=2)
gbm.fit(df[train], y[train])
print(f"LightGBM AUC {roc_auc_score(y[~train], gbm.predict_proba(df[~train])[:, 1]):.4f}")

# Linear model on raw values: numeric columns mean-imputed with a missing flag,
# categories one-hot, everything standardized.
X = pd.get_dummies(df, columns=cats, dummy_na=True, dtype=float)
for c in [c for c in df.columns if c not in cats]:
    if X[c].isna().any():
        X[c + "_missing"] = X[c].isna().astype(float)
        X[c] = X[c].fillna(X.loc[train, c].mean())
lr = make_pipeline(StandardScaler(), LogisticRegression(max_iter=2000))
lr.fit(X[train], y[train])
print(f"LogisticRegression AUC {roc_auc_score(y[~train], lr.predict_proba(X[~train])[:, 1]):.4f}")
