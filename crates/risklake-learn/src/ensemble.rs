//! The trained tree ensemble, boosted or bagged: its stored form (`risklake.gbdt` /
//! `risklake.forest` JSON), its checks on load, and prediction (probabilities, raw
//! scores, leaf indices, SHAP contributions) on Arrow batches or a binned dataset.

use arrow::record_batch::RecordBatch;
use rayon::prelude::*;
use risklake_core::{Error, Result};

use crate::bins::BinMapper;
use crate::dataset::{mapped_values, Dataset};
use crate::params::{GbdtParams, Objective, RfParams};
use crate::tree::Tree;

/// A trained model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct GbdtModel {
    pub format: String,
    pub version: u32,
    pub params: GbdtParams,
    pub feature_names: Vec<String>,
    pub mappers: Vec<BinMapper>,
    /// Raw score before the first tree (log-odds of the bad rate, or the label mean).
    pub init_score: f64,
    pub trees: Vec<Tree>,
    /// The iteration with the best validation metric, when there was validation data.
    pub best_iteration: Option<usize>,
    /// Set for a random forest (format `risklake.forest`): its parameters and
    /// out-of-bag score. Its leaves are pre-divided by the number of trees.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub forest: Option<ForestInfo>,
}

pub const MODEL_FORMAT: &str = "risklake.gbdt";
pub const MODEL_VERSION: u32 = 1;

pub(crate) fn sigmoid(x: f64) -> f64 {
    1.0 / (1.0 + (-x).exp())
}

/// Out-of-bag evaluation of a forest.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct OobScore {
    /// Rows that were out of bag for at least one tree.
    pub rows: usize,
    /// AUC (classification) or R^2 (regression) of the out-of-bag predictions.
    pub score: f64,
    /// KS (classification) or RMSE (regression).
    pub secondary: f64,
}

/// What [`train_forest`] adds to the model.
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub struct ForestInfo {
    pub params: RfParams,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub oob: Option<OobScore>,
}

pub const FOREST_FORMAT: &str = "risklake.forest";

impl GbdtModel {
    /// Raw scores of a binned dataset (built with this model's mappers).
    pub fn predict_raw_binned(&self, ds: &Dataset) -> Vec<f64> {
        // Rows in parallel; each row's trees summed in order, so the result does not
        // depend on the thread count.
        (0..ds.rows())
            .into_par_iter()
            .map(|r| {
                self.init_score
                    + self
                        .trees
                        .iter()
                        .map(|t| t.leaf_values[t.leaf_binned(ds, r)])
                        .sum::<f64>()
            })
            .collect()
    }

    /// The model's features of a batch as the values its mappers bin (numbers; category
    /// codes), one vector per feature.
    fn feature_columns(&self, batch: &RecordBatch) -> Result<Vec<Vec<f64>>> {
        self.feature_names
            .iter()
            .zip(&self.mappers)
            .map(|(f, m)| mapped_values(batch, f, m))
            .collect()
    }

    /// Runs `per_row(row values, output slot)` over the rows of a batch, in parallel,
    /// with `width` outputs per row.
    fn map_rows<T: Copy + Default + Send>(
        &self,
        batch: &RecordBatch,
        width: usize,
        per_row: &(dyn Fn(&[f64], &mut [T]) + Sync),
    ) -> Result<Vec<T>> {
        let columns = self.feature_columns(batch)?;
        let mut out = vec![T::default(); batch.num_rows() * width];
        let fill = |c: usize, chunk: usize, dst: &mut [T]| {
            let mut x = vec![0.0; columns.len()];
            for (k, slot) in dst.chunks_mut(width.max(1)).enumerate() {
                let r = c * chunk + k;
                for (f, col) in columns.iter().enumerate() {
                    x[f] = col[r];
                }
                per_row(&x, slot);
            }
        };
        if batch.num_rows() <= risklake_core::INLINE_ROWS {
            fill(0, batch.num_rows(), &mut out);
            return Ok(out);
        }
        // A few chunks per thread however large the batch is.
        let chunk = batch
            .num_rows()
            .div_ceil(4 * rayon::current_num_threads())
            .clamp(16, 4096);
        out.par_chunks_mut(chunk * width.max(1))
            .enumerate()
            .for_each(|(c, dst)| fill(c, chunk, dst));
        Ok(out)
    }

    /// Raw scores of the rows of a batch, from the raw feature values.
    pub fn predict_raw(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        self.map_rows(batch, 1, &|x, out| {
            out[0] = self.init_score + self.trees.iter().map(|t| t.leaf_values[t.leaf_raw(x)]).sum::<f64>();
        })
    }

    /// The leaf index of every row in every tree: `trees` values per row, row-major.
    pub fn predict_leaf(&self, batch: &RecordBatch) -> Result<Vec<u32>> {
        self.map_rows(batch, self.trees.len(), &|x, out| {
            for (o, t) in out.iter_mut().zip(&self.trees) {
                *o = t.leaf_raw(x) as u32;
            }
        })
    }

