//! Marsaglia and Tsang's ziggurat: standard normal draws for the kernels' samples.

use risklake_core::rng::Rng;

/// Marsaglia and Tsang's ziggurat for the standard normal: 256 layers of equal area
/// under `f(x) = e^{-x^2/2}`, the base one with the tail beyond `R`. A draw is one
/// 64-bit random number and, 99% of the time, a multiplication and a comparison; no
/// logarithm except in the tail (once in ~4000 draws).
pub(super) struct Ziggurat {
    /// Layer i spans `[0, x[i]]` horizontally and `[f(x[i]), f(x[i + 1])]` vertically;
    /// `x[0]` is the base strip's width `V / f(R)`, `x[1] = R`, `x[256] = 0`.
    pub(super) x: [f64; 257],
    pub(super) f: [f64; 257],
}

pub(super) const ZIGGURAT_LAYERS: usize = 256;

impl Ziggurat {
    /// The layers for a tail start `r`: each layer's area is the base's,
    /// `V = r f(r) + integral of f beyond r`. Returns None when the stack overshoots the
    /// top (r too small), and how far the last layer's top lands from 1 (below 0: short
    /// of it, r too large).
    pub(super) fn build(r: f64) -> (Option<Ziggurat>, f64) {
        let f = |x: f64| (-0.5 * x * x).exp();
        let tail = (std::f64::consts::PI / 2.0).sqrt() * libm::erfc(r / std::f64::consts::SQRT_2);
        let v = r * f(r) + tail;
        let mut x = [0.0; 257];
        x[0] = v / f(r);
        x[1] = r;
        for i in 1..ZIGGURAT_LAYERS - 1 {
            let top = f(x[i]) + v / x[i];
            if top >= 1.0 {
                return (None, -1.0);
            }
            x[i + 1] = (-2.0 * top.ln()).sqrt();
        }
        // The last layer reaches up from f(x[255]) by V / x[255]: it should end at 1.
        let reach = f(x[ZIGGURAT_LAYERS - 1]) + v / x[ZIGGURAT_LAYERS - 1] - 1.0;
        x[ZIGGURAT_LAYERS] = 0.0;
        let fx = std::array::from_fn(|i| f(x[i]));
        (Some(Ziggurat { x, f: fx }), reach)
    }

    /// The tail start for which the top layer ends exactly at 1 (Marsaglia and Tsang's
    /// value for 256 layers; the test finds it again by bisection).
    pub(super) const R: f64 = 3.654_152_885_361_009;

    pub(super) fn new() -> Ziggurat {
        Ziggurat::build(Ziggurat::R).0.expect("the ziggurat closes")
    }
}

pub(super) fn standard_normal(rng: &mut Rng) -> f64 {
    static TABLE: std::sync::OnceLock<Ziggurat> = std::sync::OnceLock::new();
    let z = TABLE.get_or_init(Ziggurat::new);
    let r = z.x[1];
    loop {
        let bits = rng.next_u64();
        let i = (bits & 0xff) as usize;
        let sign = if bits & 0x100 == 0 { 1.0 } else { -1.0 };
        let u = (bits >> 11) as f64 * (1.0 / (1u64 << 53) as f64);
        let x = u * z.x[i];
        if x < z.x[i + 1] {
            return sign * x;
        }
        if i == 0 {
            // The tail beyond R (Marsaglia's exponential rejection).
            loop {
                let a = -(1.0 - rng.uniform()).ln() / r;
                let b = -(1.0 - rng.uniform()).ln();
                if 2.0 * b > a * a {
                    return sign * (r + a);
                }
            }
        }
        // The wedge between the layer's inner rectangle and the curve.
        let y = z.f[i] + rng.uniform() * (z.f[i + 1] - z.f[i]);
        if y < (-0.5 * x * x).exp() {
            return sign * x;
        }
    }
}
