//! Synthetic face templates for benchmarks at gallery sizes no dataset reaches, shaped like real
//! ones when real ones are at hand.
//!
//! The model is the two-covariance model behind PLDA: a person is a centre drawn from
//! N(mean, between), each capture of them is that centre plus N(0, within), normalised onto the
//! unit sphere as a recognizer's output is. Fitted to real templates (the people with several
//! images give the within-person covariance, all templates the total, the between-person part is
//! the difference), a million synthetic people spread over the few directions real faces use
//! rather than over the whole sphere, which is what decides how well an approximate index can
//! partition them. Without real templates, `isotropic` spreads people over the whole sphere: the
//! hardest case for any approximate search.

use facepay_domain::SplitMix64;

/// mean + between-person and within-person covariance, each kept as a factor F with F Fᵀ = Σ.
#[derive(Debug, Clone)]
pub struct FaceModel {
    dim: usize,
    mean: Vec<f32>,
    /// Row-major dim x dim factors.
    between: Vec<f32>,
    within: Vec<f32>,
    /// between + within, for a capture whose centre is not needed.
    total: Vec<f32>,
}

impl FaceModel {
    /// People spread evenly over the sphere; two captures of one person meet at about
    /// `genuine_cosine`.
    pub fn isotropic(dim: usize, genuine_cosine: f64) -> FaceModel {
        let scaled = |variance: f64| {
            let mut covariance = vec![0.0; dim * dim];
            (0..dim).for_each(|i| covariance[i * dim + i] = variance);
            covariance
        };
        let between = scaled(genuine_cosine / dim as f64);
        let within = scaled((1.0 - genuine_cosine) / dim as f64);
        FaceModel::from_covariances(dim, vec![0.0; dim], &between, &within)
    }

    /// Fits the model to real templates grouped by person. At least two people with two or more
    /// templates each are needed for the within-person part.
    pub fn fit(people: &[Vec<&[f32]>]) -> Result<FaceModel, String> {
        let dim = people.iter().flatten().next().ok_or("no templates to fit")?.len();
        if people.iter().flatten().any(|t| t.len() != dim) {
            return Err("templates of different dimensions".into());
        }
        let all: Vec<&[f32]> = people.iter().flatten().copied().collect();
        let mean = average(&all, dim);
        let total = scatter(all.iter().map(|t| (*t, mean.as_slice())), dim, all.len());
        let repeated: Vec<&Vec<&[f32]>> = people.iter().filter(|p| p.len() >= 2).collect();
        let degrees: usize = repeated.iter().map(|p| p.len() - 1).sum();
        if repeated.len() < 2 || degrees <= dim {
            return Err(format!(
                "{} people with several templates ({degrees} degrees of freedom) cannot give a {dim}-dimension within-person covariance",
                repeated.len()
            ));
        }
        let centres: Vec<Vec<f64>> = repeated.iter().map(|p| average(p, dim)).collect();
        let within = scatter(
            repeated.iter().zip(&centres).flat_map(|(p, c)| p.iter().map(move |t| (*t, c.as_slice()))),
            dim,
            degrees,
        );
        let between: Vec<f64> = total.iter().zip(&within).map(|(t, w)| t - w).collect();
        Ok(FaceModel::from_covariances(dim, mean, &between, &within))
    }

    fn from_covariances(dim: usize, mean: Vec<f64>, between: &[f64], within: &[f64]) -> FaceModel {
        let sum: Vec<f64> = between.iter().zip(within).map(|(b, w)| b + w).collect();
        FaceModel {
            dim,
            mean: mean.iter().map(|&m| m as f32).collect(),
            between: factor(between, dim),
            within: factor(within, dim),
            total: factor(&sum, dim),
        }
    }

    pub fn dim(&self) -> usize {
        self.dim
    }

    /// A new person's centre (not a template: it is not normalised).
    pub fn person(&self, rng: &mut SplitMix) -> Vec<f32> {
        let mut centre = self.mean.clone();
        add_product(&mut centre, &self.between, &rng.gaussians(self.dim));
        centre
    }

    /// One capture of the person at `centre`, as a unit template.
    pub fn capture(&self, centre: &[f32], rng: &mut SplitMix) -> Vec<f32> {
        let mut template = centre.to_vec();
        add_product(&mut template, &self.within, &rng.gaussians(self.dim));
        normalise(template)
    }

    /// One capture of a new person, for when nobody will be captured again (one draw instead of two).
    pub fn stranger(&self, rng: &mut SplitMix) -> Vec<f32> {
        let mut template = self.mean.clone();
        add_product(&mut template, &self.total, &rng.gaussians(self.dim));
        normalise(template)
    }
}

