//! The biometric engine: the models chosen by configuration, a pool of workers (one set of ONNX
//! sessions each, since a session runs one inference at a time), and `capture`, which turns the
//! frames of one attempt into a live face template or a reason a person can act on.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::{Duration, Instant};

use facepay_domain::{FaceTemplate, RecognizerTag};
use facepay_model_store::{InputSpec, Manifest, ModelError, ModelRole, ModelStore};

use crate::align::align;
use crate::detect::{Detection, DetectorConfig, DetectorInput, detect};
use crate::liveness::{LivenessModel, live_score};
use crate::onnx::{OnnxError, OnnxRuntime};
use crate::photo::{DecodeError, DecodeLimits, Photo};
use crate::quality::{QualityConfig, QualityIssue, QualityMeasures, main_face};
use crate::recognize::Recognizer;

/// Which models run and how strict each step is.
#[derive(Debug, Clone, PartialEq)]
pub struct BiometricConfig {
    pub detector_model: String,
    pub recognizer_model: String,
    /// Embed the mirrored face too and sum the two embeddings.
    pub flip_fusion: bool,
    pub liveness_models: Vec<String>,
    /// Minimum fused live score (0..1). The default rejects both attack samples of Silent-Face
    /// (0.21 and 0.002) and turns away 6.9% of single LFW news photos (`facepay eval lfw`).
    pub liveness_threshold: f32,
    pub detector: DetectorConfig,
    pub quality: QualityConfig,
    pub decode: DecodeLimits,
    /// Most frames one capture may carry.
    pub max_frames: usize,
    /// Every two frames' templates must be at least this similar: a face swapped in mid-capture
    /// is refused. The default is where LFW all-pairs reach FAR 1e-3 (`facepay eval lfw`).
    pub frame_agreement: f32,
    /// A worker (one set of ONNX sessions, tens of MB) idle this long after a burst is closed;
    /// the one used last is always kept.
    pub worker_idle_keep: Duration,
}

impl Default for BiometricConfig {
    fn default() -> Self {
        BiometricConfig {
            detector_model: "yunet_2023mar".into(),
            recognizer_model: "mobilefacenet_128".into(),
            flip_fusion: true,
            liveness_models: vec!["minifasnet_v2_2.7".into(), "minifasnet_v1se_4.0".into()],
            liveness_threshold: 0.3,
            detector: DetectorConfig::default(),
            quality: QualityConfig::default(),
            decode: DecodeLimits::default(),
            max_frames: 8,
            frame_agreement: 0.34,
            worker_idle_keep: Duration::from_secs(60),
        }
    }
}