    /// SHAP contributions (exact TreeSHAP) of every feature to every row's raw score, then
    /// the expected raw score: `features + 1` values per row, row-major, summing to the
    /// row's raw score.
    pub fn predict_shap(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        let nf = self.feature_names.len();
        let covers: Vec<Vec<f64>> = self.trees.iter().map(crate::shap::node_covers).collect();
        let depths: Vec<usize> = self.trees.iter().map(crate::shap::depth).collect();
        let expected = self.init_score + self.trees.iter().map(crate::shap::expected_value).sum::<f64>();
        self.map_rows(batch, nf + 1, &|x, out| {
            for ((t, c), &d) in self.trees.iter().zip(&covers).zip(&depths) {
                crate::shap::tree_shap(t, c, d, &|node| t.nodes[node].goes_left_raw(x), &mut out[..nf]);
            }
            out[nf] = expected;
        })
    }

    /// Probabilities (binary) or values (regression) of the rows of a batch.
    pub fn predict(&self, batch: &RecordBatch) -> Result<Vec<f64>> {
        let raw = self.predict_raw(batch)?;
        Ok(match self.params.objective {
            Objective::Binary => raw.into_iter().map(sigmoid).collect(),
            Objective::Regression => raw,
        })
    }

    /// Split-count and total-gain importance per feature.
    pub fn importance(&self) -> Vec<(String, usize, f64)> {
        let mut out: Vec<(String, usize, f64)> = self.feature_names.iter().map(|f| (f.clone(), 0, 0.0)).collect();
        for t in &self.trees {
            for n in &t.nodes {
                out[n.feature].1 += 1;
                out[n.feature].2 += n.gain;
            }
        }
        out
    }

    pub fn to_json(&self) -> String {
        serde_json::to_string(self).expect("a model always serializes")
    }

    /// Reads a model, checking its format and version.
    pub fn from_json(text: &str) -> Result<GbdtModel> {
        let v: serde_json::Value =
            serde_json::from_str(text).map_err(|e| Error::invalid(format!("model file is not valid JSON: {e}")))?;
        let format = v.get("format").and_then(|f| f.as_str());
        if format != Some(MODEL_FORMAT) && format != Some(FOREST_FORMAT) {
            return Err(Error::invalid(format!(
                "not a risklake tree model (expected format \"{MODEL_FORMAT}\" or \"{}\")",
                FOREST_FORMAT
            )));
        }
        match v.get("version").and_then(|x| x.as_u64()) {
            Some(x) if x == MODEL_VERSION as u64 => {}
            other => {
                return Err(Error::invalid(format!(
                    "model version {other:?} is not supported (this risklake reads version {MODEL_VERSION})"
                )))
            }
        }
        let model: GbdtModel =
            serde_json::from_value(v).map_err(|e| Error::invalid(format!("model file is malformed: {e}")))?;
        model.check()?;
        Ok(model)
    }

    /// Checks the structure a prediction relies on, so a damaged file is an error on
    /// loading rather than a wrong answer or a crash later.
    pub fn check(&self) -> Result<()> {
        let bad = |what: String| Err(Error::invalid(format!("model file is malformed: {what}")));
        let nf = self.feature_names.len();
        if self.mappers.len() != nf {
            return bad(format!("{} bin mappers for {nf} features", self.mappers.len()));
        }
        if !self.init_score.is_finite() {
            return bad("the initial score is not a finite number".into());
        }
        for (k, t) in self.trees.iter().enumerate() {
            let leaves = t.leaf_values.len();
            if leaves != t.nodes.len() + 1 || t.leaf_counts.len() != leaves || t.leaf_hessians.len() != leaves {
                return bad(format!(
                    "tree {k} has {} nodes, {leaves} leaf values, {} leaf counts and {} leaf hessians",
                    t.nodes.len(),
                    t.leaf_counts.len(),
                    t.leaf_hessians.len()
                ));
            }
            if let Some(v) = t.leaf_values.iter().find(|v| !v.is_finite()) {
                return bad(format!("tree {k} has a leaf value {v}"));
            }
            // Every node and leaf is reached exactly once, children after their parent
            // (so a walk always ends).
            let mut seen_nodes = vec![false; t.nodes.len()];
            let mut seen_leaves = vec![false; leaves];
            for (i, n) in t.nodes.iter().enumerate() {
                if n.feature >= nf {
                    return bad(format!("tree {k} node {i} splits on feature {} of {nf}", n.feature));
                }
                if n.categorical != self.mappers[n.feature].is_categorical() {
                    return bad(format!(
                        "tree {k} node {i}: split kind does not match feature '{}'",
                        self.feature_names[n.feature]
                    ));
                }
                for c in [n.left, n.right] {
                    let ok = if c < 0 {
                        let l = !c as usize;
                        l < leaves && !std::mem::replace(&mut seen_leaves[l], true)
                    } else {
                        let c = c as usize;
                        c > i && c < t.nodes.len() && !std::mem::replace(&mut seen_nodes[c], true)
                    };
                    if !ok {
                        return bad(format!("tree {k} node {i} has an invalid child {c}"));
                    }
                }
            }
            if (t.nodes.len() > 1 && seen_nodes.iter().skip(1).any(|s| !s))
                || seen_leaves.iter().any(|s| !s) && !t.nodes.is_empty()
            {
                return bad(format!("tree {k} has unreachable nodes or leaves"));
            }
        }
        Ok(())
    }
}