/// v += F z, F row-major.
fn add_product(v: &mut [f32], factor: &[f32], z: &[f32]) {
    for (out, row) in v.iter_mut().zip(factor.chunks_exact(z.len())) {
        *out += row.iter().zip(z).map(|(f, z)| f * z).sum::<f32>();
    }
}

fn average(templates: &[&[f32]], dim: usize) -> Vec<f64> {
    let mut sum = vec![0.0; dim];
    for t in templates {
        sum.iter_mut().zip(*t).for_each(|(s, &x)| *s += f64::from(x));
    }
    sum.iter().map(|s| s / templates.len() as f64).collect()
}

/// Σ (x - c)(x - c)ᵀ / divisor over (x, c) pairs.
fn scatter<'a>(pairs: impl Iterator<Item = (&'a [f32], &'a [f64])>, dim: usize, divisor: usize) -> Vec<f64> {
    let mut s = vec![0.0; dim * dim];
    let mut d = vec![0.0; dim];
    for (x, c) in pairs {
        d.iter_mut().zip(x.iter().zip(c)).for_each(|(d, (&x, c))| *d = f64::from(x) - c);
        for i in 0..dim {
            for j in 0..dim {
                s[i * dim + j] += d[i] * d[j];
            }
        }
    }
    s.iter().map(|v| v / divisor as f64).collect()
}

/// F with F Fᵀ = Σ, from Σ's eigenvectors scaled by the roots of its eigenvalues; negative
/// eigenvalues (a between-person estimate is a difference of two estimates) count as zero.
fn factor(covariance: &[f64], dim: usize) -> Vec<f32> {
    let (values, vectors) = symmetric_eigen(covariance, dim);
    (0..dim * dim).map(|at| (vectors[at] * values[at % dim].max(0.0).sqrt()) as f32).collect()
}

/// Eigenvalues and eigenvectors (the columns of a row-major matrix) of a symmetric matrix, by
/// cyclic Jacobi rotations: slow for large matrices, exact enough and simple for 128 x 128.
fn symmetric_eigen(matrix: &[f64], n: usize) -> (Vec<f64>, Vec<f64>) {
    let mut a = matrix.to_vec();
    let mut v: Vec<f64> = (0..n * n).map(|at| if at / n == at % n { 1.0 } else { 0.0 }).collect();
    let scale: f64 = a.iter().map(|x| x * x).sum::<f64>().max(f64::MIN_POSITIVE);
    for _sweep in 0..100 {
        let off: f64 = (0..n * n).filter(|at| at / n != at % n).map(|at| a[at] * a[at]).sum();
        if off <= scale * 1e-24 {
            break;
        }
        for p in 0..n {
            for q in p + 1..n {
                let apq = a[p * n + q];
                if apq == 0.0 {
                    continue;
                }
                // The rotation that zeroes a[p][q] (Numerical Recipes' convention: A' = Jᵀ A J).
                let theta = (a[q * n + q] - a[p * n + p]) / (2.0 * apq);
                let t = theta.signum() / (theta.abs() + (theta * theta + 1.0).sqrt());
                let c = 1.0 / (t * t + 1.0).sqrt();
                let s = t * c;
                for k in 0..n {
                    let (kp, kq) = (a[k * n + p], a[k * n + q]);
                    a[k * n + p] = c * kp - s * kq;
                    a[k * n + q] = s * kp + c * kq;
                }
                for k in 0..n {
                    let (pk, qk) = (a[p * n + k], a[q * n + k]);
                    a[p * n + k] = c * pk - s * qk;
                    a[q * n + k] = s * pk + c * qk;
                }
                for k in 0..n {
                    let (kp, kq) = (v[k * n + p], v[k * n + q]);
                    v[k * n + p] = c * kp - s * kq;
                    v[k * n + q] = s * kp + c * kq;
                }
            }
        }
    }
    ((0..n).map(|i| a[i * n + i]).collect(), v)
}

fn normalise(v: Vec<f32>) -> Vec<f32> {
    let norm = v.iter().map(|x| x * x).sum::<f32>().sqrt();
    v.into_iter().map(|x| x / norm).collect()
}

/// The benchmarks' seeded generator, with the draws the model makes.
#[derive(Debug)]
pub struct SplitMix(SplitMix64);

impl SplitMix {
    pub fn new(seed: u64) -> SplitMix {
        SplitMix(SplitMix64::new(seed))
    }

    /// Uniform in (0, 1].
    fn uniform(&mut self) -> f64 {
        ((self.0.next_u64() >> 11) + 1) as f64 / (1u64 << 53) as f64
    }

