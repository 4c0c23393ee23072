//! The LFW `pairs.txt` format: a header `folds pairs_per_class`, then for each fold that many
//! matched lines `name i j` followed by as many mismatched lines `name1 i name2 j`.

/// One image of the dataset: a person's folder and the image's number in it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub struct ImageRef {
    pub person: String,
    pub number: u32,
}

impl ImageRef {
    /// Where the image lies under the images folder: `Name/Name_0001.jpg`.
    pub fn relative_path(&self) -> String {
        format!("{0}/{0}_{1:04}.jpg", self.person, self.number)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Pair {
    pub fold: usize,
    pub left: ImageRef,
    pub right: ImageRef,
    pub same: bool,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PairsFile {
    pub folds: usize,
    pub pairs: Vec<Pair>,
}

#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("pairs file, line {line}: {reason}")]
pub struct PairsError {
    pub line: usize,
    pub reason: String,
}

impl PairsFile {
    pub fn parse(text: &str) -> Result<PairsFile, PairsError> {
        let mut lines = text.lines().enumerate().filter(|(_, l)| !l.trim().is_empty());
        let error = |line: usize, reason: &str| PairsError { line: line + 1, reason: reason.to_owned() };
        let (header_line, header) = lines.next().ok_or_else(|| error(0, "the file is empty"))?;
        let numbers: Vec<usize> = header
            .split_whitespace()
            .map(str::parse)
            .collect::<Result<_, _>>()
            .map_err(|_| error(header_line, "the header must be `folds pairs_per_class`"))?;
        let [folds, per_class] = numbers[..] else {
            return Err(error(header_line, "the header must be `folds pairs_per_class`"));
        };
        if folds < 2 || per_class == 0 {
            return Err(error(header_line, "at least two folds of at least one pair are needed"));
        }
        let mut pairs = Vec::with_capacity(folds * per_class * 2);
        for index in 0..folds * per_class * 2 {
            let (line, text) = lines.next().ok_or_else(|| {
                error(text.lines().count(), "the file ends before its header's count of pairs")
            })?;
            let number =
                |s: &str| s.parse::<u32>().map_err(|_| error(line, "an image number is not a number"));
            let fields: Vec<&str> = text.split_whitespace().collect();
            let same = index % (2 * per_class) < per_class;
            let pair = match (same, fields.as_slice()) {
                (true, [name, i, j]) => (
                    ImageRef { person: (*name).into(), number: number(i)? },
                    ImageRef { person: (*name).into(), number: number(j)? },
                ),
                (false, [a, i, b, j]) => (
                    ImageRef { person: (*a).into(), number: number(i)? },
                    ImageRef { person: (*b).into(), number: number(j)? },
                ),
                (true, _) => return Err(error(line, "a matched pair is `name i j`")),
                (false, _) => return Err(error(line, "a mismatched pair is `name1 i name2 j`")),
            };
            pairs.push(Pair { fold: index / (2 * per_class), left: pair.0, right: pair.1, same });
        }
        if let Some((line, _)) = lines.next() {
            return Err(error(line, "more pairs than the header says"));
        }
        Ok(PairsFile { folds, pairs })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folds_alternate_matched_and_mismatched_blocks() {
        let file = PairsFile::parse("2 1\nA 1 2\nA 1 B 3\nC 2 4\nC 1 D 1\n").unwrap();
        assert_eq!(file.folds, 2);
        assert_eq!(file.pairs.len(), 4);
        assert!(file.pairs[0].same && !file.pairs[1].same && file.pairs[2].same);
        assert_eq!(file.pairs[3].fold, 1);
        assert_eq!(file.pairs[1].right.relative_path(), "B/B_0003.jpg");
    }

    #[test]
    fn malformed_files_name_the_line() {
        assert_eq!(PairsFile::parse("").unwrap_err().line, 1);
        assert_eq!(PairsFile::parse("2 1\nA 1 2\nA x B 3\n").unwrap_err().line, 3);
        assert!(PairsFile::parse("2 1\nA 1 2\nA 1 B 3\n").is_err(), "too few pairs");
        assert!(PairsFile::parse("2 1\nA 1 2\nA 1 B 3\nC 2 4\nC 1 D 1\nE 1 2\n").is_err(), "too many");
        assert_eq!(PairsFile::parse("2 1\nA 1 B 2\nA 1 B 3\nC 2 4\nC 1 D 1\n").unwrap_err().line, 2);
        assert!(PairsFile::parse("1 300\n").is_err());
    }
}
