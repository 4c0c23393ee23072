//! The whole pipeline on real photos (the datasets folder, `FACEPAY_DATASETS_DIR`), checked against
//! golden values from the Python onnxruntime + OpenCV reference (`bench/biometric_peer.py`) and
//! against what a face payment needs: the right person matches, another does not, photos of
//! photos are refused, crowds are refused, rotated phone photos are turned upright.

use std::io::Cursor;
use std::path::PathBuf;
use std::sync::{Arc, OnceLock};

use facepay_biometric::{
    BiometricConfig, BiometricEngine, Capture, OnnxRuntime, QualityConfig, rewrite_prelu,
};
use facepay_model_store::{Manifest, ModelStore, find_runtime};

fn datasets() -> PathBuf {
    let dir = std::env::var_os("FACEPAY_DATASETS_DIR")
        .expect("FACEPAY_DATASETS_DIR must name the datasets folder (lfw-dev, samples, spoof-samples); scripts/test sets it");
    PathBuf::from(dir)
}

fn read(relative: &str) -> Vec<u8> {
    let path = datasets().join(relative);
    std::fs::read(&path).unwrap_or_else(|e| panic!("{}: {e}", path.display()))
}

fn runtime() -> Arc<OnnxRuntime> {
    static RUNTIME: OnceLock<Arc<OnnxRuntime>> = OnceLock::new();
    RUNTIME
        .get_or_init(|| {
            let library = find_runtime(&Manifest::builtin()).unwrap().expect("run `facepay setup` first");
            Arc::new(OnnxRuntime::load(&library).unwrap())
        })
        .clone()
}

fn engine_with(config: BiometricConfig) -> BiometricEngine {
    BiometricEngine::new(runtime(), &ModelStore::from_env(), &Manifest::builtin(), config).unwrap()
}

fn engine() -> &'static BiometricEngine {
    static ENGINE: OnceLock<BiometricEngine> = OnceLock::new();
    ENGINE.get_or_init(|| engine_with(BiometricConfig::default()))
}

fn capture(relative: &str) -> Capture {
    engine().capture(&[&read(relative)]).unwrap_or_else(|e| panic!("{relative}: {e} [{}]", e.code()))
}

fn failure(frames: &[&[u8]]) -> &'static str {
    engine().capture(frames).map(|c| c.live_score).unwrap_err().code()
}

#[test]
fn landmarks_match_the_reference_pipeline() {
    let bytes = read("samples/obama.jpg");
    let photo = facepay_biometric::Photo::decode(&bytes, &Default::default()).unwrap();
    let faces = engine().with_worker(|w| w.detect(&photo, &Default::default()).unwrap()).unwrap();
    assert_eq!(faces.len(), 1);
    // bench/biometric_peer.py (OpenCV decode and resize, onnxruntime) on the same photo.
    let reference =
        [(439.62, 212.95), (555.29, 213.40), (495.93, 266.55), (439.99, 317.46), (547.33, 319.58)];
    for (found, (x, y)) in faces[0].landmarks.iter().zip(reference) {
        assert!((found.x - x).abs() < 2.0 && (found.y - y).abs() < 2.0, "{found:?} vs ({x}, {y})");
    }
    assert!((faces[0].left - 369.46).abs() < 2.0 && (faces[0].width - 242.64).abs() < 3.0, "{:?}", faces[0]);
}

#[test]
fn the_same_person_matches_and_another_does_not() {
    let obama = capture("samples/obama.jpg");
    let obama2 = capture("samples/obama2.jpg");
    let biden = capture("samples/biden.jpg");
    let same = obama.template.similarity(&obama2.template).unwrap();
    let other = obama.template.similarity(&biden.template).unwrap();
    // The reference gives 0.7084 and -0.0617 with mobilefacenet_128 and flip fusion.
    assert!((same - 0.7084).abs() < 0.03, "same person {same}");
    assert!((other + 0.0617).abs() < 0.05, "different people {other}");
    assert_eq!(obama.template.dimension(), 128);
    assert_eq!(obama.template.recognizer().name, "mobilefacenet_128");
}