#[derive(Debug, thiserror::Error)]
pub enum EngineError {
    #[error("model {0} is not in the manifest")]
    UnknownModel(String),
    #[error("model {name} is a {actual:?} model, not a {expected:?}")]
    WrongRole { name: String, expected: ModelRole, actual: ModelRole },
    #[error(transparent)]
    Model(#[from] ModelError),
    #[error(transparent)]
    Onnx(#[from] OnnxError),
}

impl EngineError {
    pub fn code(&self) -> &'static str {
        match self {
            EngineError::UnknownModel(_) => "biometric_unknown_model",
            EngineError::WrongRole { .. } => "biometric_wrong_model_role",
            EngineError::Model(e) => e.code(),
            EngineError::Onnx(e) => e.code(),
        }
    }
}

/// Why the frames of one attempt did not give a live template.
#[derive(Debug, thiserror::Error)]
pub enum CaptureError {
    #[error("a capture needs at least one frame")]
    NoFrames,
    #[error("a capture may carry at most {max} frames")]
    TooManyFrames { max: usize },
    #[error(transparent)]
    Decode(#[from] DecodeError),
    #[error(transparent)]
    Quality(#[from] QualityIssue),
    #[error("the face did not pass the liveness check: show your own face, not a photo or a screen")]
    NotLive,
    #[error("the frames of this capture show different faces")]
    FramesDisagree,
    #[error(transparent)]
    Runtime(#[from] OnnxError),
}

impl CaptureError {
    pub fn code(&self) -> &'static str {
        match self {
            CaptureError::NoFrames => "capture_no_frames",
            CaptureError::TooManyFrames { .. } => "capture_too_many_frames",
            CaptureError::Decode(e) => e.code(),
            CaptureError::Quality(e) => e.code(),
            CaptureError::NotLive => "face_not_live",
            CaptureError::FramesDisagree => "capture_frames_disagree",
            CaptureError::Runtime(e) => e.code(),
        }
    }
}

/// A live face template made from one capture. The live score is kept for the risk rules; the
/// template is biometric data and stays inside `FaceTemplate`'s `Secret`.
#[derive(Debug)]
pub struct Capture {
    pub template: FaceTemplate,
    pub live_score: f32,
    pub frames_used: usize,
    pub quality: QualityMeasures,
}

/// A model file prepared for ONNX Runtime, kept to open more workers later.
#[derive(Debug)]
struct PreparedModel {
    name: String,
    path: std::path::PathBuf,
    bytes: Vec<u8>,
    input: InputSpec,
}

/// One set of sessions: everything one capture needs, used by one thread at a time.
#[derive(Debug)]
pub struct Worker {
    detector: crate::onnx::LoadedModel,
    detector_input: DetectorInput,
    recognizer: Recognizer,
    liveness: Vec<LivenessModel>,
    tensor: Vec<f32>,
}

impl Worker {
    /// All faces in the photo, best score first.
    pub fn detect(&mut self, photo: &Photo, config: &DetectorConfig) -> Result<Vec<Detection>, OnnxError> {
        detect(&mut self.detector, &mut self.detector_input, photo, config)
    }

    /// The fused live score (0..1) of one face.
    pub fn liveness(&mut self, photo: &Photo, face: &Detection) -> Result<f32, OnnxError> {
        live_score(&mut self.liveness, photo, face, &mut self.tensor)
    }

    /// The template of an aligned 112x112 RGB face.
    pub fn embed(&mut self, aligned: &[u8]) -> Result<FaceTemplate, OnnxError> {
        self.recognizer.embed(aligned, &mut self.tensor)
    }
}

/// The engine. Cheap to share between threads: each call borrows a worker from the pool.
#[derive(Debug)]
pub struct BiometricEngine {
    runtime: Arc<OnnxRuntime>,
    config: BiometricConfig,
    detector: PreparedModel,
    recognizer: PreparedModel,
    recognizer_tag: RecognizerTag,
    liveness: Vec<PreparedModel>,
    /// Workers not in use, each with when it was last given back; the most recent last.
    idle: Mutex<Vec<(Worker, Instant)>>,
}

impl BiometricEngine {
    /// Resolves and verifies the configured models, rewrites them for speed, and opens one
    /// worker so a broken model fails here rather than at the first payment.
    pub fn new(
        runtime: Arc<OnnxRuntime>,
        store: &ModelStore,
        manifest: &Manifest,
        config: BiometricConfig,
    ) -> Result<BiometricEngine, EngineError> {
        let prepare = |name: &str, role: ModelRole| -> Result<(PreparedModel, String), EngineError> {
            let spec = manifest.model(name).ok_or_else(|| EngineError::UnknownModel(name.to_owned()))?;
            if spec.role != role {
                return Err(EngineError::WrongRole {
                    name: name.to_owned(),
                    expected: role,
                    actual: spec.role,
                });
            }
            let verified = store.verified(spec)?;
            let bytes = runtime.prepare(&verified)?;
            let prepared = PreparedModel {
                name: spec.name.clone(),
                path: verified.path,
                bytes,
                input: spec.input.clone(),
            };
            Ok((prepared, spec.version.clone()))
        };
        let (detector, _) = prepare(&config.detector_model, ModelRole::Detector)?;
        let (recognizer, version) = prepare(&config.recognizer_model, ModelRole::Recognizer)?;
        let recognizer_tag = RecognizerTag { name: recognizer.name.clone(), version };
        let liveness = config
            .liveness_models
            .iter()
            .map(|name| prepare(name, ModelRole::Liveness).map(|(p, _)| p))
            .collect::<Result<Vec<_>, _>>()?;
        let engine = BiometricEngine {
            runtime,
            config,
            detector,
            recognizer,
            recognizer_tag,
            liveness,
            idle: Mutex::new(Vec::new()),
        };
        let first = engine.open_worker()?;
        #[allow(clippy::disallowed_methods)] // the idle clock, as in `with_worker`
        let opened = Instant::now();
        engine.idle.lock().unwrap_or_else(PoisonError::into_inner).push((first, opened));
        Ok(engine)
    }

    pub fn config(&self) -> &BiometricConfig {
        &self.config
    }

    /// The recognizer every template of this engine is tagged with.
    pub fn recognizer(&self) -> &RecognizerTag {
        &self.recognizer_tag
    }

    /// Each model as ONNX Runtime runs it (PRelu rewritten), with its file's name: what a
    /// reference pipeline must load to be measured on the same graphs.
    pub fn prepared_models(&self) -> Vec<(String, &[u8])> {
        std::iter::once(&self.detector)
            .chain(std::iter::once(&self.recognizer))
            .chain(&self.liveness)
            .map(|m| {
                (
                    m.path.file_name().map_or_else(|| m.name.clone(), |f| f.to_string_lossy().into_owned()),
                    m.bytes.as_slice(),
                )
            })
            .collect()
    }

    fn open_worker(&self) -> Result<Worker, OnnxError> {
        let open = |m: &PreparedModel| self.runtime.open_prepared(&m.name, &m.path, &m.bytes);
        Ok(Worker {
            detector: open(&self.detector)?,
            detector_input: DetectorInput::default(),
            recognizer: Recognizer {
                model: open(&self.recognizer)?,
                input: self.recognizer.input.clone(),
                tag: self.recognizer_tag.clone(),
                flip_fusion: self.config.flip_fusion,
            },
            liveness: self
                .liveness
                .iter()
                .map(|m| Ok(LivenessModel { model: open(m)?, input: m.input.clone() }))
                .collect::<Result<_, OnnxError>>()?,
            tensor: Vec::new(),
        })
    }

    /// Runs `work` on an idle worker, opening a new one when all are busy (so the pool grows to
    /// the number of threads that call at once, which the API bounds, and no further). Workers
    /// left idle for `worker_idle_keep` after a burst are closed, the one just used kept.
    // How long a worker sat idle is the machine's business, not a replayed decision's.
    #[allow(clippy::disallowed_methods)]
    pub fn with_worker<T>(&self, work: impl FnOnce(&mut Worker) -> T) -> Result<T, OnnxError> {
        let idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner).pop();
        let mut worker = match idle {
            Some((worker, _)) => worker,
            None => self.open_worker()?,
        };
        let result = work(&mut worker);
        let mut idle = self.idle.lock().unwrap_or_else(PoisonError::into_inner);
        idle.retain(|(_, since)| since.elapsed() < self.config.worker_idle_keep);
        idle.push((worker, Instant::now()));
        Ok(result)
    }

    /// Workers open and not in use.
    pub fn idle_workers(&self) -> usize {
        self.idle.lock().unwrap_or_else(PoisonError::into_inner).len()
    }

    /// Turns the frames of one attempt (encoded JPEG/PNG/WebP) into a live template. Frames that
    /// fail a quality gate are skipped; the others are checked for liveness and embedded, and
    /// their scores and embeddings averaged, which steadies both against one bad frame.
    pub fn capture(&self, frames: &[&[u8]]) -> Result<Capture, CaptureError> {
        if frames.is_empty() {
            return Err(CaptureError::NoFrames);
        }
        if frames.len() > self.config.max_frames {
            return Err(CaptureError::TooManyFrames { max: self.config.max_frames });
        }
        let photos = frames
            .iter()
            .map(|bytes| Photo::decode(bytes, &self.config.decode))
            .collect::<Result<Vec<_>, _>>()?;
        self.with_worker(|worker| self.capture_photos(worker, &photos))?
    }

    fn capture_photos(&self, worker: &mut Worker, photos: &[Photo]) -> Result<Capture, CaptureError> {
        let mut first_issue = None;
        let mut accepted = Vec::new();
        for photo in photos {
            let faces = worker.detect(photo, &self.config.detector)?;
            let face = match main_face(&faces, &self.config.quality) {
                Ok(face) => *face,
                Err(issue) => {
                    first_issue.get_or_insert(issue);
                    continue;
                }
            };
            let Some(aligned) = align(photo, &face.landmarks) else {
                first_issue.get_or_insert(QualityIssue::NotFrontal);
                continue;
            };
            let measures = QualityMeasures::measure(&face, photo.width(), photo.height(), &aligned);
            if let Some(issue) = measures.first_issue(&self.config.quality) {
                first_issue.get_or_insert(issue);
                continue;
            }
            let live = worker.liveness(photo, &face)?;
            let template = worker.embed(&aligned)?;
            accepted.push((template, live, measures));
        }
        let Some((_, _, quality)) = accepted.first() else {
            return Err(CaptureError::Quality(first_issue.unwrap_or(QualityIssue::NoFace)));
        };
        let quality = *quality;
        let frames_used = accepted.len();
        let live_score = accepted.iter().map(|(_, live, _)| live).sum::<f32>() / frames_used as f32;
        let dimension = accepted[0].0.dimension();
        let mut sum = vec![0.0f32; dimension];
        for (template, _, _) in &accepted {
            sum.iter_mut().zip(template.expose_embedding()).for_each(|(s, v)| *s += v);
        }
        let template =
            FaceTemplate::new(self.recognizer_tag.clone(), sum).map_err(|_| CaptureError::FramesDisagree)?;
        for (i, (a, _, _)) in accepted.iter().enumerate() {
            for (b, _, _) in &accepted[i + 1..] {
                if a.similarity(b).map_err(|_| CaptureError::FramesDisagree)? < self.config.frame_agreement {
                    return Err(CaptureError::FramesDisagree);
                }
            }
        }
        if live_score < self.config.liveness_threshold {
            return Err(CaptureError::NotLive);
        }
        Ok(Capture { template, live_score, frames_used, quality })
    }
}