    /// Standard normal coordinates (Box-Muller).
    fn gaussians(&mut self, dim: usize) -> Vec<f32> {
        (0..dim)
            .map(|_| {
                let (u, w) = (self.uniform(), self.uniform());
                ((-2.0 * u.ln()).sqrt() * (std::f64::consts::TAU * w).cos()) as f32
            })
            .collect()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cosine(a: &[f32], b: &[f32]) -> f64 {
        a.iter().zip(b).map(|(x, y)| f64::from(x * y)).sum()
    }

    #[test]
    fn the_eigen_decomposition_rebuilds_the_matrix() {
        let n = 12;
        let mut rng = SplitMix::new(3);
        let g = rng.gaussians(n * n);
        // A symmetric matrix with both signs of eigenvalue.
        let m: Vec<f64> = (0..n * n).map(|at| f64::from(g[at] + g[(at % n) * n + at / n])).collect();
        let (values, vectors) = symmetric_eigen(&m, n);
        for i in 0..n {
            for j in 0..n {
                let rebuilt: f64 = (0..n).map(|k| vectors[i * n + k] * values[k] * vectors[j * n + k]).sum();
                assert!(
                    (rebuilt - m[i * n + j]).abs() < 1e-9,
                    "entry {i},{j}: {rebuilt} vs {}",
                    m[i * n + j]
                );
            }
        }
        assert!(values.iter().any(|&v| v < 0.0) && values.iter().any(|&v| v > 0.0));
    }

    #[test]
    fn isotropic_captures_of_one_person_meet_at_the_asked_cosine() {
        let model = FaceModel::isotropic(128, 0.6);
        let mut rng = SplitMix::new(7);
        let cosines: Vec<f64> = (0..400)
            .map(|_| {
                let person = model.person(&mut rng);
                cosine(&model.capture(&person, &mut rng), &model.capture(&person, &mut rng))
            })
            .collect();
        let mean = cosines.iter().sum::<f64>() / cosines.len() as f64;
        assert!((mean - 0.6).abs() < 0.02, "mean genuine cosine {mean}");
        let strangers = cosine(&model.stranger(&mut rng), &model.stranger(&mut rng));
        assert!(strangers.abs() < 0.4, "strangers are near orthogonal: {strangers}");
    }

    #[test]
    fn a_fit_recovers_the_shape_it_was_given() {
        // People who differ along the first eight axes only, captured with noise along all 32,
        // and off-centre along the last: the fit must find the same shape.
        let dim = 32;
        let mut between = vec![0.0; dim * dim];
        (0..8).for_each(|i| between[i * dim + i] = 0.08);
        let mut within = vec![0.0; dim * dim];
        (0..dim).for_each(|i| within[i * dim + i] = 0.01);
        let mut mean = vec![0.0; dim];
        mean[dim - 1] = 0.2;
        let truth = FaceModel::from_covariances(dim, mean, &between, &within);
        let mut rng = SplitMix::new(11);
        let people: Vec<Vec<Vec<f32>>> = (0..600)
            .map(|_| {
                let centre = truth.person(&mut rng);
                (0..4).map(|_| truth.capture(&centre, &mut rng)).collect()
            })
            .collect();
        let borrowed: Vec<Vec<&[f32]>> =
            people.iter().map(|p| p.iter().map(Vec::as_slice).collect()).collect();
        let fitted = FaceModel::fit(&borrowed).expect("enough people");
        // Compare what matters to a search: how captures of one person and of two people relate.
        let stats = |model: &FaceModel, rng: &mut SplitMix| {
            let (mut genuine, mut impostor) = (0.0, 0.0);
            for _ in 0..2000 {
                let person = model.person(rng);
                genuine += cosine(&model.capture(&person, rng), &model.capture(&person, rng));
                impostor += cosine(&model.stranger(rng), &model.stranger(rng));
            }
            (genuine / 2000.0, impostor / 2000.0)
        };
        let (want, got) = (stats(&truth, &mut SplitMix::new(1)), stats(&fitted, &mut SplitMix::new(1)));
        // Fitting on the sphere reads genuine pairs a little less alike than they are (0.012 on LFW).
        assert!((want.0 - got.0).abs() < 0.03, "genuine mean {} vs {}", got.0, want.0);
        assert!((want.1 - got.1).abs() < 0.03, "impostor mean {} vs {}", got.1, want.1);
        assert!(want.0 - want.1 > 0.1, "the two kinds of pair differ, so the comparison means something");
    }

    #[test]
    fn a_fit_needs_people_seen_more_than_once() {
        let one = [0.6f32, 0.8];
        let people: Vec<Vec<&[f32]>> = vec![vec![&one[..]], vec![&one[..]]];
        assert!(FaceModel::fit(&people).is_err());
        assert!(FaceModel::fit(&[]).is_err());
    }
}