#[test]
fn lfw_pairs_score_on_the_right_side_of_the_threshold() {
    // TAR at FAR 1e-3 on LFW dev all-pairs is reached at 0.336 (facepay eval lfw).
    let threshold = 0.336;
    let pairs = String::from_utf8(read("lfw-dev/pairs.txt")).unwrap();
    let lines: Vec<Vec<&str>> = pairs.lines().skip(1).map(|l| l.split_whitespace().collect()).collect();
    // News photos: crowds and print artefacts are normal there, so gates and liveness are off.
    let quality = QualityConfig { prominent_face_area: f32::INFINITY, ..QualityConfig::default() };
    let lenient =
        engine_with(BiometricConfig { liveness_threshold: 0.0, quality, ..BiometricConfig::default() });
    let template = |name: &str, n: &str| {
        let path = format!("lfw-dev/images/{name}/{name}_{:04}.jpg", n.parse::<u32>().unwrap());
        lenient.capture(&[&read(&path)]).unwrap_or_else(|e| panic!("{path}: {e}")).template
    };
    let mut checked = (0, 0);
    for fields in lines.iter().take(3).chain(lines.iter().skip(300).take(3)) {
        match fields.as_slice() {
            [name, i, j] => {
                let s = template(name, i).similarity(&template(name, j)).unwrap();
                assert!(s > threshold, "{fields:?} scored {s}");
                checked.0 += 1;
            }
            [a, i, b, j] => {
                let s = template(a, i).similarity(&template(b, j)).unwrap();
                assert!(s < threshold, "{fields:?} scored {s}");
                checked.1 += 1;
            }
            _ => panic!("bad line {fields:?}"),
        }
    }
    assert_eq!(checked, (3, 3));
}

#[test]
fn a_live_face_passes_and_presentation_attacks_are_refused() {
    let live = capture("spoof-samples/image_T1.jpg");
    assert!(live.live_score > 0.99, "{}", live.live_score);
    for attack in ["spoof-samples/image_F1.jpg", "spoof-samples/image_F2.jpg"] {
        assert_eq!(failure(&[&read(attack)]), "face_not_live", "{attack}");
    }
}

#[test]
fn quality_gates_refuse_crowds_and_empty_frames() {
    assert_eq!(failure(&[&read("samples/bald_guys.jpg")]), "face_several");
    let grey = image::RgbImage::from_pixel(320, 240, image::Rgb([128, 128, 128]));
    let mut bytes = Vec::new();
    grey.write_to(&mut Cursor::new(&mut bytes), image::ImageFormat::Png).unwrap();
    assert_eq!(failure(&[&bytes]), "face_not_found");
}

#[test]
fn several_frames_of_one_person_are_fused_and_a_swap_is_refused() {
    let (a, b, c) = (read("samples/obama.jpg"), read("samples/obama2.jpg"), read("samples/biden.jpg"));
    let fused = engine().capture(&[&a, &b]).unwrap();
    assert_eq!(fused.frames_used, 2);
    let single = capture("samples/obama3.jpg");
    assert!(fused.template.similarity(&single.template).unwrap() > 0.5);
    assert_eq!(failure(&[&a, &c]), "capture_frames_disagree");
    assert_eq!(failure(&[]), "capture_no_frames");
    let max = engine().config().max_frames;
    assert_eq!(failure(&vec![a.as_slice(); max + 1]), "capture_too_many_frames");
    // A frame that fails a gate is skipped when another frame is good.
    assert_eq!(engine().capture(&[&read("samples/bald_guys.jpg"), &a]).unwrap().frames_used, 1);
}

#[test]
fn a_phone_photo_stored_sideways_is_turned_upright_by_its_exif_orientation() {
    let upright = image::load_from_memory(&read("samples/obama.jpg")).unwrap().to_rgb8();
    let sideways = image::imageops::rotate270(&upright);
    let mut bytes = Vec::new();
    let mut encoder = image::codecs::jpeg::JpegEncoder::new_with_quality(&mut bytes, 95);
    // A TIFF header with one IFD entry: Orientation (0x0112) = 6, "rotate 90 clockwise to view".
    let exif = [
        b"MM\x00\x2a\x00\x00\x00\x08\x00\x01".as_slice(),
        b"\x01\x12\x00\x03\x00\x00\x00\x01\x00\x06\x00\x00",
        b"\x00\x00\x00\x00",
    ]
    .concat();
    image::ImageEncoder::write_image(
        {
            image::ImageEncoder::set_exif_metadata(&mut encoder, exif).unwrap();
            encoder
        },
        &sideways,
        sideways.width(),
        sideways.height(),
        image::ExtendedColorType::Rgb8,
    )
    .unwrap();
    let turned = engine().capture(&[&bytes]).unwrap_or_else(|e| panic!("{e}"));
    assert!(turned.quality.roll_degrees.abs() < 5.0, "{:?}", turned.quality);
    let original = capture("samples/obama.jpg");
    assert!(turned.template.similarity(&original.template).unwrap() > 0.9);
}

