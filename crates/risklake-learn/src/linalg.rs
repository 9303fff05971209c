//! Small dense linear algebra (symmetric positive definite systems of a model's size, not
//! the data's) and the distribution tails that p-values need.

/// A symmetric positive definite matrix factored as `L L^T` (row-major lower triangle).
#[derive(Debug, Clone)]
pub struct Cholesky {
    n: usize,
    l: Vec<f64>,
}

impl Cholesky {
    /// Factors the row-major `n x n` matrix `a`; `None` when it is not positive definite
    /// (a pivot at or below `1e-13` of its diagonal entry, i.e. singular to working precision).
    pub fn new(a: &[f64], n: usize) -> Option<Cholesky> {
        let mut l = vec![0.0; n * n];
        for i in 0..n {
            for j in 0..=i {
                let mut s = a[i * n + j];
                for k in 0..j {
                    s -= l[i * n + k] * l[j * n + k];
                }
                if i == j {
                    if !(s > 1e-13 * a[i * n + i].abs()) || !s.is_finite() {
                        return None;
                    }
                    l[i * n + i] = s.sqrt();
                } else {
                    l[i * n + j] = s / l[j * n + j];
                }
            }
        }
        Some(Cholesky { n, l })
    }

    /// Solves `A x = b`.
    pub fn solve(&self, b: &[f64]) -> Vec<f64> {
        let n = self.n;
        let mut y = b.to_vec();
        for i in 0..n {
            let mut s = y[i];
            for k in 0..i {
                s -= self.l[i * n + k] * y[k];
            }
            y[i] = s / self.l[i * n + i];
        }
        for i in (0..n).rev() {
            let mut s = y[i];
            for k in i + 1..n {
                s -= self.l[k * n + i] * y[k];
            }
            y[i] = s / self.l[i * n + i];
        }
        y
    }

    /// `A^-1`, row-major.
    pub fn inverse(&self) -> Vec<f64> {
        let n = self.n;
        let mut inv = vec![0.0; n * n];
        let mut e = vec![0.0; n];
        for j in 0..n {
            e.iter_mut().for_each(|v| *v = 0.0);
            e[j] = 1.0;
            let col = self.solve(&e);
            for i in 0..n {
                inv[i * n + j] = col[i];
            }
        }
        inv
    }
}

/// `P(|Z| > |z|)` for a standard normal `Z`: the two-sided p-value of a z statistic,
/// accurate in the far tail (erfc, not `1 - erf`).
pub fn normal_two_sided(z: f64) -> f64 {
    libm::erfc(z.abs() / std::f64::consts::SQRT_2)
}

/// The 97.5% quantile of the standard normal (95% two-sided intervals).
pub const Z_975: f64 = 1.959_963_984_540_054;

/// `P(X > x)` for a chi-square `X` with `df` degrees of freedom: the regularized upper
/// incomplete gamma `Q(df/2, x/2)`, by its series below `a + 1` and its continued fraction
/// (modified Lentz) above.
pub fn chi2_sf(x: f64, df: f64) -> f64 {
    if x.is_nan() || df <= 0.0 {
        return f64::NAN;
    }
    if x <= 0.0 {
        return 1.0;
    }
    gamma_q(df / 2.0, x / 2.0)
}

fn gamma_q(a: f64, x: f64) -> f64 {
    let log_prefix = a * x.ln() - x - libm::lgamma(a);
    if x < a + 1.0 {
        // P(a, x) = x^a e^-x / Gamma(a + 1) * sum x^n / ((a+1)...(a+n))
        let mut term = 1.0 / a;
        let mut sum = term;
        let mut ap = a;
        for _ in 0..10_000 {
            ap += 1.0;
            term *= x / ap;
            sum += term;
            if term.abs() < sum.abs() * 1e-17 {
                break;
            }
        }
        1.0 - sum * log_prefix.exp()
    } else {
        let tiny = 1e-300;
        let mut b = x + 1.0 - a;
        let mut c = 1.0 / tiny;
        let mut d = 1.0 / b;
        let mut h = d;
        for i in 1..10_000 {
            let an = -(i as f64) * (i as f64 - a);
            b += 2.0;
            d = an * d + b;
            if d.abs() < tiny {
                d = tiny;
            }
            c = b + an / c;
            if c.abs() < tiny {
                c = tiny;
            }
            d = 1.0 / d;
            let delta = d * c;
            h *= delta;
            if (delta - 1.0).abs() < 1e-16 {
                break;
            }
        }
        log_prefix.exp() * h
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn cholesky_solves_and_inverts() {
        let a = [4.0, 2.0, 0.4, 2.0, 5.0, 1.0, 0.4, 1.0, 3.0];
        let c = Cholesky::new(&a, 3).unwrap();
        let x = c.solve(&[1.0, 2.0, 3.0]);
        for i in 0..3 {
            let r: f64 = (0..3).map(|j| a[i * 3 + j] * x[j]).sum();
            assert!((r - [1.0, 2.0, 3.0][i]).abs() < 1e-12);
        }
        let inv = c.inverse();
        for i in 0..3 {
            for j in 0..3 {
                let r: f64 = (0..3).map(|k| a[i * 3 + k] * inv[k * 3 + j]).sum();
                assert!((r - (i == j) as u8 as f64).abs() < 1e-12);
            }
        }
        assert!(Cholesky::new(&[1.0, 1.0, 1.0, 1.0], 2).is_none(), "singular");
    }

    #[test]
    fn tails_match_known_values() {
        // scipy.stats.norm.sf(1.96) * 2, chi2.sf(3.84, 1), chi2.sf(10, 4), chi2.sf(100, 3)
        assert!((normal_two_sided(1.96) - 0.049_995_790_296_440_89).abs() < 1e-15);
        assert!((normal_two_sided(-10.0) / 1.523_970_604_832_094e-23 - 1.0).abs() < 1e-12);
        assert!((chi2_sf(3.84, 1.0) - 0.050_043_521_248_705_19).abs() < 1e-13);
        assert!((chi2_sf(10.0, 4.0) - 0.040_427_681_994_512_79).abs() < 1e-13);
        assert!((chi2_sf(100.0, 3.0) / 1.554_159_431_389_602_6e-21 - 1.0).abs() < 1e-9);
        assert_eq!(chi2_sf(0.0, 2.0), 1.0);
    }
}
