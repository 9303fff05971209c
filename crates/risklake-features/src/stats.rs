//! Counts of rows, their weight and their bad weight: the sufficient statistics of a bin.

/// What a bin holds: `n` rows of total weight `w`, of which `bad` is the weight of bad rows.
#[derive(Debug, Clone, Copy, Default, PartialEq, serde::Serialize, serde::Deserialize)]
pub struct Counts {
    pub n: u64,
    pub w: f64,
    pub bad: f64,
}

impl Counts {
    /// One row of weight `w`; `bad` is 1.0 for a bad row, 0.0 for a good one.
    #[inline]
    pub fn push(&mut self, w: f64, bad: f64) {
        self.n += 1;
        self.w += w;
        self.bad += bad * w;
    }

    #[inline]
    pub fn add(&mut self, other: &Counts) {
        self.n += other.n;
        self.w += other.w;
        self.bad += other.bad;
    }

    /// The weight of good rows.
    #[inline]
    pub fn good(&self) -> f64 {
        (self.w - self.bad).max(0.0)
    }

    /// Bad weight over total weight; 0 for an empty bin.
    #[inline]
    pub fn event_rate(&self) -> f64 {
        if self.w > 0.0 {
            self.bad / self.w
        } else {
            0.0
        }
    }

    /// The sum of a run of counts.
    pub fn sum<'a>(iter: impl IntoIterator<Item = &'a Counts>) -> Counts {
        let mut t = Counts::default();
        for c in iter {
            t.add(c);
        }
        t
    }
}

/// The smoothing applied to a bin with no bad or no good rows before its WoE is taken:
/// both its bad and its good weight are increased by this amount.
pub const WOE_SMOOTHING: f64 = 0.5;

/// Weight of evidence of a bin, `ln(bad share / good share)`: positive means riskier than
/// average. A bin with no bad or no good weight is smoothed by [`WOE_SMOOTHING`]; an empty
/// bin has WoE 0.
pub fn woe(bin: &Counts, total_bad: f64, total_good: f64) -> f64 {
    if bin.w <= 0.0 {
        return 0.0;
    }
    let (mut b, mut g) = (bin.bad, bin.good());
    if b <= 0.0 || g <= 0.0 {
        b += WOE_SMOOTHING;
        g += WOE_SMOOTHING;
    }
    ((b / total_bad) / (g / total_good)).ln()
}

/// Information value contributed by a bin: `(bad share - good share) * WoE`.
pub fn iv(bin: &Counts, total_bad: f64, total_good: f64) -> f64 {
    if bin.w <= 0.0 {
        return 0.0;
    }
    (bin.bad / total_bad - bin.good() / total_good) * woe(bin, total_bad, total_good)
}