#[test]
fn the_second_recognizer_works_and_its_templates_never_meet_the_first() {
    let config = BiometricConfig {
        recognizer_model: "faceplugin_fr_feature_512".into(),
        ..BiometricConfig::default()
    };
    let other = engine_with(config);
    let a = other.capture(&[&read("samples/obama.jpg")]).unwrap();
    let b = other.capture(&[&read("samples/obama2.jpg")]).unwrap();
    assert_eq!(a.template.dimension(), 512);
    // The reference gives 0.6541 for this pair with faceplugin_fr_feature_512 and flip fusion.
    let same = a.template.similarity(&b.template).unwrap();
    assert!((same - 0.6541).abs() < 0.03, "{same}");
    let mine = capture("samples/obama.jpg");
    assert_eq!(mine.template.similarity(&a.template).unwrap_err().code(), "template_recognizer_mismatch");
}

#[test]
fn a_detector_or_liveness_model_cannot_be_configured_as_the_recognizer() {
    let config = BiometricConfig { recognizer_model: "yunet_2023mar".into(), ..BiometricConfig::default() };
    let error =
        BiometricEngine::new(runtime(), &ModelStore::from_env(), &Manifest::builtin(), config).unwrap_err();
    assert_eq!(error.code(), "biometric_wrong_model_role");
    let config = BiometricConfig { recognizer_model: "no_such_model".into(), ..BiometricConfig::default() };
    let error =
        BiometricEngine::new(runtime(), &ModelStore::from_env(), &Manifest::builtin(), config).unwrap_err();
    assert_eq!(error.code(), "biometric_unknown_model");
}

#[test]
fn the_prelu_rewrite_gives_the_same_outputs_as_the_original_graph() {
    let store = ModelStore::from_env();
    let manifest = Manifest::builtin();
    for (name, side) in
        [("faceplugin_fr_feature_512", 112), ("minifasnet_v2_2.7", 80), ("minifasnet_v1se_4.0", 80)]
    {
        let verified = store.verified(manifest.model(name).unwrap()).unwrap();
        let original = std::fs::read(&verified.path).unwrap();
        let rewritten = rewrite_prelu(&original).unwrap();
        assert_eq!(rewritten.prelu_nodes, 33, "{name}");
        let mut before = runtime().open_prepared(name, &verified.path, &original).unwrap();
        let mut after = runtime().open_prepared(name, &verified.path, &rewritten.model).unwrap();
        let input: Vec<f32> = (0..3 * side * side).map(|i| ((i * 7919) % 255) as f32 / 64.0 - 2.0).collect();
        let a = before.run([1, 3, side, side], &input).unwrap();
        let b = after.run([1, 3, side, side], &input).unwrap();
        let worst = a[0].data.iter().zip(&b[0].data).map(|(x, y)| (x - y).abs()).fold(0.0f32, f32::max);
        let scale = a[0].data.iter().map(|v| v.abs()).fold(0.0f32, f32::max);
        assert!(worst <= 1e-4 * scale.max(1.0), "{name}: outputs differ by {worst} (scale {scale})");
    }
}

/// Two callers at once open a second worker; once the burst is over and the keep time has
/// passed, the pool is back to the one used last (kept forever with the default keep time).
#[test]
fn the_worker_pool_grows_for_a_burst_and_shrinks_after_it() {
    for (keep, left) in [(std::time::Duration::ZERO, 1), (BiometricConfig::default().worker_idle_keep, 2)] {
        let engine = engine_with(BiometricConfig { worker_idle_keep: keep, ..BiometricConfig::default() });
        let both_busy = std::sync::Barrier::new(2);
        std::thread::scope(|scope| {
            for _ in 0..2 {
                scope.spawn(|| engine.with_worker(|_| both_busy.wait()).unwrap());
            }
        });
        assert_eq!(engine.idle_workers(), left, "keep {keep:?}");
    }
}
