//! A face template: the embedding a recognizer made of one face, tagged with the recognizer that
//! made it. Embeddings of different recognizers live in different spaces, so comparing them is a
//! typed error here rather than a meaningless number somewhere downstream.

use crate::Secret;

/// Which recognizer (model name and version) produced a template.
#[derive(Debug, Clone, PartialEq, Eq, Hash, serde::Serialize, serde::Deserialize)]
pub struct RecognizerTag {
    pub name: String,
    pub version: String,
}

/// An L2-normalised face embedding. The vector stays inside [`Secret`]: it is biometric data.
#[derive(Debug)]
pub struct FaceTemplate {
    recognizer: RecognizerTag,
    embedding: Secret<Vec<f32>>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum TemplateError {
    #[error("templates from {left:?} and {right:?} cannot be compared: different recognizers")]
    DifferentRecognizers { left: RecognizerTag, right: RecognizerTag },
    #[error("an embedding must be non-empty, finite and not all zero")]
    InvalidEmbedding,
}

impl TemplateError {
    pub fn code(&self) -> &'static str {
        match self {
            TemplateError::DifferentRecognizers { .. } => "template_recognizer_mismatch",
            TemplateError::InvalidEmbedding => "template_invalid_embedding",
        }
    }
}

impl FaceTemplate {
    /// Normalises `embedding` to unit length; one already of unit length (within f32 rounding)
    /// is kept bit for bit, so a template read back from storage equals the one written. Rejects
    /// empty, non-finite or zero vectors, which no working recognizer produces.
    pub fn new(recognizer: RecognizerTag, mut embedding: Vec<f32>) -> Result<FaceTemplate, TemplateError> {
        let norm = embedding.iter().map(|v| v * v).sum::<f32>().sqrt();
        if embedding.is_empty() || !norm.is_finite() || norm == 0.0 {
            return Err(TemplateError::InvalidEmbedding);
        }
        if (norm - 1.0).abs() > 1e-6 {
            embedding.iter_mut().for_each(|v| *v /= norm);
        }
        Ok(FaceTemplate { recognizer, embedding: Secret::new(embedding) })
    }

    pub fn recognizer(&self) -> &RecognizerTag {
        &self.recognizer
    }

    pub fn dimension(&self) -> usize {
        self.embedding.expose_secret().len()
    }

    /// The unit vector itself, for the index and the vault only.
    pub fn expose_embedding(&self) -> &[f32] {
        self.embedding.expose_secret()
    }

    /// Cosine similarity in [-1, 1], or an error when the recognizers differ.
    pub fn similarity(&self, other: &FaceTemplate) -> Result<f32, TemplateError> {
        if self.recognizer != other.recognizer || self.dimension() != other.dimension() {
            return Err(TemplateError::DifferentRecognizers {
                left: self.recognizer.clone(),
                right: other.recognizer.clone(),
            });
        }
        Ok(self.expose_embedding().iter().zip(other.expose_embedding()).map(|(a, b)| a * b).sum())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn tag(name: &str) -> RecognizerTag {
        RecognizerTag { name: name.into(), version: "1".into() }
    }

    #[test]
    fn embeddings_are_unit_length_and_comparable_only_within_one_recognizer() {
        let a = FaceTemplate::new(tag("m"), vec![3.0, 4.0]).unwrap();
        let b = FaceTemplate::new(tag("m"), vec![4.0, 3.0]).unwrap();
        assert!((a.expose_embedding()[0] - 0.6).abs() < 1e-6);
        assert!((a.similarity(&b).unwrap() - 0.96).abs() < 1e-6);
        let other = FaceTemplate::new(tag("n"), vec![4.0, 3.0]).unwrap();
        assert_eq!(a.similarity(&other).unwrap_err().code(), "template_recognizer_mismatch");
    }

    #[test]
    fn a_unit_embedding_is_kept_bit_for_bit() {
        let once = FaceTemplate::new(tag("m"), (1..=128).map(|i| (i as f32 * 0.7).sin()).collect()).unwrap();
        let again = FaceTemplate::new(tag("m"), once.expose_embedding().to_vec()).unwrap();
        assert_eq!(again.expose_embedding(), once.expose_embedding());
        let scaled =
            FaceTemplate::new(tag("m"), once.expose_embedding().iter().map(|v| v * 1.001).collect()).unwrap();
        assert!(
            scaled.expose_embedding().iter().zip(once.expose_embedding()).all(|(a, b)| (a - b).abs() < 1e-6)
        );
    }

    #[test]
    fn degenerate_embeddings_are_refused() {
        for bad in [vec![], vec![0.0, 0.0], vec![f32::NAN, 1.0], vec![f32::INFINITY]] {
            assert_eq!(FaceTemplate::new(tag("m"), bad).unwrap_err(), TemplateError::InvalidEmbedding);
        }
    }

    #[test]
    fn debug_hides_the_embedding() {
        let a = FaceTemplate::new(tag("m"), vec![0.123, 0.456]).unwrap();
        assert!(!format!("{a:?}").contains("0.2"));
    }
}
