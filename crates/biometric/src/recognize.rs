//! Embedding an aligned face with a recognizer chosen by configuration. The template it returns is
//! tagged with the model's name and version, so templates of different models are never compared.
//! Optionally the mirrored face is embedded too and the two embeddings summed ("flip fusion"),
//! which the measurements in GUIDE.md show lowers false non-matches at every false-match rate.

use facepay_domain::{FaceTemplate, RecognizerTag};
use facepay_model_store::InputSpec;

use crate::align::ALIGNED_SIDE;
use crate::onnx::{LoadedModel, OnnxError};
use crate::resample::to_planar;

/// A recognizer model and how to feed it.
#[derive(Debug)]
pub struct Recognizer {
    pub model: LoadedModel,
    pub input: InputSpec,
    pub tag: RecognizerTag,
    pub flip_fusion: bool,
}

impl Recognizer {
    /// The template of a 112x112 RGB aligned face.
    pub fn embed(&mut self, aligned: &[u8], tensor: &mut Vec<f32>) -> Result<FaceTemplate, OnnxError> {
        let mut embedding = self.raw_embedding(aligned, tensor)?;
        if self.flip_fusion {
            let mirrored = mirror(aligned);
            let flipped = self.raw_embedding(&mirrored, tensor)?;
            embedding.iter_mut().zip(flipped).for_each(|(a, b)| *a += b);
        }
        FaceTemplate::new(self.tag.clone(), embedding)
            .map_err(|e| OnnxError::Run { model: self.model.name.clone(), reason: e.to_string() })
    }

    fn raw_embedding(&mut self, aligned: &[u8], tensor: &mut Vec<f32>) -> Result<Vec<f32>, OnnxError> {
        to_planar(aligned, self.input.channels, self.input.mean, self.input.std, tensor);
        let outputs = self.model.run([1, 3, ALIGNED_SIDE, ALIGNED_SIDE], tensor)?;
        outputs
            .into_iter()
            .next()
            .map(|o| o.data)
            .ok_or_else(|| OnnxError::Run { model: self.model.name.clone(), reason: "no output".into() })
    }
}

/// The face mirrored left to right.
fn mirror(aligned: &[u8]) -> Vec<u8> {
    let mut out = Vec::with_capacity(aligned.len());
    for row in aligned.chunks_exact(ALIGNED_SIDE * 3) {
        for pixel in row.chunks_exact(3).rev() {
            out.extend_from_slice(pixel);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mirroring_twice_is_the_identity_and_moves_the_first_pixel_last() {
        let face: Vec<u8> = (0..ALIGNED_SIDE * ALIGNED_SIDE * 3).map(|i| (i % 251) as u8).collect();
        let once = mirror(&face);
        assert_eq!(&once[(ALIGNED_SIDE - 1) * 3..][..3], &face[..3]);
        assert_eq!(mirror(&once), face);
    }
}
