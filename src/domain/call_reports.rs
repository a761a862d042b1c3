//! What a report from a video call may carry (docs/protocol.md, "Video safety"): the viewer's classifier verdict
//! and one snapshot of the picture, attached only by the reporter's choice. Neither is verifiable: the server never
//! sees the call, so a snapshot is whatever image the reporter's app sent. Checked here so that nothing else is
//! stored: an image of the type it declares, under the size cap, and a verdict of a bounded label and a score.

/// The largest snapshot taken, in bytes: a phone's JPEG of a video frame is well under it.
pub const MAX_SNAPSHOT_BYTES: usize = 256 * 1024;
/// The longest classifier label (NSFWJS's are one word; Apple's analysis gives a boolean).
pub const MAX_LABEL_CHARS: usize = 64;

/// Why a call report's parts are refused.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Refusal {
    /// Over [`MAX_SNAPSHOT_BYTES`].
    TooLarge,
    /// Not an image of a type taken, or not of the type it declares.
    NotAnImage,
    /// A label empty, too long or with control characters, or a score outside 0 to 1.
    BadVerdict,
}

/// The image types taken, as declared.
const TYPES: [&str; 3] = ["image/jpeg", "image/png", "image/webp"];

/// Whether `bytes` begin as an image of `content_type` does (its magic bytes).
fn is_a(content_type: &str, bytes: &[u8]) -> bool {
    match content_type {
        "image/jpeg" => bytes.starts_with(&[0xFF, 0xD8, 0xFF]),
        "image/png" => bytes.starts_with(b"\x89PNG\r\n\x1a\n"),
        "image/webp" => bytes.len() >= 12 && &bytes[..4] == b"RIFF" && &bytes[8..12] == b"WEBP",
        _ => false,
    }
}

/// The snapshot's content type as stored, when its bytes are an image of the declared type under the cap.
pub fn check_snapshot(content_type: &str, bytes: &[u8]) -> Result<&'static str, Refusal> {
    if bytes.len() > MAX_SNAPSHOT_BYTES {
        return Err(Refusal::TooLarge);
    }
    let declared = TYPES.into_iter().find(|t| t.eq_ignore_ascii_case(content_type)).ok_or(Refusal::NotAnImage)?;
    if is_a(declared, bytes) { Ok(declared) } else { Err(Refusal::NotAnImage) }
}

/// Checks a classifier verdict: a label of 1 to [`MAX_LABEL_CHARS`] characters with no control character, and a
/// finite score from 0 to 1.
pub fn check_verdict(label: &str, score: f64) -> Result<(), Refusal> {
    let chars = label.chars().count();
    let label_ok = (1..=MAX_LABEL_CHARS).contains(&chars) && !label.chars().any(char::is_control);
    if label_ok && score.is_finite() && (0.0..=1.0).contains(&score) { Ok(()) } else { Err(Refusal::BadVerdict) }
}

#[cfg(test)]
mod tests {
    use super::*;

    const PNG: &[u8] = b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR";
    const JPEG: &[u8] = &[0xFF, 0xD8, 0xFF, 0xE0, 0, 0x10, b'J', b'F', b'I', b'F'];
    const WEBP: &[u8] = b"RIFF\x24\0\0\0WEBPVP8 ";

    #[test]
    fn an_image_of_its_declared_type_under_the_cap_is_taken() {
        assert_eq!(check_snapshot("image/png", PNG), Ok("image/png"));
        assert_eq!(check_snapshot("IMAGE/JPEG", JPEG), Ok("image/jpeg"), "the type's case does not matter");
        assert_eq!(check_snapshot("image/webp", WEBP), Ok("image/webp"));
        let mut largest = PNG.to_vec();
        largest.resize(MAX_SNAPSHOT_BYTES, 0);
        assert_eq!(check_snapshot("image/png", &largest), Ok("image/png"), "the cap is inclusive");
    }

    #[test]
    fn anything_else_is_refused() {
        let mut oversized = PNG.to_vec();
        oversized.resize(MAX_SNAPSHOT_BYTES + 1, 0);
        let table: [(&str, &[u8], Refusal, &str); 7] = [
            ("image/png", &oversized, Refusal::TooLarge, "over the cap"),
            ("image/png", JPEG, Refusal::NotAnImage, "a JPEG declared PNG"),
            ("image/jpeg", b"<svg xmlns=\"http://www.w3.org/2000/svg\"/>", Refusal::NotAnImage, "SVG text"),
            ("image/svg+xml", b"<svg/>", Refusal::NotAnImage, "a type not taken"),
            ("image/gif", b"GIF89a", Refusal::NotAnImage, "GIF is not taken"),
            ("image/webp", b"RIFF\0\0\0\0WAVE", Refusal::NotAnImage, "a RIFF that is no WebP"),
            ("image/png", b"", Refusal::NotAnImage, "empty"),
        ];
        for (content_type, bytes, refusal, why) in table {
            assert_eq!(check_snapshot(content_type, bytes), Err(refusal), "{why}");
        }
    }

    #[test]
    fn a_verdict_is_a_short_label_and_a_score_from_0_to_1() {
        assert_eq!(check_verdict("Porn", 0.93), Ok(()));
        assert_eq!(check_verdict("neutral", 0.0), Ok(()));
        assert_eq!(check_verdict(&"x".repeat(MAX_LABEL_CHARS), 1.0), Ok(()));
        for (label, score) in [
            ("", 0.5),
            ("a\u{0}b", 0.5),
            (&*"x".repeat(MAX_LABEL_CHARS + 1), 0.5),
            ("p", -0.1),
            ("p", 1.01),
            ("p", f64::NAN),
        ] {
            assert_eq!(check_verdict(label, score), Err(Refusal::BadVerdict), "{label:?} {score}");
        }
    }
}
