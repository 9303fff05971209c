"""The README's notebook-style example runs end to end on a fresh home."""

import importlib.util

from conftest import ROOT

import risklake


def test_python_quickstart(home):
    spec = importlib.util.spec_from_file_location("python_quickstart", ROOT / "examples" / "python_quickstart.py")
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    out = module.main(str(home))
    assert out["card_auc"] > 0.7 and out["gbdt_auc"] > 0.7 and out["best"] > 0.65
    assert out["runs"] == 4  # the Binner, the card's Binner and LR, the GBDT
    assert out["scored"] == 1000
    rl = risklake.Workspace(home)
    assert rl.table("scored.german").num_rows == 1000
    kinds = {r["kind"] for r in rl.runs()}
    assert {"write", "features.bin", "train.lr", "train.gbdt", "python", "predict"} <= kinds
