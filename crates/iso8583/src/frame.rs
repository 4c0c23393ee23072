//! Messages on a TCP stream: each preceded by its length, 2 bytes big-endian (the length
//! itself not counted), as most issuer hosts expect.

use crate::CodecError;

/// The longest message a 2-byte length can announce.
pub const FRAME_MAX: usize = u16::MAX as usize;

/// `message` with its length header.
pub fn frame(message: &[u8]) -> Result<Vec<u8>, CodecError> {
    let length = u16::try_from(message.len()).map_err(|_| CodecError::FrameTooLong(message.len()))?;
    let mut framed = Vec::with_capacity(message.len() + 2);
    framed.extend_from_slice(&length.to_be_bytes());
    framed.extend_from_slice(message);
    Ok(framed)
}

/// Bytes from a stream, in whatever pieces they arrive, back into whole messages.
#[derive(Debug, Default)]
pub struct Deframer {
    buffer: Vec<u8>,
}

impl Deframer {
    pub fn push(&mut self, bytes: &[u8]) {
        self.buffer.extend_from_slice(bytes);
    }

    /// The next whole message, once all its bytes have come.
    pub fn next_message(&mut self) -> Option<Vec<u8>> {
        let [high, low, ..] = self.buffer[..] else { return None };
        let length = usize::from(u16::from_be_bytes([high, low]));
        if self.buffer.len() < 2 + length {
            return None;
        }
        let message = self.buffer[2..2 + length].to_vec();
        self.buffer.drain(..2 + length);
        Some(message)
    }

    /// Bytes received that are not yet a whole message.
    pub fn waiting(&self) -> usize {
        self.buffer.len()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn messages_come_back_whole_from_any_split_and_an_oversized_one_is_refused() {
        let stream = [frame(b"0800A").unwrap(), frame(b"").unwrap(), frame(&[7; 300]).unwrap()].concat();
        for split in [1, 2, 3, 7, 300, stream.len()] {
            let mut deframer = Deframer::default();
            let mut got = Vec::new();
            for piece in stream.chunks(split) {
                deframer.push(piece);
                while let Some(message) = deframer.next_message() {
                    got.push(message);
                }
            }
            assert_eq!(got, [b"0800A".to_vec(), Vec::new(), vec![7; 300]], "split {split}");
            assert_eq!(deframer.waiting(), 0);
        }
        assert_eq!(frame(&vec![0; FRAME_MAX]).unwrap().len(), FRAME_MAX + 2);
        assert_eq!(frame(&vec![0; FRAME_MAX + 1]).unwrap_err().code(), "frame_too_long");
    }
}
